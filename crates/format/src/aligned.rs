//! Owned aligned storage for model bytes of unknown alignment.

use std::ops::Deref;

/// An owned byte buffer whose start is 8-byte aligned, so [`crate::Apr::parse`] can view it
/// in place.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    /// Copies `bytes` into a new aligned buffer: the one checked copy that unaligned input
    /// costs.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut buf = Self::zeroed(bytes.len());
        buf.as_mut_slice().copy_from_slice(bytes);
        buf
    }

    /// A zero-filled buffer of `len` bytes.
    pub fn zeroed(len: usize) -> Self {
        AlignedBuf {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// Leaks the buffer, for models that live as long as the process.
    pub fn leak(self) -> &'static [u8] {
        let len = self.len;
        let words: &'static [u64] = self.words.leak();
        &bytemuck::cast_slice(words)[..len]
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .finish()
    }
}

/// Model bytes that can be viewed in place: borrowed when the input is already 8-byte
/// aligned, otherwise copied once into an [`AlignedBuf`].
#[derive(Debug)]
pub enum ModelBytes<'a> {
    /// The input was aligned: no copy.
    Borrowed(&'a [u8]),
    /// The input was not aligned: one copy.
    Copied(AlignedBuf),
}

impl<'a> ModelBytes<'a> {
    /// Borrows `bytes` when aligned, copies them once otherwise.
    pub fn new(bytes: &'a [u8]) -> Self {
        if is_aligned(bytes) {
            ModelBytes::Borrowed(bytes)
        } else {
            ModelBytes::Copied(AlignedBuf::copy_from(bytes))
        }
    }

    /// Whether a copy was made.
    pub fn is_copy(&self) -> bool {
        matches!(self, ModelBytes::Copied(_))
    }

    /// The aligned bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ModelBytes::Borrowed(b) => b,
            ModelBytes::Copied(buf) => buf.as_slice(),
        }
    }
}

/// Whether `bytes` starts at an 8-byte aligned address (rule R28).
pub fn is_aligned(bytes: &[u8]) -> bool {
    bytes.as_ptr() as usize % 8 == 0
}

/// `&'static` model bytes, aligned: `bytes` itself when aligned, otherwise a leaked copy.
pub fn aligned_static(bytes: &'static [u8]) -> &'static [u8] {
    if is_aligned(bytes) {
        bytes
    } else {
        AlignedBuf::copy_from(bytes).leak()
    }
}
