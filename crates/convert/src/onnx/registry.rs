//! The op registry: each operator name maps to the one handler that reads it. Every family
//! module lists the operators it owns (`OPS`); the arithmetic that several families share
//! (`Add`, `Mul`, `MatMul`, `Reshape`, …) is in [`super::arith`], which asks each family in
//! turn. The glue that only passes values along (`Identity`, `Cast`) is here.

use super::graph::{dtype, Node};
use super::post::Step;
use super::walker::{unsupported, Val, Walker};
use super::{arith, dense, kmeans, linear, nb, post, scalers, svm, trees};
use crate::ConvertError;

/// Reads one node into the walk.
pub(super) type Handler = fn(&mut Walker<'_>, Node<'_>) -> Result<(), ConvertError>;

/// One registered operator.
pub(super) struct Op {
    pub name: &'static str,
    /// Only defined in the `ai.onnx.ml` domain.
    pub ml: bool,
    pub handler: Handler,
}

impl Op {
    /// An operator of the default domain.
    pub const fn std(name: &'static str, handler: Handler) -> Self {
        Op {
            name,
            ml: false,
            handler,
        }
    }

    /// An operator of `ai.onnx.ml`.
    pub const fn ml(name: &'static str, handler: Handler) -> Self {
        Op {
            name,
            ml: true,
            handler,
        }
    }
}

const GLUE: &[Op] = &[
    Op::std("Identity", |w, n| w.identity(n)),
    Op::std("Cast", |w, n| w.cast(n)),
];

/// Every family's operators.
const REGISTRY: &[&[Op]] = &[
    GLUE,
    arith::OPS,
    scalers::OPS,
    linear::OPS,
    dense::OPS,
    trees::OPS,
    svm::OPS,
    kmeans::OPS,
    nb::OPS,
    post::OPS,
];

fn lookup(op: &str) -> Option<&'static Op> {
    REGISTRY
        .iter()
        .flat_map(|ops| ops.iter())
        .find(|o| o.name == op)
}

/// Reads `node` with its registered handler.
pub(super) fn dispatch(w: &mut Walker<'_>, node: Node<'_>) -> Result<(), ConvertError> {
    let d = node.p.domain.as_str();
    if !matches!(d, "" | "ai.onnx" | "ai.onnx.ml") {
        return Err(node.err(format_args!("domain {d:?} is not supported")));
    }
    let Some(op) = lookup(node.op()) else {
        return Err(node.err("this operator is not supported"));
    };
    if d != "ai.onnx.ml" && op.ml {
        w.require_ml(&node)?;
    }
    (op.handler)(w, node)
}

impl Walker<'_> {
    /// An `Identity` the canonicaliser kept (its output is a graph output).
    fn identity(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&[])?;
        let v = self.input(&node, 0)?.clone();
        self.set(&node, 0, v)
    }

    /// A `Cast` the canonicaliser could not prove value-preserving: followed when it does
    /// not change what icebreak computes, refused otherwise.
    fn cast(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["to", "saturate", "round_mode"])?;
        let to = node
            .int("to")?
            .ok_or_else(|| node.err("has no \"to\" attribute"))?;
        let v = self.input(&node, 0)?.clone();
        let v = match v {
            Val::Affine { .. } | Val::ScaleShift { .. } => self.settle(&node, v)?,
            other => other,
        };
        let to = i32::try_from(to).map_err(|_| node.err("bad \"to\""))?;
        let out = match (v, to) {
            (Val::Label, _) => Val::Label,
            (Val::Rows(at), dtype::FLOAT) if self.input_f32 || at > 0 => Val::Rows(at),
            (Val::Rows(at), dtype::DOUBLE) => Val::Rows(at),
            (Val::Rows(_), dtype::FLOAT) => {
                // double → float rounds every feature to f32 before what follows. The linear
                // stages compute in f32 already; trees would have to round too.
                self.input_f32 = true;
                Val::Rows(0)
            }
            (Val::Out(o), dtype::FLOAT | dtype::DOUBLE) => Val::Out(o),
            (Val::Step(Step::RowSum, o), dtype::BOOL) => Val::Step(Step::RowSumBool, o),
            (Val::Step(Step::RowSumZero, o), dtype::FLOAT | dtype::DOUBLE) => {
                Val::Step(Step::ZeroMask, o)
            }
            (other, to) => {
                return Err(unsupported(
                    &node,
                    &format!("a cast to type {to} of {{}}"),
                    &[&other],
                ))
            }
        };
        self.set(&node, 0, out)
    }
}
