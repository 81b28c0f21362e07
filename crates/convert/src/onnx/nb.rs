//! skl2onnx's GaussianNB: `Reshape` of the features to `[N, 1, n]`, `Sub(θ)`, `Pow(2)`,
//! `Div(σ²)`, `ReduceSum` over the features, `Mul(0.5)`, `Sub(log_norm, ·)`,
//! `Add(log_prior)` (the joint log-likelihood: a `gaussian_nb` stage), then
//! `ReduceLogSumExp`, `Sub` and `Exp` (a `softmax`).

use super::graph::{Data, Node, Tensor};
use super::params::{bias, dim};
use super::registry::Op;
use super::walker::{unsupported, Out, Val, Walker};
use crate::ConvertError;
use icebreak_format::{PostTransform, StageSpec};

/// The operators this module owns alone.
pub(super) const OPS: &[Op] = &[
    Op::std("Pow", |w, n| w.nb_pow(n)),
    Op::std("ReduceLogSumExp", |w, n| w.nb_log_sum_exp(n)),
];

/// The steps of the GaussianNB pattern, each holding what has been read so far.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Nb {
    /// The features reshaped to `[N, 1, n]`.
    X { at: usize },
    /// `x - θ`; `theta` is `k × n`.
    Centered {
        at: usize,
        theta: Vec<f64>,
        k: usize,
    },
    /// `(x - θ)²`.
    Squared {
        at: usize,
        theta: Vec<f64>,
        k: usize,
    },
    /// `(x - θ)² / σ²`.
    Scaled(Table),
    /// `Σ_i (x_i - θ_i)² / σ_i²`.
    Summed(Table),
    /// Half of it.
    Halved(Table),
    /// `log_norm - ½ Σ …`.
    Normed { table: Table, log_norm: Vec<f64> },
    /// `log Σ_j e^{z_j}` of the joint log-likelihood.
    Lse(Out),
    /// `z - log Σ_j e^{z_j}`.
    LogProb(Out),
}

/// The means and variances read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Table {
    at: usize,
    theta: Vec<f64>,
    var: Vec<f64>,
    k: usize,
}

impl Nb {
    /// Whether the value is computed from the estimator's output (rather than the features).
    pub fn over_scores(&self) -> bool {
        matches!(self, Nb::Lse(_) | Nb::LogProb(_))
    }
}

/// A `[1, k, n]` (or `[k, n]`) table of a GaussianNB graph: `(k, values)`.
fn nb_table(node: &Node<'_>, t: &Tensor, n: usize) -> Result<(usize, Vec<f64>), ConvertError> {
    let v = t
        .floats()
        .ok_or_else(|| node.err("the table is not a float tensor"))?;
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(node.err(format_args!("the table holds a non-finite value ({x})")));
    }
    let k = match t.dims.as_slice() {
        [1, k, m] | [k, m] if *m == n => *k,
        d => {
            return Err(node.err(format_args!(
                "a table of shape {d:?} does not fit {n} features"
            )))
        }
    };
    if k == 0 {
        return Err(node.err("a table with no classes"));
    }
    Ok((k, v.to_vec()))
}

/// `x * c`: halving the sum.
pub(super) fn mul_const(x: &Val, c: &Tensor) -> Option<Val> {
    match x {
        Val::Nb(Nb::Summed(t)) if c.scalar() == Some(0.5) => Some(Val::Nb(Nb::Halved(t.clone()))),
        _ => None,
    }
}

/// `a - b`: the log-probabilities.
pub(super) fn sub_scores(a: &Val, b: &Val) -> Option<Val> {
    match (a, b) {
        (Val::Out(o), Val::Nb(Nb::Lse(o2))) if o == o2 => Some(Val::Nb(Nb::LogProb(*o))),
        _ => None,
    }
}

/// `exp` of the log-probabilities: the softmax.
pub(super) fn exp(x: &Val) -> Option<Val> {
    match x {
        Val::Nb(Nb::LogProb(o)) => Some(Val::Out(Out {
            post: Some(PostTransform::Softmax),
            ..*o
        })),
        _ => None,
    }
}

/// `ReduceSum` over the features of the scaled squares.
pub(super) fn reduce_sum(
    node: &Node<'_>,
    nb: Nb,
    axes: &[i64],
    keep: i64,
) -> Result<Val, ConvertError> {
    match nb {
        Nb::Scaled(t) => {
            if (axes != [2] && axes != [-1]) || keep != 0 {
                return Err(node.err(format_args!(
                    "axes {axes:?}, keepdims {keep}: GaussianNB sums over the features"
                )));
            }
            Ok(Val::Nb(Nb::Summed(t)))
        }
        other => Err(unsupported(node, "a sum of {}", &[&Val::Nb(other)])),
    }
}

impl Walker<'_> {
    /// `Reshape` of the features to `[-1, 1, n]`.
    pub(super) fn nb_reshape(
        &mut self,
        node: &Node<'_>,
        at: usize,
        shape: &Tensor,
    ) -> Result<(), ConvertError> {
        let width = self.rows(node, Val::Rows(at))?;
        let ok = match &shape.data {
            Data::Int(d) => d.len() == 3 && d[0] == -1 && d[1] == 1 && d[2] == width as i64,
            _ => false,
        };
        if !ok {
            return Err(node.err(
                "reshaping the features is only supported as GaussianNB's [-1, 1, n_features]",
            ));
        }
        self.set(node, 0, Val::Nb(Nb::X { at }))
    }

    /// `a - b` of the pattern: `x - θ` and `log_norm - ½ Σ …`. `None` when not one of them.
    pub(super) fn nb_sub(
        &mut self,
        node: &Node<'_>,
        a: &Val,
        b: &Val,
    ) -> Result<Option<Val>, ConvertError> {
        match (a, b) {
            (Val::Nb(Nb::X { at }), Val::Const(theta)) => {
                let at = *at;
                self.check_fresh(node, at)?;
                let n = self.width_at(at);
                let (k, theta) = nb_table(node, theta, n)?;
                Ok(Some(Val::Nb(Nb::Centered { at, theta, k })))
            }
            (Val::Const(log_norm), Val::Nb(Nb::Halved(t))) => {
                // log_norm rides along after the variances until the class priors come.
                let v = bias(node, log_norm, t.k)?;
                if log_norm.dims.iter().product::<usize>() != t.k {
                    return Err(node.err("the normalisers do not match the classes"));
                }
                Ok(Some(Val::Nb(Nb::Normed {
                    table: t.clone(),
                    log_norm: v,
                })))
            }
            _ => Ok(None),
        }
    }

    /// `(x - θ)² / σ²`. `None` when `a` is not the squares.
    pub(super) fn nb_div(
        &mut self,
        node: &Node<'_>,
        a: &Val,
        b: &Val,
    ) -> Result<Option<Val>, ConvertError> {
        let (Val::Nb(Nb::Squared { at, theta, k }), Val::Const(var)) = (a, b) else {
            return Ok(None);
        };
        let n = self.width_at(*at);
        let (k2, var) = nb_table(node, var, n)?;
        if k2 != *k {
            return Err(node.err("the variances do not match the means"));
        }
        Ok(Some(Val::Nb(Nb::Scaled(Table {
            at: *at,
            theta: theta.clone(),
            var,
            k: *k,
        }))))
    }

    /// `… + log_prior`: the joint log-likelihood; pushes the stage.
    pub(super) fn nb_add_const(
        &mut self,
        node: &Node<'_>,
        nb: Nb,
        prior: &Tensor,
    ) -> Result<Val, ConvertError> {
        let Nb::Normed { table, log_norm } = nb else {
            return Err(unsupported(
                node,
                "adding a constant to {}",
                &[&Val::Nb(nb)],
            ));
        };
        let Table { at, theta, var, k } = table;
        self.check_fresh(node, at)?;
        self.first_estimator(node)?;
        let n_in = self.width_at(at);
        let log_prior = bias(node, prior, k)?;
        if prior.dims.iter().product::<usize>() != k || var.len() != k * n_in || log_norm.len() != k
        {
            return Err(node.err("the class priors do not match the classes"));
        }
        if let Some(v) = var.iter().find(|v| **v <= 0.0) {
            return Err(node.err(format_args!("a variance is {v}, not positive")));
        }
        self.stages.push(StageSpec::GaussianNb {
            n_in: dim("the GaussianNB input width", n_in)?,
            n_classes: dim("the GaussianNB classes", k)?,
            theta,
            var,
            log_prior,
            log_norm,
        });
        Ok(Val::Out(Out::raw(k)))
    }

    fn nb_pow(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(2..=2, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let e = self.konst(&node, 1)?.scalar();
        match v {
            Val::Nb(Nb::Centered { at, theta, k }) if e == Some(2.0) => {
                self.set(&node, 0, Val::Nb(Nb::Squared { at, theta, k }))
            }
            other => Err(unsupported(&node, "a power of {}", &[&other])),
        }
    }

    fn nb_log_sum_exp(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["axes", "keepdims"])?;
        if !matches!(node.ints("axes")?, Some([1]) | Some([-1])) {
            return Err(node.err("only a per-row reduction is supported"));
        }
        match self.input(&node, 0)?.clone() {
            Val::Out(o) if o.post.is_none() && !o.binary_pair => {
                self.set(&node, 0, Val::Nb(Nb::Lse(o)))
            }
            other => Err(unsupported(&node, "a log-sum-exp of {}", &[&other])),
        }
    }
}
