//! The ONNX importer on bad input: truncated or corrupt protobuf, unsupported operators,
//! inconsistent attributes, broken trees, non-finite weights. Every case is a clear
//! [`ConvertError::Invalid`] naming what is wrong (the op type and node, and the attribute),
//! never a panic and never a wrong model.

// Test helpers unwrap freely: a broken test model should fail the test loudly.
#![allow(clippy::unwrap_used)]

use crate::common::fixture_dir;
use crate::proto;
use icebreak_convert::onnx::convert;
use icebreak_convert::ConvertError;
use prost::Message;

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir("sklearn").join(name).join("model.onnx");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub(crate) fn model(name: &str) -> proto::ModelProto {
    proto::ModelProto::decode(fixture(name).as_slice()).unwrap()
}

fn invalid_bytes(b: &[u8]) -> String {
    match convert(b) {
        Err(ConvertError::Invalid(msg)) => msg,
        other => panic!("expected ConvertError::Invalid, got {other:?}"),
    }
}

fn invalid(m: &proto::ModelProto) -> String {
    invalid_bytes(&m.encode_to_vec())
}

pub(crate) fn node<'a>(m: &'a mut proto::ModelProto, op: &str) -> &'a mut proto::NodeProto {
    m.graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type == op)
        .unwrap_or_else(|| panic!("no {op} node"))
}

fn attr<'a>(n: &'a mut proto::NodeProto, name: &str) -> &'a mut proto::AttributeProto {
    n.attribute
        .iter_mut()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no attribute {name}"))
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} does not mention {p:?}");
    }
}

#[test]
fn fixtures_used_here_convert() {
    for name in [
        "decision_tree_classifier",
        "logreg_multinomial",
        "linear_regression",
    ] {
        convert(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Protobuf cannot tell a file cut at a field boundary from a shorter valid one: a prefix
/// that still converts must give exactly the full model (it lost only fields that do not
/// change predictions, such as trailing metadata); every other prefix is refused.
#[test]
fn every_truncation_is_refused_or_harmless() {
    for name in ["linear_regression", "decision_tree_classifier", "sgd_log"] {
        let bytes = fixture(name);
        let mut full = convert(&bytes).unwrap();
        let mut refused = 0;
        for len in 0..bytes.len() {
            match convert(&bytes[..len]) {
                Err(ConvertError::Invalid(_)) => refused += 1,
                Err(other) => panic!("{name}, prefix of {len} bytes: {other:?}"),
                Ok(mut spec) => {
                    spec.provenance.source_sha256 = None;
                    spec.provenance.model_version.clear();
                    full.provenance.source_sha256 = None;
                    full.provenance.model_version.clear();
                    assert_eq!(
                        spec, full,
                        "{name}: prefix of {len} bytes converts differently"
                    );
                }
            }
        }
        assert!(
            refused > bytes.len() * 9 / 10,
            "{name}: {refused} of {} refused",
            bytes.len()
        );
    }
    let bytes = fixture("linear_regression");
    let msg = invalid_bytes(&bytes[..bytes.len() / 2]);
    assert_has(&msg, &["malformed ONNX protobuf"]);
}

#[test]
fn corrupt_bytes_are_refused() {
    assert_has(&invalid_bytes(b""), &["no graph"]);
    assert_has(
        &invalid_bytes(b"\xff\xff\xff\xff"),
        &["malformed ONNX protobuf"],
    );
    assert_has(
        &invalid_bytes(b"{\"learner\": {}}"),
        &["malformed ONNX protobuf"],
    );
    let mut bytes = fixture("decision_tree_classifier");
    let n = bytes.len();
    for b in &mut bytes[n / 3..n / 3 + 8] {
        *b = 0xff;
    }
    invalid_bytes(&bytes);
}

#[test]
fn unsupported_op_names_the_node() {
    let mut m = model("logreg_multinomial");
    node(&mut m, "Normalizer").op_type = "Hardmax".into();
    let msg = invalid(&m);
    assert_has(&msg, &["Hardmax node \"Normalizer\"", "not supported"]);
}

#[test]
fn unknown_attribute_is_refused() {
    let mut m = model("logreg_multinomial");
    let n = node(&mut m, "LinearClassifier");
    n.attribute.push(proto::AttributeProto {
        name: "kernel_scale".into(),
        r#type: 1,
        f: 2.0,
        ..Default::default()
    });
    assert_has(
        &invalid(&m),
        &[
            "LinearClassifier node",
            "attribute \"kernel_scale\" is not supported",
        ],
    );
}

#[test]
fn class_count_and_weights_must_agree() {
    let mut m = model("logreg_multinomial");
    let n = node(&mut m, "LinearClassifier");
    attr(n, "coefficients").floats.truncate(8);
    attr(n, "intercepts").floats.truncate(2);
    assert_has(
        &invalid(&m),
        &[
            "LinearClassifier node",
            "has 2 coefficient rows for 3 classes",
        ],
    );

    let mut m = model("logreg_multinomial");
    let n = node(&mut m, "LinearClassifier");
    attr(n, "coefficients").floats.pop();
    assert_has(&invalid(&m), &["\"coefficients\" has 11 values"]);

    let mut m = model("logreg_multinomial");
    let n = node(&mut m, "LinearClassifier");
    attr(n, "intercepts").floats.pop();
    assert_has(&invalid(&m), &["\"intercepts\" has 2 values for 3"]);
}

#[test]
fn non_finite_weights_are_refused() {
    let mut m = model("logreg_multinomial");
    let n = node(&mut m, "LinearClassifier");
    attr(n, "coefficients").floats[5] = f32::NAN;
    assert_has(&invalid(&m), &["\"coefficients\" holds a non-finite value"]);

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "class_weights").floats[0] = f32::INFINITY;
    assert_has(
        &invalid(&m),
        &[
            "TreeEnsembleClassifier node",
            "class_weights[0] is not finite",
        ],
    );

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "nodes_values").floats[0] = f32::NAN;
    assert_has(&invalid(&m), &["threshold is NaN"]);
}

#[test]
fn unknown_post_transform_is_refused() {
    let mut m = model("logreg_multinomial");
    let n = node(&mut m, "LinearClassifier");
    attr(n, "post_transform").s = b"PROBIT".to_vec();
    assert_has(
        &invalid(&m),
        &["\"post_transform\" \"PROBIT\" is not supported"],
    );
}

#[test]
fn tree_node_ids_out_of_range() {
    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "nodes_truenodeids").ints[0] = 999;
    assert_has(
        &invalid(&m),
        &["tree 0 node 0: true child 999 does not exist"],
    );

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "nodes_featureids").ints[0] = 4;
    assert_has(&invalid(&m), &["feature 4 is outside the 4 features"]);

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "class_nodeids").ints[0] = 12345;
    assert_has(
        &invalid(&m),
        &["names tree 0 node 12345, which does not exist"],
    );

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "class_ids").ints[0] = 3;
    assert_has(&invalid(&m), &["class_ids[0] is 3, outside the 3 classes"]);
}

#[test]
fn tree_cycles_are_refused() {
    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    // Node 2 (a branch) sends its true side back to the root.
    let idx = attr(n, "nodes_modes")
        .strings
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, s)| s.as_slice() != b"LEAF")
        .unwrap()
        .0;
    attr(n, "nodes_truenodeids").ints[idx] = 0;
    assert_has(&invalid(&m), &["is reached twice"]);
}

#[test]
fn tree_attribute_lengths_must_agree() {
    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "nodes_values").floats.pop();
    assert_has(&invalid(&m), &["\"nodes_values\" has"]);

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "nodes_modes").strings[0] = b"BRANCH_SOMETIMES".to_vec();
    assert_has(&invalid(&m), &["nodes_modes[0] is \"BRANCH_SOMETIMES\""]);

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    let ids = &mut attr(n, "nodes_nodeids").ints;
    ids[1] = ids[0];
    assert_has(&invalid(&m), &["has node 0 twice"]);

    let mut m = model("decision_tree_classifier");
    let n = node(&mut m, "TreeEnsembleClassifier");
    attr(n, "class_nodeids").ints[0] = 0;
    assert_has(&invalid(&m), &["which is not a leaf"]);
}

#[test]
fn graph_inputs_are_checked() {
    let mut m = model("linear_regression");
    let g = m.graph.as_mut().unwrap();
    let extra = g.input[0].clone();
    g.input.push(proto::ValueInfoProto {
        name: "second".into(),
        ..extra
    });
    assert_has(&invalid(&m), &["the graph has 2 inputs"]);

    let mut m = model("linear_regression");
    m.graph.as_mut().unwrap().input[0].r#type = None;
    assert_has(&invalid(&m), &["is not a tensor"]);
}

#[test]
fn dangling_inputs_and_outputs() {
    let mut m = model("linear_regression");
    node(&mut m, "LinearRegressor").input[0] = "nowhere".into();
    assert_has(
        &invalid(&m),
        &["LinearRegressor node", "input \"nowhere\" is not produced"],
    );

    let mut m = model("linear_regression");
    m.graph.as_mut().unwrap().output[0].name = "ghost".into();
    assert_has(&invalid(&m), &["graph output \"ghost\" is not produced"]);
}

#[test]
fn missing_ml_opset_is_refused() {
    let mut m = model("linear_regression");
    m.opset_import.retain(|o| o.domain != "ai.onnx.ml");
    assert_has(&invalid(&m), &["imports no ai.onnx.ml opset"]);
}

#[test]
fn bad_initializers_are_refused() {
    let mut m = model("sgd_hinge");
    let g = m.graph.as_mut().unwrap();
    let t = g.initializer.iter_mut().find(|t| t.name == "coef").unwrap();
    if t.raw_data.is_empty() {
        t.float_data.pop();
    } else {
        let n = t.raw_data.len();
        t.raw_data.truncate(n - 4);
    }
    assert_has(&invalid(&m), &["initializer \"coef\"", "holds"]);
}

fn initializer<'a>(m: &'a mut proto::ModelProto, name: &str) -> &'a mut proto::TensorProto {
    m.graph
        .as_mut()
        .unwrap()
        .initializer
        .iter_mut()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

/// Sets a float initializer's values (raw or typed storage).
fn set_floats(t: &mut proto::TensorProto, v: &[f32]) {
    t.raw_data.clear();
    t.float_data = v.to_vec();
}

#[test]
fn svm_attributes_must_agree() {
    let mut m = model("svc_rbf");
    let n = node(&mut m, "SVMClassifier");
    attr(n, "vectors_per_class").ints[0] += 1;
    assert_has(
        &invalid(&m),
        &["SVMClassifier node", "vectors_per_class adds up to"],
    );

    let mut m = model("svc_rbf");
    let n = node(&mut m, "SVMClassifier");
    attr(n, "rho").floats.pop();
    assert_has(&invalid(&m), &["coefficients and 2 rho for 3 classes"]);

    let mut m = model("svc_rbf");
    let n = node(&mut m, "SVMClassifier");
    attr(n, "kernel_type").s = b"LAPLACIAN".to_vec();
    assert_has(
        &invalid(&m),
        &["kernel_type \"LAPLACIAN\" is not supported"],
    );

    let mut m = model("svc_rbf");
    let n = node(&mut m, "SVMClassifier");
    attr(n, "support_vectors").floats[3] = f32::NAN;
    assert_has(
        &invalid(&m),
        &["\"support_vectors\" holds a non-finite value"],
    );

    let mut m = model("svc_rbf_proba");
    let n = node(&mut m, "SVMClassifier");
    attr(n, "prob_a").floats.pop();
    assert_has(
        &invalid(&m),
        &["prob_a and prob_b have 2 and 3 values for 3 pairs"],
    );
}

/// The one-vs-rest block after a multi-class SVC is checked by evaluating it: a changed
/// constant in it is a refused model, not a wrong one.
#[test]
fn svm_ovr_block_is_verified() {
    let mut m = model("svc_rbf");
    set_floats(initializer(&mut m, "cst3"), &[2.0]);
    assert_has(
        &invalid(&m),
        &[
            "SVMClassifier node",
            "do not compute scikit-learn's one-vs-rest",
        ],
    );
    let mut m = model("svc_rbf");
    let c = initializer(&mut m, "Cind_1");
    c.raw_data.clear();
    c.int64_data = vec![2];
    invalid(&m);
}

#[test]
fn kmeans_pattern_is_checked() {
    let mut m = model("kmeans");
    set_floats(initializer(&mut m, "Ad_Addcst"), &[1.0, 2.0, 3.0]);
    assert_has(&invalid(&m), &["is not the squared norm"]);

    let mut m = model("kmeans");
    set_floats(initializer(&mut m, "Mu_Mulcst"), &[2.0]);
    assert_has(&invalid(&m), &["Mul node", "not supported"]);
}

#[test]
fn mlp_and_preprocessor_errors() {
    let mut m = model("mlp_classifier_relu");
    node(&mut m, "Relu").op_type = "LeakyRelu".into();
    assert_has(&invalid(&m), &["LeakyRelu node \"Relu\"", "not supported"]);

    let mut m = model("imputer_ridge");
    let n = node(&mut m, "Imputer");
    attr(n, "imputed_value_floats").floats.pop();
    assert_has(
        &invalid(&m),
        &[
            "Imputer node",
            "\"imputed_value_floats\" has 4 values for 5 features",
        ],
    );

    let mut m = model("gradient_boosting_regressor");
    let n = node(&mut m, "TreeEnsembleRegressor");
    n.attribute.push(proto::AttributeProto {
        name: "aggregate_function".into(),
        r#type: 3,
        s: b"MAX".to_vec(),
        ..Default::default()
    });
    assert_has(
        &invalid(&m),
        &["aggregate_function \"MAX\" is not supported"],
    );
}

/// A hidden layer's output that is also a graph output cannot be served: the `.apr` model
/// has only the last layer's output.
#[test]
fn hidden_layer_outputs_are_refused() {
    let mut m = model("torch_gemm_softmax");
    let g = m.graph.as_mut().unwrap();
    let relu_out = g.node.iter().find(|n| n.op_type == "Relu").unwrap().output[0].clone();
    let mut extra = g.output[0].clone();
    extra.name = relu_out;
    g.output.push(extra);
    assert_has(&invalid(&m), &["read again after the next layer"]);
}

/// A refused node names the export call that works instead: for a double skl2onnx graph,
/// the float export of the same model; for a float one, the exporter and estimators read.
#[test]
fn refusals_name_the_export_that_works() {
    let mut m = model("decision_tree_regressor_double");
    node(&mut m, "TreeEnsembleRegressor").op_type = "TreeEnsemble".into();
    assert_has(
        &invalid(&m),
        &["TreeEnsemble node", "X[:1].astype(numpy.float32)"],
    );
    let mut m = model("decision_tree_regressor");
    node(&mut m, "TreeEnsembleRegressor").op_type = "TreeEnsemble".into();
    let msg = invalid(&m);
    assert_has(&msg, &["TreeEnsemble node", "to_onnx(model, X[:1])"]);
    assert!(!msg.contains("float64"), "{msg}");
    let mut m = model("torch_gemm_softmax");
    node(&mut m, "Relu").op_type = "Elu".into();
    assert_has(&invalid(&m), &["Elu node", "torch.onnx.export"]);
}

/// A graph holding an estimator icebreak never reads names it, and does not suggest another
/// export (the float graph of the same model is refused too); a branching graph names the
/// estimators that write one.
#[test]
fn refusals_name_the_estimator_that_is_not_read() {
    for (op, what) in [
        ("OneHotEncoder", "a OneHotEncoder"),
        ("Scan", "k-nearest neighbours"),
        ("LabelEncoder", "a label or category encoder"),
    ] {
        for name in ["decision_tree_regressor_double", "decision_tree_regressor"] {
            let mut m = model(name);
            node(&mut m, "TreeEnsembleRegressor").op_type = op.into();
            let msg = invalid(&m);
            assert_has(
                &msg,
                &[
                    &format!("{op} node"),
                    what,
                    "float or a double export alike",
                ],
            );
            assert!(!msg.contains("astype"), "{msg}");
        }
    }
    // A column selection of the input is a ColumnTransformer's; skl2onnx's label lookup is not.
    let mut m = model("decision_tree_regressor");
    let features = m.graph.as_ref().unwrap().input[0].name.clone();
    let n = node(&mut m, "TreeEnsembleRegressor");
    n.op_type = "ArrayFeatureExtractor".into();
    n.input = vec![features, "indices".into()];
    assert_has(&invalid(&m), &["a column selection (ColumnTransformer"]);
    let mut m = model("decision_tree_regressor");
    let n = node(&mut m, "TreeEnsembleRegressor");
    n.op_type = "ArrayFeatureExtractor".into();
    n.input = vec!["classes".into(), "indices".into()];
    assert!(!invalid(&m).contains("ColumnTransformer"));
}

/// skl2onnx's `zipmap='columns'` (a label and one output per class, each a `Slice` of the
/// probabilities) is refused naming the option and the exports that work.
#[test]
fn zipmap_columns_is_refused_naming_the_option() {
    let mut m = model("decision_tree_regressor");
    let g = m.graph.as_mut().unwrap();
    let out = g.output[0].clone();
    for (i, n) in g.node.iter_mut().enumerate().take(1) {
        n.op_type = "Slice".into();
        n.name = format!("Slice{i}");
    }
    for k in 0..3 {
        let mut o = out.clone();
        o.name = format!("i{k}");
        g.output.push(o);
        let mut n = g.node[0].clone();
        n.output = vec![format!("i{k}")];
        g.node.push(n);
    }
    assert_has(
        &invalid(&m),
        &["Slice node", "`zipmap='columns'`", "'zipmap': False"],
    );
}
