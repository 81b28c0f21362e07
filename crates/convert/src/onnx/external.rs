//! ONNX external data: tensors whose bytes live in a file beside the model (what
//! `torch.onnx.export` writes by default, as `model.onnx.data`, and what
//! `onnx.save_model(..., save_as_external_data=True)` writes).
//!
//! Each initializer (and `Constant` tensor) with `data_location = EXTERNAL` names its file
//! (`location`), and optionally an `offset` and a `length` in it. The importer reads those
//! bytes into the tensor's `raw_data` before anything else sees the graph, under these rules:
//!
//! - the model must have been read from a file (its folder is known); converting bytes alone
//!   refuses external data, naming the tensor;
//! - `location` is a relative path inside the model's own folder: an absolute path, a `..`
//!   component, or a path that resolves (through symbolic links) outside that folder is
//!   refused;
//! - at most [`MAX_EXTERNAL_BYTES`] are read over all tensors, and a range must lie inside
//!   its file.

use super::graph::invalid;
use super::proto::{GraphProto, TensorProto};
use crate::ConvertError;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Most bytes of external data read for one model (1 GiB).
pub const MAX_EXTERNAL_BYTES: u64 = 1 << 30;

/// Whether any tensor of the graph keeps its data in an external file.
pub(crate) fn has_external(graph: &GraphProto) -> bool {
    tensors(graph).any(is_external)
}

fn is_external(t: &TensorProto) -> bool {
    t.data_location == 1 || !t.external_data.is_empty()
}

fn tensors(graph: &GraphProto) -> impl Iterator<Item = &TensorProto> {
    graph.initializer.iter().chain(
        graph
            .node
            .iter()
            .flat_map(|n| n.attribute.iter().filter_map(|a| a.t.as_ref())),
    )
}

/// Reads every external tensor of `graph` from `dir` into its `raw_data`.
pub(crate) fn load(graph: &mut GraphProto, dir: Option<&Path>) -> Result<(), ConvertError> {
    let mut budget = MAX_EXTERNAL_BYTES;
    let mut tensors: Vec<&mut TensorProto> = graph.initializer.iter_mut().collect();
    for n in &mut graph.node {
        tensors.extend(n.attribute.iter_mut().filter_map(|a| a.t.as_mut()));
    }
    for t in tensors.into_iter().filter(|t| is_external(t)) {
        let Some(dir) = dir else {
            return Err(invalid(format!(
                "tensor {:?} keeps its data in an external file (ONNX external data), which is \
                 only read when the model is converted from its file (`icebreak convert \
                 model.onnx`, with the data file beside it); or export with \
                 `torch.onnx.export(..., external_data=False)`",
                t.name
            )));
        };
        let bytes = read_one(t, dir, &mut budget)?;
        t.raw_data = bytes;
        t.data_location = 0;
        t.external_data.clear();
    }
    Ok(())
}

fn read_one(t: &TensorProto, dir: &Path, budget: &mut u64) -> Result<Vec<u8>, ConvertError> {
    let err = |why: String| invalid(format!("tensor {:?}: external data {why}", t.name));
    let (mut location, mut offset, mut length) = (None, 0u64, None);
    for e in &t.external_data {
        let num = || {
            e.value
                .parse::<u64>()
                .map_err(|_| err(format!("has a bad {} {:?}", e.key, e.value)))
        };
        match e.key.as_str() {
            "location" => location = Some(e.value.as_str()),
            "offset" => offset = num()?,
            "length" => length = Some(num()?),
            _ => {} // "checksum" and keys of later versions do not change the bytes
        }
    }
    let location = location.ok_or_else(|| err("has no location".into()))?;
    let path = inside(dir, location).map_err(|why| err(format!("location {location:?} {why}")))?;
    let mut f = std::fs::File::open(&path)
        .map_err(|e| err(format!("file {location:?} cannot be opened: {e}")))?;
    let size = f
        .metadata()
        .map_err(|e| err(format!("file {location:?}: {e}")))?
        .len();
    let length = match length {
        Some(l) => l,
        None => size.checked_sub(offset).ok_or_else(|| {
            err(format!(
                "offset {offset} is past the end of {location:?} ({size} bytes)"
            ))
        })?,
    };
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(err(format!(
            "range {offset}+{length} is outside {location:?} ({size} bytes)"
        )));
    }
    *budget = budget.checked_sub(length).ok_or_else(|| {
        err(format!(
            "would read more than {MAX_EXTERNAL_BYTES} bytes of external data in all"
        ))
    })?;
    let len = usize::try_from(length).map_err(|_| err("is too long".into()))?;
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| err(format!("file {location:?} cannot be read: {e}")))?;
    Ok(buf)
}

/// `dir/location`, when `location` is a plain relative path that stays inside `dir`, also
/// after following symbolic links.
fn inside(dir: &Path, location: &str) -> Result<PathBuf, &'static str> {
    let rel = Path::new(location);
    if location.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err("is not a relative path inside the model's folder");
    }
    let root = dir
        .canonicalize()
        .map_err(|_| "cannot be resolved: the model's folder is not readable")?;
    let path = root
        .join(rel)
        .canonicalize()
        .map_err(|_| "does not exist beside the model")?;
    if !path.starts_with(&root) {
        return Err("leads outside the model's folder");
    }
    if !path.is_file() {
        return Err("is not a file");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_outside_the_folder_are_refused() {
        let d = std::env::temp_dir().join(format!("icebreak-ext-{}", std::process::id()));
        let sub = d.join("model");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("w.data"), [0u8; 8]).unwrap();
        std::fs::write(d.join("secret"), [1u8; 8]).unwrap();
        assert!(inside(&sub, "w.data").is_ok());
        assert!(inside(&sub, "../secret").is_err());
        assert!(inside(&sub, "./w.data").is_ok());
        assert!(inside(&sub, "x/../w.data").is_err());
        assert!(inside(&sub, "").is_err());
        let abs = d.join("secret");
        assert!(inside(&sub, abs.to_str().unwrap()).is_err());
        assert!(inside(&sub, "missing.data").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(d.join("secret"), sub.join("link.data")).unwrap();
            assert_eq!(
                inside(&sub, "link.data").unwrap_err(),
                "leads outside the model's folder"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
