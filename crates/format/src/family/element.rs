//! The element type of the stage kinds that come as an `f32` and an `f64` twin (`linear` and
//! `linear_f64`, `pca` and `pca_f64`, ...): the twins share one record layout, one reader and
//! one writer, generic over [`Element`]; only the stage variant they fill differs.

use crate::error::FormatError;
use crate::reader::{Parser, Words};
use crate::writer::Tensors;
use crate::Dtype;

mod sealed {
    /// Only `f32` and `f64` are element types.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// `f32` or `f64`: the dtype of a twin stage's weight tensors, how the reader views them and
/// how the writer queues them.
pub(crate) trait Element: sealed::Sealed + bytemuck::Pod + PartialOrd {
    /// The tensors' dtype.
    const DTYPE: Dtype;
    /// The reason R23 gives for a section of another dtype (the f32 kinds have always named
    /// theirs).
    const WRONG_DTYPE: &'static str;
    /// Zero.
    const ZERO: Self;

    /// Neither NaN nor an infinity.
    fn is_finite(self) -> bool;
    /// An infinity of either sign.
    fn is_infinite(self) -> bool;
    /// A value stored in the record itself (an imputer's marker): its bits, in one word (f32)
    /// or two, low word first (f64).
    fn read_word(w: &mut Words<'_>) -> Result<Self, FormatError>;
    /// The words [`Element::read_word`] reads back, appended to `words`.
    fn push_words(self, words: &mut Vec<u32>);
    /// R23: a reference to a tensor of this dtype with exactly `count` elements.
    fn tensor<'a>(
        p: &mut Parser<'a>,
        stage: u32,
        section: u32,
        count: u64,
    ) -> Result<&'a [Self], FormatError> {
        p.tensor_ref(stage, section, Self::DTYPE, Some(count), Self::WRONG_DTYPE)
    }

    /// Queues a tensor of this dtype; returns its section index.
    fn queue(tensors: &mut Tensors, values: &[Self]) -> u32 {
        tensors.pod(Self::DTYPE, values)
    }
}

impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
    const WRONG_DTYPE: &'static str = "dtype is not f32";
    const ZERO: Self = 0.0;
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn is_infinite(self) -> bool {
        f32::is_infinite(self)
    }
    fn read_word(w: &mut Words<'_>) -> Result<Self, FormatError> {
        Ok(f32::from_bits(w.next()?))
    }
    fn push_words(self, words: &mut Vec<u32>) {
        words.push(self.to_bits());
    }
}

impl Element for f64 {
    const DTYPE: Dtype = Dtype::F64;
    const WRONG_DTYPE: &'static str = "wrong dtype";
    const ZERO: Self = 0.0;
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn is_infinite(self) -> bool {
        f64::is_infinite(self)
    }
    fn read_word(w: &mut Words<'_>) -> Result<Self, FormatError> {
        Ok(f64::from_bits(
            u64::from(w.next()?) | (u64::from(w.next()?) << 32),
        ))
    }
    fn push_words(self, words: &mut Vec<u32>) {
        let bits = self.to_bits();
        words.extend([bits as u32, (bits >> 32) as u32]);
    }
}
