//! Feature preprocessors: `Scaler` (standard scaler), skl2onnx's min-max scaler (`Mul` then
//! `Add` by constants), `Imputer` and `Normalizer` on the features.

use super::graph::{Node, Tensor};
use super::params::{bias, dim, f32_vec};
use super::registry::Op;
use super::walker::{unsupported, Val, Walker};
use crate::ConvertError;
use icebreak_format::{Norm, StageSpec};

/// The operators this module recognises.
pub(super) const OPS: &[Op] = &[
    Op::ml("Scaler", |w, n| w.scaler(n)),
    Op::ml("Imputer", |w, n| w.imputer(n)),
    Op::ml("Normalizer", |w, n| w.normalizer(n)),
];

impl Walker<'_> {
    fn scaler(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["offset", "scale"])?;
        let v = self.input(&node, 0)?.clone();
        let width = self.rows(&node, v)?;
        self.before_estimator(&node, "a scaler")?;
        let bcast = |name: &str| -> Result<Vec<f64>, ConvertError> {
            let v: Vec<f64> = node
                .floats(name)?
                .map(|f| f.iter().map(|&x| f64::from(x)).collect())
                .unwrap_or_default();
            match v.len() {
                0 => Ok(vec![if name == "scale" { 1.0 } else { 0.0 }; width]),
                1 => Ok(vec![v[0]; width]),
                n if n == width => Ok(v),
                n => Err(node.err(format_args!(
                    "attribute {name:?} has {n} values for {width} features"
                ))),
            }
        };
        let offset = bcast("offset")?;
        let scale = bcast("scale")?;
        let mut div = Vec::with_capacity(width);
        for &s in &scale {
            if s == 0.0 || !s.is_finite() {
                return Err(node.err(format_args!(
                    "attribute \"scale\" holds {s}, which a standard scaler cannot divide by"
                )));
            }
            div.push(1.0 / s);
        }
        let what = || node.at();
        self.stages.push(StageSpec::StandardScaler {
            mean: f32_vec(&offset, &what)?,
            scale: f32_vec(&div, &what)?,
        });
        self.onnx_scalers
            .push((self.stages.len() - 1, offset, scale));
        self.set(&node, 0, Val::Rows(self.stages.len()))
    }

    fn imputer(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(1..=1, 1)?;
        node.only(&[
            "imputed_value_floats",
            "imputed_value_int64s",
            "replaced_value_float",
            "replaced_value_int64",
        ])?;
        if node.ints("imputed_value_int64s")?.is_some()
            || node.int("replaced_value_int64")?.is_some()
        {
            return Err(node.err("integer imputation is not supported (float inputs only)"));
        }
        let v = self.input(&node, 0)?.clone();
        let width = self.rows(&node, v)?;
        self.before_estimator(&node, "an imputer")?;
        let fill: Vec<f64> = node
            .floats("imputed_value_floats")?
            .unwrap_or_default()
            .iter()
            .map(|&f| f64::from(f))
            .collect();
        let fill = match fill.len() {
            1 => vec![fill[0]; width],
            n if n == width => fill,
            n => {
                return Err(node.err(format_args!(
                    "attribute \"imputed_value_floats\" has {n} values for {width} features"
                )))
            }
        };
        // The spec's default marker is 0.0.
        let missing = node.float("replaced_value_float")?.unwrap_or(0.0);
        let what = || node.at();
        self.stages.push(StageSpec::Imputer {
            missing,
            fill: f32_vec(&fill, &what)?,
        });
        self.set(&node, 0, Val::Rows(self.stages.len()))
    }

    /// `Normalizer` of the features; an `L1` normalizer of scores is post-processing.
    fn normalizer(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["norm"])?;
        let norm = node.string("norm")?.unwrap_or_else(|| "MAX".into());
        let v = self.input(&node, 0)?.clone();
        let v = match v {
            Val::Affine { .. } => self.settle(&node, v)?,
            other => other,
        };
        match v {
            Val::Out(o) if norm == "L1" => self.l1_normalize(&node, o),
            Val::Rows(at) => {
                let width = self.rows(&node, Val::Rows(at))?;
                self.before_estimator(&node, "a normalizer")?;
                let norm = match norm.as_str() {
                    "L1" => Norm::L1,
                    "L2" => Norm::L2,
                    "MAX" => Norm::Max,
                    other => {
                        return Err(node.err(format_args!(
                            "norm {other:?} is not supported (L1, L2 and MAX are)"
                        )))
                    }
                };
                self.stages.push(StageSpec::Normalizer {
                    width: dim("the normalizer width", width)?,
                    norm,
                });
                self.set(&node, 0, Val::Rows(self.stages.len()))
            }
            other => Err(unsupported(
                &node,
                &format!("norm {norm:?} of {{}}"),
                &[&other],
            )),
        }
    }

    /// `(rows - mean) / scale` as skl2onnx writes a StandardScaler or MaxAbsScaler for a
    /// double input (`Sub`, `Div` by constants): a standard scaler.
    pub(super) fn standard_scale(
        &mut self,
        node: &Node<'_>,
        at: usize,
        mean: Vec<f64>,
        scale: &Tensor,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        let width = self.rows(node, Val::Rows(at))?;
        self.before_estimator(node, "a scaler")?;
        let scale = bias(node, scale, width)?;
        if let Some(s) = scale.iter().find(|s| **s == 0.0 || !s.is_finite()) {
            return Err(node.err(format_args!("divides by {s}, which a scaler cannot")));
        }
        if self.input_f32 {
            let what = || node.at();
            self.stages.push(StageSpec::StandardScaler {
                mean: f32_vec(&mean, &what)?,
                scale: f32_vec(&scale, &what)?,
            });
        } else {
            // A double graph: computed in f64 as scikit-learn computes it, rounded once.
            self.stages
                .push(StageSpec::StandardScalerF64 { mean, scale });
        }
        Ok(Val::Rows(self.stages.len()))
    }

    /// `rows / √(Σ rows²)` or `rows / Σ|rows|`: skl2onnx's L2 or L1 normalizer for a double
    /// input.
    pub(super) fn normalize_rows(
        &mut self,
        node: &Node<'_>,
        at: usize,
        norm: Norm,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        let width = self.rows(node, Val::Rows(at))?;
        self.before_estimator(node, "a normalizer")?;
        self.stages.push(StageSpec::Normalizer {
            width: dim("the normalizer width", width)?,
            norm,
        });
        Ok(Val::Rows(self.stages.len()))
    }

    /// skl2onnx's min-max scaler, first half: `rows * scale`.
    pub(super) fn scale_rows(
        &mut self,
        node: &Node<'_>,
        at: usize,
        c: &Tensor,
    ) -> Result<Val, ConvertError> {
        let width = self.rows(node, Val::Rows(at))?;
        let mul = bias(node, c, width)?;
        Ok(Val::ScaleShift {
            at: self.stages.len(),
            mul,
            add: None,
        })
    }

    /// Commits `rows * mul (+ add)` as a min-max scaler.
    pub(super) fn commit_min_max(
        &mut self,
        node: &Node<'_>,
        at: usize,
        mul: Vec<f64>,
        add: Option<Vec<f64>>,
    ) -> Result<Val, ConvertError> {
        self.check_fresh(node, at)?;
        self.before_estimator(node, "a scaler")?;
        let add = add.unwrap_or_else(|| vec![0.0; mul.len()]);
        if self.input_f32 {
            let what = || node.at();
            self.stages.push(StageSpec::MinMaxScaler {
                scale: f32_vec(&mul, &what)?,
                min: f32_vec(&add, &what)?,
            });
        } else {
            // A double graph: computed in f64 as scikit-learn computes it, rounded once.
            self.stages.push(StageSpec::MinMaxScalerF64 {
                scale: mul,
                min: add,
            });
        }
        Ok(Val::Rows(self.stages.len()))
    }
}

/// skl2onnx's min-max scaler, second half: `rows * scale + min`.
pub(super) fn shift(node: &Node<'_>, x: Val, c: &Tensor) -> Result<Val, ConvertError> {
    match x {
        Val::ScaleShift { at, mul, add: None } => {
            let cv = bias(node, c, mul.len())?;
            Ok(Val::ScaleShift {
                at,
                mul,
                add: Some(cv),
            })
        }
        other => Err(unsupported(node, "adding a constant to {}", &[&other])),
    }
}
