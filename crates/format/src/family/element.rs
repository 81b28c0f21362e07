//! The element type of the stage kinds that come as an `f32` and an `f64` twin (`linear` and
//! `linear_f64`, `pca` and `pca_f64`, ...): the twins share one record layout, one reader and
//! one writer, generic over [`Element`]; only the stage variant they fill differs.

use crate::error::FormatError;
use crate::reader::Parser;
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
pub(crate) trait Element: sealed::Sealed + bytemuck::Pod {
    /// The tensors' dtype.
    const DTYPE: Dtype;
    /// The reason R23 gives for a section of another dtype (the f32 kinds have always named
    /// theirs).
    const WRONG_DTYPE: &'static str;
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
}

impl Element for f64 {
    const DTYPE: Dtype = Dtype::F64;
    const WRONG_DTYPE: &'static str = "wrong dtype";
}
