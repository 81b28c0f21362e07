//! Reading the parts of an ONNX graph the importer needs: constant tensors (initializers and
//! `Constant` nodes) and node attributes, each checked before use.

use super::proto::{self, AttributeProto, NodeProto, TensorProto};
use crate::ConvertError;

/// Largest number of elements a constant tensor may declare (guards the allocation).
const MAX_ELEMENTS: u64 = 1 << 28;

pub(crate) fn invalid(msg: impl Into<String>) -> ConvertError {
    ConvertError::Invalid(msg.into())
}

/// ONNX `TensorProto.DataType` codes that the importer reads.
pub(crate) mod dtype {
    pub const FLOAT: i32 = 1;
    pub const INT32: i32 = 6;
    pub const STRING: i32 = 8;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
    pub const DOUBLE: i32 = 11;
}

/// A constant tensor's values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Data {
    /// `float` or `double` (floats widened exactly).
    Float(Vec<f64>),
    /// `int32` or `int64`.
    Int(Vec<i64>),
    /// `string`.
    Str(Vec<String>),
}

/// A constant tensor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub dims: Vec<usize>,
    pub data: Data,
    /// Whether the values were stored as `float` (f32) rather than `double`.
    pub is_f32: bool,
}

impl Tensor {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::Float(v) => v.len(),
            Data::Int(v) => v.len(),
            Data::Str(v) => v.len(),
        }
    }

    pub fn floats(&self) -> Option<&[f64]> {
        match &self.data {
            Data::Float(v) => Some(v),
            _ => None,
        }
    }

    /// The single value of a scalar (or one-element) float tensor.
    pub fn scalar(&self) -> Option<f64> {
        match self.floats() {
            Some([v]) => Some(*v),
            _ => None,
        }
    }
}

fn element_count(dims: &[usize]) -> Option<u64> {
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// Reads a `TensorProto` into values, checking that the stored data matches its dims.
pub(crate) fn tensor(t: &TensorProto, what: &str) -> Result<Tensor, ConvertError> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(invalid(format!(
            "{what}: tensor {:?} keeps its data in an external file, which is not supported",
            t.name
        )));
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| {
            invalid(format!(
                "{what}: tensor {:?} has a negative dimension {:?}",
                t.name, t.dims
            ))
        })?;
    let n = element_count(&dims)
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| {
            invalid(format!(
                "{what}: tensor {:?} has too many elements ({:?})",
                t.name, t.dims
            ))
        })? as usize;
    let mismatch = |found: usize| {
        invalid(format!(
            "{what}: tensor {:?} has dims {:?} ({n} elements) but holds {found} values",
            t.name, t.dims
        ))
    };
    let raw = |size: usize| -> Result<Option<&[u8]>, ConvertError> {
        if t.raw_data.is_empty() {
            return Ok(None);
        }
        if t.raw_data.len() != n.saturating_mul(size) {
            return Err(mismatch(t.raw_data.len() / size));
        }
        Ok(Some(&t.raw_data))
    };
    let (data, is_f32) = match t.data_type {
        dtype::FLOAT => {
            let v: Vec<f64> = match raw(4)? {
                Some(b) => b
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
                None => t.float_data.iter().map(|&f| f64::from(f)).collect(),
            };
            (Data::Float(v), true)
        }
        dtype::DOUBLE => {
            let v: Vec<f64> = match raw(8)? {
                Some(b) => b
                    .chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        f64::from_le_bytes(a)
                    })
                    .collect(),
                None => t.double_data.clone(),
            };
            (Data::Float(v), false)
        }
        dtype::INT64 => {
            let v: Vec<i64> = match raw(8)? {
                Some(b) => b
                    .chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        i64::from_le_bytes(a)
                    })
                    .collect(),
                None => t.int64_data.clone(),
            };
            (Data::Int(v), false)
        }
        dtype::INT32 => {
            let v: Vec<i64> = match raw(4)? {
                Some(b) => b
                    .chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                    .collect(),
                None => t.int32_data.iter().map(|&i| i64::from(i)).collect(),
            };
            (Data::Int(v), false)
        }
        dtype::STRING => {
            let v = t
                .string_data
                .iter()
                .map(|s| String::from_utf8(s.clone()))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| {
                    invalid(format!(
                        "{what}: tensor {:?} holds a string that is not UTF-8",
                        t.name
                    ))
                })?;
            (Data::Str(v), false)
        }
        other => {
            return Err(invalid(format!(
                "{what}: tensor {:?} has data type {other}, which is not supported (float, \
                 double, int32, int64 and string are)",
                t.name
            )))
        }
    };
    let tensor = Tensor { dims, data, is_f32 };
    if tensor.len() != n {
        return Err(mismatch(tensor.len()));
    }
    Ok(tensor)
}

/// ONNX `AttributeProto.AttributeType` codes.
pub(crate) mod attr_type {
    pub const FLOAT: i32 = 1;
    pub const INT: i32 = 2;
    pub const STRING: i32 = 3;
    pub const TENSOR: i32 = 4;
    pub const FLOATS: i32 = 6;
    pub const INTS: i32 = 7;
    pub const STRINGS: i32 = 8;
}

/// A node with checked attribute access. Every error names the op type and the node.
pub(crate) struct Node<'a> {
    pub p: &'a NodeProto,
}

impl<'a> Node<'a> {
    pub fn op(&self) -> &'a str {
        &self.p.op_type
    }

    /// `"LinearClassifier node \"name\""`, as errors say it.
    pub fn at(&self) -> String {
        format!("{} node {:?}", self.p.op_type, self.p.name)
    }

    pub fn err(&self, msg: impl std::fmt::Display) -> ConvertError {
        invalid(format!("{}: {msg}", self.at()))
    }

    /// Refuses any attribute not in `known`: an attribute the importer does not read could
    /// change the answer.
    pub fn only(&self, known: &[&str]) -> Result<(), ConvertError> {
        for a in &self.p.attribute {
            if !known.contains(&a.name.as_str()) {
                return Err(self.err(format_args!(
                    "attribute {:?} is not supported (the importer reads {})",
                    a.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }

    fn get(&self, name: &str, ty: i32) -> Result<Option<&'a AttributeProto>, ConvertError> {
        let mut found = None;
        for a in &self.p.attribute {
            if a.name == name {
                if found.is_some() {
                    return Err(self.err(format_args!("attribute {name:?} appears twice")));
                }
                // `type` is required by the spec; writers that leave it 0 get the benefit
                // of the doubt when the right field is filled.
                if a.r#type != ty && a.r#type != 0 {
                    return Err(self.err(format_args!(
                        "attribute {name:?} has type {}, expected {ty}",
                        a.r#type
                    )));
                }
                found = Some(a);
            }
        }
        Ok(found)
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ConvertError> {
        Ok(self.get(name, attr_type::INT)?.map(|a| a.i))
    }

    pub fn float(&self, name: &str) -> Result<Option<f32>, ConvertError> {
        Ok(self.get(name, attr_type::FLOAT)?.map(|a| a.f))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, ConvertError> {
        match self.get(name, attr_type::STRING)? {
            None => Ok(None),
            Some(a) => String::from_utf8(a.s.clone())
                .map(Some)
                .map_err(|_| self.err(format_args!("attribute {name:?} is not UTF-8"))),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, ConvertError> {
        Ok(self.get(name, attr_type::INTS)?.map(|a| a.ints.as_slice()))
    }

    pub fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, ConvertError> {
        Ok(self
            .get(name, attr_type::FLOATS)?
            .map(|a| a.floats.as_slice()))
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ConvertError> {
        match self.get(name, attr_type::STRINGS)? {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| String::from_utf8(s.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
                .map_err(|_| self.err(format_args!("attribute {name:?} holds non-UTF-8 text"))),
        }
    }

    pub fn tensor(&self, name: &str) -> Result<Option<Tensor>, ConvertError> {
        match self.get(name, attr_type::TENSOR)? {
            None => Ok(None),
            Some(a) => {
                let t = a
                    .t
                    .as_ref()
                    .ok_or_else(|| self.err(format_args!("attribute {name:?} has no tensor")))?;
                tensor(t, &format!("{} attribute {name:?}", self.at())).map(Some)
            }
        }
    }

    /// Float values given either as `name` (floats) or `name_as_tensor` (a float or double
    /// tensor), as the ai.onnx.ml tree operators allow. Not both.
    pub fn floats_or_tensor(&self, name: &str) -> Result<Option<Vec<f64>>, ConvertError> {
        let plain = self.floats(name)?;
        let tensor_name = format!("{name}_as_tensor");
        let t = self.tensor(&tensor_name)?;
        match (plain, t) {
            (Some(_), Some(_)) => {
                Err(self.err(format_args!("both {name:?} and {tensor_name:?} are given")))
            }
            (Some(p), None) => Ok(Some(p.iter().map(|&f| f64::from(f)).collect())),
            (None, Some(t)) => match t.data {
                Data::Float(v) => Ok(Some(v)),
                _ => Err(self.err(format_args!("{tensor_name:?} is not a float tensor"))),
            },
            (None, None) => Ok(None),
        }
    }

    /// The number of inputs, which must lie in `range`.
    pub fn arity(
        &self,
        inputs: std::ops::RangeInclusive<usize>,
        outputs: usize,
    ) -> Result<(), ConvertError> {
        let n_in = self
            .p
            .input
            .iter()
            .rposition(|s| !s.is_empty())
            .map_or(0, |i| i + 1);
        if !inputs.contains(&n_in) {
            return Err(self.err(format_args!(
                "has {n_in} inputs, expected {} to {}",
                inputs.start(),
                inputs.end()
            )));
        }
        if self.p.output.len() > outputs {
            return Err(self.err(format_args!(
                "has {} outputs, expected at most {outputs}",
                self.p.output.len()
            )));
        }
        Ok(())
    }
}

/// The element type and the shape (known dims, `None` for symbolic ones) of a graph input.
pub(crate) fn input_type(v: &proto::ValueInfoProto) -> Option<(i32, Vec<Option<i64>>)> {
    use proto::tensor_shape_proto::dimension::Value as Dim;
    use proto::type_proto::Value;
    let Some(Value::TensorType(t)) = v.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    let dims = t
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(Dim::DimValue(v)) => Some(v),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some((t.elem_type, dims))
}
