//! The XGBoost importer on bad input: every broken model is a clear error naming what is
//! wrong (and where), never a panic and never a wrong model.

// Test helpers unwrap freely: a broken test model should fail the test loudly.
#![allow(clippy::unwrap_used)]

use icebreak_convert::xgboost::convert;
use icebreak_convert::ConvertError;
use icebreak_engine::Model;
use icebreak_format::Apr;
use serde_json::{json, Value};

/// A valid one-tree model: x0 < 0.5 (missing goes left) -> -1.0, else 1.0; base 0.5.
fn tiny() -> Value {
    json!({
        "version": [3, 2, 0],
        "learner": {
            "attributes": {},
            "feature_names": [],
            "feature_types": [],
            "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}},
            "learner_model_param": {
                "base_score": "[5E-1]", "boost_from_average": "1", "num_class": "0",
                "num_feature": "2", "num_target": "1"
            },
            "gradient_booster": {
                "name": "gbtree",
                "model": {
                    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1"},
                    "iteration_indptr": [0, 1],
                    "tree_info": [0],
                    "trees": [tree()]
                }
            }
        }
    })
}

fn tree() -> Value {
    json!({
        "id": 0,
        "tree_param": {
            "num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "1"
        },
        "base_weights": [0.0, -1.0, 1.0],
        "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [],
        "default_left": [1, 0, 0],
        "left_children": [1, -1, -1],
        "loss_changes": [1.0, 0.0, 0.0],
        "parents": [2147483647, 0, 0],
        "right_children": [2, -1, -1],
        "split_conditions": [0.5, -1.0, 1.0],
        "split_indices": [0, 0, 0],
        "split_type": [0, 0, 0],
        "sum_hessian": [2.0, 1.0, 1.0]
    })
}

fn tree_mut(model: &mut Value) -> &mut Value {
    &mut model["learner"]["gradient_booster"]["model"]["trees"][0]
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// The `Invalid` message a model gives.
fn invalid(v: &Value) -> String {
    match convert(&bytes(v)) {
        Err(ConvertError::Invalid(msg)) => msg,
        other => panic!("expected ConvertError::Invalid, got {other:?}"),
    }
}

/// The `Json` message some bytes give.
fn json_error(b: &[u8]) -> String {
    match convert(b) {
        Err(e @ ConvertError::Json(_)) => e.to_string(),
        other => panic!("expected ConvertError::Json, got {other:?}"),
    }
}

fn with_tree(edit: impl FnOnce(&mut Value)) -> Value {
    let mut m = tiny();
    edit(tree_mut(&mut m));
    m
}

fn margin(spec: &icebreak_format::ModelSpec, x: &[f64]) -> f32 {
    let file = icebreak_format::write(spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    model.predict_row(x, &mut scratch).unwrap().scores[0] as f32
}

#[test]
fn the_tiny_model_is_valid() {
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend(bytes(&tiny()));
    let spec = convert(&with_bom).unwrap();
    assert_eq!(margin(&spec, &[0.25, 0.0]), -1.0);
    assert_eq!(margin(&spec, &[0.5, 0.0]), 1.0);
    assert_eq!(margin(&spec, &[f64::NAN, 0.0]), -1.0);
}

// ---- malformed files ------------------------------------------------------------------------

#[test]
fn not_json() {
    assert_eq!(
        json_error(b"not a model"),
        "malformed source model: expected ident at line 1 column 2"
    );
    assert_eq!(
        json_error(b""),
        "malformed source model: EOF while parsing a value at line 1 column 0"
    );
    assert_eq!(
        json_error(b"[1, 2]"),
        "malformed source model: invalid type: integer `1`, expected struct Learner at line 1 \
         column 2"
    );
}

#[test]
fn missing_fields_are_named() {
    assert!(json_error(b"{}").contains("missing field `learner`"));
    let mut m = tiny();
    m["learner"]["learner_model_param"]
        .as_object_mut()
        .unwrap()
        .remove("num_feature");
    assert!(json_error(&bytes(&m)).contains("missing field `num_feature`"));
    let m = with_tree(|t| {
        t.as_object_mut().unwrap().remove("split_conditions");
    });
    assert!(json_error(&bytes(&m)).contains("missing field `split_conditions`"));
}

#[test]
fn wrong_types_are_named() {
    let m = with_tree(|t| t["split_conditions"] = json!([0.5, "x", 1.0]));
    assert!(json_error(&bytes(&m)).contains("\"x\" is not a number"));
    let m = with_tree(|t| t["default_left"] = json!([2, 0, 0]));
    assert!(json_error(&bytes(&m)).contains("2 is not a flag (0 or 1)"));
    let mut m = tiny();
    m["learner"]["learner_model_param"]["num_feature"] = json!("two");
    assert!(json_error(&bytes(&m)).contains("\"two\" is not a non-negative integer"));
    // XGBoost's bare NaN and Infinity: `xgboost_s_non_finite_literals`.
}

#[test]
fn truncated_files_are_errors() {
    let full = bytes(&tiny());
    for len in 0..full.len() {
        match convert(&full[..len]) {
            Err(ConvertError::Json(e)) => assert!(e.is_eof() || e.is_syntax(), "{len}: {e}"),
            other => panic!("prefix of {len} bytes: {other:?}"),
        }
    }
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/xgboost/multi_softmax/model.json"),
    )
    .unwrap();
    assert!(json_error(&fixture[..fixture.len() / 2]).contains("EOF while parsing"));
}

// ---- objectives and parameters --------------------------------------------------------------

#[test]
fn unknown_objective() {
    let mut m = tiny();
    m["learner"]["objective"]["name"] = json!("reg:fancy");
    let msg = invalid(&m);
    assert!(
        msg.starts_with("objective \"reg:fancy\" is not supported (supported: binary:logistic,"),
        "{msg}"
    );
    m["learner"]["objective"]["name"] = json!("binary:hinge");
    assert!(invalid(&m).starts_with("objective \"binary:hinge\" is not supported"));
}

#[test]
fn class_counts_must_fit_the_objective() {
    let mut m = tiny();
    m["learner"]["learner_model_param"]["num_class"] = json!("3");
    assert_eq!(
        invalid(&m),
        "objective binary:logistic with num_class 3: only multi:softprob and multi:softmax \
         have classes"
    );
    m["learner"]["objective"]["name"] = json!("multi:softprob");
    m["learner"]["learner_model_param"]["num_class"] = json!("1");
    assert_eq!(
        invalid(&m),
        "objective multi:softprob needs num_class >= 2, the model has 1"
    );
    m["learner"]["learner_model_param"]["num_class"] = json!("3");
    m["learner"]["learner_model_param"]["base_score"] = json!("[0E0,0E0]");
    assert_eq!(
        invalid(&m),
        "base_score has 2 values, the model has 3 outputs"
    );
}

#[test]
fn bad_base_scores() {
    let mut m = tiny();
    m["learner"]["learner_model_param"]["base_score"] = json!("[abc]");
    assert_eq!(
        invalid(&m),
        "base_score \"[abc]\": \"abc\" is not a finite number"
    );
    m["learner"]["learner_model_param"]["base_score"] = json!("[5E-1");
    assert_eq!(invalid(&m), "base_score \"[5E-1\" has no closing bracket");
    m["learner"]["objective"]["name"] = json!("count:poisson");
    m["learner"]["learner_model_param"]["base_score"] = json!("0E0");
    assert_eq!(
        invalid(&m),
        "base_score 0 has no margin under objective count:poisson (it must be in (0, 1) for \
         logistic objectives, > 0 for log-link ones)"
    );
}

#[test]
fn unsupported_boosters() {
    let mut m = tiny();
    m["learner"]["gradient_booster"] = json!({"name": "gblinear", "model": {"weights": [0.0]}});
    assert_eq!(
        invalid(&m),
        "gblinear (linear booster) models are not supported"
    );
    m["learner"]["gradient_booster"]["name"] = json!("mystery");
    assert_eq!(invalid(&m), "unknown booster \"mystery\"");
    let mut m = tiny();
    let gbtree = m["learner"]["gradient_booster"].clone();
    m["learner"]["gradient_booster"] = json!({"name": "dart", "gbtree": gbtree});
    assert_eq!(invalid(&m), "dart booster without weight_drop");
    m["learner"]["gradient_booster"]["weight_drop"] = json!([1.0, 1.0]);
    assert_eq!(
        invalid(&m),
        "weight_drop has 2 weights, the model has 1 trees"
    );
    // Vector leaves are read (vector_leaves_add_one_value_per_target), one value per target.
    let m = with_tree(|t| t["tree_param"]["size_leaf_vector"] = json!("3"));
    assert_eq!(
        invalid(&m),
        "tree 0: size_leaf_vector is 3, expected 1 (every tree of a \
         multi_strategy=multi_output_tree model has one leaf value per target, every other tree \
         one)"
    );
}

// ---- mismatched counts ----------------------------------------------------------------------

#[test]
fn mismatched_feature_counts() {
    let mut m = tiny();
    m["learner"]["feature_names"] = json!(["a", "b", "c"]);
    assert_eq!(invalid(&m), "feature_names has 3 names, num_feature is 2");
    let mut m = tiny();
    m["learner"]["feature_types"] = json!(["q"]);
    assert_eq!(invalid(&m), "feature_types has 1 entries, num_feature is 2");
    let m = with_tree(|t| t["split_indices"] = json!([2, 0, 0]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 splits on feature 2, the model has 2 features"
    );
    let m = with_tree(|t| t["split_indices"] = json!([-1, 0, 0]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 splits on feature -1, the model has 2 features"
    );
    let mut m = tiny();
    m["learner"]["learner_model_param"]["num_feature"] = json!("0");
    assert_eq!(invalid(&m), "num_feature is 0");
}

#[test]
fn mismatched_tree_counts() {
    let mut m = tiny();
    m["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] = json!("2");
    assert_eq!(invalid(&m), "num_trees is 2, the model has 1 trees");
    let mut m = tiny();
    m["learner"]["gradient_booster"]["model"]["tree_info"] = json!([0, 0]);
    assert_eq!(
        invalid(&m),
        "tree_info has 2 entries, the model has 1 trees"
    );
    let mut m = tiny();
    m["learner"]["gradient_booster"]["model"]["tree_info"] = json!([1]);
    assert_eq!(
        invalid(&m),
        "tree 0: tree_info 1 is not an output (the model has 1)"
    );
    let m = with_tree(|t| t["split_conditions"] = json!([0.5, -1.0]));
    assert_eq!(
        invalid(&m),
        "tree 0: split_conditions has 2 entries, num_nodes is 3"
    );
    let m = with_tree(|t| t["tree_param"]["num_nodes"] = json!("0"));
    assert_eq!(invalid(&m), "tree 0: num_nodes is 0");
    let m = with_tree(|t| t["id"] = json!(4));
    assert_eq!(invalid(&m), "tree id 4 is outside 0..1");
}

// ---- tree structure -------------------------------------------------------------------------

#[test]
fn node_ids_outside_the_tree() {
    let m = with_tree(|t| t["left_children"] = json!([3, -1, -1]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 0: left child 3 is outside the tree (3 nodes)"
    );
    let m = with_tree(|t| t["right_children"] = json!([-5, -1, -1]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 0: right child -5 is outside the tree (3 nodes)"
    );
}

#[test]
fn cycles_and_shared_children() {
    // Node 0 is its own child.
    let m = with_tree(|t| t["left_children"] = json!([0, -1, -1]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 is reached twice (the children form a cycle or share a node)"
    );
    // Node 1 points back to the root.
    let m = with_tree(|t| {
        t["left_children"] = json!([1, 0, -1]);
        t["right_children"] = json!([2, 2, -1]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 is reached twice (the children form a cycle or share a node)"
    );
    // Both children are node 1.
    let m = with_tree(|t| t["right_children"] = json!([1, -1, -1]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 1 is reached twice (the children form a cycle or share a node)"
    );
}

/// XGBoost's JSON writer spells non-finite floats `NaN`, `Infinity`, `-Infinity` (2.x writes
/// `NaN` as every categorical split's threshold): read as non-finite values, ignored where
/// XGBoost ignores them, refused where a number is needed; the same text inside a string is
/// left alone.
#[test]
fn xgboost_s_non_finite_literals() {
    let text = |m: &Value| serde_json::to_string(m).unwrap();
    let cat = with_tree(|t| {
        t["split_type"] = json!([1, 0, 0]);
        t["categories_nodes"] = json!([0]);
        t["categories_segments"] = json!([0]);
        t["categories_sizes"] = json!([1]);
        t["categories"] = json!([3]);
        t["split_conditions"] = json!([12345.0, -1.0, 1.0]);
    });
    let nan = text(&cat).replace("12345.0", "NaN");
    let spec = convert(nan.as_bytes()).unwrap();
    assert_eq!(margin(&spec, &[3.0, 0.0]), 1.0);
    assert_eq!(margin(&spec, &[2.0, 0.0]), -1.0);
    let m = with_tree(|t| t["split_conditions"] = json!([12345.0, -1.0, 1.0]));
    for (literal, shown) in [("NaN", "NaN"), ("Infinity", "NaN"), ("-Infinity", "NaN")] {
        let t = text(&m).replace("12345.0", literal);
        assert_eq!(
            invalid(&serde_json::from_str(&t.replace(literal, "null")).unwrap()),
            format!("tree 0: node 0 has a non-finite threshold ({shown})")
        );
        match convert(t.as_bytes()) {
            Err(ConvertError::Invalid(msg)) => {
                assert_eq!(
                    msg,
                    format!("tree 0: node 0 has a non-finite threshold ({shown})")
                )
            }
            other => panic!("{literal}: {other:?}"),
        }
    }
    let mut named = tiny();
    named["learner"]["feature_names"] = json!(["NaN", "Infinity"]);
    let spec = convert(&bytes(&named)).unwrap();
    assert_eq!(
        spec.input.feature_names,
        Some(vec!["NaN".to_owned(), "Infinity".to_owned()])
    );
}

#[test]
fn non_finite_values() {
    let m = with_tree(|t| t["split_conditions"] = json!([1e39, -1.0, 1.0]));
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 has a non-finite threshold (inf)"
    );
    let m = with_tree(|t| t["split_conditions"] = json!([0.5, -1e39, 1.0]));
    assert_eq!(invalid(&m), "tree 0: leaf 1 has a non-finite value (-inf)");
}

#[test]
fn bad_categorical_splits() {
    let cat = |t: &mut Value| {
        t["split_type"] = json!([1, 0, 0]);
        t["categories_nodes"] = json!([0]);
        t["categories_segments"] = json!([0]);
        t["categories_sizes"] = json!([2]);
        t["categories"] = json!([0, 3]);
    };
    // The valid categorical model: {0, 3} go right (1.0); -0.5 is not category 0.
    let spec = convert(&bytes(&with_tree(cat))).unwrap();
    assert_eq!(margin(&spec, &[3.0, 0.0]), 1.0);
    assert_eq!(margin(&spec, &[0.0, 0.0]), 1.0);
    assert_eq!(margin(&spec, &[0.9, 0.0]), 1.0);
    assert_eq!(margin(&spec, &[-0.5, 0.0]), -1.0);
    assert_eq!(margin(&spec, &[1.0, 0.0]), -1.0);
    assert_eq!(margin(&spec, &[1e9, 0.0]), -1.0);
    assert_eq!(margin(&spec, &[f64::NAN, 0.0]), -1.0);

    let m = with_tree(|t| {
        cat(t);
        t["categories"] = json!([0, -3]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: node 0: category -3 is outside 0..16777216"
    );
    let m = with_tree(|t| {
        cat(t);
        t["categories_sizes"] = json!([5]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: node 0: category segment 0 + 5 is empty or outside the 2 categories"
    );
    let m = with_tree(|t| {
        cat(t);
        t["categories_nodes"] = json!([9]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: categories_nodes[0] = 9 is outside the tree (3 nodes)"
    );
    let m = with_tree(|t| {
        cat(t);
        t["categories_nodes"] = json!([]);
        t["categories_segments"] = json!([]);
        t["categories_sizes"] = json!([]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 is a categorical split without categories"
    );
    let m = with_tree(|t| {
        cat(t);
        t["split_type"] = json!([0, 0, 0]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 has categories but is not a categorical split"
    );
    let m = with_tree(|t| {
        cat(t);
        t["split_type"] = json!([2, 0, 0]);
        t["categories_nodes"] = json!([]);
        t["categories_segments"] = json!([]);
        t["categories_sizes"] = json!([]);
    });
    assert_eq!(
        invalid(&m),
        "tree 0: node 0 has split_type 2 (0 numerical, 1 categorical)"
    );
}

// ---- UBJSON ---------------------------------------------------------------------------------

/// Encodes a value as XGBoost's UBJSON writer does (big-endian, `L`-length keys and strings,
/// counted arrays, `f32` numbers).
fn ubj(v: &Value, out: &mut Vec<u8>) {
    fn string(s: &str, out: &mut Vec<u8>) {
        out.push(b'L');
        out.extend_from_slice(&(s.len() as i64).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    match v {
        Value::Null => out.push(b'Z'),
        Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push(b'L');
                out.extend_from_slice(&i.to_be_bytes());
            } else {
                out.push(b'd');
                out.extend_from_slice(&(n.as_f64().unwrap() as f32).to_be_bytes());
            }
        }
        Value::String(s) => {
            out.push(b'S');
            string(s, out);
        }
        Value::Array(a) => {
            out.extend_from_slice(b"[#");
            out.push(b'L');
            out.extend_from_slice(&(a.len() as i64).to_be_bytes());
            for x in a {
                ubj(x, out);
            }
        }
        Value::Object(o) => {
            out.push(b'{');
            for (k, x) in o {
                string(k, out);
                ubj(x, out);
            }
            out.push(b'}');
        }
    }
}

fn to_ubj(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ubj(v, &mut out);
    out
}

fn ubj_error(b: &[u8]) -> String {
    match convert(b) {
        Err(ConvertError::Invalid(msg)) => msg,
        other => panic!("expected ConvertError::Invalid, got {other:?}"),
    }
}

#[test]
fn ubjson_converts_like_json() {
    let mut a = convert(&bytes(&tiny())).unwrap();
    let b = convert(&to_ubj(&tiny())).unwrap();
    a.provenance = b.provenance.clone();
    assert_eq!(a, b);
}

#[test]
fn truncated_ubjson() {
    let full = to_ubj(&tiny());
    for len in 2..full.len() {
        let msg = ubj_error(&full[..len]);
        assert!(msg.starts_with("malformed UBJSON at byte "), "{len}: {msg}");
    }
    assert_eq!(
        ubj_error(&full[..full.len() - 1]),
        format!(
            "malformed UBJSON at byte {}: unexpected end of data",
            full.len() - 1
        )
    );
    let mut trailing = full.clone();
    trailing.push(b'Z');
    assert_eq!(
        ubj_error(&trailing),
        format!(
            "malformed UBJSON at byte {}: trailing bytes after the model",
            full.len()
        )
    );
}

#[test]
fn hostile_ubjson() {
    // A key claiming 2^62 bytes.
    let mut b = b"{L".to_vec();
    b.extend_from_slice(&(1i64 << 62).to_be_bytes());
    assert_eq!(
        ubj_error(&b),
        "malformed UBJSON at byte 1: length is negative or longer than the data"
    );
    // A typed array claiming more elements than there are bytes.
    let mut b = b"{L".to_vec();
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(b"a[$d#L");
    b.extend_from_slice(&1000i64.to_be_bytes());
    b.extend_from_slice(&[0; 16]);
    assert_eq!(
        ubj_error(&b),
        "malformed UBJSON at byte 15: length is negative or longer than the data"
    );
    // Deep nesting.
    let mut b = b"{L".to_vec();
    b.extend_from_slice(&1i64.to_be_bytes());
    b.push(b'a');
    b.extend(std::iter::repeat_n(b'[', 100_000));
    assert_eq!(
        ubj_error(&b),
        "malformed UBJSON at byte 74: nested too deeply"
    );
    // An unknown marker.
    let mut b = b"{L".to_vec();
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(b"aX}");
    assert_eq!(
        ubj_error(&b),
        "malformed UBJSON at byte 11: unknown type marker"
    );
    // A string that is not UTF-8.
    let mut b = b"{L".to_vec();
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(b"aSL");
    b.extend_from_slice(&2i64.to_be_bytes());
    b.extend_from_slice(&[0xff, 0xfe, b'}']);
    assert_eq!(
        ubj_error(&b),
        "malformed UBJSON at byte 21: string is not UTF-8"
    );
}

#[test]
fn category_tables_are_bounded() {
    // Each set reaching category 2^24 - 1 needs 2^19 words; 40 of them pass the 2^24 bound.
    let mut m = tiny();
    let mut t = tree();
    t["split_type"] = json!([1, 0, 0]);
    t["categories_nodes"] = json!([0]);
    t["categories_segments"] = json!([0]);
    t["categories_sizes"] = json!([1]);
    t["categories"] = json!([16_777_215]);
    let trees: Vec<Value> = (0..40)
        .map(|i| {
            let mut t = t.clone();
            t["id"] = json!(i);
            t
        })
        .collect();
    let model = &mut m["learner"]["gradient_booster"]["model"];
    model["trees"] = Value::Array(trees);
    model["tree_info"] = json!(vec![0; 40]);
    model["gbtree_model_param"]["num_trees"] = json!("40");
    assert_eq!(
        invalid(&m),
        "tree 32: node 0: the model's category sets need more than 16777216 bitset words"
    );
}

// ---- early stopping -------------------------------------------------------------------------

/// `tiny` grown to two iterations: the second tree adds 10 to every row.
fn two_iterations() -> Value {
    let mut m = tiny();
    let mut second = tree();
    second["id"] = json!(1);
    second["split_conditions"] = json!([0.5, 10.0, 10.0]);
    let model = &mut m["learner"]["gradient_booster"]["model"];
    model["trees"].as_array_mut().unwrap().push(second);
    model["tree_info"] = json!([0, 0]);
    model["iteration_indptr"] = json!([0, 1, 2]);
    model["gbtree_model_param"]["num_trees"] = json!("2");
    m
}

/// A model the scikit-learn wrapper saved after early stopping predicts with the iterations up
/// to `best_iteration`, as the wrapper's `predict` does; `Booster.predict` (no `scikit_learn`
/// attribute) uses every tree.
#[test]
fn best_iteration_counts_for_models_the_scikit_learn_wrapper_saved() {
    let mut m = two_iterations();
    assert_eq!(margin(&convert(&bytes(&m)).unwrap(), &[0.25, 0.0]), 9.0);
    m["learner"]["attributes"] = json!({"best_iteration": "0", "best_score": "0.1"});
    assert_eq!(margin(&convert(&bytes(&m)).unwrap(), &[0.25, 0.0]), 9.0);
    m["learner"]["attributes"]["scikit_learn"] = json!("{\"_estimator_type\": \"classifier\"}");
    assert_eq!(margin(&convert(&bytes(&m)).unwrap(), &[0.25, 0.0]), -1.0);
    m["learner"]["attributes"]["best_iteration"] = json!("1");
    assert_eq!(margin(&convert(&bytes(&m)).unwrap(), &[0.25, 0.0]), 9.0);
    // Without iteration_indptr (files before XGBoost 2.0): one tree per output and iteration.
    m["learner"]["gradient_booster"]["model"]
        .as_object_mut()
        .unwrap()
        .remove("iteration_indptr");
    m["learner"]["attributes"]["best_iteration"] = json!("0");
    assert_eq!(margin(&convert(&bytes(&m)).unwrap(), &[0.25, 0.0]), -1.0);
}

#[test]
fn a_bad_best_iteration_is_a_clear_error() {
    let mut m = two_iterations();
    m["learner"]["attributes"] = json!({"best_iteration": "one", "scikit_learn": "{}"});
    assert_eq!(
        invalid(&m),
        "attributes.best_iteration is \"one\", not a whole number"
    );
    m["learner"]["attributes"]["best_iteration"] = json!("2");
    assert_eq!(
        invalid(&m),
        "attributes.best_iteration is 2, iteration_indptr has 3 entries"
    );
    m["learner"]["gradient_booster"]["model"]
        .as_object_mut()
        .unwrap()
        .remove("iteration_indptr");
    assert_eq!(
        invalid(&m),
        "attributes.best_iteration is 2: its trees end at 3, the model has 2"
    );
    m["learner"]["attributes"]["best_iteration"] = json!("18446744073709551615");
    assert_eq!(
        invalid(&m),
        "attributes.best_iteration is 18446744073709551615: its trees end at 18446744073709551615, the model has 2"
    );
}

// ---- vector leaves (multi_strategy=multi_output_tree) ---------------------------------------

/// `tiny` as a two-target regression whose one tree has vector leaves: x0 < 0.5 -> [1, 2],
/// else [3, 4].
fn vector_leaves() -> Value {
    let mut m = tiny();
    m["learner"]["objective"]["name"] = json!("reg:squarederror");
    m["learner"]["learner_model_param"]["num_target"] = json!("2");
    m["learner"]["learner_model_param"]["base_score"] = json!("[0E0,1E1]");
    let t = tree_mut(&mut m);
    t["tree_param"]["size_leaf_vector"] = json!("2");
    t["right_children"] = json!([2, 0, 1]);
    t["leaf_weights"] = json!([1.0, 2.0, 3.0, 4.0]);
    m
}

#[test]
fn vector_leaves_add_one_value_per_target() {
    let spec = convert(&bytes(&vector_leaves())).unwrap();
    let file = icebreak_format::write(&spec).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let scores =
        |x: &[f64], scratch: &mut _| model.predict_row(x, scratch).unwrap().scores.to_vec();
    assert_eq!(scores(&[0.25, 0.0], &mut scratch), [1.0, 12.0]);
    assert_eq!(scores(&[0.75, 0.0], &mut scratch), [3.0, 14.0]);
    // As XGBoost 2.x writes them: no leaf_weights, node i's values at base_weights[2i..].
    let mut m = vector_leaves();
    let t = tree_mut(&mut m);
    t.as_object_mut().unwrap().remove("leaf_weights");
    t["base_weights"] = json!([0.0, 0.0, 5.0, 6.0, 7.0, 8.0]);
    t["right_children"] = json!([2, -1, -1]);
    let file = icebreak_format::write(&convert(&bytes(&m)).unwrap()).unwrap();
    let apr = Apr::parse_verified(&file).unwrap();
    let model = Model::new(&apr);
    let mut scratch = model.scratch();
    let scores =
        |x: &[f64], scratch: &mut _| model.predict_row(x, scratch).unwrap().scores.to_vec();
    assert_eq!(scores(&[0.25, 0.0], &mut scratch), [5.0, 16.0]);
    assert_eq!(scores(&[0.75, 0.0], &mut scratch), [7.0, 18.0]);
}

#[test]
fn broken_vector_leaves_are_clear_errors() {
    let mut m = vector_leaves();
    tree_mut(&mut m)["leaf_weights"] = json!([1.0, 2.0, 3.0]);
    assert_eq!(
        invalid(&m),
        "tree 0: leaf 2: leaf index 1 is outside leaf_weights (3 values)"
    );
    tree_mut(&mut m)
        .as_object_mut()
        .unwrap()
        .remove("leaf_weights");
    // XGBoost 2.x: node i's values at base_weights[2i..2i+2], too short here (3 values).
    assert_eq!(
        invalid(&m),
        "tree 0: leaf 1: leaf index 1 is outside base_weights (3 values)"
    );
    tree_mut(&mut m)
        .as_object_mut()
        .unwrap()
        .remove("base_weights");
    assert_eq!(
        invalid(&m),
        "tree 0: vector leaves (size_leaf_vector 2) without leaf_weights or base_weights"
    );
    let mut m = vector_leaves();
    m["learner"]["learner_model_param"]["num_target"] = json!("3");
    m["learner"]["learner_model_param"]["base_score"] = json!("[0E0,1E1,2E1]");
    assert!(invalid(&m).starts_with("tree 0: size_leaf_vector is 2, expected 3"));
}
