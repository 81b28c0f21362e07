//! The native half of the `icebreak` Python package.
//!
//! Everything that touches a model happens here, in Rust: detecting and importing ONNX,
//! XGBoost and LightGBM sources ([`icebreak_convert::convert_any`]), importing scikit-learn
//! linear models from their fitted attributes ([`icebreak_convert::linear_params`]) and
//! scikit-learn trees and forests from their `tree_` arrays, writing
//! and verifying `.apr` bytes, scoring numpy batches through the engine's batch path
//! ([`icebreak_engine::Model::predict_batch`]) and explaining them
//! ([`icebreak_engine::Explainer`]), with the GIL released. The pure-Python half
//! (`python/icebreak/__init__.py`) only reads fitted attributes off Python objects and picks
//! the entry point.
//!
//! Every failure is raised as `icebreak.IcebreakError` (a `ValueError`) carrying icebreak's
//! own message; nothing here panics on input.

mod boosting;
mod stages;

use icebreak_convert::detect::{convert_any, Options, SourceFormat};
use icebreak_engine::{BatchOutput, Contributions, EngineError, Explainer, Model as Engine};
use icebreak_format::trees::LEAF;
use icebreak_format::{
    limits, AlignedBuf, Apr, InputSpec, Labels, LabelsSpec, MissingRule, MissingValues, ModelSpec,
    OutputSpec, PostTransform, Precision, ProvenanceSpec, Split, Stage, StageSpec, Task, TreeNode,
    TreesSpec,
};
use numpy::ndarray::{Array2, Array3};
use numpy::{
    IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::sync::{Arc, OnceLock};

create_exception!(
    _icebreak,
    IcebreakError,
    PyValueError,
    "A model icebreak cannot convert, load or run, or an input it cannot score."
);

fn err(msg: impl std::fmt::Display) -> PyErr {
    IcebreakError::new_err(msg.to_string())
}

/// Refuses an array whose data is not aligned for its element type (a field of a packed
/// record array): reading it as a slice would be undefined behaviour.
pub(crate) fn check_aligned(a: &Bound<'_, PyAny>) -> Result<(), String> {
    let aligned = a
        .getattr("flags")
        .and_then(|f| f.getattr("aligned"))
        .and_then(|v| v.extract::<bool>())
        .map_err(|e| format!("not a numpy array: {e}"))?;
    if aligned {
        Ok(())
    } else {
        Err("an array's data is not aligned (copy it with numpy.array(a))".to_owned())
    }
}

/// Rows to give each thread at least, so that small batches stay on one thread.
const MIN_ROWS_PER_THREAD: usize = 256;

/// The file's view and the engine's pipeline, borrowing the bytes they were read from.
struct Loaded<'a> {
    apr: Apr<'a>,
    engine: Engine<'a>,
}

self_cell::self_cell!(
    /// Verified `.apr` bytes with their view and pipeline, built once per model: a tree
    /// ensemble's walk preparation is not redone on every call.
    struct Cell {
        owner: Arc<AlignedBuf>,
        #[covariant]
        dependent: Loaded,
    }
);

/// The model's explainer, or why it has none.
type Explaining<'a> = Result<Explainer<'a>, EngineError>;

self_cell::self_cell!(
    /// The model's explainer over the same bytes, built on the first `explain` (one pass
    /// over the nodes) and kept: a model that only predicts never builds one.
    struct ExplainCell {
        owner: Arc<AlignedBuf>,
        #[covariant]
        dependent: Explaining,
    }
);

/// A converted model: verified `.apr` bytes, ready to score.
#[pyclass(frozen, module = "icebreak")]
pub struct Model {
    cell: Cell,
    explain: OnceLock<ExplainCell>,
}

impl Model {
    /// Checks `bytes` fully (structure and checksum) and keeps an aligned copy.
    fn from_apr_bytes(bytes: &[u8]) -> PyResult<Self> {
        Self::from_buf(AlignedBuf::copy_from(bytes))
    }

    /// Verifies the bytes fully (structure and checksum) and builds the pipeline.
    fn from_buf(buf: AlignedBuf) -> PyResult<Self> {
        let cell = Cell::try_new(Arc::new(buf), |b| {
            Apr::parse_verified(b.as_slice()).map(|apr| {
                let engine = Engine::new(&apr);
                Loaded { apr, engine }
            })
        })
        .map_err(|e| err(format!("not a valid .apr model: {e}")))?;
        Ok(Model {
            cell,
            explain: OnceLock::new(),
        })
    }

    /// The explainer, built on first use (the bytes were verified when the model was made;
    /// they are parsed again for a view the explainer can keep).
    fn explainer(&self) -> &Explaining<'_> {
        self.explain
            .get_or_init(|| {
                ExplainCell::new(Arc::clone(self.cell.borrow_owner()), |b| {
                    Apr::parse(b.as_slice())
                        // Never: the same bytes passed the full verification.
                        .map_err(|_| EngineError::Unexplainable {
                            reason: "the model's bytes cannot be read again",
                        })
                        .and_then(|apr| Engine::new(&apr).explainer())
                })
            })
            .borrow_dependent()
    }

    fn from_spec(mut spec: ModelSpec, feature_names: Option<Vec<String>>) -> PyResult<Self> {
        if let Some(names) = feature_names {
            let n = spec.input.n_features as usize;
            if names.len() != n {
                return Err(err(format!(
                    "feature_names has {} names, the model takes {n} features",
                    names.len()
                )));
            }
            spec.input.feature_names = Some(names);
        }
        let buf =
            icebreak_format::write(&spec).map_err(|e| err(format!("cannot write .apr: {e}")))?;
        Self::from_buf(buf)
    }

    /// The file's view. The bytes were verified when the model was made.
    fn apr(&self) -> PyResult<&Apr<'_>> {
        Ok(&self.cell.borrow_dependent().apr)
    }

    fn bytes(&self) -> &[u8] {
        self.cell.borrow_owner().as_slice()
    }

    /// Runs the batch in `x` through the engine, the GIL released.
    fn run(&self, py: Python<'_>, x: &Bound<'_, PyAny>, n_threads: usize) -> PyResult<BatchOutput> {
        let engine = &self.cell.borrow_dependent().engine;
        let nf = engine.n_features();
        let rows = self.rows(py, x)?;
        let threads = n_threads.max(1);
        py.detach(|| match &rows {
            Batch::F64(r) => predict_threads(r, nf, threads, |c, o| engine.predict_batch(c, o)),
            Batch::F32(r) => predict_threads(r, nf, threads, |c, o| engine.predict_batch_f32(c, o)),
        })
        .map_err(err)
    }

    /// The rows of `x` (a numpy array or a pandas DataFrame), row-major, in the precision
    /// they were given in.
    fn rows(&self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<Batch> {
        let nf = self.cell.borrow_dependent().engine.n_features();
        // A pandas DataFrame: its columns are picked by the model's feature names
        // (`icebreak._frame_rows`), then read as any array.
        let frame;
        let x = if x.cast::<numpy::PyUntypedArray>().is_err() && x.hasattr("columns")? {
            frame = py.import("icebreak")?.getattr("_frame_rows")?.call1((
                x,
                self.feature_names_in_()?,
                nf,
            ))?;
            &frame
        } else {
            x
        };
        rows_of(x, nf)
    }

    /// Why this model cannot explain, with what the Python package can do about it.
    fn unexplainable(&self, e: &EngineError) -> PyErr {
        let no_covers = self.apr().is_ok_and(|apr| {
            apr.stages()
                .iter()
                .any(|s| matches!(s, Stage::Trees(t) if !t.has_covers()))
        });
        let hint = if no_covers {
            " (icebreak.convert keeps node covers for XGBoost and LightGBM boosters and for \
             scikit-learn trees, forests and gradient boosting, except HistGradientBoosting \
             with categorical splits; models converted by an older icebreak, or from ONNX, \
             have none)"
        } else {
            ""
        };
        err(format!("this model cannot be explained: {e}{hint}"))
    }
}

/// Contributions of every row (`n_rows × n_outputs × (n_features + 1)`, row-major), the rows
/// split over `threads` scoped threads as in [`predict_threads`].
fn explain_threads(
    explainer: &Explainer<'_>,
    engine: &Engine<'_>,
    rows: &[f64],
    nf: usize,
    threads: usize,
) -> Result<Vec<f64>, String> {
    let n_rows = rows.len().checked_div(nf).unwrap_or(0);
    let width = explainer.n_outputs() * (nf + 1);
    let explain_block = |first: usize, block: &[f64]| -> Result<Vec<f64>, String> {
        let mut scratch = explainer.scratch();
        let mut c = Contributions::default();
        let mut out = Vec::with_capacity(block.len() / nf.max(1) * width);
        for (i, x) in block.chunks_exact(nf.max(1)).enumerate() {
            let at = |e: EngineError| format!("row {}: {e}", first + i);
            engine.check_row(x).map_err(at)?;
            explainer.explain_row(x, &mut scratch, &mut c).map_err(at)?;
            out.extend_from_slice(&c.values);
        }
        Ok(out)
    };
    if nf == 0 {
        // No features: every row is its bias alone.
        let mut scratch = explainer.scratch();
        let mut c = Contributions::default();
        explainer
            .explain_row(&[], &mut scratch, &mut c)
            .map_err(|e| e.to_string())?;
        return Ok(c.values.repeat(n_rows));
    }
    let threads = threads.min(n_rows / MIN_ROWS_PER_THREAD).max(1);
    if threads == 1 {
        return explain_block(0, rows);
    }
    let per = n_rows.div_ceil(threads);
    let parts: Vec<Result<Vec<f64>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(per * nf)
            .enumerate()
            .map(|(i, chunk)| s.spawn(move || explain_block(i * per, chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("an explaining thread failed".to_owned()))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(n_rows * width);
    for part in parts {
        out.extend_from_slice(&part?);
    }
    Ok(out)
}

/// `values` (row-major, `n_rows · n_out · w`) as a numpy array of shape `(n_rows, w)` for
/// one output, else `(n_rows, n_out, w)`: XGBoost's `pred_contribs` layout.
fn per_output_array<'py, T: numpy::Element>(
    py: Python<'py>,
    values: Vec<T>,
    n_rows: usize,
    n_out: usize,
    w: usize,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(if n_out == 1 {
        Array2::from_shape_vec((n_rows, w), values)
            .map_err(err)?
            .into_pyarray(py)
            .into_any()
    } else {
        Array3::from_shape_vec((n_rows, n_out, w), values)
            .map_err(err)?
            .into_pyarray(py)
            .into_any()
    })
}

/// For each row and output, the indices of the `k` features of largest absolute
/// contribution, largest first (ties: the lower index first); `values` holds `groups`
/// blocks of `nf + 1` values (the bias last, never a reason).
fn top_features(values: &[f64], nf: usize, k: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(values.len() / (nf + 1) * k);
    let mut order: Vec<usize> = (0..nf).collect();
    for block in values.chunks_exact(nf + 1) {
        order.clear();
        order.extend(0..nf);
        order.sort_by(|&a, &b| block[b].abs().total_cmp(&block[a].abs()).then(a.cmp(&b)));
        out.extend(order.iter().take(k).map(|&i| i as i64));
    }
    out
}

/// A batch's rows, row-major, as the caller gave them: a float32 array stays `f32` and runs
/// through [`Engine::predict_batch_f32`] (no `f64` copy, and the dense families read it as
/// is); anything else is `f64`.
enum Batch {
    F64(Vec<f64>),
    F32(Vec<f32>),
}

impl Batch {
    /// The rows as `f64` (explanations read `f64` rows): exactly the values given, every
    /// NaN of a float32 array the plain NaN (a missing value).
    fn into_f64(self) -> Vec<f64> {
        match self {
            Batch::F64(v) => v,
            Batch::F32(v) => v
                .iter()
                .map(|&f| if f.is_nan() { f64::NAN } else { f64::from(f) })
                .collect(),
        }
    }
}

/// Copies a 2-D float32 or float64 numpy array (any order, any strides) into row-major
/// rows of its own precision, checking the width.
fn rows_of(x: &Bound<'_, PyAny>, n_features: usize) -> PyResult<Batch> {
    // An unaligned array (a field of a packed record array) is copied first: its data
    // cannot be read in place.
    let copied;
    let x = if x.cast::<numpy::PyUntypedArray>().is_ok() && check_aligned(x).is_err() {
        copied = x.py().import("numpy")?.call_method1("array", (x,))?;
        &copied
    } else {
        x
    };
    let (shape, rows): (Vec<usize>, Batch) = if let Ok(a) = x.cast::<PyArray2<f64>>() {
        let r = a.readonly();
        let v = r.as_array();
        (a.shape().to_vec(), Batch::F64(v.iter().copied().collect()))
    } else if let Ok(a) = x.cast::<PyArray2<f32>>() {
        let r = a.readonly();
        let v = r.as_array();
        (a.shape().to_vec(), Batch::F32(v.iter().copied().collect()))
    } else {
        let what = match x.getattr("ndim").and_then(|d| d.extract::<usize>()) {
            Ok(d) if d != 2 => format!("a {d}-D array"),
            _ => x
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "an object".to_owned()),
        };
        return Err(err(format!(
            "X must be a 2-D numpy array of float32 or float64 (rows × {n_features} features), got {what}"
        )));
    };
    if shape[1] != n_features {
        return Err(err(format!(
            "X has {} features per row, the model takes {n_features}",
            shape[1]
        )));
    }
    Ok(rows)
}

/// Splits the rows over `threads` scoped threads (each a contiguous block), runs `batch`
/// (the engine's f64 or f32 batch entry point) on each and joins the outputs in order; one
/// thread runs on the caller's.
fn predict_threads<T: Sync>(
    rows: &[T],
    nf: usize,
    threads: usize,
    batch: impl Fn(&[T], &mut BatchOutput) -> Result<(), EngineError> + Sync,
) -> Result<BatchOutput, String> {
    let n_rows = rows.len().checked_div(nf).unwrap_or(0);
    let threads = threads.min(n_rows / MIN_ROWS_PER_THREAD).max(1);
    let mut out = BatchOutput::default();
    if threads == 1 || nf == 0 {
        batch(rows, &mut out).map_err(|e| e.to_string())?;
        return Ok(out);
    }
    let per = n_rows.div_ceil(threads);
    let batch = &batch;
    let parts: Vec<Result<BatchOutput, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(per * nf)
            .map(|chunk| {
                s.spawn(move || {
                    let mut o = BatchOutput::default();
                    batch(chunk, &mut o).map(|()| o).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a scoring thread failed".to_owned()))
            })
            .collect()
    });
    for (i, part) in parts.into_iter().enumerate() {
        let p = part.map_err(|e| format!("{e} (in rows from {})", i * per))?;
        out.scores.extend_from_slice(&p.scores);
        out.values.extend_from_slice(&p.values);
        out.probabilities.extend_from_slice(&p.probabilities);
        out.classes.extend_from_slice(&p.classes);
        out.score_width = p.score_width;
        out.value_width = p.value_width;
        out.probability_width = p.probability_width;
    }
    Ok(out)
}

/// A row-major `f32` block as an `n × width` float64 numpy array, or 1-D when `flat` and
/// the width is 1 (as scikit-learn returns a single output).
fn to_numpy<'py>(
    py: Python<'py>,
    data: &[f64],
    width: usize,
    flat: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let v: Vec<f64> = data.to_vec();
    let n = v.len().checked_div(width).unwrap_or(0);
    if flat && width == 1 {
        return Ok(v.into_pyarray(py).into_any());
    }
    let a = Array2::from_shape_vec((n, width), v).map_err(err)?;
    Ok(a.into_pyarray(py).into_any())
}

fn labels_list<'py>(py: Python<'py>, labels: &Labels<'_>) -> PyResult<Option<Bound<'py, PyList>>> {
    Ok(match labels {
        Labels::None => None,
        Labels::Int(v) => Some(PyList::new(py, v)?),
        Labels::Str(s) => Some(PyList::new(py, s.iter())?),
    })
}

#[pymethods]
impl Model {
    /// Reads and fully verifies a `.apr` file.
    #[staticmethod]
    fn load(path: std::path::PathBuf) -> PyResult<Self> {
        let bytes = std::fs::read(&path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        Self::from_apr_bytes(&bytes)
    }

    /// A model from `.apr` bytes, fully verified.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Self::from_apr_bytes(data)
    }

    /// Writes the `.apr` file.
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        std::fs::write(&path, self.bytes())
            .map_err(|e| err(format!("cannot write {}: {e}", path.display())))
    }

    /// The `.apr` bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.bytes())
    }

    /// Features per row.
    #[getter]
    fn n_features_in_(&self) -> PyResult<usize> {
        Ok(self.apr()?.input().n_features as usize)
    }

    /// Feature names, or `None` when the source model had none.
    #[getter]
    fn feature_names_in_(&self) -> PyResult<Option<Vec<String>>> {
        Ok(self
            .apr()?
            .input()
            .feature_names
            .as_ref()
            .map(|names| names.iter().map(str::to_owned).collect()))
    }

    /// `"classification"` or `"regression"`.
    #[getter]
    fn task(&self) -> PyResult<&'static str> {
        Ok(match self.apr()?.output().task {
            Task::Classification => "classification",
            _ => "regression",
        })
    }

    /// Class labels in class order (a classifier's `classes_`), or `None`.
    #[getter]
    fn classes_<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        labels_list(py, &self.apr()?.output().labels)
    }

    /// The input schema: feature count, names, and how missing values are taken.
    #[getter]
    fn input_schema(&self) -> PyResult<(usize, Option<Vec<String>>, String)> {
        let apr = self.apr()?;
        let i = apr.input();
        Ok((
            i.n_features as usize,
            i.feature_names
                .as_ref()
                .map(|names| names.iter().map(str::to_owned).collect()),
            format!("{:?}", i.missing),
        ))
    }

    /// The model version recorded in the file.
    #[getter]
    fn model_version(&self) -> PyResult<String> {
        Ok(self.apr()?.provenance().model_version.to_owned())
    }

    /// Predictions: class labels for a classifier, values for a regression (1-D when the
    /// model has one output).
    #[pyo3(signature = (x, n_threads = 1))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let out = self.run(py, x, n_threads)?;
        let apr = self.apr()?;
        if apr.output().task != Task::Classification {
            return to_numpy(py, &out.values, out.value_width, true);
        }
        let numpy = py.import("numpy")?;
        match &apr.output().labels {
            Labels::Int(v) => {
                let labels = out
                    .classes
                    .iter()
                    .map(|&c| {
                        v.get(c)
                            .copied()
                            .ok_or_else(|| err("class index out of range"))
                    })
                    .collect::<PyResult<Vec<i64>>>()?;
                Ok(labels.into_pyarray(py).into_any())
            }
            Labels::Str(s) => {
                let labels = out
                    .classes
                    .iter()
                    .map(|&c| s.get(c).ok_or_else(|| err("class index out of range")))
                    .collect::<PyResult<Vec<&str>>>()?;
                numpy.call_method1("array", (PyList::new(py, labels)?,))
            }
            Labels::None => {
                let idx: Vec<i64> = out.classes.iter().map(|&c| c as i64).collect();
                Ok(idx.into_pyarray(py).into_any())
            }
        }
    }

    /// Class probabilities, `n_rows × n_classes`.
    #[pyo3(signature = (x, n_threads = 1))]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let apr = self.apr()?;
        let has_proba = apr.output().task == Task::Classification
            && apr.stages().iter().any(|s| match s {
                Stage::Post(_) => true,
                Stage::Svm(m) => m.has_probabilities(),
                Stage::SvmF64(m) => m.has_probabilities(),
                _ => false,
            });
        if !has_proba {
            return Err(err("this model has no probabilities (it is not a classifier with a probability output)"));
        }
        let out = self.run(py, x, n_threads)?;
        // An empty batch has the model's width too.
        let width = match out.probability_width {
            0 => apr.output().n_outputs as usize,
            w => w,
        };
        to_numpy(py, &out.probabilities, width, false)
    }

    /// Raw scores: a classifier's decision values (1-D for a binary model with one score),
    /// a regression's values before any link.
    #[pyo3(signature = (x, n_threads = 1))]
    fn decision_function<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let out = self.run(py, x, n_threads)?;
        to_numpy(py, &out.scores, out.score_width, true)
    }

    /// A transformer's output rows (a scaler, a PCA, a pipeline of them), or k-means
    /// distances to each centre, `n_rows × width`.
    #[pyo3(signature = (x, n_threads = 1))]
    fn transform<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let apr = self.apr()?;
        let kmeans = apr
            .stages()
            .iter()
            .any(|s| matches!(s, Stage::KMeans { .. } | Stage::KMeansF64 { .. }));
        if apr.output().task != Task::Transform && !kmeans {
            return Err(err(
                "this model has no transform (it is neither a transformer nor k-means); use predict",
            ));
        }
        let out = self.run(py, x, n_threads)?;
        if kmeans {
            to_numpy(py, &out.scores, out.score_width, false)
        } else {
            to_numpy(py, &out.values, out.value_width, false)
        }
    }

    /// Each feature's contribution to the raw scores (what `decision_function` returns before
    /// any link; a classifier forest's averaged class probabilities), plus the bias: exact
    /// path-dependent Tree SHAP for tree ensembles, `coef × x` (or `coef × (x − mean) /
    /// scale` behind a standard scaler) for linear models. `n_rows × (n_features + 1)` with
    /// the bias last, or `n_rows × n_outputs × (n_features + 1)` for several raw outputs
    /// (XGBoost's `pred_contribs` layout); each row's values add up to its raw score. With
    /// `top = k`, returns `(contributions, reasons)`: `reasons` holds, for each row (and
    /// output), the indices of the `k` features of largest absolute contribution, largest
    /// first, `n_rows × k` (or `n_rows × n_outputs × k`). Computed with the GIL released.
    #[pyo3(signature = (x, top = None, n_threads = 1))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        top: Option<usize>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let loaded = self.cell.borrow_dependent();
        let engine = &loaded.engine;
        let nf = engine.n_features();
        if top == Some(0) {
            return Err(err("top must be at least 1"));
        }
        let explainer = self
            .explainer()
            .as_ref()
            .map_err(|e| self.unexplainable(e))?;
        let n_out = explainer.n_outputs();
        // One row's explanation, bounded as the protocol bounds it (docs/SECURITY.md).
        let per_row = n_out.saturating_mul(nf + 1);
        if per_row > limits::MAX_EXPLAIN_VALUES {
            return Err(err(format!(
                "this model cannot be explained: one row's explanation would hold {per_row} \
                 values ({n_out} outputs × {} features and bias), more than the limit of {} \
                 (limits::MAX_EXPLAIN_VALUES)",
                nf + 1,
                limits::MAX_EXPLAIN_VALUES
            )));
        }
        let rows = self.rows(py, x)?.into_f64();
        let n_rows = rows.len().checked_div(nf).unwrap_or(0);
        if n_rows
            .checked_mul(per_row)
            .is_none_or(|n| n > isize::MAX as usize / 8)
        {
            return Err(err(format!(
                "{n_rows} rows of {per_row} contributions do not fit in memory"
            )));
        }
        let threads = n_threads.max(1);
        let values = py
            .detach(|| explain_threads(explainer, engine, &rows, nf, threads))
            .map_err(err)?;
        let reasons = top.map(|k| {
            let k = k.min(nf);
            (top_features(&values, nf, k), k)
        });
        let contributions = per_output_array(py, values, n_rows, n_out, nf + 1)?;
        match reasons {
            None => Ok(contributions),
            Some((r, k)) => {
                let r = per_output_array(py, r, n_rows, n_out, k)?;
                Ok(PyTuple::new(py, [contributions, r])?.into_any())
            }
        }
    }

    /// What `icebreak inspect --json` prints for this model (without the file's `path`),
    /// as a dict.
    fn describe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = icebreak_cli::inspect_json(self.bytes()).map_err(err)?;
        py.import("json")?.call_method1("loads", (text,))
    }

    fn __repr__(&self) -> PyResult<String> {
        let apr = self.apr()?;
        Ok(format!(
            "icebreak.Model({}, {} features, {} bytes, version {:?})",
            match apr.output().task {
                Task::Classification => "classification",
                _ => "regression",
            },
            apr.input().n_features,
            self.bytes().len(),
            apr.provenance().model_version
        ))
    }
}

/// Converts the bytes of an ONNX, XGBoost (JSON or UBJSON) or LightGBM (text) model; the
/// format is detected from the content unless `source_format` names it.
#[pyfunction]
#[pyo3(signature = (data, source_format = None, feature_names = None, model_name = None, model_version = None))]
fn convert_bytes(
    py: Python<'_>,
    data: &[u8],
    source_format: Option<&str>,
    feature_names: Option<Vec<String>>,
    model_name: Option<String>,
    model_version: Option<String>,
) -> PyResult<Model> {
    let from = match source_format {
        None => None,
        Some(name) => Some(SourceFormat::from_name(name).ok_or_else(|| {
            err(format!(
                "unknown source format {name:?}; the formats are onnx, xgboost, lightgbm"
            ))
        })?),
    };
    let options = Options {
        model_version,
        model_name,
        external_data_dir: None,
        ..Options::default()
    };
    let (_, spec) = py
        .detach(|| convert_any(data, from, &options))
        .map_err(err)?;
    Model::from_spec(spec, feature_names)
}

/// Converts a linear-model parameter dump (the JSON `icebreak_convert::linear_params`
/// reads) that the Python side builds from a scikit-learn estimator's fitted attributes.
#[pyfunction]
#[pyo3(signature = (params_json, feature_names = None))]
fn convert_linear_params(params_json: &str, feature_names: Option<Vec<String>>) -> PyResult<Model> {
    let spec = icebreak_convert::linear_params::from_json(params_json).map_err(err)?;
    Model::from_spec(spec, feature_names)
}

/// One scikit-learn tree as the Python side hands it over: `tree_.children_left`,
/// `children_right`, `feature`, `threshold`, `value` reshaped to `n_nodes × width`, and
/// `missing_go_to_left`.
type SkTree<'py> = (
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, i64>,
    PyReadonlyArray1<'py, f64>,
    PyReadonlyArray2<'py, f64>,
    PyReadonlyArray1<'py, u8>,
);

/// Builds the `TREES` stage of scikit-learn decision trees (one tree, or a forest's trees,
/// averaged): `x <= threshold` on the feature rounded to `f32` (scikit-learn predicts on
/// `float32` inputs), `f64` thresholds and leaves as scikit-learn stores them; a NaN goes
/// left where `missing_go_to_left` says so and right elsewhere, as in `tree_.apply`. A classifier's
/// leaves are its class fractions, normalised as `predict_proba` does; the stage's outputs are
/// the probabilities. `covers`, when given, holds each tree's `tree_.weighted_n_node_samples`
/// (node order): they become the stage's node covers (FORMAT.md, "Node covers"), which
/// explanations read; covers that break rule R35 (a node of zero weight) are left out.
fn sklearn_trees_spec(
    trees: &[SkTree<'_>],
    covers: Option<&[PyReadonlyArray1<'_, f64>]>,
    n_features: u32,
    classifier: bool,
) -> Result<TreesSpec, String> {
    if covers.is_some_and(|c| c.len() != trees.len()) {
        return Err("one cover array per tree is needed".to_owned());
    }
    // Covers of the internal nodes and of the leaves, in table order.
    let (mut node_covers, mut leaf_covers) = (Vec::new(), Vec::new());
    let mut spec = TreesSpec {
        n_in: n_features,
        average: true,
        round_f32: true,
        ..TreesSpec::default()
    };
    let mut width = None;
    for (t, (left, right, feature, threshold, value, nan_left)) in trees.iter().enumerate() {
        for a in [left.as_any(), right.as_any(), feature.as_any()] {
            check_aligned(a)?;
        }
        check_aligned(threshold.as_any())?;
        check_aligned(value.as_any())?;
        check_aligned(nan_left.as_any())?;
        // Any strides: scikit-learn's `tree_` arrays are views into its node records.
        let (left, right, feature, threshold): (Vec<i64>, Vec<i64>, Vec<i64>, Vec<f64>) = (
            left.as_array().iter().copied().collect(),
            right.as_array().iter().copied().collect(),
            feature.as_array().iter().copied().collect(),
            threshold.as_array().iter().copied().collect(),
        );
        let nan_left: Vec<u8> = nan_left.as_array().iter().copied().collect();
        let value = value.as_array();
        let n = left.len();
        let w = value.ncols();
        let cover: Option<Vec<f64>> = match covers.and_then(|c| c.get(t)) {
            Some(c) => {
                check_aligned(c.as_any())?;
                let c: Vec<f64> = c.as_array().iter().copied().collect();
                if c.len() != n {
                    return Err(format!("tree {t}: {} covers for {n} nodes", c.len()));
                }
                Some(c)
            }
            None => None,
        };
        if n == 0
            || right.len() != n
            || feature.len() != n
            || threshold.len() != n
            || value.nrows() != n
            || nan_left.len() != n
        {
            return Err(format!("tree {t}: its node arrays have different lengths"));
        }
        if w == 0 || width.is_some_and(|v| v != w) {
            return Err(format!(
                "tree {t}: {w} values per node, other trees have {width:?}"
            ));
        }
        width = Some(w);
        // Internal nodes keep their order (scikit-learn numbers children after parents);
        // leaves are numbered in node order.
        let node_base = spec.nodes.len();
        let mut reference = vec![0u32; n];
        let (mut internal, mut leaves) = (0usize, spec.leaves.len() / w);
        for i in 0..n {
            let is_leaf = left[i] < 0;
            let index = if is_leaf {
                leaves += 1;
                leaves - 1
            } else {
                internal += 1;
                node_base + internal - 1
            };
            let index = u32::try_from(index)
                .ok()
                .filter(|&r| r < LEAF)
                .ok_or_else(|| format!("tree {t}: too many nodes"))?;
            reference[i] = if is_leaf { LEAF | index } else { index };
        }
        let child = |c: i64, parent: usize| -> Result<u32, String> {
            usize::try_from(c)
                .ok()
                .filter(|&c| c > parent && c < n)
                .map(|c| reference[c])
                .ok_or_else(|| format!("tree {t}: node {parent} has child {c}"))
        };
        if let Some(c) = &cover {
            for (i, &v) in c.iter().enumerate() {
                if left[i] < 0 {
                    leaf_covers.push(v);
                } else {
                    node_covers.push(v);
                }
            }
        }
        for i in 0..n {
            if left[i] < 0 {
                let row = value.row(i);
                if classifier {
                    let sum: f64 = row.iter().sum();
                    let norm = if sum == 0.0 { 1.0 } else { sum };
                    spec.leaves.extend(row.iter().map(|v| v / norm));
                } else {
                    spec.leaves.extend(row.iter());
                }
                continue;
            }
            let f = u32::try_from(feature[i])
                .ok()
                .filter(|&f| f < n_features)
                .ok_or_else(|| format!("tree {t}: node {i} reads feature {}", feature[i]))?;
            spec.nodes.push(TreeNode {
                feature: f,
                split: Split::Le(threshold[i]),
                missing: MissingRule::Default,
                default_left: nan_left[i] != 0,
                left: child(left[i], i)?,
                right: child(right[i], i)?,
            });
        }
        spec.roots.push(reference[0]);
    }
    let w = width.ok_or("the ensemble has no trees")?;
    spec.n_out = w as u32;
    spec.leaf_width = w as u32;
    spec.base = vec![0.0; w];
    if covers.is_some() {
        node_covers.extend_from_slice(&leaf_covers);
        spec.covers = checked_covers(node_covers, spec.nodes.len());
    }
    Ok(spec)
}

/// Node covers as rule R35 wants them (finite, not negative, every inner node's positive),
/// or none: a model whose covers break the rule still predicts, and refuses to explain.
/// The input schema of a model converted from a fitted estimator: `n_features` by position
/// (names, if any, come through [`Model::from_spec`]), missing values as `missing`.
pub(crate) fn positional_input(n_features: u32, missing: MissingValues) -> InputSpec {
    InputSpec {
        n_features,
        missing,
        feature_names: None,
    }
}

/// The output schema of a model converted from a fitted estimator: answers in f64, as
/// scikit-learn and the boosting libraries' Python predictions give them, no output names.
pub(crate) fn f64_output(task: Task, n_outputs: u32, labels: LabelsSpec) -> OutputSpec {
    OutputSpec {
        task,
        n_outputs,
        labels,
        output_names: None,
        precision: Precision::F64,
    }
}

/// The task of a classifier (`true`) or a regressor.
pub(crate) fn task_of(classifier: bool) -> Task {
    if classifier {
        Task::Classification
    } else {
        Task::Regression
    }
}

/// The provenance of a model converted from a fitted scikit-learn estimator called `name`
/// (its source library as scikit-learn reports it, e.g. `scikit-learn 1.7.2`).
pub(crate) fn sklearn_provenance(name: String, source_library: Option<String>) -> ProvenanceSpec {
    ProvenanceSpec {
        model_version: format!("sklearn-{name}"),
        model_name: Some(name),
        source_format: source_library,
        converter: Some(format!("icebreak-python {}", env!("CARGO_PKG_VERSION"))),
        source_sha256: None,
    }
}

pub(crate) fn checked_covers(covers: Vec<f64>, n_nodes: usize) -> Vec<f64> {
    let ok = covers
        .iter()
        .enumerate()
        .all(|(i, &c)| c.is_finite() && c >= 0.0 && (i >= n_nodes || c > 0.0));
    if ok {
        covers
    } else {
        Vec::new()
    }
}

/// Converts scikit-learn decision trees, random forests and extra-trees from their fitted
/// `tree_` arrays (see `sklearn_trees_spec`). `class_ints` or `class_strs` holds a
/// classifier's `classes_`; neither for a regressor. `covers` holds each tree's
/// `weighted_n_node_samples` (for explanations).
#[pyfunction]
#[pyo3(signature = (trees, n_features, name, class_ints = None, class_strs = None, feature_names = None, source_library = None, covers = None))]
#[allow(clippy::too_many_arguments)]
fn convert_sklearn_trees(
    trees: Vec<SkTree<'_>>,
    n_features: u32,
    name: String,
    class_ints: Option<Vec<i64>>,
    class_strs: Option<Vec<String>>,
    feature_names: Option<Vec<String>>,
    source_library: Option<String>,
    covers: Option<Vec<PyReadonlyArray1<'_, f64>>>,
) -> PyResult<Model> {
    let labels = match (class_ints, class_strs) {
        (Some(v), None) => LabelsSpec::Int(v),
        (None, Some(v)) => LabelsSpec::Str(v),
        (None, None) => LabelsSpec::None,
        (Some(_), Some(_)) => return Err(err("class labels mix integers and strings")),
    };
    let classifier = !matches!(labels, LabelsSpec::None);
    let trees_spec = sklearn_trees_spec(&trees, covers.as_deref(), n_features, classifier)
        .map_err(|e| err(format!("unsupported or inconsistent model: {e}")))?;
    let n_out = trees_spec.n_out;
    let n_labels = match &labels {
        LabelsSpec::Int(v) => v.len(),
        LabelsSpec::Str(v) => v.len(),
        LabelsSpec::None => 1,
    };
    if classifier && n_labels != n_out as usize {
        return Err(err(format!(
            "{n_labels} classes, but the trees hold {n_out} values per leaf"
        )));
    }
    if !classifier && n_out != 1 {
        return Err(err("multi-output tree regressors are not supported yet"));
    }
    let mut stages = vec![StageSpec::Trees(trees_spec)];
    if classifier {
        stages.push(StageSpec::Post(PostTransform::Probabilities));
    }
    // scikit-learn averages its f64 leaves in f64 (the inputs are rounded to f32 before the
    // splits, as its trees do).
    let spec = ModelSpec {
        input: positional_input(n_features, MissingValues::Nan),
        output: f64_output(task_of(classifier), n_out, labels),
        provenance: sklearn_provenance(name, source_library),
        stages,
    };
    Model::from_spec(spec, feature_names)
}

/// Runs the `icebreak` command line `args` (the program name first) with the GIL released;
/// returns its exit status.
#[pyfunction]
fn cli_main(py: Python<'_>, args: Vec<String>) -> u8 {
    let code = py.detach(|| icebreak_cli::main(args));
    (0..=u8::MAX)
        .find(|&c| std::process::ExitCode::from(c) == code)
        .unwrap_or(1)
}

/// The native module, imported as `icebreak._icebreak`.
#[pymodule]
fn _icebreak(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(convert_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(convert_linear_params, m)?)?;
    m.add_function(wrap_pyfunction!(convert_sklearn_trees, m)?)?;
    m.add_function(wrap_pyfunction!(boosting::convert_sklearn_boosting, m)?)?;
    m.add_function(wrap_pyfunction!(stages::convert_stages, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add("IcebreakError", m.py().get_type::<IcebreakError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
