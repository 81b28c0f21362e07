//! `LinearRegressor` and `LinearClassifier` (ai.onnx.ml) to a `linear` stage: post
//! `NONE`, `LOGISTIC` or `SOFTMAX`; two classes with the exporter's negated pair of rows
//! become one score (`binary_logistic`, or a decision value).

use super::graph::Node;
use super::params::{class_labels, dim, finite, labels_len, post_none, post_transform};
use super::registry::Op;
use super::walker::{Out, Val, Walker};
use crate::ConvertError;
use icebreak_format::{PostTransform, StageSpec};

/// The operators this module recognises.
pub(super) const OPS: &[Op] = &[
    Op::ml("LinearRegressor", |w, n| w.linear_regressor(n)),
    Op::ml("LinearClassifier", |w, n| w.linear_classifier(n)),
];

impl Walker<'_> {
    fn linear_regressor(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(1..=1, 1)?;
        node.only(&["coefficients", "intercepts", "targets", "post_transform"])?;
        let v = self.input(&node, 0)?.clone();
        let n_in = self.rows(&node, v)?;
        self.first_estimator(&node)?;
        post_none(&node)?;
        let targets = node.int("targets")?.unwrap_or(1);
        let targets = usize::try_from(targets)
            .ok()
            .filter(|&t| t >= 1)
            .ok_or_else(|| node.err(format_args!("attribute \"targets\" is {targets}")))?;
        let coef = node.floats("coefficients")?.unwrap_or_default();
        if Some(coef.len()) != targets.checked_mul(n_in) {
            return Err(node.err(format_args!(
                "attribute \"coefficients\" has {} values, expected {targets} targets × {n_in} \
                 features",
                coef.len()
            )));
        }
        let icpt = node.floats("intercepts")?.unwrap_or_default();
        let icpt: Vec<f32> = match icpt.len() {
            0 => vec![0.0; targets],
            n if n == targets => icpt.to_vec(),
            n => {
                return Err(node.err(format_args!(
                    "attribute \"intercepts\" has {n} values for {targets} targets"
                )))
            }
        };
        finite(&node, "coefficients", coef)?;
        finite(&node, "intercepts", &icpt)?;
        self.stages.push(StageSpec::Linear {
            n_in: dim("n_in", n_in)?,
            n_out: dim("targets", targets)?,
            coef: coef.to_vec(),
            intercept: icpt,
        });
        self.set(&node, 0, Val::Out(Out::raw(targets)))
    }

    fn linear_classifier(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        node.arity(1..=1, 2)?;
        node.only(&[
            "coefficients",
            "intercepts",
            "classlabels_ints",
            "classlabels_strings",
            "multi_class",
            "post_transform",
        ])?;
        let v = self.input(&node, 0)?.clone();
        let n_in = self.rows(&node, v)?;
        self.first_estimator(&node)?;
        let labels = class_labels(&node, "classlabels_ints", "classlabels_strings")?;
        let k = labels_len(&labels);
        if k < 2 {
            return Err(node.err(format_args!("has {k} class labels, at least 2 are needed")));
        }
        let coef = node.floats("coefficients")?.unwrap_or_default();
        if n_in == 0 || coef.is_empty() || coef.len() % n_in != 0 {
            return Err(node.err(format_args!(
                "attribute \"coefficients\" has {} values, not a whole number of rows of {n_in}",
                coef.len()
            )));
        }
        let rows = coef.len() / n_in;
        let icpt = node.floats("intercepts")?.unwrap_or_default();
        let icpt: Vec<f32> = match icpt.len() {
            0 => vec![0.0; rows],
            n if n == rows => icpt.to_vec(),
            n => {
                return Err(node.err(format_args!(
                    "attribute \"intercepts\" has {n} values for {rows} coefficient rows"
                )))
            }
        };
        finite(&node, "coefficients", coef)?;
        finite(&node, "intercepts", &icpt)?;
        let post = post_transform(&node)?;
        match node.int("multi_class")?.unwrap_or(0) {
            0 | 1 => {}
            m => return Err(node.err(format_args!("attribute \"multi_class\" is {m}"))),
        }
        let negated_pair = rows == 2
            && coef[..n_in]
                .iter()
                .zip(&coef[n_in..])
                .all(|(a, b)| *a == -*b)
            && icpt[0] == -icpt[1];
        let (coef, icpt, out) = if k == 2 && (rows == 1 || negated_pair) {
            let post = match post {
                None => None,
                Some(PostTransform::Logistic) if negated_pair => {
                    Some(PostTransform::BinaryLogistic)
                }
                Some(_) => {
                    return Err(node.err(
                        "a two-class model with one score row and post_transform other than \
                         NONE (or LOGISTIC over the negated pair) cannot be mapped",
                    ))
                }
            };
            let (c, i) = if rows == 1 {
                (coef.to_vec(), icpt)
            } else {
                (coef[n_in..].to_vec(), vec![icpt[1]])
            };
            (
                c,
                i,
                Out {
                    width: 2,
                    post,
                    binary_pair: true,
                },
            )
        } else if rows == k {
            (
                coef.to_vec(),
                icpt,
                Out {
                    width: k,
                    post,
                    binary_pair: false,
                },
            )
        } else {
            return Err(node.err(format_args!("has {rows} coefficient rows for {k} classes")));
        };
        self.stages.push(StageSpec::Linear {
            n_in: dim("n_in", n_in)?,
            n_out: dim("n_out", icpt.len())?,
            coef,
            intercept: icpt,
        });
        self.set_labels(&node, labels)?;
        self.set(&node, 0, Val::Label)?;
        self.set(&node, 1, Val::Out(out))
    }
}
