//! The canonicaliser on small graphs built in code.

use super::*;
use crate::onnx::graph::attr_type;
use crate::onnx::proto::{
    tensor_shape_proto::{dimension::Value as DimValue, Dimension},
    type_proto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A `[N, n]` graph input of element type `elem`.
fn input(name: &str, elem: i32, n: i64) -> ValueInfoProto {
    let dim = |v: Option<i64>| Dimension {
        value: v.map(DimValue::DimValue),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(None), dim(Some(n))],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn output(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{op}_{}", outputs.first().copied().unwrap_or("")),
        input: inputs.iter().map(|s| (*s).to_string()).collect(),
        output: outputs.iter().map(|s| (*s).to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::INT,
        i,
        ..Default::default()
    }
}

fn ints_attr(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attr_type::INTS,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn floats_init(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dtype::FLOAT,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn ints_init(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: dtype::INT64,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

fn graph(
    elem: i32,
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    outputs: &[&str],
) -> GraphProto {
    GraphProto {
        node: nodes,
        initializer,
        input: vec![input("x", elem, 3)],
        output: outputs.iter().map(|o| output(o)).collect(),
        ..Default::default()
    }
}

fn canon(g: &GraphProto) -> Canon {
    match canonicalise(g) {
        Ok(c) => c,
        Err(e) => panic!("canonicalise: {e}"),
    }
}

fn ops(c: &Canon) -> Vec<&str> {
    c.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

#[test]
fn identity_is_removed_and_its_readers_read_its_input() {
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Identity", &["x"], &["a"], vec![]),
            node("Identity", &["a"], &["b"], vec![]),
            node("Relu", &["b"], &["y"], vec![]),
        ],
        vec![],
        &["y"],
    );
    let c = canon(&g);
    assert_eq!(ops(&c), ["Relu"]);
    assert_eq!(c.nodes[0].input, ["x"]);
}

#[test]
fn identity_to_a_graph_output_is_kept() {
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Relu", &["x"], &["r"], vec![]),
            node("Identity", &["r"], &["y"], vec![]),
        ],
        vec![],
        &["y"],
    );
    assert_eq!(ops(&canon(&g)), ["Relu", "Identity"]);
}

#[test]
fn identity_with_an_attribute_is_kept() {
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Identity", &["x"], &["a"], vec![int_attr("axis", 1)]),
            node("Relu", &["a"], &["y"], vec![]),
        ],
        vec![],
        &["y"],
    );
    assert_eq!(ops(&canon(&g)), ["Identity", "Relu"]);
}

#[test]
fn cast_to_the_same_type_is_removed() {
    for elem in [dtype::FLOAT, dtype::DOUBLE] {
        let g = graph(
            elem,
            vec![
                node("Cast", &["x"], &["a"], vec![int_attr("to", elem.into())]),
                // A second cast to the type the first produced.
                node("Cast", &["a"], &["b"], vec![int_attr("to", elem.into())]),
                node("Relu", &["b"], &["y"], vec![]),
            ],
            vec![],
            &["y"],
        );
        let c = canon(&g);
        assert_eq!(ops(&c), ["Relu"], "element type {elem}");
        assert_eq!(c.nodes[0].input, ["x"]);
    }
}

#[test]
fn cast_that_changes_the_type_is_kept() {
    // double → float rounds every value; float → double changes the precision downstream.
    for (elem, to) in [(dtype::DOUBLE, dtype::FLOAT), (dtype::FLOAT, dtype::DOUBLE)] {
        let g = graph(
            elem,
            vec![
                node("Cast", &["x"], &["a"], vec![int_attr("to", to.into())]),
                // Now known to be `to`: a cast to `to` again is removed.
                node("Cast", &["a"], &["b"], vec![int_attr("to", to.into())]),
                node("Relu", &["b"], &["y"], vec![]),
            ],
            vec![],
            &["y"],
        );
        let c = canon(&g);
        assert_eq!(ops(&c), ["Cast", "Relu"], "{elem} to {to}");
        assert_eq!(c.nodes[1].input, ["a"]);
    }
}

#[test]
fn cast_of_an_unknown_type_is_kept() {
    // The type of an ArgMax output is not tracked: the cast stays for the recognisers.
    let g = graph(
        dtype::FLOAT,
        vec![
            node("ArgMax", &["x"], &["a"], vec![int_attr("axis", 1)]),
            node(
                "Cast",
                &["a"],
                &["y"],
                vec![int_attr("to", dtype::INT64.into())],
            ),
        ],
        vec![],
        &["y"],
    );
    assert_eq!(ops(&canon(&g)), ["ArgMax", "Cast"]);
}

#[test]
fn constants_are_folded() {
    let value = AttributeProto {
        name: "value".into(),
        r#type: attr_type::TENSOR,
        t: Some(floats_init("", &[], &[0.5])),
        ..Default::default()
    };
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Constant", &[], &["half"], vec![value]),
            node("Sqrt", &["var"], &["sd"], vec![]),
            node("Mul", &["sd", "half"], &["scaled"], vec![]),
            node("Identity", &["sd"], &["sd2"], vec![]),
            node("Neg", &["sd2"], &["neg"], vec![]),
            node(
                "Cast",
                &["ints"],
                &["fl"],
                vec![int_attr("to", dtype::FLOAT.into())],
            ),
            node("Div", &["x", "sd2"], &["y"], vec![]),
        ],
        vec![
            floats_init("var", &[3], &[4.0, 9.0, 2.0]),
            ints_init("ints", &[1, -2]),
        ],
        &["y"],
    );
    let c = canon(&g);
    assert_eq!(ops(&c), ["Div"]);
    assert_eq!(c.nodes[0].input, ["x", "sd2"]);
    let sd = f64::from(2f32.sqrt());
    let floats = |name: &str| c.consts[name].floats().map(<[f64]>::to_vec);
    assert_eq!(floats("sd"), Some(vec![2.0, 3.0, sd]));
    assert_eq!(floats("sd2"), floats("sd"));
    assert_eq!(
        floats("scaled"),
        Some(vec![1.0, 1.5, f64::from((sd * 0.5) as f32)])
    );
    assert_eq!(floats("neg"), Some(vec![-2.0, -3.0, -sd]));
    assert_eq!(floats("half"), Some(vec![0.5]));
    assert_eq!(floats("fl"), Some(vec![1.0, -2.0]));
    assert!(c.consts["fl"].is_f32);
}

#[test]
fn inexact_cast_of_a_constant_is_kept() {
    let g = graph(
        dtype::FLOAT,
        vec![node(
            "Cast",
            &["var"],
            &["y"],
            vec![int_attr("to", dtype::INT64.into())],
        )],
        vec![floats_init("var", &[1], &[1.5])],
        &["y"],
    );
    assert_eq!(ops(&canon(&g)), ["Cast"]);
}

#[test]
fn a_second_producer_is_refused() {
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Relu", &["x"], &["a"], vec![]),
            node("Tanh", &["x"], &["a"], vec![]),
        ],
        vec![],
        &["a"],
    );
    let Err(ConvertError::Invalid(msg)) = canonicalise(&g) else {
        panic!("accepted");
    };
    assert_eq!(msg, "Tanh node \"Tanh_a\": output \"a\" is produced twice");
}

/// Opset 18 (`axes` an input) and opset 13 (`axes` an attribute) give the same node.
#[test]
fn reduce_axes_input_becomes_the_attribute() {
    for op in [
        "ReduceSumSquare",
        "ReduceLogSumExp",
        "ReduceMean",
        "ReduceMax",
        "ReduceSum",
    ] {
        let as_attribute = graph(
            dtype::FLOAT,
            vec![node(
                op,
                &["x"],
                &["y"],
                vec![ints_attr("axes", &[1]), int_attr("keepdims", 1)],
            )],
            vec![],
            &["y"],
        );
        let as_input = graph(
            dtype::FLOAT,
            vec![node(
                op,
                &["x", "axes"],
                &["y"],
                vec![int_attr("keepdims", 1), int_attr("noop_with_empty_axes", 0)],
            )],
            vec![ints_init("axes", &[1])],
            &["y"],
        );
        let (a, b) = (canon(&as_attribute), canon(&as_input));
        assert_eq!(a.nodes, b.nodes, "{op}");
        assert_eq!(b.nodes[0].input, ["x"]);
        assert_eq!(
            b.nodes[0].attribute,
            [ints_attr("axes", &[1]), int_attr("keepdims", 1)]
        );
    }
}

#[test]
fn reduce_axes_from_a_constant_node_and_empty_axes() {
    let value = AttributeProto {
        name: "value".into(),
        r#type: attr_type::TENSOR,
        t: Some(ints_init("", &[-1])),
        ..Default::default()
    };
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Constant", &[], &["ax"], vec![value]),
            node("ReduceSum", &["x", "ax"], &["s"], vec![]),
            // No axes: every axis, in either form.
            node("ReduceSum", &["x", "none"], &["t"], vec![]),
            // An empty list with noop_with_empty_axes = 1 is the identity: left alone.
            node(
                "ReduceSum",
                &["x", "none"],
                &["u"],
                vec![int_attr("noop_with_empty_axes", 1)],
            ),
            // Axes that are not a constant: left alone.
            node("ReduceSum", &["x", "s"], &["v"], vec![]),
        ],
        vec![ints_init("none", &[])],
        &["s", "t", "u", "v"],
    );
    let c = canon(&g);
    assert_eq!(c.nodes[0].input, ["x"]);
    assert_eq!(c.nodes[0].attribute, [ints_attr("axes", &[-1])]);
    assert_eq!(c.nodes[1].input, ["x"]);
    assert!(c.nodes[1].attribute.is_empty());
    assert_eq!(c.nodes[2].input, ["x", "none"]);
    assert_eq!(c.nodes[3].input, ["x", "s"]);
}

#[test]
fn element_types_follow_the_arithmetic_so_same_type_casts_go() {
    // float input: Sub, MatMul keep float; Cast to float is removed, Cast to double kept.
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Sub", &["x", "m"], &["s"], vec![]),
            node("MatMul", &["s", "w"], &["p"], vec![]),
            node("Cast", &["p"], &["c"], vec![int_attr("to", 1)]),
            node("Relu", &["c"], &["r"], vec![]),
            node("Cast", &["r"], &["d"], vec![int_attr("to", 11)]),
            node("Relu", &["d"], &["y"], vec![]),
        ],
        vec![
            floats_init("m", &[3], &[1.0, 2.0, 3.0]),
            floats_init("w", &[3, 1], &[1.0, 2.0, 3.0]),
        ],
        &["y"],
    );
    let c = canon(&g);
    assert_eq!(ops(&c), ["Sub", "MatMul", "Relu", "Cast", "Relu"]);
    assert_eq!(c.nodes[2].input, ["p"]);
    // An ai.onnx.ml Scaler outputs float whatever it reads: a Cast to float after it goes.
    let mut scaler = node("Scaler", &["x"], &["s"], vec![]);
    scaler.domain = "ai.onnx.ml".into();
    let g = graph(
        dtype::DOUBLE,
        vec![
            scaler,
            node("Cast", &["s"], &["c"], vec![int_attr("to", 1)]),
            node("Relu", &["c"], &["y"], vec![]),
        ],
        vec![],
        &["y"],
    );
    assert_eq!(ops(&canon(&g)), ["Scaler", "Relu"]);
}

#[test]
fn multiplying_by_one_is_removed_and_by_two_is_not() {
    let g = graph(
        dtype::FLOAT,
        vec![
            node("Relu", &["x"], &["r"], vec![]),
            node("Mul", &["r", "one"], &["a"], vec![]),
            node("Div", &["a", "one"], &["b"], vec![]),
            node("Mul", &["b", "two"], &["c"], vec![]),
            node("Mul", &["one", "c"], &["y"], vec![]),
        ],
        vec![
            floats_init("one", &[], &[1.0]),
            floats_init("two", &[1], &[2.0]),
        ],
        &["y"],
    );
    let c = canon(&g);
    // The last Mul writes a graph output: it becomes the Identity it is.
    assert_eq!(ops(&c), ["Relu", "Mul", "Identity"]);
    assert_eq!(c.nodes[1].input, ["r", "two"]);
    assert_eq!(c.nodes[2].input, ["c"]);
}
