//! skl2onnx's one-vs-rest block after a multi-class SVM's pairwise scores (scikit-learn's
//! `_ovr_decision_function`): found by following what the scores feed, evaluated on test
//! vectors and checked against the formula.

use super::graph::{invalid, Data, Node};
use super::proto;
use super::walker::{Out, Val, Walker};
use crate::ConvertError;
use std::collections::{HashMap, HashSet};

impl Walker<'_> {
    /// Recognises the nodes after a multi-class SVM's pairwise scores that compute
    /// scikit-learn's one-vs-rest decision values: the block is every node fed (directly or
    /// not) by the scores, made of elementwise ops only; it is evaluated on test vectors and
    /// must agree with the formula, or the model is refused.
    pub(super) fn ovr_block(
        &mut self,
        node: &Node<'_>,
        scores: &str,
        k: usize,
        out: Out,
    ) -> Result<(), ConvertError> {
        const OPS: &[&str] = &[
            "Cast",
            "Less",
            "Neg",
            "ArrayFeatureExtractor",
            "Sum",
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Concat",
            "Abs",
            "Identity",
        ];
        let graph = self
            .model
            .graph
            .as_ref()
            .ok_or_else(|| invalid("the ONNX model has no graph"))?;
        let nodes = self.nodes;
        let mut tainted: HashSet<&str> = HashSet::new();
        tainted.insert(scores);
        let mut block = Vec::new();
        for (i, n) in nodes.iter().enumerate().skip(self.pos + 1) {
            if n.input.iter().any(|x| tainted.contains(x.as_str())) {
                if !OPS.contains(&n.op_type.as_str()) {
                    break;
                }
                block.push(i);
                for o in &n.output {
                    tainted.insert(o.as_str());
                }
            }
        }
        // The block's result: a tainted value read outside the block or by the graph.
        let inside: HashSet<usize> = block.iter().copied().collect();
        let mut sinks: Vec<&str> = Vec::new();
        for &i in &block {
            for o in &nodes[i].output {
                let read_outside = nodes
                    .iter()
                    .enumerate()
                    .any(|(j, n)| !inside.contains(&j) && n.input.iter().any(|x| x == o));
                let is_output = graph.output.iter().any(|g| &g.name == o);
                if (read_outside || is_output) && !sinks.contains(&o.as_str()) {
                    sinks.push(o.as_str());
                }
            }
        }
        let [sink] = sinks.as_slice() else {
            return Err(node.err(
                "the multi-class scores are not followed by scikit-learn's one-vs-rest block \
                 (SVC with decision_function_shape='ovo' is not supported)",
            ));
        };
        let pairs = k * (k - 1) / 2;
        for t in 0..6u32 {
            let dec: Vec<f64> = (0..pairs)
                .map(|p| {
                    let h = (p as u32 + 1)
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(t * 97);
                    if t == 0 && p == 0 {
                        0.0
                    } else {
                        f64::from(h % 2001) / 500.0 - 2.0
                    }
                })
                .collect();
            let got = ovr_eval(nodes, &block, scores, &dec, sink, &self.vals)
                .map_err(|e| node.err(format_args!("the one-vs-rest block cannot be read: {e}")))?;
            let want = ovr_decision(&dec, k);
            let same = got.len() == k
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| (g - w).abs() <= 1e-6 * w.abs().max(1.0));
            if !same {
                return Err(node.err(
                    "the nodes after the multi-class scores do not compute scikit-learn's \
                     one-vs-rest decision values; other shapes (decision_function_shape='ovo') \
                     are not supported",
                ));
            }
        }
        self.skip.extend(block.iter().copied());
        self.vals.insert((*sink).to_string(), Val::Out(out));
        Ok(())
    }
}

/// scikit-learn's `_ovr_decision_function(dec < 0, -dec, k)`.
fn ovr_decision(dec: &[f64], k: usize) -> Vec<f64> {
    let mut votes = vec![0.0; k];
    let mut conf = vec![0.0; k];
    let mut p = 0;
    for i in 0..k {
        for j in i + 1..k {
            conf[i] += dec[p];
            conf[j] -= dec[p];
            if dec[p] < 0.0 {
                votes[j] += 1.0;
            } else {
                votes[i] += 1.0;
            }
            p += 1;
        }
    }
    votes
        .iter()
        .zip(&conf)
        .map(|(v, c)| v + c / (3.0 * (c.abs() + 1.0)))
        .collect()
}

/// Evaluates the elementwise block on one row of pairwise scores.
fn ovr_eval(
    nodes: &[proto::NodeProto],
    block: &[usize],
    scores: &str,
    dec: &[f64],
    sink: &str,
    vals: &HashMap<String, Val>,
) -> Result<Vec<f64>, String> {
    let mut env: HashMap<&str, Vec<f64>> = HashMap::new();
    env.insert(scores, dec.to_vec());
    let get = |env: &HashMap<&str, Vec<f64>>, name: &str| -> Result<Vec<f64>, String> {
        if let Some(v) = env.get(name) {
            return Ok(v.clone());
        }
        match vals.get(name) {
            Some(Val::Const(t)) => match &t.data {
                Data::Float(v) => Ok(v.clone()),
                Data::Int(v) => Ok(v.iter().map(|&x| x as f64).collect()),
                Data::Str(_) => Err(format!("{name} is a string constant")),
            },
            _ => Err(format!("{name} is neither computed nor a constant")),
        }
    };
    let zip = |a: &[f64], b: &[f64], f: &dyn Fn(f64, f64) -> f64| -> Result<Vec<f64>, String> {
        match (a.len(), b.len()) {
            (x, y) if x == y => Ok(a.iter().zip(b).map(|(p, q)| f(*p, *q)).collect()),
            (1, _) => Ok(b.iter().map(|q| f(a[0], *q)).collect()),
            (_, 1) => Ok(a.iter().map(|p| f(*p, b[0])).collect()),
            (x, y) => Err(format!("widths {x} and {y} do not broadcast")),
        }
    };
    for &i in block {
        let n = &nodes[i];
        let ins = n
            .input
            .iter()
            .map(|x| get(&env, x))
            .collect::<Result<Vec<_>, _>>()?;
        let r = match (n.op_type.as_str(), ins.as_slice()) {
            ("Cast" | "Identity", [a]) => a.clone(),
            ("Neg", [a]) => a.iter().map(|x| -x).collect(),
            ("Abs", [a]) => a.iter().map(|x| x.abs()).collect(),
            ("Less", [a, b]) => zip(a, b, &|p, q| f64::from(u8::from(p < q)))?,
            ("Add", [a, b]) => zip(a, b, &|p, q| p + q)?,
            ("Sub", [a, b]) => zip(a, b, &|p, q| p - q)?,
            ("Mul", [a, b]) => zip(a, b, &|p, q| p * q)?,
            ("Div", [a, b]) => zip(a, b, &|p, q| p / q)?,
            ("Sum", [first, rest @ ..]) => {
                let mut acc = first.clone();
                for r in rest {
                    acc = zip(&acc, r, &|p, q| p + q)?;
                }
                acc
            }
            ("Concat", parts) => parts.concat(),
            ("ArrayFeatureExtractor", [a, idx]) => idx
                .iter()
                .map(|&j| {
                    usize::try_from(j as i64)
                        .ok()
                        .and_then(|j| a.get(j).copied())
                        .ok_or_else(|| format!("index {j} outside {} columns", a.len()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            (op, _) => return Err(format!("{op} with {} inputs", ins.len())),
        };
        if let Some(o) = n.output.first() {
            env.insert(o.as_str(), r);
        }
    }
    env.remove(sink)
        .ok_or_else(|| format!("{sink} is not computed"))
}
