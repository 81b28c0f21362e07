//! One served model: checked once, made runnable on first use, answering requests.

use crate::answer::{predicted, BatchItem, BatchResponse, ModelInfo, Response};
use crate::batch::Slots;
use crate::error::{Error, ErrorKind};
use crate::explain::{Explain, Explaining, FeatureContributions, Reasons};
use crate::features::Request;
use icebreak_engine::{BatchOutput, Model, Scratch};
use icebreak_format::{aligned_static, Apr, Embedded};
use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

thread_local! {
    static SCRATCH: RefCell<(Scratch, BatchOutput)> = RefCell::new(Default::default());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Answers requests for one model.
///
/// Creating it checks the model's structure and builds no inference state; the runnable model
/// is created on first use and kept in a [`OnceLock`]. It records how long that took and how
/// long the first prediction took.
pub struct Predictor {
    apr: Apr<'static>,
    model: OnceLock<Model<'static>>,
    /// Made on the first request that asks for an explanation, never before.
    explaining: OnceLock<Result<Explaining, Error>>,
    model_ms: OnceLock<f64>,
    first_inference_ms: OnceLock<f64>,
}

impl fmt::Debug for Predictor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Predictor")
            .field("model_version", &self.model_version())
            .field("n_features", &self.apr.input().n_features)
            .finish_non_exhaustive()
    }
}

impl Predictor {
    /// Checks the magic and the structure of a `.apr` model (not its checksum).
    ///
    /// Costs time proportional to the model's structure, never its weights. Bytes that are
    /// not 8-byte aligned (plain `include_bytes!`) are copied once; use
    /// [`icebreak_format::include_model!`] to avoid that copy.
    pub fn from_bytes(bytes: &'static [u8]) -> Result<Predictor, Error> {
        Ok(Predictor::new(Apr::parse(aligned_static(bytes))?))
    }

    /// Opens a model verified when it was compiled in
    /// ([`icebreak_format::include_verified_model!`]): in time proportional to its structure
    /// only, whatever its size ([`Apr::parse_attested`]).
    pub fn from_embedded(model: Embedded) -> Result<Predictor, Error> {
        let bytes = aligned_static(model.bytes);
        Ok(Predictor::new(Apr::parse_attested(
            bytes,
            &model.attestation,
        )?))
    }

    /// Serves an already parsed model.
    pub fn new(apr: Apr<'static>) -> Predictor {
        Predictor {
            apr,
            model: OnceLock::new(),
            explaining: OnceLock::new(),
            model_ms: OnceLock::new(),
            first_inference_ms: OnceLock::new(),
        }
    }

    /// The parsed model file.
    pub fn apr(&self) -> &Apr<'static> {
        &self.apr
    }

    /// The model's version.
    pub fn model_version(&self) -> &'static str {
        self.apr.provenance().model_version
    }

    /// Features per instance.
    pub fn n_features(&self) -> usize {
        self.apr.input().n_features as usize
    }

    /// Whether the runnable model exists yet.
    pub fn is_model_loaded(&self) -> bool {
        self.model.get().is_some()
    }

    /// How long creating the runnable model took, once it was created.
    pub fn model_load_ms(&self) -> Option<f64> {
        self.model_ms.get().copied()
    }

    /// How long the first prediction took, once there was one.
    pub fn first_inference_ms(&self) -> Option<f64> {
        self.first_inference_ms.get().copied()
    }

    /// What the model is.
    pub fn describe(&self) -> ModelInfo {
        ModelInfo::of(&self.apr)
    }

    /// The runnable model, created on first use.
    pub fn model(&self) -> &Model<'static> {
        self.model.get_or_init(|| {
            let t = Instant::now();
            let m = Model::new(&self.apr);
            let _ = self.model_ms.set(ms(t.elapsed()));
            m
        })
    }

    /// Times an inference; the first one is kept as [`Predictor::first_inference_ms`].
    /// Warm calls read no clock: only the first inference is timed.
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        if self.first_inference_ms.get().is_some() {
            return f();
        }
        let t = Instant::now();
        let out = f();
        let _ = self.first_inference_ms.set(ms(t.elapsed()));
        out
    }

    /// Does the first prediction's one-off work ahead of it, on the calling thread, without
    /// predicting: creates the runnable model ([`Predictor::model`]) and prepares it
    /// ([`Model::prepare`]: the CPU's kernels detected and, unless the model takes more than
    /// [`Predictor::MAX_WARM_FEATURES`] features, this thread's buffers sized). Meant for a
    /// wait the first request would otherwise not use (the Lambda runtime calls it while its
    /// first `GET /next` is in flight). It reads no node or weight, cannot fail, changes no
    /// answer and records no first inference; the model's creation time is still
    /// [`Predictor::model_load_ms`].
    pub fn prepare(&self) {
        let model = self.model();
        if self.n_features() > Self::MAX_WARM_FEATURES {
            model.prepare(None);
            return;
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut guard) => model.prepare(Some(&mut guard.0)),
            Err(_) => model.prepare(None),
        });
    }

    /// Widest model [`Predictor::warm`] predicts a row for; a wider one is only made runnable
    /// (its buffers are sized by the first real row, not at start-up).
    pub const MAX_WARM_FEATURES: usize = 1 << 16;

    /// Creates the runnable model and, unless it takes more than
    /// [`Predictor::MAX_WARM_FEATURES`] features, predicts one row of zeros; its answer does
    /// not matter.
    pub fn warm(&self) {
        if self.n_features() > Self::MAX_WARM_FEATURES {
            let _ = self.model();
            return;
        }
        let _ = self.predict(&Request::new(vec![0.0; self.n_features()]), Instant::now());
    }

    /// The model made ready to explain, on first use; the error says why it cannot be.
    fn explaining(&self) -> Result<&Explaining, Error> {
        self.explaining
            .get_or_init(|| Explaining::new(&self.apr, self.model()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether explanations have been prepared (by a request that asked for one, or
    /// [`Predictor::can_explain`]).
    pub fn is_explainer_loaded(&self) -> bool {
        self.explaining.get().is_some()
    }

    /// Whether the model can explain its answers, and if not, why ([`Error`]). Prepares the
    /// explanations (one pass over a tree ensemble's nodes) the first time.
    pub fn can_explain(&self) -> Result<(), Error> {
        self.explaining().map(|_| ())
    }

    /// Values one explained answer holds (`n_outputs × (n_features + 1)`), when the model
    /// can explain.
    pub fn explanation_values(&self) -> Option<usize> {
        self.explaining().ok().map(Explaining::values)
    }

    /// Explains one row (checked against the model first): the contributions and the top
    /// `explain.top` reasons.
    pub fn explain(
        &self,
        features: &[f64],
        explain: Explain,
    ) -> Result<(FeatureContributions, Reasons), Error> {
        let explaining = self.explaining()?;
        self.model().check_row(features)?;
        explaining.explain(features, explain)
    }

    /// Answers one instance. `t0`: when handling the request began (its `latency_ms` counts
    /// from there).
    pub fn predict(&self, req: &Request, t0: Instant) -> Result<Response, Error> {
        let model = self.model();
        let (prediction, probabilities) = self.timed(|| {
            SCRATCH.with(|cell| {
                let mut guard = cell.borrow_mut();
                let out = model.predict_row(&req.features, &mut guard.0)?;
                Ok::<_, Error>(predicted(
                    &self.apr,
                    out.values,
                    out.probabilities,
                    out.class,
                ))
            })
        })?;
        let (contributions, reasons) = match req.explain {
            None => (None, None),
            Some(e) => {
                let (c, r) = self.explaining()?.explain(&req.features, e)?;
                (Some(c), Some(r))
            }
        };
        Ok(Response {
            prediction,
            probabilities,
            contributions,
            reasons,
            latency_ms: ms(t0.elapsed()),
            model_version: self.model_version(),
        })
    }

    /// Explains an instance the batch path has predicted (so checked).
    fn explain_checked(
        &self,
        inst: &Result<Request, Error>,
        e: Explain,
    ) -> Result<(FeatureContributions, Reasons), Error> {
        let req = inst.as_ref().map_err(Clone::clone)?;
        self.explaining()?.explain(&req.features, e)
    }

    /// Answers each instance on its own: a bad instance gets an error item and does not fail
    /// the others. Good instances go through the engine's batch path together.
    pub fn predict_batch(
        &self,
        instances: &[Result<Request, Error>],
        t0: Instant,
    ) -> Result<BatchResponse, Error> {
        self.predict_batch_threads(instances, t0, 1)
    }

    /// [`Predictor::predict_batch`] with the good instances predicted on up to `n_threads`
    /// threads (`Model::predict_batch_threads`: the same answers, bit for bit).
    pub fn predict_batch_threads(
        &self,
        instances: &[Result<Request, Error>],
        t0: Instant,
        n_threads: usize,
    ) -> Result<BatchResponse, Error> {
        if instances.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "\"instances\" is empty",
            ));
        }
        let model = self.model();
        let predictions = self.timed(|| {
            SCRATCH.with(|cell| {
                let mut guard = cell.borrow_mut();
                let (_, batch) = &mut *guard;
                let mut slots = Slots::with_capacity(instances.len(), self.n_features());
                for inst in instances {
                    slots.push(
                        model,
                        inst.as_ref()
                            .map(|r| r.features.as_slice())
                            .map_err(Clone::clone),
                    );
                }
                slots.predict_threads(model, batch, n_threads)?;
                Ok::<_, Error>(
                    slots
                        .drain(batch)
                        .zip(instances)
                        .map(|(slot, inst)| match slot {
                            Ok(row) => {
                                let (prediction, probabilities) =
                                    predicted(&self.apr, row.values, row.probabilities, row.class);
                                let explain = inst.as_ref().ok().and_then(|r| r.explain);
                                match explain.map(|e| self.explain_checked(inst, e)) {
                                    Some(Err(error)) => BatchItem::Err { error },
                                    Some(Ok((c, r))) => BatchItem::Ok {
                                        prediction,
                                        probabilities,
                                        contributions: Some(c),
                                        reasons: Some(r),
                                    },
                                    None => BatchItem::Ok {
                                        prediction,
                                        probabilities,
                                        contributions: None,
                                        reasons: None,
                                    },
                                }
                            }
                            Err(error) => BatchItem::Err { error },
                        })
                        .collect(),
                )
            })
        })?;
        Ok(BatchResponse {
            predictions,
            latency_ms: ms(t0.elapsed()),
            model_version: self.model_version(),
        })
    }
}
