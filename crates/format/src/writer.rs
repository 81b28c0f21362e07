//! The writer: lays a [`ModelSpec`] out as an `.apr` file, then reads it back through the
//! reader, so it never hands out a file the reader would refuse.

use crate::aligned::AlignedBuf;
use crate::error::FormatError;
use crate::family;
use crate::family::StageSpec;
use crate::model::{LabelsSpec, ModelSpec, Precision};
use crate::reader::{label_kind, tag, Apr};
use crate::{
    align64, Dtype, SectionKind, HEADER_LEN, MAGIC, NONE, SECTION_ENTRY_LEN, VERSION_MAJOR,
};

struct Strings {
    offsets: Vec<u32>,
    data: String,
}

impl Strings {
    /// Appends strings, returning the index of the first.
    fn push_all<'s>(&mut self, items: impl IntoIterator<Item = &'s String>) -> u32 {
        let first = (self.offsets.len() - 1) as u32;
        for s in items {
            self.data.push_str(s);
            self.offsets.push(self.data.len() as u32);
        }
        first
    }
    fn push_opt(&mut self, s: &Option<String>) -> u32 {
        s.as_ref().map_or(NONE, |s| self.push_all([s]))
    }
    fn push_list(&mut self, list: &Option<Vec<String>>) -> u32 {
        list.as_ref().map_or(NONE, |l| self.push_all(l))
    }
    fn encode(&self) -> Vec<u8> {
        let count = (self.offsets.len() - 1) as u32;
        let mut out = Vec::with_capacity(4 + 4 * self.offsets.len() + self.data.len());
        out.extend_from_slice(&count.to_le_bytes());
        for o in &self.offsets {
            out.extend_from_slice(&o.to_le_bytes());
        }
        out.extend_from_slice(self.data.as_bytes());
        out
    }
}

/// Writes `spec` as an `.apr` file into an aligned buffer, validated by the reader
/// (including its checksum) before it is returned.
///
/// Fails with [`FormatError::InvalidSpec`] when a name or label list does not have the length
/// its count declares, and otherwise with the rule the reader finds broken in the result.
pub fn write(spec: &ModelSpec) -> Result<AlignedBuf, FormatError> {
    let bytes = layout(spec)?;
    let buf = AlignedBuf::copy_from(&bytes);
    Apr::parse_verified(&buf)?;
    Ok(buf)
}

/// [`write()`], returning a plain `Vec<u8>` (e.g. to save to disk).
pub fn write_to_vec(spec: &ModelSpec) -> Result<Vec<u8>, FormatError> {
    write(spec).map(|b| b.to_vec())
}

/// Tensors waiting to be laid out, each with its dtype and little-endian bytes. Each push
/// returns the tensor's section index (0 is the manifest, 1 the string table).
#[derive(Default)]
pub(crate) struct Tensors(Vec<(Dtype, Vec<u8>)>);

impl Tensors {
    fn push(&mut self, dtype: Dtype, bytes: Vec<u8>) -> u32 {
        self.0.push((dtype, bytes));
        (1 + self.0.len()) as u32
    }
    /// Queues a u32 tensor.
    pub(crate) fn u32(&mut self, t: &[u32]) -> u32 {
        self.pod(Dtype::U32, t)
    }
    /// Queues a tensor of `dtype` whose elements are `t`'s: their bytes as they are in memory,
    /// little-endian on every target this crate builds for.
    pub(crate) fn pod<T: bytemuck::Pod>(&mut self, dtype: Dtype, t: &[T]) -> u32 {
        self.push(dtype, bytemuck::cast_slice(t).to_vec())
    }
    /// Queues an f64 tensor.
    pub(crate) fn f64(&mut self, t: &[f64]) -> u32 {
        self.pod(Dtype::F64, t)
    }
    /// Queues a u32 tensor, or returns [`NONE`] for an empty one.
    pub(crate) fn opt_u32(&mut self, t: &[u32]) -> u32 {
        if t.is_empty() {
            NONE
        } else {
            self.u32(t)
        }
    }
    /// Queues an f64 tensor, or returns [`NONE`] for an empty one.
    pub(crate) fn opt_f64(&mut self, t: &[f64]) -> u32 {
        if t.is_empty() {
            NONE
        } else {
            self.f64(t)
        }
    }
}

fn record(words: &mut Vec<u32>, tag: u32, payload: &[u32]) {
    words.push(tag);
    words.push(payload.len() as u32);
    words.extend_from_slice(payload);
}

/// What the file cannot check: a string list or label list stores only its first index, and
/// takes its length from `n_features` / `n_outputs`.
fn check_counts(spec: &ModelSpec) -> Result<(), FormatError> {
    let bad = |reason| Err(FormatError::InvalidSpec { reason });
    let n_features = spec.input.n_features as usize;
    let n_outputs = spec.output.n_outputs as usize;
    if spec
        .stages
        .iter()
        .any(|s| matches!(s, StageSpec::Svm(m) if m.break_ties))
    {
        return bad("break_ties needs an svm_f64 stage (the svm record has no flags word)");
    }
    if spec
        .input
        .feature_names
        .as_ref()
        .is_some_and(|l| l.len() != n_features)
    {
        return bad("feature_names does not have n_features entries");
    }
    if spec
        .output
        .output_names
        .as_ref()
        .is_some_and(|l| l.len() != n_outputs)
    {
        return bad("output_names does not have n_outputs entries");
    }
    let labels = match &spec.output.labels {
        LabelsSpec::None => None,
        LabelsSpec::Int(v) => Some(v.len()),
        LabelsSpec::Str(v) => Some(v.len()),
    };
    if labels.is_some_and(|n| n != n_outputs) {
        return bad("labels does not have n_outputs entries");
    }
    Ok(())
}

/// Whether the model uses something version 1.1 introduced: an `f64` output precision, tree
/// sums taken in `f32`, averaging per output, the compact layout, node covers, or an f64
/// stage kind.
fn needs_1_1(spec: &ModelSpec) -> bool {
    spec.output.precision != Precision::F32
        || spec.stages.iter().any(|s| match s {
            StageSpec::Trees(t) => {
                t.sum_f32 || t.average_per_output || t.compact || !t.covers.is_empty()
            }
            StageSpec::StandardScalerF64 { .. }
            | StageSpec::MinMaxScalerF64 { .. }
            | StageSpec::LinearF64 { .. }
            | StageSpec::DenseF64 { .. }
            | StageSpec::PcaF64 { .. }
            | StageSpec::KMeansF64 { .. }
            | StageSpec::Oblivious(_)
            | StageSpec::SvmF64(_)
            | StageSpec::ImputerF64 { .. } => true,
            _ => false,
        })
}

fn layout(spec: &ModelSpec) -> Result<Vec<u8>, FormatError> {
    check_counts(spec)?;
    let mut strings = Strings {
        offsets: vec![0],
        data: String::new(),
    };
    let mut tensors = Tensors::default();
    // Section 0 is the manifest, 1 the string table, tensors follow.
    let mut words: Vec<u32> = Vec::new();

    let inp = &spec.input;
    let names = strings.push_list(&inp.feature_names);
    record(
        &mut words,
        tag::INPUT,
        &[inp.n_features, inp.missing.code(), names],
    );

    let out = &spec.output;
    let out_names = strings.push_list(&out.output_names);
    let mut payload = vec![out.task.code(), out.n_outputs];
    match &out.labels {
        LabelsSpec::None => payload.extend([label_kind::NONE, out_names]),
        LabelsSpec::Int(v) => {
            payload.extend([label_kind::INT, out_names]);
            for &l in v {
                payload.extend([l as u64 as u32, ((l as u64) >> 32) as u32]);
            }
        }
        LabelsSpec::Str(v) => {
            let first = strings.push_all(v);
            payload.extend([label_kind::STR, out_names, first]);
        }
    }
    // 1.1 only when the model needs it, so that 1.0 readers keep reading the rest.
    let minor: u16 = if needs_1_1(spec) { 1 } else { 0 };
    if minor == 1 {
        payload.push(out.precision.code());
    }
    record(&mut words, tag::OUTPUT, &payload);

    let p = &spec.provenance;
    let version = strings.push_all([&p.model_version]);
    let prov = [
        version,
        strings.push_opt(&p.model_name),
        strings.push_opt(&p.source_format),
        strings.push_opt(&p.converter),
        strings.push_opt(&p.source_sha256),
    ];
    record(&mut words, tag::PROVENANCE, &prov);

    for s in &spec.stages {
        let payload = family::payload(s, &mut tensors);
        record(&mut words, tag::STAGE, &payload);
    }

    let manifest: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let strings = strings.encode();
    let mut sections: Vec<(SectionKind, Option<Dtype>, Vec<u8>)> = vec![
        (SectionKind::Manifest, None, manifest),
        (SectionKind::Strings, None, strings),
    ];
    for (dtype, bytes) in tensors.0 {
        sections.push((SectionKind::Tensor, Some(dtype), bytes));
    }

    let count = sections.len();
    let table_end = (HEADER_LEN + count * SECTION_ENTRY_LEN) as u64;
    let mut entries = Vec::with_capacity(count);
    let mut pos = table_end;
    for (_, _, data) in &sections {
        let offset = align64(pos).ok_or(FormatError::SectionTableOutOfBounds)?;
        entries.push((offset, data.len() as u64));
        pos = offset + data.len() as u64;
    }
    let file_len = pos;
    let mut out = vec![0u8; file_len as usize];
    out[0..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
    out[6..8].copy_from_slice(&minor.to_le_bytes());
    out[16..24].copy_from_slice(&file_len.to_le_bytes());
    out[24..28].copy_from_slice(&(count as u32).to_le_bytes());
    out[28..32].copy_from_slice(&0u32.to_le_bytes());
    out[32..36].copy_from_slice(&1u32.to_le_bytes());
    for (i, ((kind, dtype, data), (offset, len))) in sections.iter().zip(&entries).enumerate() {
        let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
        out[e..e + 4].copy_from_slice(&kind.code().to_le_bytes());
        out[e + 4..e + 8].copy_from_slice(&dtype.map_or(0, Dtype::code).to_le_bytes());
        out[e + 8..e + 16].copy_from_slice(&offset.to_le_bytes());
        out[e + 16..e + 24].copy_from_slice(&len.to_le_bytes());
        let o = *offset as usize;
        out[o..o + data.len()].copy_from_slice(data);
    }
    let crc = crate::checksum(&out);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}
