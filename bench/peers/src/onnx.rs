//! onnxruntime through its C API (the `ort` crate over the library the onnxruntime wheel
//! ships), no Python in the loop.

use crate::{agree, time_batch, time_single, Args, Rows};
use anyhow::{ensure, Context, Result};
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::Path;

/// The engine's name in the reports.
pub(crate) const ENGINE: &str = "onnxruntime C";

/// Which of the last output's values are compared with the reference.
#[derive(Clone, Copy)]
pub(crate) enum Pick {
    /// Every value (the scikit-learn families: probabilities, distances, components).
    All,
    /// The positive class's probability, the last of each row (the binary tree models).
    Positive,
}

/// The loaded library and its environment.
pub(crate) struct Runtime {
    env: Environment,
    version: String,
}

impl Runtime {
    /// Loads `lib` (`libonnxruntime.so*`) and creates the process's environment.
    pub(crate) fn load(lib: &Path) -> Result<Runtime> {
        let env = ort::init_from(lib)
            .with_context(|| format!("loading {}", lib.display()))?
            .with_name("icebreak-bench-peers")
            .build()
            .context("creating the onnxruntime environment")?;
        let version = ort::info().to_owned();
        Ok(Runtime { env, version })
    }

    /// The API version asked of the library, and the library's build information.
    pub(crate) fn api_version(&self) -> Value {
        json!({"requested": ort::MINOR_VERSION, "build_info": self.version})
    }

    /// One session for `onnx` (one thread), checked against `want` (`Pick` of the last
    /// output), then timed: single rows and the batch of all rows, float32.
    pub(crate) fn time(
        &self,
        onnx: &str,
        rows: &Rows,
        want: &[f64],
        pick: Pick,
        tolerance: f64,
        args: &Args,
    ) -> Result<(Value, Value, f64)> {
        // The builder's errors carry the builder back; only their message is kept.
        let text = |e: ort::Error<_>| anyhow::anyhow!("{e}");
        let mut session = Session::builder(&self.env)?
            .with_intra_threads(1)
            .map_err(text)?
            .with_inter_threads(1)
            .map_err(text)?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(text)?
            .commit_from_file(onnx)
            .with_context(|| format!("onnxruntime session for {onnx}"))?;
        ensure!(
            session.inputs().len() == 1,
            "{onnx}: {} inputs",
            session.inputs().len()
        );
        let (nf, n) = (rows.nf, rows.n);
        let last = session
            .outputs()
            .len()
            .checked_sub(1)
            .context("no output")?;

        // Same answers as the library's, from the batch and from single rows.
        let got = {
            let input = TensorRef::from_array_view(([n, nf], rows.f32s.as_slice()))?;
            let out = session.run(ort::inputs![input])?;
            let (_, values) = out[last].try_extract_tensor::<f32>()?;
            picked(values, n, pick)?
        };
        let diff = agree(&got, want, tolerance)?;
        // And from single rows, the way they are timed (a batch may sum in another order).
        let mut singles = Vec::with_capacity(want.len());
        for row in rows.f32s.chunks_exact(nf) {
            let input = TensorRef::from_array_view(([1, nf], row))?;
            let out = session.run(ort::inputs![input])?;
            let (_, values) = out[last].try_extract_tensor::<f32>()?;
            singles.extend(picked(values, 1, pick)?);
        }
        let diff = diff.max(agree(&singles, want, tolerance)?);

        let single = time_single(n, args.calls, |i| {
            let row = &rows.f32s[i * nf..(i + 1) * nf];
            let input = TensorRef::from_array_view(([1, nf], black_box(row)))?;
            let out = session.run(ort::inputs![input])?;
            black_box(out[last].try_extract_tensor::<f32>()?.1[0]);
            Ok(())
        })?;
        let batch = time_batch(n, args.batch_reps, || {
            let input = TensorRef::from_array_view(([n, nf], black_box(rows.f32s.as_slice())))?;
            let out = session.run(ort::inputs![input])?;
            black_box(out[last].try_extract_tensor::<f32>()?.1[0]);
            Ok(())
        })?;
        Ok((single, batch, diff))
    }
}

/// The compared values of an output of `n` rows, as f64.
fn picked(values: &[f32], n: usize, pick: Pick) -> Result<Vec<f64>> {
    ensure!(
        !values.is_empty() && values.len().is_multiple_of(n),
        "{} output values for {n} rows",
        values.len()
    );
    let width = values.len() / n;
    Ok(match pick {
        Pick::All => values.iter().map(|&v| f64::from(v)).collect(),
        Pick::Positive => values
            .chunks_exact(width)
            .map(|r| f64::from(r[width - 1]))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_takes_every_value_or_the_last_of_each_row() {
        let v = [0.25f32, 0.75, 0.5, 0.5, 1.0, 0.0];
        assert_eq!(picked(&v, 3, Pick::Positive).unwrap(), vec![0.75, 0.5, 0.0]);
        assert_eq!(picked(&v, 3, Pick::All).unwrap().len(), 6);
        assert!(picked(&v, 4, Pick::All).is_err());
        assert!(picked(&[], 1, Pick::All).is_err());
    }
}
