//! Resource limits: every size that comes from an input (a model being converted, an `.apr`
//! file, an event, a request, a line of `icebreak predict`'s input) is checked against one of
//! these *before* anything is allocated from it.
//!
//! They are far above what real models and requests need and far below what would exhaust a
//! 512 MB Lambda function or a workstation. `docs/SECURITY.md` ("Limits") lists them with how
//! to raise each: the ones marked *(env)* can be raised at run time by the environment
//! variable named in their documentation; the others are constants, raised by changing them
//! here and rebuilding.
//!
//! The `.apr` reader itself accepts every dimension up to [`crate::MAX_DIM`] (a file is
//! structure, viewed in place); what runs a model sizes its buffers from the rows it is
//! given, never from the declared dimensions alone.

/// Most input features a converter writes (ONNX input width, XGBoost and LightGBM feature
/// indices), and the widest intermediate a pipeline stage may have.
pub const MAX_FEATURES: usize = 1 << 20;

/// Most classes of a classifier (and class labels a converter reads).
pub const MAX_CLASSES: usize = 1 << 16;

/// Most outputs (regression targets, scores per row) of a model a converter writes.
pub const MAX_OUTPUTS: usize = 1 << 16;

/// Most nodes of one tree whose size is declared before its arrays are read (LightGBM's
/// `num_leaves`). Trees whose nodes are all in the file are bounded by the file itself.
pub const MAX_NODES: usize = 1 << 26;

/// Most leaf values of an ensemble (leaves × outputs per leaf): the dense leaf table a
/// converter builds, bounded before it is built.
pub const MAX_LEAF_VALUES: usize = 1 << 26;

/// Most bytes of all class labels together.
pub const MAX_LABEL_BYTES: usize = 16 << 20;

/// Most instances in one batch (`{"instances": [...]}`), counted while it is parsed.
pub const MAX_INSTANCES: usize = 100_000;

/// Most bytes of one record (a CSV record or a JSON Lines line) of `icebreak predict`'s
/// input *(env: `ICEBREAK_MAX_LINE_BYTES`)*.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Most bytes of one answer: the Lambda synchronous response limit. A batch whose answer
/// would exceed it is refused with one error before its items are rendered.
pub const MAX_ANSWER_BYTES: usize = 6 * 1024 * 1024;

/// Deepest tree an explanation walks (nodes from the root to a leaf): Tree SHAP keeps a
/// path table of `(d + 1)(d + 2) / 2` entries per row, 530 KB at this depth. XGBoost's
/// `max_depth` defaults to 6 and LightGBM's `num_leaves` to 31; a model with a deeper tree
/// predicts as usual and refuses to explain.
pub const MAX_EXPLAIN_DEPTH: usize = 256;

/// Most reasons (`"explain": {"top": k}`) one explained answer lists; a request asking for
/// more is refused. (The answer lists at most one reason per feature and output.)
pub const MAX_EXPLAIN_TOP: usize = 1000;

/// Most values (outputs × (features + 1)) one explained answer holds; a model whose
/// explanations would hold more refuses to explain.
pub const MAX_EXPLAIN_VALUES: usize = 1 << 20;

/// Most entries (hashes) in the CTR tables of one oblivious stage (R37, CatBoost's
/// categorical target statistics): 2^24, 64 MiB of hashes.
pub const MAX_CTR_ENTRIES: usize = 1 << 24;

/// Checks `value` (a size read from an input) against `max`; the error names `what`.
///
/// ```
/// use icebreak_format::limits::{check, LimitError, MAX_CLASSES};
/// assert!(check("classes", 3, MAX_CLASSES).is_ok());
/// let e = check("classes", 1 << 24, MAX_CLASSES).unwrap_err();
/// assert_eq!(e.to_string(), "classes is 16777216, more than the limit of 65536");
/// ```
pub fn check(what: &'static str, value: usize, max: usize) -> Result<usize, LimitError> {
    if value <= max {
        Ok(value)
    } else {
        Err(LimitError { what, value, max })
    }
}

/// A size read from an input is above its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError {
    /// What was counted.
    pub what: &'static str,
    /// The size found (saturated at `usize::MAX`).
    pub value: usize,
    /// The limit.
    pub max: usize,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {}, more than the limit of {}",
            self.what, self.value, self.max
        )
    }
}

impl std::error::Error for LimitError {}

/// A limit raised by an environment variable: its value when set to a positive integer,
/// otherwise `default`.
pub fn from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&v| v > 0)
        .unwrap_or(default)
}
