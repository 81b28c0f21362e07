//! Post-processing of the estimator's scores: `Softmax`, `Sigmoid`, skl2onnx's spelled-out
//! sigmoid (`Mul(-1) Exp Add(1) Reciprocal`) and one-vs-rest normalisation (`ReduceSum`,
//! `Div`, with the all-zero guard), `Sub(1, p)` + `Concat` of a binary sigmoid, an `L1`
//! normalizer of probabilities, and the label glue: `ZipMap`, `ArgMax`,
//! `ArrayFeatureExtractor` of the class list (or of a binary score's positive column),
//! `Reshape` of a label or of the output.

use super::graph::{Data, Node, Tensor};
use super::registry::Op;
use super::walker::{unsupported, Out, Val, Walker};
use crate::ConvertError;
use icebreak_format::{LabelsSpec, PostTransform};

/// The operators this module owns alone.
pub(super) const OPS: &[Op] = &[
    Op::std("Sigmoid", |w, n| w.activation(n)),
    Op::std("Softmax", |w, n| w.activation(n)),
    Op::std("Reciprocal", |w, n| w.unary_step(n)),
    Op::std("Not", |w, n| w.unary_step(n)),
    Op::std("Abs", |w, n| w.unary_step(n)),
    Op::std("Concat", |w, n| w.concat(n)),
    Op::ml("ZipMap", |w, n| w.zipmap(n)),
    Op::std("ArgMax", |w, n| w.argmax(n)),
    Op::ml("ArrayFeatureExtractor", |w, n| w.array_feature_extractor(n)),
];

/// Intermediate values of the patterns skl2onnx writes around scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Step {
    /// `-z`
    Neg,
    /// `exp(-z)`
    ExpNeg,
    /// `1 + exp(-z)`
    OnePlusExpNeg,
    /// `Σ_j p_j` (of the logistic scores).
    RowSum,
    /// `Σ_j p_j != 0` as bool.
    RowSumBool,
    /// `Σ_j p_j == 0` as bool.
    RowSumZero,
    /// `Σ_j p_j == 0` as float.
    ZeroMask,
    /// `k · [Σ_j p_j == 0]`.
    ZeroMaskK,
    /// `p + [Σ == 0]`
    GuardedP,
    /// `Σ + k · [Σ == 0]`
    GuardedSum,
    /// `1 - p` of a one-column sigmoid.
    OneMinusP,
}

/// `a + b` of two score-side values: the guards of the one-vs-rest normalisation. `None`
/// when neither is a score-side step.
pub(super) fn add_pair(node: &Node<'_>, a: &Val, b: &Val) -> Result<Option<Val>, ConvertError> {
    match (a, b) {
        (Val::Step(Step::Neg, _), _) | (_, Val::Step(Step::Neg, _)) => {
            Err(node.err("unsupported pattern"))
        }
        (Val::Out(o), Val::Step(Step::ZeroMask, o2))
        | (Val::Step(Step::ZeroMask, o2), Val::Out(o))
            if o == o2 && o.post == Some(PostTransform::Logistic) =>
        {
            Ok(Some(Val::Step(Step::GuardedP, *o)))
        }
        (Val::Step(Step::RowSum, o), Val::Step(Step::ZeroMaskK, o2))
        | (Val::Step(Step::ZeroMaskK, o2), Val::Step(Step::RowSum, o))
            if o == o2 =>
        {
            Ok(Some(Val::Step(Step::GuardedSum, *o)))
        }
        _ => Ok(None),
    }
}

/// `step + c`: `1 + exp(-z)`.
pub(super) fn add_const(node: &Node<'_>, s: Step, o: Out, c: &Tensor) -> Result<Val, ConvertError> {
    match s {
        Step::ExpNeg if c.scalar() == Some(1.0) => Ok(Val::Step(Step::OnePlusExpNeg, o)),
        s => Err(unsupported(
            node,
            "adding a constant to {}",
            &[&Val::Step(s, o)],
        )),
    }
}

/// `x * c` of score-side values: `-z`, `k · [Σ == 0]`. `None` when not one of them.
pub(super) fn mul_const(x: &Val, c: &Tensor) -> Option<Val> {
    match x {
        Val::Out(o) if o.post.is_none() && !o.binary_pair && c.scalar() == Some(-1.0) => {
            Some(Val::Step(Step::Neg, *o))
        }
        Val::Step(Step::ZeroMask, o) if c.scalar() == Some(o.width as f64) => {
            Some(Val::Step(Step::ZeroMaskK, *o))
        }
        _ => None,
    }
}

/// `a - b` of score-side values: `1 - p` of a one-column sigmoid.
pub(super) fn sub(a: &Val, b: &Val) -> Option<Val> {
    match (a, b) {
        (Val::Const(c), Val::Out(o))
            if c.scalar() == Some(1.0)
                && o.width == 1
                && o.post == Some(PostTransform::Logistic) =>
        {
            Some(Val::Step(Step::OneMinusP, *o))
        }
        _ => None,
    }
}

/// `a / b` of score-side values: the one-vs-rest normalisation.
pub(super) fn div(a: &Val, b: &Val) -> Option<Val> {
    match (a, b) {
        (Val::Step(Step::GuardedP, o), Val::Step(Step::GuardedSum, o2))
        | (Val::Out(o), Val::Step(Step::RowSum, o2))
            if o == o2 && o.post == Some(PostTransform::Logistic) && o.width >= 2 =>
        {
            Some(Val::Out(Out {
                post: Some(PostTransform::OvrNormalize),
                ..*o
            }))
        }
        _ => None,
    }
}

/// `exp` of `-z`.
pub(super) fn exp(x: &Val) -> Option<Val> {
    match x {
        Val::Step(Step::Neg, o) => Some(Val::Step(Step::ExpNeg, *o)),
        _ => None,
    }
}

/// The per-row sum of logistic scores (one-vs-rest normalisation).
pub(super) fn reduce_sum(
    node: &Node<'_>,
    o: Out,
    axes: &[i64],
    keep: i64,
) -> Result<Val, ConvertError> {
    if (axes != [1] && axes != [-1]) || keep != 1 {
        return Err(node.err(format_args!(
            "axes {axes:?}, keepdims {keep}: only a sum per row kept as a column is supported"
        )));
    }
    Ok(Val::Step(Step::RowSum, o))
}

impl Walker<'_> {
    /// A regressor's `[-1, width]` (or `[-1, 1]`) reshape, which changes nothing.
    pub(super) fn reshape_out(
        &mut self,
        node: &Node<'_>,
        v: Val,
        shape: &Tensor,
    ) -> Result<(), ConvertError> {
        let v = self.settle(node, v)?;
        let Val::Out(o) = v else {
            return Err(node.err("expects the estimator's output"));
        };
        let ok = match &shape.data {
            Data::Int(d) => d.len() == 2 && d[0] == -1 && d[1] == o.width as i64 && !o.binary_pair,
            _ => false,
        };
        if !ok {
            return Err(node.err(format_args!(
                "only a [-1, {}] reshape of the estimator's output is supported",
                o.width
            )));
        }
        self.set(node, 0, Val::Out(o))
    }

    /// An `L1` normalizer of scores that are probabilities already (or logistic scores,
    /// which it turns into one-vs-rest probabilities).
    pub(super) fn l1_normalize(&mut self, node: &Node<'_>, o: Out) -> Result<(), ConvertError> {
        let post = match o.post {
            Some(PostTransform::Logistic) if o.width >= 2 => Some(PostTransform::OvrNormalize),
            p @ Some(
                PostTransform::Softmax
                | PostTransform::Probabilities
                | PostTransform::OvrNormalize
                | PostTransform::BinaryLogistic,
            ) => p,
            _ => {
                return Err(node.err(
                    "an L1 normalisation of scores that are not probabilities is not supported",
                ))
            }
        };
        self.set(node, 0, Val::Out(Out { post, ..o }))
    }

    fn unary_step(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let out = match (node.op(), v) {
            ("Reciprocal", Val::Step(Step::OnePlusExpNeg, o)) => Val::Out(Out {
                post: Some(PostTransform::Logistic),
                ..o
            }),
            ("Not", Val::Step(Step::RowSumBool, o)) => Val::Step(Step::RowSumZero, o),
            // skl2onnx's double-input logistic normalisation takes `Abs` of sigmoid
            // probabilities, which are never negative.
            ("Abs", Val::Out(o)) if o.post == Some(PostTransform::Logistic) => Val::Out(o),
            // skl2onnx's L1 normalizer in double: `x / Σ|x|`.
            ("Abs", Val::Rows(at)) => {
                self.rows(&node, Val::Rows(at))?;
                Val::Km(super::kmeans::Km::RowAbs { at })
            }
            (_, other) => return Err(unsupported(&node, "applied to {}", &[&other])),
        };
        self.set(&node, 0, out)
    }

    fn concat(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&["axis"])?;
        if !matches!(node.int("axis")?, Some(1) | Some(-1)) {
            return Err(node.err("only axis 1 is supported"));
        }
        let (a, b) = self.pair(&node)?;
        match (a, b) {
            (Val::Step(Step::OneMinusP, o), Val::Out(o2)) if o == o2 => {
                let out = Out {
                    width: 2,
                    post: Some(PostTransform::BinaryLogistic),
                    binary_pair: true,
                };
                self.set(&node, 0, Val::Out(out))
            }
            (a, b) => Err(unsupported(&node, "concatenating {} and {}", &[&a, &b])),
        }
    }

    fn activation(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        let v = self.input(&node, 0)?.clone();
        let post = if node.op() == "Softmax" {
            node.only(&["axis"])?;
            if !matches!(node.int("axis")?, None | Some(1) | Some(-1)) {
                return Err(node.err("only axis 1 (per row) is supported"));
            }
            PostTransform::Softmax
        } else {
            node.only(&[])?;
            PostTransform::Logistic
        };
        let v = self.settle(&node, v)?;
        match v {
            Val::Out(o) if o.post.is_none() && !o.binary_pair => {
                if post == PostTransform::Softmax && o.width < 2 {
                    return Err(node.err("a softmax over one column is constant 1"));
                }
                self.set(
                    &node,
                    0,
                    Val::Out(Out {
                        post: Some(post),
                        ..o
                    }),
                )
            }
            other => Err(unsupported(&node, "applied to {}", &[&other])),
        }
    }

    fn zipmap(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["classlabels_int64s", "classlabels_strings"])?;
        let labels = match (
            node.ints("classlabels_int64s")?,
            node.strings("classlabels_strings")?,
        ) {
            (Some(i), None) => LabelsSpec::Int(i.to_vec()),
            (None, Some(s)) => LabelsSpec::Str(s),
            _ => return Err(node.err("needs exactly one of the class label lists")),
        };
        let v = self.input(&node, 0)?.clone();
        let v = self.settle(&node, v)?;
        let Val::Out(out) = v else {
            return Err(node.err("expects class probabilities or scores as its input"));
        };
        let n = super::params::labels_len(&labels);
        if n != out.width {
            return Err(node.err(format_args!(
                "has {n} class labels for {} columns",
                out.width
            )));
        }
        self.set_labels(&node, labels)?;
        self.set(&node, 0, Val::Map(out))
    }

    fn argmax(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["axis", "keepdims", "select_last_index"])?;
        if !matches!(node.int("axis")?, Some(1) | Some(-1)) {
            return Err(node.err("only axis 1 (per row) is supported"));
        }
        if node.int("select_last_index")?.unwrap_or(0) != 0 {
            return Err(
                node.err("select_last_index = 1 (the last of tied maxima) is not supported")
            );
        }
        let v = self.input(&node, 0)?.clone();
        let v = self.settle(&node, v)?;
        match v {
            Val::Out(_) => self.set(&node, 0, Val::Label),
            _ => Err(node.err("expects scores or probabilities as its input")),
        }
    }

    fn array_feature_extractor(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let a = self.input(&node, 0)?.clone();
        let a = self.settle(&node, a)?;
        let b = self.input(&node, 1)?.clone();
        match (a, b) {
            // The class list looked up by the predicted index.
            (Val::Const(classes), Val::Label) => {
                let labels = match classes.data {
                    Data::Int(v) => LabelsSpec::Int(v),
                    Data::Str(v) => LabelsSpec::Str(v),
                    Data::Float(_) => return Err(node.err("float class labels are not supported")),
                };
                self.set_labels(&node, labels)?;
                self.set(&node, 0, Val::Label)
            }
            // The positive class's column of a binary classifier's `[-z, z]`.
            (Val::Out(o), Val::Const(idx)) if o.binary_pair && o.post.is_none() => {
                if idx.data != Data::Int(vec![1]) {
                    return Err(node.err(
                        "only the positive column (index 1) of a binary score can be selected",
                    ));
                }
                self.set(&node, 0, Val::Out(Out { width: 1, ..o }))
            }
            (a, b) => Err(unsupported(&node, "selecting {} by {}", &[&b, &a])),
        }
    }
}
