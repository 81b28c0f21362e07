//! The `.apr` model container of icebreak.
//!
//! An `.apr` file holds one classic machine-learning model — a pipeline of preprocessors, one
//! estimator and post-processing — with its input and output schemas and its provenance. It is
//! little-endian, every section starts at a multiple of 64 bytes, and a reader views the
//! weights in place as `&[f32]`: opening a model costs time proportional to its *structure*,
//! never to its weights. `docs/FORMAT.md` is the normative specification; each of its MUST
//! rules (R1, R2, ...) has its own [`FormatError`] variant.
//!
//! ```
//! use icebreak_format::*;
//!
//! let spec = ModelSpec {
//!     input: InputSpec { n_features: 2, missing: MissingValues::Reject, feature_names: None },
//!     output: OutputSpec {
//!         task: Task::Regression, n_outputs: 1, labels: LabelsSpec::None, output_names: None,
//!         precision: Precision::F32,
//!     },
//!     provenance: ProvenanceSpec {
//!         model_version: "1".into(), model_name: None, source_format: None,
//!         converter: None, source_sha256: None,
//!     },
//!     stages: vec![StageSpec::Linear {
//!         n_in: 2, n_out: 1, coef: vec![0.5, -1.0], intercept: vec![3.0],
//!     }],
//! };
//! let file = write(&spec)?;                 // an AlignedBuf
//! let apr = Apr::parse_verified(&file)?;    // zero-copy view
//! assert!(matches!(apr.stages()[0], Stage::Linear { coef: [0.5, -1.0], .. }));
//! # Ok::<(), FormatError>(())
//! ```
//!
//! # Alignment
//!
//! Viewing `f32` weights in place needs the buffer to start at an 8-byte aligned address.
//! `include_bytes!` promises no alignment, so embed models with [`include_model!`] (64-byte
//! aligned). A buffer of unknown alignment goes through [`ModelBytes::new`], which borrows it
//! when it is aligned and otherwise makes exactly one copy into an [`AlignedBuf`].
//!
//! # Crate features
//!
//! None. The crate depends only on `bytemuck` (safe casts) and `crc32fast` (the checksum).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(target_endian = "big")]
compile_error!(
    "icebreak-format views little-endian data in place and supports only little-endian targets"
);

mod aligned;
mod error;
mod family;
pub mod limits;
mod model;
mod pipeline;
mod reader;
mod strings;
#[cfg(feature = "testing")]
pub mod testing;
mod verified;
mod writer;

pub use family::oblivious;
pub use family::trees;

pub use aligned::{aligned_static, is_aligned, AlignedBuf, ModelBytes};
pub use error::FormatError;
pub use family::{Activation, Kernel, Norm, PostTransform, Role, Stage, StageSpec, Svm, SvmSpec};
pub use model::{
    InputSchema, InputSpec, Labels, LabelsSpec, MissingValues, ModelSpec, OutputSchema, OutputSpec,
    Precision, Provenance, ProvenanceSpec, Task,
};
pub use oblivious::{Oblivious, ObliviousSpec, ObliviousSplit};
pub use reader::{Apr, Section};
pub use strings::{StrList, StringTable};
pub use trees::{MissingRule, Split, TreeNode, Trees, TreesSpec};
pub use verified::{embed, Attestation, EmbedError, Embedded};
pub use writer::{write, write_to_vec};

/// The four bytes every `.apr` file starts with.
pub const MAGIC: [u8; 4] = *b"APR\0";
/// Major version written and read.
pub const VERSION_MAJOR: u16 = 1;
/// Newest minor version written and read. A reader of 1.1 also reads 1.0 files; the writer
/// writes 1.0 unless the model needs 1.1 (an `f64` output precision, or trees summed in
/// `f32`), so that 1.0 readers keep reading every model they could before.
pub const VERSION_MINOR: u16 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Length of one section-table entry.
pub const SECTION_ENTRY_LEN: usize = 32;
/// Alignment of every section.
pub const ALIGN: u64 = 64;
/// Most sections a file may have.
pub const MAX_SECTIONS: u32 = 1 << 16;
/// Largest dimension (feature count, output count, width) a file may declare.
pub const MAX_DIM: u32 = 1 << 28;
/// The "no string / no section" marker.
pub const NONE: u32 = u32::MAX;
/// Byte range of the checksum field in the header.
pub const CHECKSUM_FIELD: std::ops::Range<usize> = 12..16;

/// What a section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// The manifest: schema, provenance and stages, as u32 words.
    Manifest,
    /// The string table.
    Strings,
    /// A flat array of one dtype.
    Tensor,
}

impl SectionKind {
    pub(crate) fn code(self) -> u32 {
        match self {
            SectionKind::Manifest => 1,
            SectionKind::Strings => 2,
            SectionKind::Tensor => 3,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(SectionKind::Manifest),
            2 => Some(SectionKind::Strings),
            3 => Some(SectionKind::Tensor),
            _ => None,
        }
    }
}

/// Element type of a tensor section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE-754 binary32.
    F32,
    /// Unsigned 32-bit integer.
    U32,
    /// IEEE-754 binary64.
    F64,
    /// Signed 64-bit integer.
    I64,
}

impl Dtype {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::U32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
    pub(crate) fn code(self) -> u32 {
        match self {
            Dtype::F32 => 1,
            Dtype::U32 => 2,
            Dtype::F64 => 3,
            Dtype::I64 => 4,
        }
    }
    pub(crate) fn from_code(v: u32) -> Option<Self> {
        match v {
            1 => Some(Dtype::F32),
            2 => Some(Dtype::U32),
            3 => Some(Dtype::F64),
            4 => Some(Dtype::I64),
            _ => None,
        }
    }
}

/// CRC-32 (IEEE) of a whole file, with the checksum field read as zero (rule R6).
pub fn checksum(file: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    let split = CHECKSUM_FIELD.start.min(file.len());
    h.update(&file[..split]);
    if file.len() >= CHECKSUM_FIELD.end {
        h.update(&[0u8; 4]);
        h.update(&file[CHECKSUM_FIELD.end..]);
    }
    h.finalize()
}

pub(crate) fn le_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn le_u64(b: &[u8], off: usize) -> Option<u64> {
    let s = b.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

pub(crate) fn align64(x: u64) -> Option<u64> {
    Some(x.checked_add(ALIGN - 1)? / ALIGN * ALIGN)
}

/// Embeds a file in the binary at a 64-byte aligned address, as `&'static [u8]`.
///
/// `include_bytes!` guarantees no alignment, and an `.apr` file is viewed in place only from
/// an aligned address. The path is resolved like `include_bytes!`'s.
///
/// ```ignore
/// static MODEL: &[u8] = icebreak_format::include_model!("../models/model.apr");
/// ```
#[macro_export]
macro_rules! include_model {
    ($path:expr $(,)?) => {{
        #[repr(C, align(64))]
        struct __IcebreakAligned<T: ?Sized>(T);
        static __ICEBREAK_MODEL: &__IcebreakAligned<[u8]> =
            &__IcebreakAligned(*include_bytes!($path));
        &__ICEBREAK_MODEL.0
    }};
}
