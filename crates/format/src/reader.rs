//! The zero-copy reader: every MUST rule of `docs/FORMAT.md` is checked in [`Apr::parse`].

use crate::error::FormatError;
use crate::family::{self, Stage};
use crate::model::{
    InputSchema, InputSpec, Labels, LabelsSpec, MissingValues, ModelSpec, OutputSchema, OutputSpec,
    Precision, Provenance, ProvenanceSpec, Task,
};
use crate::strings::{StrList, StringTable};
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
                precision: self.output.precision,
            },
            provenance: ProvenanceSpec {
                model_version: self.provenance.model_version.to_owned(),
                model_name: self.provenance.model_name.map(str::to_owned),
                source_format: self.provenance.source_format.map(str::to_owned),
                converter: self.provenance.converter.map(str::to_owned),
                source_sha256: self.provenance.source_sha256.map(str::to_owned),
            },
            stages: self.stages.iter().map(|s| s.to_spec()).collect(),
        }
    }
}

pub(crate) struct Parser<'a> {
    bytes: &'a [u8],
    sections: Vec<Section>,
    referenced: Vec<bool>,
    strings: StringTable<'a>,
    has_strings: bool,
    /// `Some` when a build-time verification vouches for the file: the node-test masks of its
    /// trees stages, in order; the checks that read every node or weight are skipped.
    attested: Option<&'static [u64]>,
    /// Trees stages read so far.
    trees_read: usize,
    /// The file's minor version (0 or 1).
    pub(crate) minor: u16,
}

/// A cursor over the manifest's little-endian u32 words.
pub(crate) struct Words<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Words<'_> {
    pub(crate) fn next(&mut self) -> Result<u32, FormatError> {
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
            attested: None,
            trees_read: 0,
            minor: 0,
        })
    }

    /// Parses a file a build-time verification vouches for ([`Apr::parse_attested`]): the
    /// structure only. Fails (and the caller verifies fully) when the masks do not fit the
    /// file's trees stages.
    pub(crate) fn attested(
        bytes: &'a [u8],
        tree_masks: &'static [u64],
    ) -> Result<Apr<'a>, FormatError> {
        let mut p = Parser::new(bytes)?;
        p.attested = Some(tree_masks);
        p.run()
    }

    /// Whether the checks that read every node or weight run (not for an attested file).
    pub(crate) fn deep(&self) -> bool {
        self.attested.is_none()
    }

    /// The attested node-test mask of the next trees stage (`None` when not attested).
    /// The error never reaches a caller: [`Apr::parse_attested`] then verifies fully.
    pub(crate) fn next_tree_mask(&mut self, stage: u32) -> Result<Option<u64>, FormatError> {
        let i = self.trees_read;
        self.trees_read += 1;
        match self.attested {
            None => Ok(None),
            Some(masks) => masks.get(i).copied().map(Some).ok_or(not_attested(stage)),
        }
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
        if major != VERSION_MAJOR || minor > VERSION_MINOR {
            return Err(FormatError::UnsupportedVersion { major, minor });
        }
        self.minor = minor;
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
        crate::pipeline::check(&input, &output, &stages)?;
        if self
            .attested
            .is_some_and(|masks| masks.len() != self.trees_read)
        {
            return Err(not_attested(0));
        }
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
        // Version 1.1 ends the record with the precision word.
        let extra = u32::from(self.minor >= 1);
        let len = len.checked_sub(extra).ok_or(wrong_len.clone())?;
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
        let precision = if extra == 1 {
            let code = w.next()?;
            Precision::from_code(code).ok_or(FormatError::UnknownValue {
                field: "precision",
                value: code,
            })?
        } else {
            Precision::F32
        };
        Ok(OutputSchema {
            task,
            n_outputs,
            labels,
            output_names,
            precision,
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
            stages.push(family::read_stage(self, index, len, w)?);
            if w.at_end() {
                return Ok(stages);
            }
        }
    }

    /// R23: a reference to a tensor of `dtype` with `count` elements (any non-zero count
    /// when `None`).
    pub(crate) fn typed_tensor<T: bytemuck::Pod>(
        &mut self,
        stage: u32,
        section: u32,
        dtype: Dtype,
        count: Option<u64>,
    ) -> Result<&'a [T], FormatError> {
        self.tensor_ref(stage, section, dtype, count, "wrong dtype")
    }

    /// R23 for [`Parser::typed_tensor`] and [`crate::family::Element::tensor`], which differ only in the
    /// reason they give for a section of another dtype (`wrong_dtype`).
    pub(crate) fn tensor_ref<T: bytemuck::Pod>(
        &mut self,
        stage: u32,
        section: u32,
        dtype: Dtype,
        count: Option<u64>,
        wrong_dtype: &'static str,
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
            return Err(bad(wrong_dtype));
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
        // Cannot fail for a tensor of the dtype's element type: the buffer is 8-aligned
        // (R28), sections start at multiples of 64 (R11) and the length is a multiple of
        // the element size (R12). Still no panic if it did.
        bytemuck::try_cast_slice(self.section_bytes(section)).map_err(|_| bad("not aligned"))
    }
}

/// The attestation does not fit the file (seen only inside [`Apr::parse_attested`], which
/// then verifies the file fully and reports what is really wrong with it).
fn not_attested(stage: u32) -> FormatError {
    FormatError::BadTrees {
        stage,
        index: 0,
        reason: "the attestation does not describe this file's trees stages",
    }
}

/// R22: dimensions are in `1..=MAX_DIM`.
pub(crate) fn dim(field: &'static str, value: u32) -> Result<u32, FormatError> {
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
