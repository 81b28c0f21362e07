//! The ONNX canonicaliser seen from outside: graphs that differ only in what it removes or
//! normalises (the opset 18 form of `Reduce*` axes, `Identity`, a `Cast` to the type a
//! tensor already has) convert to the same model as the fixture they were made from.

use crate::onnx_errors::{fixture, model, node};
use crate::proto;
use icebreak_convert::onnx::convert;
use icebreak_format::ModelSpec;
use prost::Message;

/// The spec without what depends on the source bytes (their hash and the default version).
fn converted(m: &proto::ModelProto) -> ModelSpec {
    let mut spec = convert(&m.encode_to_vec()).unwrap();
    spec.provenance.source_sha256 = None;
    spec.provenance.model_version.clear();
    spec
}

fn original(name: &str) -> ModelSpec {
    converted(&model(name))
}

fn graph(m: &mut proto::ModelProto) -> &mut proto::GraphProto {
    m.graph.as_mut().unwrap()
}

/// Rewrites `op`'s `axes` attribute as the opset 18 input, and imports opset 18.
fn axes_as_input(m: &mut proto::ModelProto, op: &str) {
    let n = node(m, op);
    let i = n.attribute.iter().position(|a| a.name == "axes").unwrap();
    let axes = n.attribute.remove(i).ints;
    let name = format!("{}_axes", n.name);
    n.input.push(name.clone());
    graph(m).initializer.push(proto::TensorProto {
        name,
        dims: vec![axes.len() as i64],
        data_type: 7,
        int64_data: axes,
        ..Default::default()
    });
    for o in &mut m.opset_import {
        if o.domain.is_empty() || o.domain == "ai.onnx" {
            o.version = 18;
        }
    }
}

#[test]
fn fixtures_converted_here_are_the_originals() {
    // The fixtures convert before any edit: the other tests compare against them.
    for name in ["kmeans", "gaussian_nb", "linear_regression"] {
        convert(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn reduce_axes_as_an_input_convert_like_the_attribute() {
    let mut m = model("kmeans");
    axes_as_input(&mut m, "ReduceSumSquare");
    assert_eq!(converted(&m), original("kmeans"));

    let mut m = model("gaussian_nb");
    axes_as_input(&mut m, "ReduceLogSumExp");
    assert_eq!(converted(&m), original("gaussian_nb"));
}

#[test]
fn identity_and_same_type_casts_are_followed() {
    let mut m = model("linear_regression");
    let g = graph(&mut m);
    let x = g.input[0].name.clone();
    // input → Identity → Cast(float) → Identity → what read the input.
    for n in &mut g.node {
        for i in &mut n.input {
            if *i == x {
                *i = "x3".into();
            }
        }
    }
    let step =
        |op: &str, from: &str, to: &str, attribute: Vec<proto::AttributeProto>| proto::NodeProto {
            op_type: op.into(),
            name: to.into(),
            input: vec![from.into()],
            output: vec![to.into()],
            attribute,
            ..Default::default()
        };
    let to_float = proto::AttributeProto {
        name: "to".into(),
        r#type: 2,
        i: 1,
        ..Default::default()
    };
    let glue = [
        step("Identity", &x, "x1", vec![]),
        step("Cast", "x1", "x2", vec![to_float]),
        step("Identity", "x2", "x3", vec![]),
    ];
    g.node.splice(0..0, glue);
    assert_eq!(converted(&m), original("linear_regression"));
}

#[test]
fn an_identity_to_the_output_is_kept_and_followed() {
    let mut m = model("linear_regression");
    let g = graph(&mut m);
    let out = g.output[0].name.clone();
    for n in &mut g.node {
        for o in &mut n.output {
            if *o == out {
                *o = "before_output".into();
            }
        }
    }
    g.node.push(proto::NodeProto {
        op_type: "Identity".into(),
        name: "to_output".into(),
        input: vec!["before_output".into()],
        output: vec![out],
        ..Default::default()
    });
    assert_eq!(converted(&m), original("linear_regression"));
}
