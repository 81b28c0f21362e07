//! The pipeline rules (R25–R27, R34): stage order, widths, and the output schema against the
//! pipeline. Generic over the families: what a family contributes (its role, widths, whether
//! it chains, takes a post transform or gives signed scores) it says through [`Stage`].

use crate::error::FormatError;
use crate::family::{svm, PostTransform, Role, Stage};
use crate::model::{InputSchema, Labels, OutputSchema, Task};

/// R25–R27, R34: stage order, widths, and the output schema against the pipeline.
pub(crate) fn check(
    input: &InputSchema<'_>,
    output: &OutputSchema<'_>,
    stages: &[Stage<'_>],
) -> Result<(), FormatError> {
    let mut width = input.n_features;
    let mut last_role = Role::Preprocessor;
    let mut estimators = 0u32;
    let mut estimator: Option<&Stage<'_>> = None;
    let mut post: Option<PostTransform> = None;
    for (i, s) in stages.iter().enumerate() {
        let stage = i as u32;
        let role = s.role();
        if role < last_role {
            return Err(FormatError::BadPipeline {
                stage,
                reason: "stage comes after a later role",
            });
        }
        if let Stage::Oblivious(o) = s {
            if stage > 0 && !o.categorical.is_empty() {
                // Categories are read from the caller's row as given: nothing may change them.
                return Err(FormatError::BadPipeline {
                    stage,
                    reason: "an oblivious stage with categorical features is not the first stage",
                });
            }
        }
        if role == Role::Estimator {
            estimators += 1;
            let chain = s.chains_after(estimator);
            if estimators > 1 && !chain {
                return Err(FormatError::BadPipeline {
                    stage,
                    reason: "more than one estimator",
                });
            }
            estimator = Some(s);
        }
        if role == Role::Postprocessor {
            if post.is_some() {
                return Err(FormatError::BadPipeline {
                    stage,
                    reason: "more than one post transform",
                });
            }
            if estimator.is_some_and(|e| !e.takes_post()) {
                return Err(FormatError::BadPipeline {
                    stage,
                    reason: "an svm or kmeans estimator takes no post transform",
                });
            }
        }
        last_role = role;
        let declared = s.input_width();
        if let Some(found) = declared {
            expect_width(stage, width, found)?;
        }
        if let Stage::Post(p) = *s {
            post = Some(p);
            match p {
                PostTransform::BinaryLogistic if width != 1 => {
                    return Err(FormatError::BadPipeline {
                        stage,
                        reason: "binary_logistic takes exactly one score",
                    })
                }
                PostTransform::Softmax | PostTransform::OvrNormalize if width < 2 => {
                    return Err(FormatError::BadPipeline {
                        stage,
                        reason: "softmax and ovr_normalize take two scores or more",
                    })
                }
                _ => {}
            }
        }
        width = s.output_width(width);
    }
    if output.task == Task::Transform {
        // R34
        let bad = |reason| Err(FormatError::BadTransform { reason });
        if estimators > 0 {
            return bad("a transformer has no estimator");
        }
        if post.is_some() {
            return bad("a transformer has no post transform");
        }
        if !matches!(output.labels, Labels::None) {
            return bad("a transformer has no class labels");
        }
        if width != output.n_outputs {
            return bad("n_outputs differs from the pipeline's output width");
        }
        return Ok(());
    }
    if estimators == 0 {
        return Err(FormatError::BadPipeline {
            stage: stages.len() as u32,
            reason: "no estimator",
        });
    }
    // R32, the part that needs the output schema: an svm classifier is a classification
    // over its classes, an svm regressor a regression.
    let fits = match estimator {
        Some(Stage::Svm(m)) => svm::fits_output(m, output.task, output.n_outputs),
        Some(Stage::SvmF64(m)) => svm::fits_output(m, output.task, output.n_outputs),
        _ => true,
    };
    {
        if !fits {
            return Err(FormatError::BadSvm {
                stage: stages
                    .iter()
                    .position(|s| matches!(s, Stage::Svm(_) | Stage::SvmF64(_)))
                    .unwrap_or(0) as u32,
                index: 0,
                reason: "an svm classifier needs a classification over its classes, a regressor a regression",
            });
        }
    }
    let bad = |reason| Err(FormatError::BadOutput { reason });
    match output.task {
        Task::Regression | Task::Transform => {
            if !matches!(output.labels, Labels::None) {
                return bad("a regression has no class labels");
            }
            if width != output.n_outputs {
                return bad("n_outputs differs from the pipeline's output width");
            }
        }
        Task::Classification => {
            let n = output.n_outputs;
            if n < 2 {
                return bad("a classifier has two classes or more");
            }
            // A single signed score picks one of two classes by its sign; k-means
            // distances and naive Bayes likelihoods are not signed scores.
            let signed = estimator.is_none_or(|e| e.signed_scores());
            let binary_decision = width == 1 && n == 2 && post.is_none() && signed;
            if width != n && !binary_decision {
                return bad("the number of classes differs from the pipeline's output width");
            }
            let distinct = match &output.labels {
                Labels::None => return bad("a classifier needs class labels"),
                Labels::Int(v) => all_distinct(v.iter()),
                Labels::Str(s) => all_distinct(s.iter()),
            };
            if !distinct {
                return bad("class labels are not distinct");
            }
        }
    }
    Ok(())
}

fn all_distinct<T: Ord>(items: impl Iterator<Item = T>) -> bool {
    let mut v: Vec<T> = items.collect();
    let n = v.len();
    v.sort_unstable();
    v.dedup();
    v.len() == n
}

fn expect_width(stage: u32, expected: u32, found: u32) -> Result<(), FormatError> {
    if expected == found {
        Ok(())
    } else {
        Err(FormatError::WidthMismatch {
            stage,
            expected,
            found,
        })
    }
}
