//! The one error type of the reader: one variant per MUST rule of `docs/FORMAT.md`.

use std::fmt;

/// Why a byte buffer is not a valid `.apr` file.
///
/// Every variant but the last names the rule of `docs/FORMAT.md` it enforces (R1, R2, ...).
/// The reader returns the first broken rule it meets; it never panics, whatever the bytes.
/// [`FormatError::InvalidSpec`] is no rule of the format: only the writer returns it, for a
/// [`crate::ModelSpec`] that no file can represent faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// R1: the buffer is shorter than the 64-byte fixed header.
    TooShort {
        /// Length of the buffer.
        len: usize,
    },
    /// R2: the first four bytes are not `APR\0`.
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// R3: the version is not one this reader implements (1.0).
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// R4: a reserved header field or flag is not zero.
    ReservedNotZero {
        /// Byte offset of the offending field.
        offset: usize,
    },
    /// R5: the header's file length differs from the buffer's length.
    LengthMismatch {
        /// Length declared in the header.
        declared: u64,
        /// Length of the buffer.
        actual: u64,
    },
    /// R6: the stored CRC-32 differs from the one computed over the file.
    ChecksumMismatch {
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum computed over the bytes.
        computed: u32,
    },
    /// R7: the section count is zero or above [`crate::MAX_SECTIONS`].
    BadSectionCount {
        /// Count found in the header.
        count: u32,
    },
    /// R8: the section table does not fit in the file.
    SectionTableOutOfBounds,
    /// R9: a section table entry has an unknown kind.
    UnknownSectionKind {
        /// Section index.
        index: u32,
        /// Kind found.
        kind: u32,
    },
    /// R10: a section's dtype is unknown, or set on a section that is not a tensor.
    BadDtype {
        /// Section index.
        index: u32,
        /// Dtype found.
        dtype: u32,
    },
    /// R11: a section does not start where the layout rule puts it (first multiple of 64 after
    /// the previous section or the table): this covers misalignment, overlap, holes and order.
    SectionOffset {
        /// Section index.
        index: u32,
        /// Offset the layout rule requires.
        expected: u64,
        /// Offset found.
        found: u64,
    },
    /// R12: a section's length is not a whole number of its elements (manifest: `u32` words,
    /// string table: bytes, tensor: its dtype), or the section runs past the file.
    SectionLength {
        /// Section index.
        index: u32,
        /// Length found.
        length: u64,
    },
    /// R13: bytes after the last section, or a non-zero padding byte between sections.
    BadPadding {
        /// Offset of the first offending byte.
        offset: u64,
    },
    /// R14: the header's manifest or string-table index does not name a section of that kind,
    /// or a second manifest / string table exists.
    BadSectionRole {
        /// Section index.
        index: u32,
    },
    /// R15: the string table is malformed (offsets out of order, out of bounds, not on a
    /// character boundary, or not UTF-8).
    BadStringTable {
        /// What is wrong.
        reason: &'static str,
    },
    /// R16: a string reference points outside the string table (or there is none).
    StringOutOfRange {
        /// The string index.
        index: u32,
    },
    /// R17: the manifest ends in the middle of a record.
    TruncatedManifest,
    /// R18: a manifest record has an unknown tag.
    UnknownRecord {
        /// The tag found.
        tag: u32,
    },
    /// R19: the manifest records are not INPUT, OUTPUT, PROVENANCE, then one or more STAGE.
    RecordOrder {
        /// The tag found where another was required (0: the manifest ended).
        tag: u32,
    },
    /// R20: a record's length does not match what its fields require.
    RecordLength {
        /// The record's tag.
        tag: u32,
        /// Length found, in words.
        found: u32,
    },
    /// R21: an enumerated field holds a value this version does not define.
    UnknownValue {
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: u32,
    },
    /// R22: a dimension is zero or above [`crate::MAX_DIM`].
    BadDimension {
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: u32,
    },
    /// R23: a tensor reference names a missing section, a section that is not a tensor, or a
    /// tensor of the wrong dtype or element count.
    BadTensorRef {
        /// Stage index.
        stage: u32,
        /// The referenced section index.
        section: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R24: a tensor section is referenced by no stage.
    UnreferencedSection {
        /// Section index.
        index: u32,
    },
    /// R25: the pipeline is not preprocessors, exactly one estimator, post-processing.
    BadPipeline {
        /// Stage index where the rule broke.
        stage: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R26: a stage's input width differs from the width produced before it.
    WidthMismatch {
        /// Stage index.
        stage: u32,
        /// Width produced by the previous stage (or the input).
        expected: u32,
        /// Width the stage declares.
        found: u32,
    },
    /// R27: the output schema contradicts the pipeline (task, labels, width).
    BadOutput {
        /// What is wrong.
        reason: &'static str,
    },
    /// R29: a tree ensemble is inconsistent: tensor lengths, a child or root reference out of
    /// range or not pointing forward (which would allow a cycle), a feature index outside the
    /// input, an undefined node code, a category set outside the table, a NaN threshold, a
    /// non-finite leaf or base value, or a target outside the output.
    BadTrees {
        /// Stage index.
        stage: u32,
        /// Node (or tree, or leaf) index concerned, where there is one.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R35: a trees stage's node covers are malformed: in the compact layout, a record of 13
    /// words without a section, a cover that is not finite or negative, or an inner node's
    /// cover that is not positive.
    BadCovers {
        /// Stage index.
        stage: u32,
        /// Cover index concerned (nodes first, then leaves).
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R36: an oblivious tree ensemble is inconsistent: a split with an undefined flag, a
    /// feature not below `n_in` or a NaN border, a split table out of its canonical order, a
    /// tree deeper than
    /// [`crate::family::oblivious::MAX_DEPTH`], a tree naming a split that does not exist,
    /// tensors whose sizes do not follow from the depths, or a scale or bias that is not
    /// finite.
    BadOblivious {
        /// Stage index.
        stage: u32,
        /// Split, tree or value concerned, where there is one.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R37: the CTR section of an oblivious stage is inconsistent: a size past the tensor or
    /// above [`crate::limits::MAX_CTR_ENTRIES`], tables that do not tile the elements and
    /// entries, hashes not strictly increasing or the reserved empty hash, a projection
    /// element of the wrong kind, a CTR of unknown type, a target border outside its table,
    /// a prior, shift or scale that is not finite, or a CTR split naming no CTR.
    BadCtr {
        /// Stage index.
        stage: u32,
        /// Table, element, CTR or split concerned, where there is one.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R30: an imputer's fill value is not finite (it would put a NaN or an infinity in the
    /// row it was meant to repair).
    BadImputer {
        /// Stage index.
        stage: u32,
        /// Feature index of the fill value.
        index: u32,
    },
    /// R31: a whitening PCA's divisor (`sqrt(explained_variance_)`) is not finite and
    /// positive.
    BadPca {
        /// Stage index.
        stage: u32,
        /// Component index.
        index: u32,
    },
    /// R32: a support vector machine is inconsistent: class and support-vector counts,
    /// tensor lengths, probabilities on a regressor or only half of them, a non-finite kernel
    /// parameter, coefficient, intercept or Platt parameter.
    BadSvm {
        /// Stage index.
        stage: u32,
        /// Element (class, coefficient, pair) concerned, where there is one.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R33: a Gaussian naive Bayes stage has a variance that is not finite and positive, or
    /// a mean, log prior or normaliser that is not finite.
    BadNaiveBayes {
        /// Stage index.
        stage: u32,
        /// Element index in the offending tensor.
        index: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// R34: a transformer (task `transform`) has an estimator or a post transform, labels, or
    /// `n_outputs` different from its final width.
    BadTransform {
        /// What is wrong.
        reason: &'static str,
    },
    /// R28: the buffer does not start at an 8-byte aligned address, so it cannot be viewed in
    /// place. Copy it once with [`crate::AlignedBuf`] (or use [`crate::ModelBytes::new`]).
    Unaligned {
        /// The buffer's address modulo 8.
        misalignment: usize,
    },
    /// Not a format rule: the writer was given a spec whose string lists or labels do not have
    /// the length their count declares (a file stores only the count, so the reader could
    /// not tell and would read other strings in their place).
    InvalidSpec {
        /// What is wrong.
        reason: &'static str,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FormatError::*;
        match self {
            TooShort { len } => write!(f, "file is {len} bytes, shorter than the 64-byte header"),
            BadMagic { found } => write!(f, "bad magic {found:02x?}: not an .apr file"),
            UnsupportedVersion { major, minor } => {
                write!(f, "unsupported .apr version {major}.{minor} (this reader knows 1.0 and 1.1)")
            }
            ReservedNotZero { offset } => write!(f, "reserved header bytes at offset {offset} are not zero"),
            LengthMismatch { declared, actual } => {
                write!(f, "header declares {declared} bytes but the file has {actual} (truncated or padded)")
            }
            ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            BadSectionCount { count } => write!(f, "bad section count {count}"),
            SectionTableOutOfBounds => write!(f, "section table runs past the end of the file"),
            UnknownSectionKind { index, kind } => write!(f, "section {index} has unknown kind {kind}"),
            BadDtype { index, dtype } => write!(f, "section {index} has bad dtype {dtype}"),
            SectionOffset { index, expected, found } => {
                write!(f, "section {index} starts at {found}, the layout requires {expected}")
            }
            SectionLength { index, length } => write!(f, "section {index} has bad length {length}"),
            BadPadding { offset } => write!(f, "non-zero padding or trailing bytes at offset {offset}"),
            BadSectionRole { index } => write!(f, "section {index} has the wrong role (manifest/string table)"),
            BadStringTable { reason } => write!(f, "malformed string table: {reason}"),
            StringOutOfRange { index } => write!(f, "string index {index} is out of range"),
            TruncatedManifest => write!(f, "manifest ends inside a record"),
            UnknownRecord { tag } => write!(f, "unknown manifest record tag {tag}"),
            RecordOrder { tag } => write!(f, "manifest record tag {tag} is out of order"),
            RecordLength { tag, found } => write!(f, "manifest record {tag} has bad length {found} words"),
            UnknownValue { field, value } => write!(f, "unknown value {value} for {field}"),
            BadDimension { field, value } => write!(f, "bad dimension {field} = {value}"),
            BadTensorRef { stage, section, reason } => {
                write!(f, "stage {stage}: tensor section {section}: {reason}")
            }
            UnreferencedSection { index } => write!(f, "tensor section {index} is referenced by no stage"),
            BadPipeline { stage, reason } => write!(f, "stage {stage}: {reason}"),
            WidthMismatch { stage, expected, found } => {
                write!(f, "stage {stage} takes {found} values but receives {expected}")
            }
            BadOutput { reason } => write!(f, "output schema: {reason}"),
            BadTrees { stage, index, reason } => write!(f, "stage {stage}: trees: {reason} (at index {index})"),
            BadCovers { stage, index, reason } => {
                write!(f, "stage {stage}: trees: node covers: {reason} (at index {index})")
            }
            BadOblivious { stage, index, reason } => {
                write!(f, "stage {stage}: oblivious: {reason} (at index {index})")
            }
            BadCtr { stage, index, reason } => {
                write!(f, "stage {stage}: oblivious: CTR section: {reason} (at index {index})")
            }
            BadImputer { stage, index } => {
                write!(f, "stage {stage}: imputer fill value for feature {index} is not finite")
            }
            BadPca { stage, index } => write!(
                f,
                "stage {stage}: pca whitening divisor of component {index} is not finite and positive"
            ),
            BadSvm { stage, index, reason } => write!(f, "stage {stage}: svm: {reason} (at index {index})"),
            BadNaiveBayes { stage, index, reason } => {
                write!(f, "stage {stage}: gaussian_nb: {reason} (at index {index})")
            }
            BadTransform { reason } => write!(f, "transformer: {reason}"),
            Unaligned { misalignment } => write!(
                f,
                "buffer is not 8-byte aligned (address mod 8 = {misalignment}); copy it into an AlignedBuf"
            ),
            InvalidSpec { reason } => write!(f, "the model spec cannot be written: {reason}"),
        }
    }
}

impl std::error::Error for FormatError {}
