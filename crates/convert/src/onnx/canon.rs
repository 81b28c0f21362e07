//! Canonicalisation: one pass over the nodes, before any recogniser sees them, that removes
//! what does not change the values the graph computes and writes each op in one form.
//!
//! The rules, applied in node order:
//!
//! - **Constants.** Initializers and `Constant` nodes (only the `value` tensor form; in the
//!   default or the `ai.onnx.ml` domain, as before) become constants; the `Constant` nodes
//!   are dropped.
//! - **Constant folding.** A default-domain node without attributes whose inputs are all
//!   constants and whose op is `Identity`, `Sqrt`, `Neg`, `Abs`, `Reciprocal`, `Add`, `Sub`,
//!   `Mul` or `Div` on float tensors (the same element type on both sides, shapes equal or one
//!   side a single element) is evaluated and dropped; a `float` result is rounded to f32, as
//!   onnxruntime computes it in f32 (for these correctly rounded operations, rounding the
//!   f64 result once gives the same value). A `Cast` of a constant is folded when the
//!   conversion is exact or rounds as onnxruntime does: float or double to `float` (rounded
//!   to f32) or `double`, int32/int64 to `float`, `double`, or `int64`, to `int32` when every
//!   value fits, string to string. Other casts of constants are left in place (and refused).
//! - **Identity removal.** An `Identity` (one input, one output, no attributes) is removed
//!   and its readers read its input instead, unless its output is a graph output (the name
//!   must stay; the node is then kept and followed as it is).
//! - **Cast removal.** A `Cast` is value-preserving, and removed like an `Identity`, when its
//!   `to` is the element type its input already has: the input is the graph input, an
//!   initializer, a `Constant`, a folded constant or the output of another `Cast`, whose
//!   element types are known. Nothing else is assumed about types (no inference through
//!   other ops, and the graph's `value_info` is not trusted). A cast that changes the
//!   element type — double to float rounds every value; float to double makes what follows
//!   compute in double — is kept for the recognisers, which follow or refuse it.
//! - **Reduce axes.** `ReduceSum` from opset 13 and every other `Reduce*` from opset 18
//!   take `axes` as an optional second input instead of an attribute. When that input is a
//!   constant list of integers, it becomes the `axes` attribute (no attribute for an empty
//!   list, which then means "all axes" as in the attribute form) and `noop_with_empty_axes`
//!   is dropped (it only matters for an empty list, which is left alone when it is 1). A
//!   `noop_with_empty_axes = 0` (the default) is dropped in every form, and reduce nodes
//!   have their attributes sorted by name, so both opsets give the same node.
//!
//! - **Element types through the arithmetic.** The output of `Add`, `Sub`, `Mul`, `Div`,
//!   `MatMul`, `Gemm`, `Relu`, `Sigmoid`, `Tanh`, `Softmax`, `Sqrt`, `Neg`, `Abs`, `Exp`,
//!   `Reshape` and the reductions has its first input's element type; `ai.onnx.ml`'s
//!   `Scaler` and `Normalizer` output `float`. A `Cast` of such an output to that same type is
//!   removed as above (skl2onnx writes one between a PCA and an MLP).
//! - **Multiplying by one.** `Mul(x, 1)`, `Mul(1, x)` and `Div(x, 1)`, with a one-element
//!   constant 1 of rank at most 1, are removed like an `Identity` (turned into one when the
//!   output is a graph output): onnxmltools writes `Mul(probabilities, one)`.
//!
//! Every output name must be produced once: a second producer is refused here.

use super::graph::{attr_type, dtype, input_type, tensor, Data, Node, Tensor};
use super::proto::{AttributeProto, GraphProto, NodeProto};
use crate::ConvertError;
use std::collections::{HashMap, HashSet};

/// The canonical graph: the nodes left, in order, and every constant by name.
#[derive(Debug, Default)]
pub(crate) struct Canon {
    pub nodes: Vec<NodeProto>,
    pub consts: HashMap<String, Tensor>,
}

/// The reductions whose `axes` moved from attribute to input (opset 13 for `ReduceSum`,
/// 18 for the others).
const REDUCE: &[&str] = &[
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
];

/// Canonicalises `graph` (see the module documentation for the rules).
pub(crate) fn canonicalise(graph: &GraphProto) -> Result<Canon, ConvertError> {
    let mut c = Canon::default();
    // Element types known for certain.
    let mut types: HashMap<String, i32> = HashMap::new();
    let mut produced: HashSet<String> = HashSet::new();
    for t in &graph.initializer {
        let v = tensor(t, &format!("initializer {:?}", t.name))?;
        c.consts.insert(t.name.clone(), v);
        types.insert(t.name.clone(), t.data_type);
        produced.insert(t.name.clone());
    }
    for i in &graph.input {
        if let Some((elem, _)) = input_type(i) {
            types.entry(i.name.clone()).or_insert(elem);
        }
        produced.insert(i.name.clone());
    }
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    // Outputs of removed nodes, renamed to what they equal.
    let mut alias: HashMap<String, String> = HashMap::new();
    for p in &graph.node {
        let mut n = p.clone();
        for x in &mut n.input {
            if let Some(a) = alias.get(x) {
                x.clone_from(a);
            }
        }
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if !produced.insert(o.clone()) {
                return Err(Node { p: &n }.err(format_args!("output {o:?} is produced twice")));
            }
        }
        // `Constant` is read in any domain the importer reads, as the walk always did.
        if matches!(n.domain.as_str(), "" | "ai.onnx" | "ai.onnx.ml") && n.op_type == "Constant" {
            let node = Node { p: &n };
            node.arity(0..=0, 1)?;
            node.only(&["value"])?;
            let t = node
                .tensor("value")?
                .ok_or_else(|| node.err("only the tensor form (value) is supported"))?;
            if let Some(o) = n.output.first().filter(|o| !o.is_empty()) {
                if let Some(ty) = n.attribute.first().and_then(|a| a.t.as_ref()) {
                    types.insert(o.clone(), ty.data_type);
                }
                c.consts.insert(o.clone(), t);
            }
            continue;
        }
        if matches!(n.domain.as_str(), "" | "ai.onnx") {
            if let Some((x, y)) = passthrough(&n, &types) {
                if let Some(t) = c.consts.get(&x).cloned() {
                    if let Some(ty) = types.get(&x).copied() {
                        types.insert(y.clone(), ty);
                    }
                    c.consts.insert(y, t);
                    continue;
                }
                if !outputs.contains(y.as_str()) && produced.contains(&x) {
                    if let Some(ty) = types.get(&x).copied() {
                        types.insert(y.clone(), ty);
                    }
                    alias.insert(y, x);
                    continue;
                }
            }
            if let Some((y, t, ty)) = fold(&n, &c.consts) {
                if let Some(ty) = ty {
                    types.insert(y.clone(), ty);
                }
                c.consts.insert(y, t);
                continue;
            }
            if n.op_type == "Cast" {
                if let (Some(y), Some(to)) = (single_output(&n), cast_to(&n)) {
                    types.insert(y, to);
                }
            }
            if let Some(x) = unit_factor(&n, &c.consts) {
                if let Some(y) = single_output(&n) {
                    if let Some(ty) = types.get(&x).copied() {
                        types.insert(y.clone(), ty);
                    }
                    if outputs.contains(y.as_str()) {
                        // The name must stay: the node becomes the Identity it is.
                        n.op_type = "Identity".into();
                        n.input = vec![x];
                        c.nodes.push(n);
                    } else {
                        alias.insert(y, x);
                    }
                    continue;
                }
            }
            if REDUCE.contains(&n.op_type.as_str()) {
                axes_to_attribute(&mut n, &c.consts);
            }
        }
        propagate_type(&n, &mut types);
        c.nodes.push(n);
    }
    Ok(c)
}

/// The ops whose output has the element type of their first input.
const SAME_TYPE: &[&str] = &[
    "Abs",
    "Add",
    "Div",
    "Exp",
    "Gemm",
    "MatMul",
    "Mul",
    "Neg",
    "Relu",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Sqrt",
    "Sub",
    "Tanh",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceLogSumExp",
];

/// Records the element type of a node's output where the op fixes it: the same as the first
/// input for the arithmetic of [`SAME_TYPE`], `float` for `ai.onnx.ml`'s `Scaler` and
/// `Normalizer` (their only output type).
fn propagate_type(n: &NodeProto, types: &mut HashMap<String, i32>) {
    let Some(y) = n.output.first().filter(|y| !y.is_empty()) else {
        return;
    };
    let ty = match (n.domain.as_str(), n.op_type.as_str()) {
        ("" | "ai.onnx", op) if SAME_TYPE.contains(&op) => {
            n.input.first().and_then(|x| types.get(x)).copied()
        }
        ("ai.onnx.ml", "Scaler" | "Normalizer") => Some(dtype::FLOAT),
        _ => None,
    };
    if let Some(ty) = ty {
        types.insert(y.clone(), ty);
    }
}

/// The input `x` of `Mul(x, 1)` or `Mul(1, x)` (onnxmltools writes one after its tree
/// ensembles) or `Div(x, 1)`: a one-element constant of rank at most 1 equal to 1 changes
/// neither the values nor the shape of a feature or score tensor.
fn unit_factor(n: &NodeProto, consts: &HashMap<String, Tensor>) -> Option<String> {
    if !n.attribute.is_empty() || single_output(n).is_none() {
        return None;
    }
    let one = |c: &str| {
        consts
            .get(c)
            .is_some_and(|t| t.dims.len() <= 1 && t.scalar() == Some(1.0))
    };
    match (n.op_type.as_str(), n.input.as_slice()) {
        ("Mul", [a, b]) if one(b) && !consts.contains_key(a) => Some(a.clone()),
        ("Mul", [a, b]) if one(a) && !consts.contains_key(b) => Some(b.clone()),
        ("Div", [a, b]) if one(b) && !consts.contains_key(a) => Some(a.clone()),
        _ => None,
    }
}

fn single_output(n: &NodeProto) -> Option<String> {
    match n.output.as_slice() {
        [y] if !y.is_empty() => Some(y.clone()),
        _ => None,
    }
}

fn single_input(n: &NodeProto) -> Option<String> {
    match n.input.as_slice() {
        [x] if !x.is_empty() => Some(x.clone()),
        _ => None,
    }
}

/// A `Cast`'s `to`, when `to` is its only attribute and well formed.
fn cast_to(n: &NodeProto) -> Option<i32> {
    match n.attribute.as_slice() {
        [a] if a.name == "to" && (a.r#type == attr_type::INT || a.r#type == 0) => {
            i32::try_from(a.i).ok()
        }
        _ => None,
    }
}

/// `(input, output)` of a node whose output equals its input: an `Identity`, or a `Cast` to
/// the element type its input is known to have.
fn passthrough(n: &NodeProto, types: &HashMap<String, i32>) -> Option<(String, String)> {
    let (x, y) = (single_input(n)?, single_output(n)?);
    let same = match n.op_type.as_str() {
        "Identity" => n.attribute.is_empty(),
        "Cast" => types.get(&x) == Some(&cast_to(n)?),
        _ => false,
    };
    same.then_some((x, y))
}

/// Evaluates a node whose inputs are all constants: `(output, value, element type)`.
fn fold(n: &NodeProto, consts: &HashMap<String, Tensor>) -> Option<(String, Tensor, Option<i32>)> {
    let y = single_output(n)?;
    let ins: Vec<&Tensor> = n
        .input
        .iter()
        .map(|x| consts.get(x))
        .collect::<Option<_>>()?;
    if n.op_type == "Cast" {
        let to = cast_to(n)?;
        let [t] = ins.as_slice() else { return None };
        return cast_const(t, to).map(|t| (y, t, Some(to)));
    }
    if !n.attribute.is_empty() {
        return None;
    }
    let t = match (n.op_type.as_str(), ins.as_slice()) {
        ("Sqrt", [a]) => unary(a, f64::sqrt)?,
        ("Neg", [a]) => unary(a, |x| -x)?,
        ("Abs", [a]) => unary(a, f64::abs)?,
        ("Reciprocal", [a]) => unary(a, |x| 1.0 / x)?,
        ("Add", [a, b]) => binary(a, b, |p, q| p + q)?,
        ("Sub", [a, b]) => binary(a, b, |p, q| p - q)?,
        ("Mul", [a, b]) => binary(a, b, |p, q| p * q)?,
        ("Div", [a, b]) => binary(a, b, |p, q| p / q)?,
        _ => return None,
    };
    let ty = if t.is_f32 {
        dtype::FLOAT
    } else {
        dtype::DOUBLE
    };
    Some((y, t, Some(ty)))
}

/// Rounds to f32 when the tensor is `float`.
fn round(x: f64, is_f32: bool) -> f64 {
    if is_f32 {
        f64::from(x as f32)
    } else {
        x
    }
}

fn unary(a: &Tensor, f: impl Fn(f64) -> f64) -> Option<Tensor> {
    let v = a.floats()?;
    Some(Tensor {
        dims: a.dims.clone(),
        data: Data::Float(v.iter().map(|&x| round(f(x), a.is_f32)).collect()),
        is_f32: a.is_f32,
    })
}

fn binary(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Option<Tensor> {
    let (x, y) = (a.floats()?, b.floats()?);
    if a.is_f32 != b.is_f32 {
        return None;
    }
    // One element broadcasts over a tensor of at least its rank.
    let single = |t: &Tensor, over: &Tensor| t.len() == 1 && t.dims.len() <= over.dims.len();
    let dims = if a.dims == b.dims || single(b, a) {
        a.dims.clone()
    } else if single(a, b) {
        b.dims.clone()
    } else {
        return None;
    };
    let len = x.len().max(y.len());
    let at = |v: &[f64], i: usize| if v.len() == 1 { v[0] } else { v[i] };
    Some(Tensor {
        dims,
        data: Data::Float(
            (0..len)
                .map(|i| round(f(at(x, i), at(y, i)), a.is_f32))
                .collect(),
        ),
        is_f32: a.is_f32,
    })
}

/// A constant cast to `to`, when the conversion is exact or rounds as onnxruntime does.
fn cast_const(t: &Tensor, to: i32) -> Option<Tensor> {
    let data = match (&t.data, to) {
        (Data::Float(v), dtype::FLOAT) => Data::Float(v.iter().map(|&x| round(x, true)).collect()),
        (Data::Float(v), dtype::DOUBLE) => Data::Float(v.clone()),
        (Data::Int(v), dtype::FLOAT) => {
            Data::Float(v.iter().map(|&x| f64::from(x as f32)).collect())
        }
        (Data::Int(v), dtype::DOUBLE) => Data::Float(v.iter().map(|&x| x as f64).collect()),
        (Data::Int(v), dtype::INT64) => Data::Int(v.clone()),
        (Data::Int(v), dtype::INT32) if v.iter().all(|&x| i32::try_from(x).is_ok()) => {
            Data::Int(v.clone())
        }
        (Data::Str(v), dtype::STRING) => Data::Str(v.clone()),
        _ => return None,
    };
    Some(Tensor {
        dims: t.dims.clone(),
        data,
        is_f32: to == dtype::FLOAT,
    })
}

/// Moves a constant `axes` input of a reduction into the `axes` attribute, then sorts the
/// attributes by name.
fn axes_to_attribute(n: &mut NodeProto, consts: &HashMap<String, Tensor>) {
    let from_input = match n.input.as_slice() {
        [_, a] if !a.is_empty() => Some(a.clone()),
        _ => None,
    };
    if let Some(a) = from_input {
        let has_attr = n.attribute.iter().any(|x| x.name == "axes");
        let noop = n
            .attribute
            .iter()
            .find(|x| x.name == "noop_with_empty_axes")
            .map(|x| (x.r#type == attr_type::INT || x.r#type == 0).then_some(x.i));
        if let (
            false,
            Some(Tensor {
                data: Data::Int(axes),
                ..
            }),
        ) = (has_attr, consts.get(&a))
        {
            let noop_ok = match noop {
                None | Some(Some(0)) => true,
                Some(Some(_)) => !axes.is_empty(),
                Some(None) => false,
            };
            if noop_ok {
                let axes = axes.clone();
                n.input.truncate(1);
                n.attribute.retain(|x| x.name != "noop_with_empty_axes");
                if !axes.is_empty() {
                    n.attribute.push(AttributeProto {
                        name: "axes".into(),
                        r#type: attr_type::INTS,
                        ints: axes,
                        ..Default::default()
                    });
                }
            }
        }
    }
    // `noop_with_empty_axes = 0` is the default, in every form.
    n.attribute.retain(|x| {
        !(x.name == "noop_with_empty_axes"
            && (x.r#type == attr_type::INT || x.r#type == 0)
            && x.i == 0)
    });
    n.attribute.sort_by(|a, b| a.name.cmp(&b.name));
}

#[cfg(test)]
#[path = "canon_tests.rs"]
mod tests;
