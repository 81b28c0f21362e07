//! The operators several families read, each dispatched on what its inputs are: `Add`,
//! `Sub`, `Mul`, `Div`, `MatMul`, `Gemm`, `Exp`, `Reshape` and `ReduceSum`. Every arm hands
//! the values to the family that owns them; what no family recognises is refused with the
//! values named.

use super::graph::{Data, Node};
use super::registry::Op;
use super::walker::{unsupported, Val, Walker};
use super::{dense, kmeans, nb, post, scalers};
use crate::ConvertError;
use icebreak_format::Norm;

/// The shared operators.
pub(super) const OPS: &[Op] = &[
    Op::std("Add", |w, n| w.add(n)),
    Op::std("Sub", |w, n| w.sub(n)),
    Op::std("Mul", |w, n| w.mul(n)),
    Op::std("Div", |w, n| w.div(n)),
    Op::std("MatMul", |w, n| w.matmul(n)),
    Op::std("Gemm", |w, n| w.gemm(n)),
    Op::std("Exp", |w, n| w.exp(n)),
    Op::std("Reshape", |w, n| w.reshape(n)),
    Op::std("ReduceSum", |w, n| w.reduce_sum(n)),
];

impl Walker<'_> {
    fn add(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let (a, b) = self.pair(&node)?;
        let (x, c) = match (a, b) {
            (Val::Const(c), x) | (x, Val::Const(c)) => (x, c),
            (a, b) => {
                let v = match post::add_pair(&node, &a, &b)? {
                    Some(v) => v,
                    None => kmeans::add_pair(&a, &b)
                        .ok_or_else(|| unsupported(&node, "adding {} and {}", &[&a, &b]))?,
                };
                return self.set(&node, 0, v);
            }
        };
        let out = match x {
            x @ Val::Affine { .. } => dense::add_bias(&node, x, &c)?,
            x @ Val::ScaleShift { .. } => scalers::shift(&node, x, &c)?,
            Val::Step(s, o) => post::add_const(&node, s, o, &c)?,
            Val::Km(km) => self.km_add_const(&node, km, &c)?,
            Val::Nb(n) => self.nb_add_const(&node, n, &c)?,
            other => return Err(unsupported(&node, "adding a constant to {}", &[&other])),
        };
        self.set(&node, 0, out)
    }

    fn mul(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let (a, b) = self.pair(&node)?;
        let (x, c) = match (a, b) {
            (Val::Const(c), x) | (x, Val::Const(c)) => (x, c),
            (a, b) => return Err(unsupported(&node, "multiplying {} by {}", &[&a, &b])),
        };
        let x = match x {
            Val::Affine { .. } => self.settle(&node, x)?,
            other => other,
        };
        let out = match x {
            Val::Rows(at) => self.scale_rows(&node, at, &c)?,
            x => post::mul_const(&x, &c)
                .or_else(|| kmeans::mul_const(&x, &c))
                .or_else(|| nb::mul_const(&x, &c))
                .ok_or_else(|| unsupported(&node, "multiplying {} by a constant", &[&x]))?,
        };
        self.set(&node, 0, out)
    }

    fn sub(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let (a, b) = self.pair(&node)?;
        if let (Val::Rows(at), Val::Const(mean)) = (&a, &b) {
            // PCA: x - mean.
            return self.pca_center(&node, *at, mean);
        }
        let v = match post::sub(&a, &b).or_else(|| nb::sub_scores(&a, &b)) {
            Some(v) => Some(v),
            None => self.nb_sub(&node, &a, &b)?,
        };
        match v {
            Some(v) => self.set(&node, 0, v),
            None => Err(unsupported(&node, "subtracting {} from {}", &[&b, &a])),
        }
    }

    fn div(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let (a, b) = self.pair(&node)?;
        if let Some(v) = post::div(&a, &b) {
            return self.set(&node, 0, v);
        }
        match (&a, &b) {
            // skl2onnx's StandardScaler (and MaxAbsScaler) in double: `Sub(mean)`, `Div(scale)`.
            (Val::Pca(super::pca::Pca::Centered { at, mean }), Val::Const(scale)) => {
                let v = self.standard_scale(&node, *at, mean.clone(), scale)?;
                return self.set(&node, 0, v);
            }
            // skl2onnx's L2 Normalizer in double: `x / √(Σ x²)`.
            (Val::Rows(at), Val::Km(kmeans::Km::RowNorm { at: at2 })) if at == at2 => {
                let v = self.normalize_rows(&node, *at, Norm::L2)?;
                return self.set(&node, 0, v);
            }
            // ... and its L1 normalizer: `x / Σ|x|`.
            (Val::Rows(at), Val::Km(kmeans::Km::RowL1 { at: at2 })) if at == at2 => {
                let v = self.normalize_rows(&node, *at, Norm::L1)?;
                return self.set(&node, 0, v);
            }
            _ => {}
        }
        if self.pca_whiten(&node, &a, &b)?.is_some() {
            return Ok(());
        }
        match self.nb_div(&node, &a, &b)? {
            Some(v) => self.set(&node, 0, v),
            None => Err(unsupported(&node, "dividing {} by {}", &[&a, &b])),
        }
    }

    fn exp(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let out = post::exp(&v)
            .or_else(|| nb::exp(&v))
            .ok_or_else(|| unsupported(&node, "applied to {}", &[&v]))?;
        self.set(&node, 0, out)
    }

    fn matmul(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let w = self.konst(&node, 1)?.clone();
        if let Val::Pca(super::pca::Pca::Centered { at, mean }) = v {
            return self.pca_project(&node, at, mean, &w);
        }
        self.dense_matmul(&node, v, &w)
    }

    fn gemm(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=3, 1)?;
        node.only(&["alpha", "beta", "transA", "transB"])?;
        if node.int("transA")?.unwrap_or(0) != 0 {
            return Err(node.err("transA = 1 is not supported"));
        }
        let trans_b = node.int("transB")?.unwrap_or(0) != 0;
        let alpha = f64::from(node.float("alpha")?.unwrap_or(1.0));
        let beta = f64::from(node.float("beta")?.unwrap_or(1.0));
        let params = (alpha, beta, trans_b);
        let v = self.input(&node, 0)?.clone();
        let w = self.konst(&node, 1)?.clone();
        let has_c = node.p.input.len() > 2 && !node.p.input[2].is_empty();
        if has_c {
            if let Val::Km(kmeans::Km::Zero { at }) = self.input(&node, 2)?.clone() {
                // skl2onnx's KMeans: -2 x · Cᵀ (+ a zero column).
                return self.km_gemm(&node, &v, at, params, &w);
            }
        }
        let c = if has_c {
            Some(self.konst(&node, 2)?.clone())
        } else {
            None
        };
        self.dense_gemm(&node, v, &w, c, params)
    }

    fn reshape(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&["allowzero"])?;
        let v = self.input(&node, 0)?.clone();
        let shape = self.konst(&node, 1)?.clone();
        match v {
            Val::Label => self.set(&node, 0, Val::Label),
            v @ Val::Nb(nb::Nb::Lse(_)) => self.set(&node, 0, v),
            v @ (Val::Affine { .. } | Val::Out(_)) => self.reshape_out(&node, v, &shape),
            Val::Rows(at) => self.nb_reshape(&node, at, &shape),
            other => Err(unsupported(&node, "reshaping {}", &[&other])),
        }
    }

    /// `ReduceSum`, with `axes` as an attribute (the canonicaliser moves a constant `axes`
    /// input there).
    fn reduce_sum(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=2, 1)?;
        node.only(&["keepdims", "noop_with_empty_axes", "axes"])?;
        let axes: Vec<i64> = if node.p.input.len() > 1 && !node.p.input[1].is_empty() {
            // Left by the canonicaliser: not a constant list of integers.
            match &self.konst(&node, 1)?.data {
                Data::Int(v) => v.clone(),
                _ => return Err(node.err("axes must be integers")),
            }
        } else {
            node.ints("axes")?.map(<[i64]>::to_vec).unwrap_or_default()
        };
        let keep = node.int("keepdims")?.unwrap_or(1);
        let v = self.input(&node, 0)?.clone();
        let v = self.settle(&node, v)?;
        let out = match v {
            Val::Out(o) if o.post == Some(icebreak_format::PostTransform::Logistic) => {
                post::reduce_sum(&node, o, &axes, keep)?
            }
            Val::Nb(n) => nb::reduce_sum(&node, n, &axes, keep)?,
            Val::Km(kmeans::Km::RowAbs { at }) if axes == [1] && keep == 1 => {
                Val::Km(kmeans::Km::RowL1 { at })
            }
            other => return Err(unsupported(&node, "a sum of {}", &[&other])),
        };
        self.set(&node, 0, out)
    }
}
