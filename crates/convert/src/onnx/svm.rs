//! `SVMClassifier` and `SVMRegressor` (ai.onnx.ml) to an `svm` stage: `coefficients` and
//! `rho` are libsvm's dual coefficients and intercepts, as onnxruntime reads them. A
//! multi-class model without probabilities must be followed by skl2onnx's one-vs-rest block
//! ([`super::ovr`]).

use super::graph::Node;
use super::params::{class_labels, dim, finite, labels_len, post_none};
use super::registry::Op;
use super::walker::{Out, Val, Walker};
use crate::ConvertError;
use icebreak_format::{Kernel, PostTransform, StageSpec, SvmSpec};

/// The operators this module recognises.
pub(super) const OPS: &[Op] = &[
    Op::ml("SVMClassifier", |w, n| w.svm(n)),
    Op::ml("SVMRegressor", |w, n| w.svm(n)),
];

impl Walker<'_> {
    fn svm(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        self.require_ml(&node)?;
        let classifier = node.op() == "SVMClassifier";
        let common = [
            "coefficients",
            "kernel_params",
            "kernel_type",
            "post_transform",
            "rho",
            "support_vectors",
        ];
        let mut known: Vec<&str> = common.to_vec();
        if classifier {
            node.arity(1..=1, 2)?;
            known.extend([
                "classlabels_ints",
                "classlabels_strings",
                "prob_a",
                "prob_b",
                "vectors_per_class",
            ]);
        } else {
            node.arity(1..=1, 1)?;
            known.extend(["n_supports", "one_class"]);
        }
        node.only(&known)?;
        let v = self.input(&node, 0)?.clone();
        let n_in = self.rows(&node, v)?;
        self.first_estimator(&node)?;
        post_none(&node)?;
        let params = node.floats("kernel_params")?.unwrap_or_default();
        let (gamma, coef0, degree) = match params {
            [] => (0.0, 0.0, 0.0),
            [g, c, d] => (f64::from(*g), f64::from(*c), f64::from(*d)),
            other => {
                return Err(node.err(format_args!(
                    "attribute \"kernel_params\" has {} values, expected 3 (gamma, coef0, degree)",
                    other.len()
                )))
            }
        };
        let kernel = match node.string("kernel_type")?.as_deref().unwrap_or("LINEAR") {
            "LINEAR" => Kernel::Linear,
            "RBF" => Kernel::Rbf { gamma },
            "SIGMOID" => Kernel::Sigmoid { gamma, coef0 },
            "POLY" => {
                if degree.fract() != 0.0 || !(0.0..=64.0).contains(&degree) {
                    return Err(node.err(format_args!(
                        "kernel_params degree {degree} is not an integer in 0..=64"
                    )));
                }
                Kernel::Poly {
                    gamma,
                    coef0,
                    degree: degree as u32,
                }
            }
            other => {
                return Err(node.err(format_args!(
                    "kernel_type {other:?} is not supported (LINEAR, POLY, RBF, SIGMOID are)"
                )))
            }
        };
        let sv: Vec<f32> = node.floats("support_vectors")?.unwrap_or_default().to_vec();
        finite(&node, "support_vectors", &sv)?;
        if sv.is_empty() || sv.len() % n_in != 0 {
            return Err(node.err(format_args!(
                "attribute \"support_vectors\" has {} values, not a whole number of rows of {n_in}",
                sv.len()
            )));
        }
        let n_sv = sv.len() / n_in;
        let coef: Vec<f32> = node.floats("coefficients")?.unwrap_or_default().to_vec();
        finite(&node, "coefficients", &coef)?;
        let rho: Vec<f32> = node.floats("rho")?.unwrap_or_default().to_vec();
        finite(&node, "rho", &rho)?;
        let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        if !classifier {
            if node.int("one_class")?.unwrap_or(0) != 0 {
                return Err(node.err("one-class SVMs are not supported"));
            }
            if let Some(n) = node.int("n_supports")? {
                if n != n_sv as i64 {
                    return Err(node.err(format_args!(
                        "n_supports is {n}, the support vectors make {n_sv}"
                    )));
                }
            }
            if coef.len() != n_sv || rho.len() != 1 {
                return Err(node.err(format_args!(
                    "{} coefficients and {} rho for {n_sv} support vectors (expected {n_sv} and 1)",
                    coef.len(),
                    rho.len()
                )));
            }
            self.stages.push(StageSpec::Svm(SvmSpec {
                n_in: dim("n_in", n_in)?,
                n_classes: 1,
                kernel,
                n_support: Vec::new(),
                support_vectors: sv,
                coef: widen(&coef),
                intercept: widen(&rho),
                prob_a: Vec::new(),
                break_ties: false,
                prob_b: Vec::new(),
            }));
            return self.set(
                &node,
                0,
                Val::Out(Out {
                    width: 1,
                    post: None,
                    binary_pair: false,
                }),
            );
        }
        let labels = class_labels(&node, "classlabels_ints", "classlabels_strings")?;
        let k = labels_len(&labels);
        if k < 2 {
            return Err(node.err(format_args!("has {k} class labels, at least 2 are needed")));
        }
        let per_class = node.ints("vectors_per_class")?.unwrap_or_default();
        if per_class.len() != k {
            return Err(node.err(format_args!(
                "vectors_per_class has {} entries for {k} classes",
                per_class.len()
            )));
        }
        let mut n_support = Vec::with_capacity(k);
        let mut total = 0u64;
        for &c in per_class {
            let c = u32::try_from(c)
                .map_err(|_| node.err(format_args!("vectors_per_class holds {c}")))?;
            total += u64::from(c);
            n_support.push(c);
        }
        if total != n_sv as u64 {
            return Err(node.err(format_args!(
                "vectors_per_class adds up to {total}, the support vectors make {n_sv}"
            )));
        }
        let pairs = k * (k - 1) / 2;
        if coef.len() != (k - 1) * n_sv || rho.len() != pairs {
            return Err(node.err(format_args!(
                "{} coefficients and {} rho for {k} classes and {n_sv} support vectors \
                 (expected {} and {pairs})",
                coef.len(),
                rho.len(),
                (k - 1) * n_sv
            )));
        }
        let prob_a: Vec<f32> = node.floats("prob_a")?.unwrap_or_default().to_vec();
        let prob_b: Vec<f32> = node.floats("prob_b")?.unwrap_or_default().to_vec();
        finite(&node, "prob_a", &prob_a)?;
        finite(&node, "prob_b", &prob_b)?;
        let proba = !prob_a.is_empty();
        if proba && (prob_a.len() != pairs || prob_b.len() != pairs) {
            return Err(node.err(format_args!(
                "prob_a and prob_b have {} and {} values for {pairs} pairs of classes",
                prob_a.len(),
                prob_b.len()
            )));
        }
        if !proba && !prob_b.is_empty() {
            return Err(node.err("prob_b without prob_a"));
        }
        self.stages.push(StageSpec::Svm(SvmSpec {
            n_in: dim("n_in", n_in)?,
            n_classes: dim("classes", k)?,
            kernel,
            n_support,
            support_vectors: sv,
            coef: widen(&coef),
            intercept: widen(&rho),
            prob_a: widen(&prob_a),
            break_ties: false,
            prob_b: widen(&prob_b),
        }));
        self.set_labels(&node, labels)?;
        self.set(&node, 0, Val::Label)?;
        let out = if proba {
            // onnxruntime's probabilities: Platt + libsvm's pairwise coupling, as the stage.
            Out {
                width: k,
                post: Some(PostTransform::Probabilities),
                binary_pair: false,
            }
        } else if k == 2 {
            Out {
                width: 1,
                post: None,
                binary_pair: true,
            }
        } else {
            // The raw pairwise scores: only the one-vs-rest block skl2onnx writes after them
            // (scikit-learn's `_ovr_decision_function`) is accepted.
            let name = node.p.output.get(1).cloned().unwrap_or_default();
            let out = Out {
                width: k,
                post: None,
                binary_pair: false,
            };
            return self.ovr_block(&node, &name, k, out);
        };
        self.set(&node, 1, Val::Out(out))
    }
}
