//! The served models: loaded from files (or static bytes), checked, warmed, named.

use crate::ServeError;
use icebreak_format::{AlignedBuf, Apr};
use icebreak_protocol::{ModelInfo, Predictor};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A model argument: `PATH` (named by the file stem) or `NAME=PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name requests use as `model_id`.
    pub name: String,
    /// The `.apr` file.
    pub path: PathBuf,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl ModelSpec {
    /// Parses `PATH` or `NAME=PATH`. A `PATH` is named by its file stem.
    pub fn parse(arg: &str) -> Result<ModelSpec, ServeError> {
        let bad = || ServeError::BadSpec(arg.to_owned());
        let (name, path) = match arg.split_once('=') {
            Some((name, path)) if valid_name(name) && !path.is_empty() => {
                (name.to_owned(), PathBuf::from(path))
            }
            Some(_) => return Err(bad()),
            None => {
                let path = PathBuf::from(arg);
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .filter(|s| valid_name(s))
                    .ok_or_else(bad)?
                    .to_owned();
                (stem, path)
            }
        };
        Ok(ModelSpec { name, path })
    }
}

/// One served model.
#[derive(Debug)]
pub struct ServedModel {
    name: String,
    path: Option<PathBuf>,
    predictor: Predictor,
    info: ModelInfo,
    load_time: Duration,
}

impl ServedModel {
    /// Serves `bytes` under `name`: checks the structure and the checksum and creates the
    /// runnable model with one warm-up prediction, so the first request pays no set-up.
    ///
    /// Bytes that are not 8-byte aligned are copied once (see
    /// [`Predictor::from_bytes`]).
    pub fn from_static(name: &str, bytes: &'static [u8]) -> Result<ServedModel, ServeError> {
        Self::open(name, None, bytes, Instant::now())
    }

    /// Reads `spec.path` into an aligned buffer and serves it.
    ///
    /// The buffer is leaked: the handler borrows the model for `'static`, and a served model
    /// lives as long as the process.
    pub fn load(spec: &ModelSpec) -> Result<ServedModel, ServeError> {
        let t0 = Instant::now();
        let bytes = std::fs::read(&spec.path).map_err(|source| ServeError::Read {
            path: spec.path.clone(),
            source,
        })?;
        let leaked: &'static [u8] = AlignedBuf::copy_from(&bytes).leak();
        drop(bytes);
        Self::open(&spec.name, Some(&spec.path), leaked, t0)
    }

    fn open(
        name: &str,
        path: Option<&Path>,
        bytes: &'static [u8],
        t0: Instant,
    ) -> Result<ServedModel, ServeError> {
        if !valid_name(name) {
            return Err(ServeError::BadSpec(name.to_owned()));
        }
        let shown = || path.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
        let aligned = icebreak_format::aligned_static(bytes);
        // Read completely once (structure, every node, checksum), then served as parsed.
        let apr = Apr::parse_verified(aligned).map_err(|source| ServeError::InvalidModel {
            path: shown(),
            source,
        })?;
        let predictor = Predictor::new(apr);
        predictor.warm();
        let info = predictor.describe();
        let load_time = t0.elapsed();
        tracing::info!(
            model = name,
            path = %shown().display(),
            version = info.model_version,
            n_features = info.n_features,
            load_ms = load_time.as_secs_f64() * 1e3,
            "model loaded"
        );
        Ok(ServedModel {
            name: name.to_owned(),
            path: path.map(Path::to_path_buf),
            predictor,
            info,
            load_time,
        })
    }

    /// The name requests use as `model_id`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The file it was loaded from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    /// The predictor that answers its requests.
    pub fn predictor(&self) -> &Predictor {
        &self.predictor
    }
    /// What the model is (served on `GET /models`).
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }
    /// Reading, checking and warming it.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
    /// Whether the runnable model exists.
    pub fn is_ready(&self) -> bool {
        self.predictor.is_model_loaded()
    }
}

/// The models a server answers for, in the order given.
#[derive(Debug)]
pub struct Models {
    list: Vec<ServedModel>,
}

impl Models {
    /// Loads every model; fails on the first that cannot be served, or on a repeated name.
    pub fn load(specs: &[ModelSpec]) -> Result<Models, ServeError> {
        Models::new(
            specs
                .iter()
                .map(ServedModel::load)
                .collect::<Result<_, _>>()?,
        )
    }

    /// Serves already-opened models.
    pub fn new(list: Vec<ServedModel>) -> Result<Models, ServeError> {
        if list.is_empty() {
            return Err(ServeError::NoModels);
        }
        for (i, m) in list.iter().enumerate() {
            if list[..i].iter().any(|o| o.name == m.name) {
                return Err(ServeError::DuplicateName(m.name.clone()));
            }
        }
        Ok(Models { list })
    }

    /// The model named `name`.
    pub fn get(&self, name: &str) -> Option<&ServedModel> {
        self.list.iter().find(|m| m.name == name)
    }

    /// The only model, when there is one.
    pub fn only(&self) -> Option<&ServedModel> {
        match self.list.as_slice() {
            [m] => Some(m),
            _ => None,
        }
    }

    /// The models, in order.
    pub fn iter(&self) -> impl Iterator<Item = &ServedModel> {
        self.list.iter()
    }

    /// Their names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|m| m.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            ModelSpec::parse("a/b/cancer.apr").unwrap(),
            ModelSpec {
                name: "cancer".into(),
                path: "a/b/cancer.apr".into()
            }
        );
        assert_eq!(
            ModelSpec::parse("v2=x.apr").unwrap(),
            ModelSpec {
                name: "v2".into(),
                path: "x.apr".into()
            }
        );
        for bad in ["=x.apr", "a b=x.apr", "n=", "", "/"] {
            assert!(
                matches!(ModelSpec::parse(bad), Err(ServeError::BadSpec(_))),
                "{bad:?}"
            );
        }
    }
}
