//! Batch slotting: rows are checked one by one, the good ones go through the engine's batch
//! path together, and every row gets its own answer, in order. A bad row does not fail the
//! others.

use icebreak_engine::{BatchOutput, EngineError, Model};

/// The rows of one batch, in order: each either waiting for its prediction or already
/// answered with an error.
#[derive(Debug)]
pub struct Slots<E> {
    /// The good rows' features, row-major.
    flat: Vec<f64>,
    /// `None`: a good row (its prediction is the next one in the batch output).
    slots: Vec<Option<E>>,
}

impl<E> Default for Slots<E> {
    fn default() -> Self {
        Slots {
            flat: Vec::new(),
            slots: Vec::new(),
        }
    }
}

/// The prediction of one good row, read out of a [`BatchOutput`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotRow<'b> {
    /// Raw scores.
    pub scores: &'b [f64],
    /// Final values.
    pub values: &'b [f64],
    /// Probabilities, for classifiers with a post transform.
    pub probabilities: Option<&'b [f64]>,
    /// The predicted class, for classifiers.
    pub class: Option<usize>,
}

impl<E> Slots<E> {
    /// Most values (or rows) reserved up front; more grow as rows are pushed.
    pub const MAX_RESERVE: usize = 1 << 16;

    /// Room for `rows` rows of `n_features` features, up to [`Slots::MAX_RESERVE`] values:
    /// a model declaring millions of features reserves nothing in proportion until rows of
    /// that width arrive.
    pub fn with_capacity(rows: usize, n_features: usize) -> Self {
        Slots {
            flat: Vec::with_capacity(rows.saturating_mul(n_features).min(Self::MAX_RESERVE)),
            slots: Vec::with_capacity(rows.min(Self::MAX_RESERVE)),
        }
    }

    /// Adds a row: checked by `model` (a row it refuses is answered with that error), or an
    /// error found before (a row that could not be read).
    pub fn push(&mut self, model: &Model<'_>, row: Result<&[f64], E>)
    where
        E: From<EngineError>,
    {
        let slot = match row.map(|r| (model.check_row(r), r)) {
            Ok((Ok(()), r)) => {
                self.flat.extend_from_slice(r);
                None
            }
            Ok((Err(e), _)) => Some(e.into()),
            Err(e) => Some(e),
        };
        self.slots.push(slot);
    }

    /// Rows added since the last [`Slots::drain`].
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no row was added since the last [`Slots::drain`].
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether some row is waiting for a prediction.
    pub fn has_good(&self) -> bool {
        !self.flat.is_empty()
    }

    /// Predicts the good rows together into `out` (nothing when there are none). Every good
    /// row passed `check_row`, so an error here is the model's, not a row's.
    pub fn predict(&self, model: &Model<'_>, out: &mut BatchOutput) -> Result<(), EngineError> {
        if self.flat.is_empty() {
            return Ok(());
        }
        model.predict_batch(&self.flat, out)
    }

    /// [`Slots::predict`] on up to `n_threads` threads
    /// ([`Model::predict_batch_threads`]: the same bits as one thread).
    pub fn predict_threads(
        &self,
        model: &Model<'_>,
        out: &mut BatchOutput,
        n_threads: usize,
    ) -> Result<(), EngineError> {
        if self.flat.is_empty() {
            return Ok(());
        }
        model.predict_batch_threads(&self.flat, out, n_threads)
    }

    /// Answers every good row with an error (when [`Slots::predict`] failed).
    pub fn fail_good(&mut self, mut error: impl FnMut() -> E) {
        for s in &mut self.slots {
            if s.is_none() {
                *s = Some(error());
            }
        }
        self.flat.clear();
    }

    /// Every row's answer, in order: its prediction out of `out` (filled by
    /// [`Slots::predict`]) or its error. Leaves the slots empty for the next batch.
    pub fn drain<'b>(
        &'b mut self,
        out: &'b BatchOutput,
    ) -> impl Iterator<Item = Result<SlotRow<'b>, E>> + 'b {
        self.flat.clear();
        let (sw, vw, pw) = (out.score_width, out.value_width, out.probability_width);
        let mut k = 0;
        self.slots.drain(..).map(move |slot| match slot {
            Some(e) => Err(e),
            None => {
                let row = SlotRow {
                    scores: &out.scores[k * sw..(k + 1) * sw],
                    values: &out.values[k * vw..(k + 1) * vw],
                    probabilities: (pw > 0).then(|| &out.probabilities[k * pw..(k + 1) * pw]),
                    class: out.classes.get(k).copied(),
                };
                k += 1;
                Ok(row)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Error, ErrorKind};
    use icebreak_format::{
        write, Apr, InputSpec, LabelsSpec, MissingValues, ModelSpec, OutputSpec, ProvenanceSpec,
        StageSpec, Task,
    };

    /// y = x0 + 2 x1.
    fn model_bytes() -> icebreak_format::AlignedBuf {
        write(&ModelSpec {
            input: InputSpec {
                n_features: 2,
                missing: MissingValues::Reject,
                feature_names: None,
            },
            output: OutputSpec {
                task: Task::Regression,
                n_outputs: 1,
                labels: LabelsSpec::None,
                output_names: None,
                precision: icebreak_format::Precision::F32,
            },
            provenance: ProvenanceSpec {
                model_version: "t".into(),
                model_name: None,
                source_format: None,
                converter: None,
                source_sha256: None,
            },
            stages: vec![StageSpec::Linear {
                n_in: 2,
                n_out: 1,
                coef: vec![1.0, 2.0],
                intercept: vec![0.0],
            }],
        })
        .unwrap()
    }

    #[test]
    fn each_row_is_answered_in_order_and_bad_rows_fail_alone() {
        let bytes = model_bytes();
        let apr = Apr::parse(&bytes).unwrap();
        let model = Model::new(&apr);
        let mut slots: Slots<Error> = Slots::with_capacity(4, 2);
        slots.push(&model, Ok(&[1.0, 1.0]));
        slots.push(&model, Ok(&[1.0]));
        slots.push(
            &model,
            Err(Error::new(ErrorKind::InvalidInput, "unreadable")),
        );
        slots.push(&model, Ok(&[f64::NAN, 1.0]));
        slots.push(&model, Ok(&[2.0, 0.0]));
        assert_eq!(slots.len(), 5);
        assert!(slots.has_good());
        let mut out = BatchOutput::default();
        slots.predict(&model, &mut out).unwrap();
        let answers: Vec<_> = slots.drain(&out).collect();
        assert_eq!(answers[0].as_ref().unwrap().values, &[3.0]);
        assert!(answers[1]
            .as_ref()
            .unwrap_err()
            .message()
            .contains("features"));
        assert_eq!(answers[2].as_ref().unwrap_err().message(), "unreadable");
        assert_eq!(
            answers[3].as_ref().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(answers[4].as_ref().unwrap().values, &[2.0]);
        assert!(answers[4].as_ref().unwrap().probabilities.is_none());
        assert!(slots.is_empty() && !slots.has_good());
    }

    #[test]
    fn only_bad_rows_need_no_prediction_and_good_rows_can_be_failed() {
        let bytes = model_bytes();
        let apr = Apr::parse(&bytes).unwrap();
        let model = Model::new(&apr);
        let mut slots: Slots<Error> = Slots::default();
        slots.push(&model, Ok(&[1.0, 2.0, 3.0]));
        assert!(!slots.has_good());
        let mut out = BatchOutput::default();
        slots.predict(&model, &mut out).unwrap();
        assert_eq!(slots.drain(&out).filter(Result::is_err).count(), 1);

        slots.push(&model, Ok(&[1.0, 2.0]));
        slots.push(&model, Ok(&[1.0]));
        slots.fail_good(|| Error::new(ErrorKind::InvalidModel, "batch failed"));
        let kinds: Vec<_> = slots.drain(&out).map(|r| r.unwrap_err().kind()).collect();
        assert_eq!(kinds, [ErrorKind::InvalidModel, ErrorKind::InvalidInput]);
    }
}
