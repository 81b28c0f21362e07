//! The writer: lays a [`ModelSpec`] out as an `.apr` file, then reads it back through the
//! reader, so it never hands out a file the reader would refuse.

use crate::aligned::AlignedBuf;
use crate::error::FormatError;
use crate::model::{LabelsSpec, ModelSpec, StageSpec, SvmSpec};
use crate::reader::{label_kind, stage_kind, tag, Apr};
use crate::trees::{self, TreesSpec};
use crate::{
    align64, Dtype, SectionKind, HEADER_LEN, MAGIC, NONE, SECTION_ENTRY_LEN, VERSION_MAJOR,
    VERSION_MINOR,
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

/// [`write`], returning a plain `Vec<u8>` (e.g. to save to disk).
pub fn write_to_vec(spec: &ModelSpec) -> Result<Vec<u8>, FormatError> {
    write(spec).map(|b| b.to_vec())
}

/// A tensor waiting to be laid out: its dtype and little-endian bytes.
type Pending = (Dtype, Vec<u8>);

/// Queues an f32 tensor; returns its section index (0 is the manifest, 1 the string table).
fn tensor(t: &[f32], tensors: &mut Vec<Pending>) -> u32 {
    push(
        Dtype::F32,
        t.iter().flat_map(|x| x.to_le_bytes()).collect(),
        tensors,
    )
}

fn tensor_u32(t: &[u32], tensors: &mut Vec<Pending>) -> u32 {
    push(
        Dtype::U32,
        t.iter().flat_map(|x| x.to_le_bytes()).collect(),
        tensors,
    )
}

fn tensor_f64(t: &[f64], tensors: &mut Vec<Pending>) -> u32 {
    push(
        Dtype::F64,
        t.iter().flat_map(|x| x.to_le_bytes()).collect(),
        tensors,
    )
}

fn push(dtype: Dtype, bytes: Vec<u8>, tensors: &mut Vec<Pending>) -> u32 {
    tensors.push((dtype, bytes));
    (1 + tensors.len()) as u32
}

/// The TREES record's payload; queues its tensors.
fn trees_payload(t: &TreesSpec, tensors: &mut Vec<Pending>) -> Vec<u32> {
    let rows: Vec<u32> = t.nodes.iter().flat_map(|n| n.encode()).collect();
    let nodes = if rows.is_empty() {
        NONE
    } else {
        tensor_u32(&rows, tensors)
    };
    let roots = tensor_u32(&t.roots, tensors);
    let leaves = tensor_f64(&t.leaves, tensors);
    let targets = if t.targets.is_empty() {
        NONE
    } else {
        tensor_u32(&t.targets, tensors)
    };
    let base = tensor_f64(&t.base, tensors);
    let cats = if t.categories.is_empty() {
        NONE
    } else {
        tensor_u32(&t.categories, tensors)
    };
    let flags = if t.average { trees::FLAG_AVERAGE } else { 0 }
        | if t.round_f32 {
            trees::FLAG_ROUND_F32
        } else {
            0
        };
    vec![
        stage_kind::TREES,
        t.n_in,
        t.n_out,
        flags,
        t.leaf_width,
        t.roots.len() as u32,
        nodes,
        roots,
        leaves,
        targets,
        base,
        cats,
    ]
}

/// The SVM record's payload; queues its tensors.
fn svm_payload(m: &SvmSpec, tensors: &mut Vec<Pending>) -> Vec<u32> {
    let (gamma, coef0, degree) = m.kernel.params();
    let (g, c) = (gamma.to_bits(), coef0.to_bits());
    let n_support = if m.n_support.is_empty() {
        NONE
    } else {
        tensor_u32(&m.n_support, tensors)
    };
    let sv = tensor(&m.support_vectors, tensors);
    let coef = tensor_f64(&m.coef, tensors);
    let intercept = tensor_f64(&m.intercept, tensors);
    let prob_a = if m.prob_a.is_empty() {
        NONE
    } else {
        tensor_f64(&m.prob_a, tensors)
    };
    let prob_b = if m.prob_b.is_empty() {
        NONE
    } else {
        tensor_f64(&m.prob_b, tensors)
    };
    let n_sv = m
        .support_vectors
        .len()
        .checked_div(m.n_in as usize)
        .unwrap_or(0) as u32;
    vec![
        stage_kind::SVM,
        m.n_in,
        m.n_classes,
        n_sv,
        m.kernel.code(),
        degree,
        g as u32,
        (g >> 32) as u32,
        c as u32,
        (c >> 32) as u32,
        n_support,
        sv,
        coef,
        intercept,
        prob_a,
        prob_b,
    ]
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

fn layout(spec: &ModelSpec) -> Result<Vec<u8>, FormatError> {
    check_counts(spec)?;
    let mut strings = Strings {
        offsets: vec![0],
        data: String::new(),
    };
    let mut tensors: Vec<Pending> = Vec::new();
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
        let payload = match s {
            StageSpec::StandardScaler { mean, scale } => {
                let m = tensor(mean, &mut tensors);
                let sc = tensor(scale, &mut tensors);
                vec![stage_kind::STANDARD_SCALER, mean.len() as u32, m, sc]
            }
            StageSpec::Linear {
                n_in,
                n_out,
                coef,
                intercept,
            } => {
                let c = tensor(coef, &mut tensors);
                let i = tensor(intercept, &mut tensors);
                vec![stage_kind::LINEAR, *n_in, *n_out, c, i]
            }
            StageSpec::Trees(t) => trees_payload(t, &mut tensors),
            StageSpec::Post(t) => vec![stage_kind::POST, t.code()],
            StageSpec::MinMaxScaler { scale, min } => {
                let sc = tensor(scale, &mut tensors);
                let m = tensor(min, &mut tensors);
                vec![stage_kind::MIN_MAX_SCALER, scale.len() as u32, sc, m]
            }
            StageSpec::Normalizer { width, norm } => {
                vec![stage_kind::NORMALIZER, *width, norm.code()]
            }
            StageSpec::Imputer { missing, fill } => {
                let f = tensor(fill, &mut tensors);
                vec![stage_kind::IMPUTER, fill.len() as u32, missing.to_bits(), f]
            }
            StageSpec::Pca {
                n_in,
                n_out,
                mean,
                components,
                whiten,
            } => {
                let m = tensor(mean, &mut tensors);
                let c = tensor(components, &mut tensors);
                let w = whiten.as_ref().map_or(NONE, |w| tensor(w, &mut tensors));
                vec![stage_kind::PCA, *n_in, *n_out, m, c, w]
            }
            StageSpec::Dense {
                n_in,
                n_out,
                activation,
                weights,
                bias,
            } => {
                let w = tensor(weights, &mut tensors);
                let b = tensor(bias, &mut tensors);
                vec![stage_kind::DENSE, *n_in, *n_out, activation.code(), w, b]
            }
            StageSpec::Svm(m) => svm_payload(m, &mut tensors),
            StageSpec::KMeans { n_in, k, centers } => {
                let c = tensor(centers, &mut tensors);
                vec![stage_kind::KMEANS, *n_in, *k, c]
            }
            StageSpec::GaussianNb {
                n_in,
                n_classes,
                theta,
                var,
                log_prior,
                log_norm,
            } => {
                let t = tensor_f64(theta, &mut tensors);
                let v = tensor_f64(var, &mut tensors);
                let p = tensor_f64(log_prior, &mut tensors);
                let n = tensor_f64(log_norm, &mut tensors);
                vec![stage_kind::GAUSSIAN_NB, *n_in, *n_classes, t, v, p, n]
            }
        };
        record(&mut words, tag::STAGE, &payload);
    }

    let manifest: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let strings = strings.encode();
    let mut sections: Vec<(SectionKind, Option<Dtype>, Vec<u8>)> = vec![
        (SectionKind::Manifest, None, manifest),
        (SectionKind::Strings, None, strings),
    ];
    for (dtype, bytes) in tensors {
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
    out[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
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
