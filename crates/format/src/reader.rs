//! The zero-copy reader: every MUST rule of `docs/FORMAT.md` is checked in [`Apr::parse`].

use crate::error::FormatError;
use crate::model::{
    Activation, InputSchema, InputSpec, Kernel, Labels, LabelsSpec, MissingValues, ModelSpec, Norm,
    OutputSchema, OutputSpec, PostTransform, Provenance, ProvenanceSpec, Role, Stage, StageSpec,
    Svm, SvmSpec, Task,
};
use crate::strings::{StrList, StringTable};
use crate::trees::{self, NodeRow, Split, TreeNode, Trees, TreesSpec, LEAF};
use crate::{
    align64, le_u32, le_u64, Dtype, SectionKind, HEADER_LEN, MAGIC, MAX_DIM, MAX_SECTIONS, NONE,
    SECTION_ENTRY_LEN, VERSION_MAJOR, VERSION_MINOR,
};

/// Manifest record tags.
pub(crate) mod tag {
    pub const INPUT: u32 = 1;
    pub const OUTPUT: u32 = 2;
    pub const PROVENANCE: u32 = 3;
    pub const STAGE: u32 = 4;
}

/// Stage kinds inside a STAGE record.
pub(crate) mod stage_kind {
    pub const STANDARD_SCALER: u32 = 1;
    pub const LINEAR: u32 = 2;
    pub const POST: u32 = 3;
    pub const TREES: u32 = 4;
    pub const MIN_MAX_SCALER: u32 = 5;
    pub const NORMALIZER: u32 = 6;
    pub const IMPUTER: u32 = 7;
    pub const PCA: u32 = 8;
    pub const DENSE: u32 = 9;
    pub const SVM: u32 = 10;
    pub const KMEANS: u32 = 11;
    pub const GAUSSIAN_NB: u32 = 12;
}

/// Label kinds inside the OUTPUT record.
pub(crate) mod label_kind {
    pub const NONE: u32 = 0;
    pub const INT: u32 = 1;
    pub const STR: u32 = 2;
}

/// One entry of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// What the section holds.
    pub kind: SectionKind,
    /// Element type (tensors only).
    pub dtype: Option<Dtype>,
    /// Offset from the start of the file; a multiple of 64.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
}

/// A validated `.apr` file viewed in place.
///
/// [`Apr::parse`] checks the header, the section table, the manifest and the pipeline: the
/// whole structure, in time proportional to it and never to the weights. It does not compute
/// the checksum (that reads every byte); [`Apr::parse_verified`] does both.
#[derive(Debug, Clone)]
pub struct Apr<'a> {
    bytes: &'a [u8],
    checksum: u32,
    sections: Vec<Section>,
    strings: StringTable<'a>,
    input: InputSchema<'a>,
    output: OutputSchema<'a>,
    provenance: Provenance<'a>,
    stages: Vec<Stage<'a>>,
}

impl<'a> Apr<'a> {
    /// Validates the structure of `bytes` and views it in place.
    ///
    /// `bytes` must start at an 8-byte aligned address (rule R28): use
    /// [`crate::ModelBytes::new`] for a buffer of unknown alignment.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        Parser::new(bytes)?.run()
    }

    /// [`Apr::parse`], then the checksum over every byte (rule R6).
    pub fn parse_verified(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let apr = Self::parse(bytes)?;
        apr.verify_checksum()?;
        Ok(apr)
    }

    /// Recomputes the CRC-32 of the file and compares it with the header's (rule R6).
    pub fn verify_checksum(&self) -> Result<(), FormatError> {
        let computed = crate::checksum(self.bytes);
        if computed == self.checksum {
            Ok(())
        } else {
            Err(FormatError::ChecksumMismatch {
                stored: self.checksum,
                computed,
            })
        }
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// The checksum stored in the header.
    pub fn checksum(&self) -> u32 {
        self.checksum
    }
    /// The section table.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }
    /// The string table (empty when the file has none).
    pub fn strings(&self) -> &StringTable<'a> {
        &self.strings
    }
    /// The input schema.
    pub fn input(&self) -> &InputSchema<'a> {
        &self.input
    }
    /// The output schema.
    pub fn output(&self) -> &OutputSchema<'a> {
        &self.output
    }
    /// Provenance.
    pub fn provenance(&self) -> &Provenance<'a> {
        &self.provenance
    }
    /// Pipeline stages, in order.
    pub fn stages(&self) -> &[Stage<'a>] {
        &self.stages
    }
    /// Width of the pipeline's final output.
    pub fn output_width(&self) -> u32 {
        self.stages
            .iter()
            .fold(self.input.n_features, |w, s| s.output_width(w))
    }

    /// Copies the model out into an owned spec (for tools and round-trip tests).
    pub fn to_spec(&self) -> ModelSpec {
        let labels = match &self.output.labels {
            Labels::None => LabelsSpec::None,
            Labels::Int(v) => LabelsSpec::Int(v.clone()),
            Labels::Str(s) => LabelsSpec::Str(s.to_vec()),
        };
        ModelSpec {
            input: InputSpec {
                n_features: self.input.n_features,
                missing: self.input.missing,
                feature_names: self.input.feature_names.map(|l| l.to_vec()),
            },
            output: OutputSpec {
                task: self.output.task,
                n_outputs: self.output.n_outputs,
                labels,
                output_names: self.output.output_names.map(|l| l.to_vec()),
            },
            provenance: ProvenanceSpec {
                model_version: self.provenance.model_version.to_owned(),
                model_name: self.provenance.model_name.map(str::to_owned),
                source_format: self.provenance.source_format.map(str::to_owned),
                converter: self.provenance.converter.map(str::to_owned),
                source_sha256: self.provenance.source_sha256.map(str::to_owned),
            },
            stages: self
                .stages
                .iter()
                .map(|s| match *s {
                    Stage::StandardScaler { mean, scale } => StageSpec::StandardScaler {
                        mean: mean.to_vec(),
                        scale: scale.to_vec(),
                    },
                    Stage::Linear {
                        n_in,
                        n_out,
                        coef,
                        intercept,
                    } => StageSpec::Linear {
                        n_in,
                        n_out,
                        coef: coef.to_vec(),
                        intercept: intercept.to_vec(),
                    },
                    Stage::Trees(t) => StageSpec::Trees(TreesSpec {
                        n_in: t.n_in,
                        n_out: t.n_out,
                        average: t.average(),
                        round_f32: t.round_f32(),
                        leaf_width: t.leaf_width,
                        roots: t.roots.to_vec(),
                        // Validated rows always decode.
                        nodes: t.nodes.iter().filter_map(TreeNode::decode).collect(),
                        leaves: t.leaves.to_vec(),
                        targets: t.targets.to_vec(),
                        base: t.base.to_vec(),
                        categories: t.categories.to_vec(),
                    }),
                    Stage::Post(p) => StageSpec::Post(p),
                    Stage::MinMaxScaler { scale, min } => StageSpec::MinMaxScaler {
                        scale: scale.to_vec(),
                        min: min.to_vec(),
                    },
                    Stage::Normalizer { width, norm } => StageSpec::Normalizer { width, norm },
                    Stage::Imputer { missing, fill } => StageSpec::Imputer {
                        missing,
                        fill: fill.to_vec(),
                    },
                    Stage::Pca {
                        n_in,
                        n_out,
                        mean,
                        components,
                        whiten,
                    } => StageSpec::Pca {
                        n_in,
                        n_out,
                        mean: mean.to_vec(),
                        components: components.to_vec(),
                        whiten: whiten.map(<[f32]>::to_vec),
                    },
                    Stage::Dense {
                        n_in,
                        n_out,
                        activation,
                        weights,
                        bias,
                    } => StageSpec::Dense {
                        n_in,
                        n_out,
                        activation,
                        weights: weights.to_vec(),
                        bias: bias.to_vec(),
                    },
                    Stage::Svm(m) => StageSpec::Svm(SvmSpec {
                        n_in: m.n_in,
                        n_classes: m.n_classes,
                        kernel: m.kernel,
                        n_support: m.n_support.to_vec(),
                        support_vectors: m.support_vectors.to_vec(),
                        coef: m.coef.to_vec(),
                        intercept: m.intercept.to_vec(),
                        prob_a: m.prob_a.to_vec(),
                        prob_b: m.prob_b.to_vec(),
                    }),
                    Stage::KMeans { n_in, k, centers } => StageSpec::KMeans {
                        n_in,
                        k,
                        centers: centers.to_vec(),
                    },
                    Stage::GaussianNb {
                        n_in,
                        n_classes,
                        theta,
                        var,
                        log_prior,
                        log_norm,
                    } => StageSpec::GaussianNb {
                        n_in,
                        n_classes,
                        theta: theta.to_vec(),
                        var: var.to_vec(),
                        log_prior: log_prior.to_vec(),
                        log_norm: log_norm.to_vec(),
                    },
                })
                .collect(),
        }
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    sections: Vec<Section>,
    referenced: Vec<bool>,
    strings: StringTable<'a>,
    has_strings: bool,
}

/// A cursor over the manifest's little-endian u32 words.
struct Words<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Words<'_> {
    fn next(&mut self) -> Result<u32, FormatError> {
        let w = le_u32(self.bytes, self.pos).ok_or(FormatError::TruncatedManifest)?;
        self.pos += 4;
        Ok(w)
    }
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, FormatError> {
        Ok(Parser {
            bytes,
            sections: Vec::new(),
            referenced: Vec::new(),
            strings: StringTable::default(),
            has_strings: false,
        })
    }

    fn run(mut self) -> Result<Apr<'a>, FormatError> {
        let b = self.bytes;
        // R1
        if b.len() < HEADER_LEN {
            return Err(FormatError::TooShort { len: b.len() });
        }
        // R28: checked before anything is viewed in place.
        let misalignment = b.as_ptr() as usize % 8;
        if misalignment != 0 {
            return Err(FormatError::Unaligned { misalignment });
        }
        // R2
        let mut found = [0u8; 4];
        found.copy_from_slice(&b[0..4]);
        if found != MAGIC {
            return Err(FormatError::BadMagic { found });
        }
        // R3
        let major = u16::from_le_bytes([b[4], b[5]]);
        let minor = u16::from_le_bytes([b[6], b[7]]);
        if major != VERSION_MAJOR || minor != VERSION_MINOR {
            return Err(FormatError::UnsupportedVersion { major, minor });
        }
        // R4
        if le_u32(b, 8) != Some(0) {
            return Err(FormatError::ReservedNotZero { offset: 8 });
        }
        if let Some(i) = b[36..HEADER_LEN].iter().position(|&x| x != 0) {
            return Err(FormatError::ReservedNotZero { offset: 36 + i });
        }
        let checksum = le_u32(b, 12).unwrap_or(0);
        // R5
        let declared = le_u64(b, 16).unwrap_or(0);
        if declared != b.len() as u64 {
            return Err(FormatError::LengthMismatch {
                declared,
                actual: b.len() as u64,
            });
        }
        // R7
        let count = le_u32(b, 24).unwrap_or(0);
        if count == 0 || count > MAX_SECTIONS {
            return Err(FormatError::BadSectionCount { count });
        }
        let manifest_index = le_u32(b, 28).unwrap_or(NONE);
        let strings_index = le_u32(b, 32).unwrap_or(NONE);
        self.read_sections(count)?;
        self.check_roles(manifest_index, strings_index)?;
        if strings_index != NONE {
            self.strings = StringTable::parse(self.section_bytes(strings_index))?;
            self.has_strings = true;
        }
        let manifest = self.section_bytes(manifest_index);
        let mut words = Words {
            bytes: manifest,
            pos: 0,
        };
        let input = self.read_input(&mut words)?;
        let output = self.read_output(&mut words)?;
        let provenance = self.read_provenance(&mut words)?;
        let stages = self.read_stages(&mut words)?;
        self.check_pipeline(&input, &output, &stages)?;
        // R24
        for (i, s) in self.sections.iter().enumerate() {
            if s.kind == SectionKind::Tensor && !self.referenced[i] {
                return Err(FormatError::UnreferencedSection { index: i as u32 });
            }
        }
        Ok(Apr {
            bytes: self.bytes,
            checksum,
            sections: self.sections,
            strings: self.strings,
            input,
            output,
            provenance,
            stages,
        })
    }

    /// R8–R13: the section table and the exact layout of the sections.
    fn read_sections(&mut self, count: u32) -> Result<(), FormatError> {
        let b = self.bytes;
        let table_end = (count as u64)
            .checked_mul(SECTION_ENTRY_LEN as u64)
            .and_then(|n| n.checked_add(HEADER_LEN as u64))
            .filter(|&end| end <= b.len() as u64)
            .ok_or(FormatError::SectionTableOutOfBounds)?;
        let mut prev_end = table_end;
        self.sections.reserve_exact(count as usize);
        for index in 0..count {
            let e = HEADER_LEN + index as usize * SECTION_ENTRY_LEN;
            let kind_code = le_u32(b, e).unwrap_or(0);
            let dtype_code = le_u32(b, e + 4).unwrap_or(0);
            let offset = le_u64(b, e + 8).unwrap_or(0);
            let length = le_u64(b, e + 16).unwrap_or(0);
            let reserved = le_u64(b, e + 24).unwrap_or(0);
            let kind =
                SectionKind::from_code(kind_code).ok_or(FormatError::UnknownSectionKind {
                    index,
                    kind: kind_code,
                })?;
            if reserved != 0 {
                return Err(FormatError::ReservedNotZero { offset: e + 24 });
            }
            let dtype = match (kind, dtype_code) {
                (SectionKind::Tensor, code) => Some(
                    Dtype::from_code(code).ok_or(FormatError::BadDtype { index, dtype: code })?,
                ),
                (_, 0) => None,
                (_, code) => return Err(FormatError::BadDtype { index, dtype: code }),
            };
            let expected = align64(prev_end).ok_or(FormatError::SectionLength { index, length })?;
            if offset != expected {
                return Err(FormatError::SectionOffset {
                    index,
                    expected,
                    found: offset,
                });
            }
            // The element of a manifest is a u32 word, of a string table a byte (its UTF-8
            // data has any length), of a tensor its dtype.
            let unit = match (kind, dtype) {
                (SectionKind::Manifest, _) => 4,
                (SectionKind::Strings, _) => 1,
                (SectionKind::Tensor, d) => d.map_or(4, Dtype::size) as u64,
            };
            let end = offset.checked_add(length);
            match end {
                Some(end) if length % unit == 0 && end <= b.len() as u64 => {}
                _ => return Err(FormatError::SectionLength { index, length }),
            }
            check_zero(b, prev_end, offset)?;
            prev_end = offset + length;
            self.sections.push(Section {
                kind,
                dtype,
                offset,
                length,
            });
        }
        // R13: nothing after the last section.
        if prev_end != b.len() as u64 {
            return Err(FormatError::BadPadding { offset: prev_end });
        }
        self.referenced = vec![false; count as usize];
        Ok(())
    }

    /// R14: one manifest and at most one string table, where the header says.
    fn check_roles(&self, manifest: u32, strings: u32) -> Result<(), FormatError> {
        let kind_of = |i: u32| self.sections.get(i as usize).map(|s| s.kind);
        if kind_of(manifest) != Some(SectionKind::Manifest) {
            return Err(FormatError::BadSectionRole { index: manifest });
        }
        if strings != NONE && kind_of(strings) != Some(SectionKind::Strings) {
            return Err(FormatError::BadSectionRole { index: strings });
        }
        for (i, s) in self.sections.iter().enumerate() {
            let i = i as u32;
            let stray = match s.kind {
                SectionKind::Manifest => i != manifest,
                SectionKind::Strings => i != strings,
                SectionKind::Tensor => false,
            };
            if stray {
                return Err(FormatError::BadSectionRole { index: i });
            }
        }
        Ok(())
    }

    fn section_bytes(&self, index: u32) -> &'a [u8] {
        let bytes: &'a [u8] = self.bytes;
        self.sections
            .get(index as usize)
            .and_then(|s| bytes.get(s.offset as usize..(s.offset + s.length) as usize))
            .unwrap_or(&[])
    }

    fn string(&self, index: u32) -> Result<&'a str, FormatError> {
        if !self.has_strings {
            return Err(FormatError::StringOutOfRange { index });
        }
        self.strings
            .get(index)
            .ok_or(FormatError::StringOutOfRange { index })
    }

    fn opt_string(&self, index: u32) -> Result<Option<&'a str>, FormatError> {
        if index == NONE {
            Ok(None)
        } else {
            self.string(index).map(Some)
        }
    }

    fn str_list(&self, first: u32, count: u32) -> Result<Option<StrList<'a>>, FormatError> {
        if first == NONE {
            return Ok(None);
        }
        if !self.has_strings {
            return Err(FormatError::StringOutOfRange { index: first });
        }
        self.strings.check_range(first, count)?;
        Ok(Some(StrList {
            table: self.strings,
            first,
            count,
        }))
    }

    /// Reads a record header and checks its tag (R17–R19) and length (R20).
    fn record(
        &self,
        words: &mut Words<'_>,
        want: u32,
        len_ok: impl Fn(u32) -> bool,
    ) -> Result<u32, FormatError> {
        if words.at_end() {
            return Err(FormatError::RecordOrder { tag: 0 });
        }
        let tag = words.next()?;
        if !(tag::INPUT..=tag::STAGE).contains(&tag) {
            return Err(FormatError::UnknownRecord { tag });
        }
        if tag != want {
            return Err(FormatError::RecordOrder { tag });
        }
        let len = words.next()?;
        if !len_ok(len) {
            return Err(FormatError::RecordLength { tag, found: len });
        }
        let end = (len as usize)
            .checked_mul(4)
            .and_then(|n| n.checked_add(words.pos));
        match end {
            Some(end) if end <= words.bytes.len() => Ok(len),
            _ => Err(FormatError::TruncatedManifest),
        }
    }

    fn read_input(&self, w: &mut Words<'_>) -> Result<InputSchema<'a>, FormatError> {
        self.record(w, tag::INPUT, |n| n == 3)?;
        let n_features = dim("n_features", w.next()?)?;
        let missing_code = w.next()?;
        let missing = MissingValues::from_code(missing_code).ok_or(FormatError::UnknownValue {
            field: "missing",
            value: missing_code,
        })?;
        let feature_names = self.str_list(w.next()?, n_features)?;
        Ok(InputSchema {
            n_features,
            missing,
            feature_names,
        })
    }

    fn read_output(&self, w: &mut Words<'_>) -> Result<OutputSchema<'a>, FormatError> {
        let len = self.record(w, tag::OUTPUT, |n| n >= 4)?;
        let task_code = w.next()?;
        let task = Task::from_code(task_code).ok_or(FormatError::UnknownValue {
            field: "task",
            value: task_code,
        })?;
        let n_outputs = dim("n_outputs", w.next()?)?;
        let kind = w.next()?;
        let output_names = self.str_list(w.next()?, n_outputs)?;
        let wrong_len = FormatError::RecordLength {
            tag: tag::OUTPUT,
            found: len,
        };
        let labels = match kind {
            label_kind::NONE => {
                if len != 4 {
                    return Err(wrong_len);
                }
                Labels::None
            }
            label_kind::INT => {
                if len as u64 != 4 + 2 * n_outputs as u64 {
                    return Err(wrong_len);
                }
                let mut v = Vec::with_capacity(n_outputs as usize);
                for _ in 0..n_outputs {
                    let lo = w.next()? as u64;
                    let hi = w.next()? as u64;
                    v.push((lo | (hi << 32)) as i64);
                }
                Labels::Int(v)
            }
            label_kind::STR => {
                if len != 5 {
                    return Err(wrong_len);
                }
                let first = w.next()?;
                match self.str_list(first, n_outputs)? {
                    Some(list) => Labels::Str(list),
                    None => return Err(FormatError::StringOutOfRange { index: first }),
                }
            }
            value => {
                return Err(FormatError::UnknownValue {
                    field: "label_kind",
                    value,
                })
            }
        };
        Ok(OutputSchema {
            task,
            n_outputs,
            labels,
            output_names,
        })
    }

    fn read_provenance(&self, w: &mut Words<'_>) -> Result<Provenance<'a>, FormatError> {
        self.record(w, tag::PROVENANCE, |n| n == 5)?;
        let model_version = self.string(w.next()?)?;
        Ok(Provenance {
            model_version,
            model_name: self.opt_string(w.next()?)?,
            source_format: self.opt_string(w.next()?)?,
            converter: self.opt_string(w.next()?)?,
            source_sha256: self.opt_string(w.next()?)?,
        })
    }

    fn read_stages(&mut self, w: &mut Words<'_>) -> Result<Vec<Stage<'a>>, FormatError> {
        let mut stages = Vec::new();
        loop {
            let index = stages.len() as u32;
            let len = self.record(w, tag::STAGE, |n| n >= 1)?;
            let kind = w.next()?;
            let wrong_len = FormatError::RecordLength {
                tag: tag::STAGE,
                found: len,
            };
            let stage = match kind {
                stage_kind::STANDARD_SCALER => {
                    if len != 4 {
                        return Err(wrong_len);
                    }
                    let width = dim("width", w.next()?)?;
                    let mean = self.f32_tensor(index, w.next()?, width as u64)?;
                    let scale = self.f32_tensor(index, w.next()?, width as u64)?;
                    Stage::StandardScaler { mean, scale }
                }
                stage_kind::LINEAR => {
                    if len != 5 {
                        return Err(wrong_len);
                    }
                    let n_in = dim("n_in", w.next()?)?;
                    let n_out = dim("n_out", w.next()?)?;
                    let coef = self.f32_tensor(index, w.next()?, n_in as u64 * n_out as u64)?;
                    let intercept = self.f32_tensor(index, w.next()?, n_out as u64)?;
                    Stage::Linear {
                        n_in,
                        n_out,
                        coef,
                        intercept,
                    }
                }
                stage_kind::TREES => {
                    if len != 12 {
                        return Err(wrong_len);
                    }
                    Stage::Trees(self.read_trees(index, w)?)
                }
                stage_kind::POST => {
                    if len != 2 {
                        return Err(wrong_len);
                    }
                    let code = w.next()?;
                    let post = PostTransform::from_code(code).ok_or(FormatError::UnknownValue {
                        field: "post_transform",
                        value: code,
                    })?;
                    Stage::Post(post)
                }
                stage_kind::MIN_MAX_SCALER => {
                    if len != 4 {
                        return Err(wrong_len);
                    }
                    let width = dim("width", w.next()?)?;
                    let scale = self.f32_tensor(index, w.next()?, width as u64)?;
                    let min = self.f32_tensor(index, w.next()?, width as u64)?;
                    Stage::MinMaxScaler { scale, min }
                }
                stage_kind::NORMALIZER => {
                    if len != 3 {
                        return Err(wrong_len);
                    }
                    let width = dim("width", w.next()?)?;
                    let code = w.next()?;
                    let norm = Norm::from_code(code).ok_or(FormatError::UnknownValue {
                        field: "normalizer.norm",
                        value: code,
                    })?;
                    Stage::Normalizer { width, norm }
                }
                stage_kind::IMPUTER => {
                    if len != 4 {
                        return Err(wrong_len);
                    }
                    let width = dim("width", w.next()?)?;
                    let missing = f32::from_bits(w.next()?);
                    let fill = self.f32_tensor(index, w.next()?, width as u64)?;
                    // R30
                    if let Some(i) = fill.iter().position(|v| !v.is_finite()) {
                        return Err(FormatError::BadImputer {
                            stage: index,
                            index: i as u32,
                        });
                    }
                    Stage::Imputer { missing, fill }
                }
                stage_kind::PCA => {
                    if len != 6 {
                        return Err(wrong_len);
                    }
                    let n_in = dim("n_in", w.next()?)?;
                    let n_out = dim("n_out", w.next()?)?;
                    let mean = self.f32_tensor(index, w.next()?, n_in as u64)?;
                    let components =
                        self.f32_tensor(index, w.next()?, n_in as u64 * n_out as u64)?;
                    let whiten_ix = w.next()?;
                    let whiten = if whiten_ix == NONE {
                        None
                    } else {
                        let d = self.f32_tensor(index, whiten_ix, n_out as u64)?;
                        // R31
                        if let Some(i) = d.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                            return Err(FormatError::BadPca {
                                stage: index,
                                index: i as u32,
                            });
                        }
                        Some(d)
                    };
                    Stage::Pca {
                        n_in,
                        n_out,
                        mean,
                        components,
                        whiten,
                    }
                }
                stage_kind::DENSE => {
                    if len != 6 {
                        return Err(wrong_len);
                    }
                    let n_in = dim("n_in", w.next()?)?;
                    let n_out = dim("n_out", w.next()?)?;
                    let code = w.next()?;
                    let activation =
                        Activation::from_code(code).ok_or(FormatError::UnknownValue {
                            field: "dense.activation",
                            value: code,
                        })?;
                    let weights = self.f32_tensor(index, w.next()?, n_in as u64 * n_out as u64)?;
                    let bias = self.f32_tensor(index, w.next()?, n_out as u64)?;
                    Stage::Dense {
                        n_in,
                        n_out,
                        activation,
                        weights,
                        bias,
                    }
                }
                stage_kind::SVM => {
                    if len != 16 {
                        return Err(wrong_len);
                    }
                    Stage::Svm(self.read_svm(index, w)?)
                }
                stage_kind::KMEANS => {
                    if len != 4 {
                        return Err(wrong_len);
                    }
                    let n_in = dim("n_in", w.next()?)?;
                    let k = dim("k", w.next()?)?;
                    let centers = self.f32_tensor(index, w.next()?, n_in as u64 * k as u64)?;
                    Stage::KMeans { n_in, k, centers }
                }
                stage_kind::GAUSSIAN_NB => {
                    if len != 7 {
                        return Err(wrong_len);
                    }
                    self.read_gaussian_nb(index, w)?
                }
                value => {
                    return Err(FormatError::UnknownValue {
                        field: "stage_kind",
                        value,
                    })
                }
            };
            stages.push(stage);
            if w.at_end() {
                return Ok(stages);
            }
        }
    }

    /// The TREES record after its kind word; R29 in full.
    fn read_trees(&mut self, stage: u32, w: &mut Words<'_>) -> Result<Trees<'a>, FormatError> {
        let n_in = dim("n_in", w.next()?)?;
        let n_out = dim("n_out", w.next()?)?;
        let flags = w.next()?;
        if flags & !(trees::FLAG_AVERAGE | trees::FLAG_ROUND_F32) != 0 {
            return Err(FormatError::UnknownValue {
                field: "trees.flags",
                value: flags,
            });
        }
        let leaf_width = dim("leaf_width", w.next()?)?;
        let n_trees = dim("n_trees", w.next()?)?;
        let (nodes_ix, roots_ix, leaves_ix, targets_ix, base_ix, cats_ix) = (
            w.next()?,
            w.next()?,
            w.next()?,
            w.next()?,
            w.next()?,
            w.next()?,
        );
        let bad = |index: u32, reason: &'static str| FormatError::BadTrees {
            stage,
            index,
            reason,
        };
        if leaf_width != 1 && leaf_width != n_out {
            return Err(bad(0, "leaf_width is neither 1 nor n_out"));
        }
        let nodes: &'a [NodeRow] = if nodes_ix == NONE {
            &[]
        } else {
            let words: &'a [u32] = self.typed_tensor(stage, nodes_ix, Dtype::U32, None)?;
            if words.len() % trees::NODE_WORDS != 0 {
                return Err(FormatError::BadTensorRef {
                    stage,
                    section: nodes_ix,
                    reason: "node table is not a whole number of 6-word rows",
                });
            }
            bytemuck::try_cast_slice(words).map_err(|_| FormatError::BadTensorRef {
                stage,
                section: nodes_ix,
                reason: "not aligned",
            })?
        };
        let roots: &'a [u32] =
            self.typed_tensor(stage, roots_ix, Dtype::U32, Some(u64::from(n_trees)))?;
        let leaves: &'a [f64] = self.typed_tensor(stage, leaves_ix, Dtype::F64, None)?;
        if leaves.is_empty() || leaves.len() % leaf_width as usize != 0 {
            return Err(bad(
                0,
                "leaf table is not a whole, non-zero number of leaves",
            ));
        }
        let n_leaves = (leaves.len() / leaf_width as usize) as u64;
        let targets: &'a [u32] = if leaf_width == 1 && n_out > 1 {
            self.typed_tensor(stage, targets_ix, Dtype::U32, Some(u64::from(n_trees)))?
        } else if targets_ix != NONE {
            return Err(bad(
                0,
                "targets are only stored when leaf_width is 1 and n_out > 1",
            ));
        } else {
            &[]
        };
        let base: &'a [f64] =
            self.typed_tensor(stage, base_ix, Dtype::F64, Some(u64::from(n_out)))?;
        let categories: &'a [u32] = if cats_ix == NONE {
            &[]
        } else {
            self.typed_tensor(stage, cats_ix, Dtype::U32, None)?
        };
        let n_nodes = nodes.len() as u64;
        let check_ref = |r: u32, after: Option<u64>| -> bool {
            if r & LEAF != 0 {
                u64::from(r & !LEAF) < n_leaves
            } else {
                let r = u64::from(r);
                r < n_nodes && after.is_none_or(|p| r > p)
            }
        };
        for (i, &r) in roots.iter().enumerate() {
            if !check_ref(r, None) {
                return Err(bad(i as u32, "root reference out of range"));
            }
        }
        for (i, &t) in targets.iter().enumerate() {
            if t >= n_out {
                return Err(bad(i as u32, "tree target is not an output"));
            }
        }
        let mut info_mask = 0u64;
        for (i, row) in nodes.iter().enumerate() {
            let ix = i as u32;
            let node = TreeNode::decode(row).ok_or(bad(ix, "undefined node code"))?;
            info_mask |= trees::info_bit(row[3]);
            if node.feature >= n_in {
                return Err(bad(ix, "feature index outside the input"));
            }
            if !check_ref(node.left, Some(i as u64)) || !check_ref(node.right, Some(i as u64)) {
                return Err(bad(
                    ix,
                    "child reference out of range or not after its parent",
                ));
            }
            match node.split {
                Split::InSet { offset, words } => {
                    let end = u64::from(offset) + u64::from(words);
                    if words == 0 || end > categories.len() as u64 {
                        return Err(bad(ix, "category set outside the category table"));
                    }
                }
                Split::Lt(t)
                | Split::Le(t)
                | Split::Gt(t)
                | Split::Ge(t)
                | Split::Eq(t)
                | Split::Ne(t) => {
                    if t.is_nan() {
                        return Err(bad(ix, "threshold is NaN"));
                    }
                }
            }
        }
        if let Some(i) = leaves.iter().position(|v| !v.is_finite()) {
            return Err(bad(i as u32, "leaf value is not finite"));
        }
        if let Some(i) = base.iter().position(|v| !v.is_finite()) {
            return Err(bad(i as u32, "base value is not finite"));
        }
        Ok(Trees {
            n_in,
            n_out,
            flags,
            leaf_width,
            roots,
            nodes,
            leaves,
            targets,
            base,
            categories,
            info_mask,
        })
    }

    /// The SVM record after its kind word; R32 in full.
    fn read_svm(&mut self, stage: u32, w: &mut Words<'_>) -> Result<Svm<'a>, FormatError> {
        let n_in = dim("n_in", w.next()?)?;
        let n_classes = dim("n_classes", w.next()?)?;
        let n_sv = dim("n_sv", w.next()?)?;
        let kernel_code = w.next()?;
        let degree = w.next()?;
        let gamma = f64::from_bits(u64::from(w.next()?) | (u64::from(w.next()?) << 32));
        let coef0 = f64::from_bits(u64::from(w.next()?) | (u64::from(w.next()?) << 32));
        let (n_support_ix, sv_ix, coef_ix, intercept_ix, a_ix, b_ix) = (
            w.next()?,
            w.next()?,
            w.next()?,
            w.next()?,
            w.next()?,
            w.next()?,
        );
        let bad = |index: u32, reason: &'static str| FormatError::BadSvm {
            stage,
            index,
            reason,
        };
        let kernel = Kernel::from_parts(kernel_code, gamma, coef0, degree).ok_or(
            FormatError::UnknownValue {
                field: "svm.kernel",
                value: kernel_code,
            },
        )?;
        if !gamma.is_finite() || !coef0.is_finite() {
            return Err(bad(0, "kernel parameter is not finite"));
        }
        let (g, c, d) = kernel.params();
        if g.to_bits() != gamma.to_bits() || c.to_bits() != coef0.to_bits() || d != degree {
            return Err(bad(0, "a parameter the kernel does not use is not zero"));
        }
        let n_sv64 = u64::from(n_sv);
        let k = u64::from(n_classes);
        let classifier = n_classes >= 2;
        let n_pairs = if classifier { k * (k - 1) / 2 } else { 1 };
        let n_support: &'a [u32] = if classifier {
            self.typed_tensor(stage, n_support_ix, Dtype::U32, Some(k))?
        } else if n_support_ix != NONE {
            return Err(bad(0, "a regressor has no per-class support counts"));
        } else {
            &[]
        };
        if classifier {
            let total = n_support
                .iter()
                .try_fold(0u64, |acc, &n| acc.checked_add(u64::from(n)));
            if total != Some(n_sv64) {
                return Err(bad(0, "per-class support counts do not add up to n_sv"));
            }
        }
        let support_vectors: &'a [f32] =
            self.typed_tensor(stage, sv_ix, Dtype::F32, Some(n_sv64 * u64::from(n_in)))?;
        let coef_rows = if classifier { k - 1 } else { 1 };
        let coef: &'a [f64] =
            self.typed_tensor(stage, coef_ix, Dtype::F64, Some(coef_rows * n_sv64))?;
        let intercept: &'a [f64] =
            self.typed_tensor(stage, intercept_ix, Dtype::F64, Some(n_pairs))?;
        let (prob_a, prob_b): (&'a [f64], &'a [f64]) = match (a_ix == NONE, b_ix == NONE) {
            (true, true) => (&[], &[]),
            (false, false) if classifier => (
                self.typed_tensor(stage, a_ix, Dtype::F64, Some(n_pairs))?,
                self.typed_tensor(stage, b_ix, Dtype::F64, Some(n_pairs))?,
            ),
            (false, false) => return Err(bad(0, "a regressor has no probabilities")),
            _ => return Err(bad(0, "prob_a and prob_b come together")),
        };
        for (reason, values) in [
            ("dual coefficient is not finite", coef),
            ("intercept is not finite", intercept),
            ("prob_a is not finite", prob_a),
            ("prob_b is not finite", prob_b),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(i as u32, reason));
            }
        }
        Ok(Svm {
            n_in,
            n_classes,
            kernel,
            n_support,
            support_vectors,
            coef,
            intercept,
            prob_a,
            prob_b,
        })
    }

    /// The GAUSSIAN_NB record after its kind word; R33.
    fn read_gaussian_nb(
        &mut self,
        stage: u32,
        w: &mut Words<'_>,
    ) -> Result<Stage<'a>, FormatError> {
        let n_in = dim("n_in", w.next()?)?;
        let n_classes = dim("n_classes", w.next()?)?;
        let cells = u64::from(n_in) * u64::from(n_classes);
        let k = Some(u64::from(n_classes));
        let theta: &'a [f64] = self.typed_tensor(stage, w.next()?, Dtype::F64, Some(cells))?;
        let var: &'a [f64] = self.typed_tensor(stage, w.next()?, Dtype::F64, Some(cells))?;
        let log_prior: &'a [f64] = self.typed_tensor(stage, w.next()?, Dtype::F64, k)?;
        let log_norm: &'a [f64] = self.typed_tensor(stage, w.next()?, Dtype::F64, k)?;
        let bad = |index: usize, reason| FormatError::BadNaiveBayes {
            stage,
            index: index as u32,
            reason,
        };
        if let Some(i) = var.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(i, "variance is not finite and positive"));
        }
        for (reason, values) in [
            ("mean is not finite", theta),
            ("log prior is not finite", log_prior),
            ("normaliser is not finite", log_norm),
        ] {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(bad(i, reason));
            }
        }
        Ok(Stage::GaussianNb {
            n_in,
            n_classes,
            theta,
            var,
            log_prior,
            log_norm,
        })
    }

    /// R23: a reference to a tensor of `dtype` with `count` elements (any non-zero count
    /// when `None`).
    fn typed_tensor<T: bytemuck::Pod>(
        &mut self,
        stage: u32,
        section: u32,
        dtype: Dtype,
        count: Option<u64>,
    ) -> Result<&'a [T], FormatError> {
        let bad = |reason| FormatError::BadTensorRef {
            stage,
            section,
            reason,
        };
        let s = *self
            .sections
            .get(section as usize)
            .ok_or(bad("no such section"))?;
        if s.kind != SectionKind::Tensor {
            return Err(bad("not a tensor"));
        }
        if s.dtype != Some(dtype) {
            return Err(bad("wrong dtype"));
        }
        let size = dtype.size() as u64;
        match count {
            Some(n) if n.checked_mul(size) != Some(s.length) => {
                return Err(bad("element count does not match the shape"))
            }
            None if s.length == 0 => return Err(bad("empty tensor")),
            _ => {}
        }
        if let Some(r) = self.referenced.get_mut(section as usize) {
            *r = true;
        }
        bytemuck::try_cast_slice(self.section_bytes(section)).map_err(|_| bad("not aligned"))
    }

    /// R23: a reference to an f32 tensor of exactly `count` elements.
    fn f32_tensor(
        &mut self,
        stage: u32,
        section: u32,
        count: u64,
    ) -> Result<&'a [f32], FormatError> {
        let bad = |reason| FormatError::BadTensorRef {
            stage,
            section,
            reason,
        };
        let s = *self
            .sections
            .get(section as usize)
            .ok_or(bad("no such section"))?;
        if s.kind != SectionKind::Tensor {
            return Err(bad("not a tensor"));
        }
        if s.dtype != Some(Dtype::F32) {
            return Err(bad("dtype is not f32"));
        }
        if count.checked_mul(4) != Some(s.length) {
            return Err(bad("element count does not match the shape"));
        }
        if let Some(r) = self.referenced.get_mut(section as usize) {
            *r = true;
        }
        let bytes = self.section_bytes(section);
        // Cannot fail: the buffer is 8-aligned (R28), sections start at multiples of 64
        // (R11) and the length is a multiple of 4 (R12). Still no panic if it did.
        bytemuck::try_cast_slice(bytes).map_err(|_| bad("not aligned"))
    }

    /// R25–R27, R34: stage order, widths, and the output schema against the pipeline.
    fn check_pipeline(
        &self,
        input: &InputSchema<'a>,
        output: &OutputSchema<'a>,
        stages: &[Stage<'a>],
    ) -> Result<(), FormatError> {
        let mut width = input.n_features;
        let mut last_role = Role::Preprocessor;
        let mut estimators = 0u32;
        let mut estimator: Option<Stage<'a>> = None;
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
            if role == Role::Estimator {
                estimators += 1;
                let chain = matches!(s, Stage::Dense { .. })
                    && matches!(estimator, None | Some(Stage::Dense { .. }));
                if estimators > 1 && !chain {
                    return Err(FormatError::BadPipeline {
                        stage,
                        reason: "more than one estimator",
                    });
                }
                estimator = Some(*s);
            }
            if role == Role::Postprocessor {
                if post.is_some() {
                    return Err(FormatError::BadPipeline {
                        stage,
                        reason: "more than one post transform",
                    });
                }
                if matches!(estimator, Some(Stage::Svm(_) | Stage::KMeans { .. })) {
                    return Err(FormatError::BadPipeline {
                        stage,
                        reason: "an svm or kmeans estimator takes no post transform",
                    });
                }
            }
            last_role = role;
            let declared = match *s {
                Stage::StandardScaler { mean, .. } => Some(mean.len() as u32),
                Stage::MinMaxScaler { scale, .. } => Some(scale.len() as u32),
                Stage::Imputer { fill, .. } => Some(fill.len() as u32),
                Stage::Normalizer { width, .. } => Some(width),
                Stage::Linear { n_in, .. }
                | Stage::Pca { n_in, .. }
                | Stage::Dense { n_in, .. }
                | Stage::KMeans { n_in, .. }
                | Stage::GaussianNb { n_in, .. } => Some(n_in),
                Stage::Svm(m) => Some(m.n_in),
                Stage::Trees(t) => Some(t.n_in),
                Stage::Post(_) => None,
            };
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
        if let Some(Stage::Svm(m)) = estimator {
            let ok = match output.task {
                Task::Classification => m.is_classifier() && output.n_outputs == m.n_classes,
                _ => !m.is_classifier(),
            };
            if !ok {
                return Err(FormatError::BadSvm {
                    stage: stages
                        .iter()
                        .position(|s| matches!(s, Stage::Svm(_)))
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
                let signed = !matches!(
                    estimator,
                    Some(Stage::KMeans { .. } | Stage::GaussianNb { .. })
                );
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

/// R22: dimensions are in `1..=MAX_DIM`.
fn dim(field: &'static str, value: u32) -> Result<u32, FormatError> {
    if value == 0 || value > MAX_DIM {
        Err(FormatError::BadDimension { field, value })
    } else {
        Ok(value)
    }
}

/// R13: padding bytes in `from..to` are zero.
fn check_zero(b: &[u8], from: u64, to: u64) -> Result<(), FormatError> {
    let pad = b.get(from as usize..to as usize).unwrap_or(&[]);
    match pad.iter().position(|&x| x != 0) {
        Some(i) => Err(FormatError::BadPadding {
            offset: from + i as u64,
        }),
        None => Ok(()),
    }
}
