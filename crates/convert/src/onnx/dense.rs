//! Linear maps and MLPs from `MatMul` + `Add` and `Gemm` with constant weights: one map is a
//! `linear` stage; with an activation (`Relu`, `Tanh`, `Sigmoid`) or another layer after it,
//! each map becomes a `dense` layer.

use super::graph::{Node, Tensor};
use super::params::{bias, dim, f32_vec, weights};
use super::registry::Op;
use super::walker::{unsupported, Out, Val, Walker};
use crate::ConvertError;
use icebreak_format::{Activation, PostTransform, StageSpec};

/// The operators this module owns alone.
pub(super) const OPS: &[Op] = &[
    Op::std("Relu", |w, n| w.hidden_activation(n)),
    Op::std("Tanh", |w, n| w.hidden_activation(n)),
];

/// `affine + c`: the bias.
pub(super) fn add_bias(node: &Node<'_>, x: Val, c: &Tensor) -> Result<Val, ConvertError> {
    match x {
        Val::Affine {
            at,
            n_out,
            w,
            mut b,
        } => {
            let cv = bias(node, c, n_out)?;
            for (bi, ci) in b.iter_mut().zip(cv) {
                *bi += ci;
            }
            Ok(Val::Affine { at, n_out, w, b })
        }
        other => Err(unsupported(node, "adding a constant to {}", &[&other])),
    }
}

impl Walker<'_> {
    /// Commits `rows · W + b` as a linear stage, or as a dense layer after another one.
    pub(super) fn commit_affine(
        &mut self,
        node: &Node<'_>,
        at: usize,
        n_out: usize,
        w: Vec<f64>,
        b: Vec<f64>,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        let chained = matches!(
            self.stages.last(),
            Some(StageSpec::Dense { .. } | StageSpec::DenseF64 { .. })
        );
        if self.has_estimator() && !chained {
            return Err(node.err("a linear map after the estimator is not supported"));
        }
        let n_in = self.width_at(at);
        let what = || node.at();
        let width = n_out;
        let (n_in, n_out) = (
            dim("the linear input width", n_in)?,
            dim("the linear output width", n_out)?,
        );
        let (w32, b32) = (f32_vec(&w, &what)?, f32_vec(&b, &what)?);
        let after_f32 = matches!(self.stages.last(), Some(StageSpec::Dense { .. }));
        if !self.input_f32 && !after_f32 {
            // A double graph: f64 parameters, computed in f64 (made f32 again when the
            // pipeline has a stage that computes in f32).
            self.stages.push(if chained {
                StageSpec::DenseF64 {
                    n_in,
                    n_out,
                    activation: Activation::Identity,
                    weights: w,
                    bias: b,
                }
            } else {
                StageSpec::LinearF64 {
                    n_in,
                    n_out,
                    coef: w,
                    intercept: b,
                }
            });
            return Ok(Val::Out(Out::raw(width)));
        }
        let (w, b) = (w32, b32);
        self.stages.push(if chained {
            StageSpec::Dense {
                n_in,
                n_out,
                activation: Activation::Identity,
                weights: w,
                bias: b,
            }
        } else {
            StageSpec::Linear {
                n_in,
                n_out,
                coef: w,
                intercept: b,
            }
        });
        Ok(Val::Out(Out::raw(width)))
    }

    /// Turns the last stage, a linear map or an identity dense layer, into a dense layer
    /// with `act` (an MLP's hidden layer, recognised when its activation or the next layer
    /// is read).
    fn make_dense(&mut self, node: &Node<'_>, act: Activation) -> Result<(), ConvertError> {
        let last = self.stages.pop();
        let f64_layer = match last {
            Some(StageSpec::LinearF64 {
                n_in,
                n_out,
                coef,
                intercept,
            }) => Some((n_in, n_out, coef, intercept)),
            Some(StageSpec::DenseF64 {
                n_in,
                n_out,
                activation: Activation::Identity,
                weights,
                bias,
            }) => Some((n_in, n_out, weights, bias)),
            other => {
                if let Some(o) = other {
                    self.stages.push(o);
                }
                None
            }
        };
        if let Some((n_in, n_out, weights, bias)) = f64_layer {
            self.stages.push(StageSpec::DenseF64 {
                n_in,
                n_out,
                activation: act,
                weights,
                bias,
            });
            self.settled = None;
            self.stale_outputs();
            return Ok(());
        }
        let last = self.stages.pop();
        let (n_in, n_out, weights, bias) = match last {
            Some(StageSpec::Linear {
                n_in,
                n_out,
                coef,
                intercept,
            }) => (n_in, n_out, coef, intercept),
            Some(StageSpec::Dense {
                n_in,
                n_out,
                activation: Activation::Identity,
                weights,
                bias,
            }) => (n_in, n_out, weights, bias),
            other => {
                if let Some(o) = other {
                    self.stages.push(o);
                }
                return Err(node.err(
                    "an activation is only supported right after a dense layer (MatMul + Add \
                     or Gemm)",
                ));
            }
        };
        self.stages.push(StageSpec::Dense {
            n_in,
            n_out,
            activation: act,
            weights,
            bias,
        });
        self.settled = None;
        self.stale_outputs();
        Ok(())
    }

    /// The width a dense layer reads: the feature rows, or the previous layer's output,
    /// whose stage becomes a dense layer with the activation read so far.
    fn layer_input(&mut self, node: &Node<'_>, v: Val) -> Result<usize, ConvertError> {
        let v = self.settle(node, v)?;
        match v {
            Val::Out(o) if !o.binary_pair && self.labels.is_none() => {
                let act = match o.post {
                    // The previous layer keeps the activation it has (if any).
                    None if matches!(
                        self.stages.last(),
                        Some(StageSpec::Dense { .. } | StageSpec::DenseF64 { .. })
                    ) =>
                    {
                        self.stale_outputs();
                        return Ok(o.width);
                    }
                    None => Activation::Identity,
                    Some(PostTransform::Logistic) => Activation::Logistic,
                    Some(_) => {
                        return Err(node.err(
                            "a dense layer after a softmax or a probability transform is not \
                             supported",
                        ))
                    }
                };
                self.make_dense(node, act)?;
                Ok(o.width)
            }
            other => self.rows(node, other),
        }
    }

    /// `x · W` of the features or of the previous layer.
    pub(super) fn dense_matmul(
        &mut self,
        node: &Node<'_>,
        v: Val,
        w: &Tensor,
    ) -> Result<(), ConvertError> {
        let n_in = self.layer_input(node, v)?;
        let (n_out, wt) = weights(node, w, n_in, false)?;
        self.set_affine(node, n_out, wt, vec![0.0; n_out])
    }

    /// The node's output: `rows · w + b` of the current rows, not yet a stage.
    fn set_affine(
        &mut self,
        node: &Node<'_>,
        n_out: usize,
        w: Vec<f64>,
        b: Vec<f64>,
    ) -> Result<(), ConvertError> {
        let at = self.stages.len();
        self.set(node, 0, Val::Affine { at, n_out, w, b })
    }

    /// `alpha · x · W + beta · c` of the features or of the previous layer.
    pub(super) fn dense_gemm(
        &mut self,
        node: &Node<'_>,
        v: Val,
        w: &Tensor,
        c: Option<Tensor>,
        (alpha, beta, trans_b): (f64, f64, bool),
    ) -> Result<(), ConvertError> {
        let n_in = self.layer_input(node, v)?;
        let (n_out, mut wt) = weights(node, w, n_in, trans_b)?;
        for x in &mut wt {
            *x *= alpha;
        }
        let mut b = vec![0.0; n_out];
        if let Some(c) = c {
            let cv = bias(node, &c, n_out)?;
            for (bi, ci) in b.iter_mut().zip(cv) {
                *bi = beta * ci;
            }
        }
        self.set_affine(node, n_out, wt, b)
    }

    /// `Relu` or `Tanh` after a layer: the layer becomes a hidden one.
    fn hidden_activation(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        let v = self.settle(&node, v)?;
        match v {
            Val::Out(o) if o.post.is_none() && !o.binary_pair => {
                let act = if node.op() == "Relu" {
                    Activation::Relu
                } else {
                    Activation::Tanh
                };
                self.make_dense(&node, act)?;
                self.set(&node, 0, Val::Out(o))
            }
            other => Err(unsupported(&node, "applied to {}", &[&other])),
        }
    }
}
