//! Explained answers: `"explain": true` or `"explain": {"top": k}` in a request adds
//! `contributions` (every feature's contribution to the raw score, keyed by feature name,
//! and the bias) and `reasons` (the `k` features of largest absolute contribution, with
//! their values) to its answer.
//!
//! The numbers come from [`icebreak_engine::Explainer`]: Tree SHAP for tree ensembles,
//! `coef × x` for linear models, in margin space (log-odds of a binary classifier's positive
//! class, each class's margin for a multi-class model, the raw value before any link for a
//! regression). A model with one raw output answers a flat object and a list; a model with
//! several (multi-class, multi-output) answers one of each per output, keyed by class label
//! (or output name, or index).

use crate::error::{Error, ErrorKind};
use icebreak_engine::{Contributions, ExplainScratch, Explainer, Model};
use icebreak_format::{limits, Apr, Labels, Precision, Task};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

/// What a request asks to be explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explain {
    /// Reasons to list (per output): `1 ..=` [`limits::MAX_EXPLAIN_TOP`].
    pub top: usize,
}

impl Explain {
    /// Reasons listed for `"explain": true`.
    pub const DEFAULT_TOP: usize = 5;
}

impl Default for Explain {
    fn default() -> Self {
        Explain {
            top: Self::DEFAULT_TOP,
        }
    }
}

/// The `"explain"` field of a request: `true` ([`Explain::DEFAULT_TOP`] reasons), `false`
/// or `null` (no explanation), or `{"top": k}` with `1 <= k <=`
/// [`limits::MAX_EXPLAIN_TOP`]. Anything else fails to deserialise, saying what it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExplainField(pub Option<Explain>);

const EXPLAIN_EXPECTED: &str = "true, false or {\"top\": k}";

impl<'de> Deserialize<'de> for ExplainField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExplainField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPLAIN_EXPECTED)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ExplainField, E> {
                Ok(ExplainField(v.then(Explain::default)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ExplainField, E> {
                Ok(ExplainField(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<ExplainField, E> {
                Ok(ExplainField(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExplainField, A::Error> {
                let mut top: Option<u64> = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key != "top" {
                        return Err(de::Error::custom(format_args!(
                            "\"explain\" takes {EXPLAIN_EXPECTED}, not the key {key:?}"
                        )));
                    }
                    top = Some(map.next_value::<u64>()?);
                }
                let top = top.unwrap_or(Explain::DEFAULT_TOP as u64);
                let max = limits::MAX_EXPLAIN_TOP;
                match usize::try_from(top) {
                    Ok(k) if (1..=max).contains(&k) => Ok(ExplainField(Some(Explain { top: k }))),
                    _ => Err(de::Error::custom(format_args!(
                        "\"explain\": \"top\" is {top}; it must be 1 to {max}"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The names an explained answer uses, built once per model.
#[derive(Debug)]
pub(crate) struct Keys {
    /// One key per feature: its name, or `f<i>` when the model has no names, when two
    /// features share one, or when one is named like the bias.
    features: Vec<Cow<'static, str>>,
    /// Key of each raw output, when there are several.
    outputs: Option<Vec<String>>,
}

/// The bias's key in `contributions`.
pub const BIAS_KEY: &str = "bias";

impl Keys {
    fn of(apr: &Apr<'static>, n_outputs: usize) -> Keys {
        let n = apr.input().n_features as usize;
        let names: Option<Vec<&'static str>> =
            apr.input().feature_names.map(|l| l.iter().collect());
        let distinct = |v: &[&str]| {
            let mut s: Vec<&str> = v.to_vec();
            s.sort_unstable();
            s.windows(2).all(|w| w[0] != w[1]) && !s.contains(&BIAS_KEY)
        };
        let features = match names {
            Some(v) if v.len() == n && distinct(&v) => v.into_iter().map(Cow::Borrowed).collect(),
            _ => (0..n).map(|i| Cow::Owned(format!("f{i}"))).collect(),
        };
        let outputs = (n_outputs > 1).then(|| {
            let out = apr.output();
            (0..n_outputs)
                .map(|j| match (&out.labels, out.task) {
                    (Labels::Int(v), Task::Classification) => {
                        v.get(j).map_or(j.to_string(), |l| l.to_string())
                    }
                    (Labels::Str(s), Task::Classification) => {
                        s.get(j).map_or(j.to_string(), str::to_owned)
                    }
                    _ => out
                        .output_names
                        .and_then(|l| l.get(j))
                        .map_or(j.to_string(), str::to_owned),
                })
                .collect()
        });
        Keys { features, outputs }
    }
}

/// A model made ready to explain (on the first request that asks).
#[derive(Debug)]
pub(crate) struct Explaining {
    explainer: Explainer<'static>,
    keys: Arc<Keys>,
    precision: Precision,
}

thread_local! {
    static EXPLAIN_SCRATCH: RefCell<(ExplainScratch, Contributions)> = RefCell::new(Default::default());
}

impl Explaining {
    /// Prepares `model` (of `apr`) for explanations, or says why it cannot be.
    pub(crate) fn new(apr: &Apr<'static>, model: &Model<'static>) -> Result<Explaining, Error> {
        let explainer = model
            .explainer()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let values = explainer
            .n_outputs()
            .saturating_mul(explainer.n_features().saturating_add(1));
        if values > limits::MAX_EXPLAIN_VALUES {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "an explanation of this model holds {values} values, over the limit of {} \
                     (limits::MAX_EXPLAIN_VALUES)",
                    limits::MAX_EXPLAIN_VALUES
                ),
            ));
        }
        Ok(Explaining {
            keys: Arc::new(Keys::of(apr, explainer.n_outputs())),
            explainer,
            precision: apr.output().precision,
        })
    }

    /// Values one explained answer holds (for sizing answers).
    pub(crate) fn values(&self) -> usize {
        self.explainer.n_outputs() * (self.explainer.n_features() + 1)
    }

    /// Explains one row (already checked by a prediction).
    pub(crate) fn explain(
        &self,
        x: &[f64],
        e: Explain,
    ) -> Result<(FeatureContributions, Reasons), Error> {
        let values = EXPLAIN_SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let (scratch, out) = &mut *guard;
            self.explainer.explain_row(x, scratch, out)?;
            Ok::<_, Error>(out.values.clone())
        })?;
        let n = self.explainer.n_features();
        let reasons = (0..self.explainer.n_outputs())
            .map(|j| top_reasons(&values[j * (n + 1)..j * (n + 1) + n], x, e.top))
            .collect();
        Ok((
            FeatureContributions {
                keys: Arc::clone(&self.keys),
                values,
                precision: self.precision,
            },
            Reasons {
                keys: Arc::clone(&self.keys),
                reasons,
                precision: self.precision,
            },
        ))
    }
}

/// The `top` features of largest absolute contribution (ties: the lower index first),
/// leaving out those that contribute exactly zero.
fn top_reasons(phi: &[f64], x: &[f64], top: usize) -> Vec<Reason> {
    let mut idx: Vec<usize> = (0..phi.len()).filter(|&i| phi[i] != 0.0).collect();
    idx.sort_by(|&a, &b| phi[b].abs().total_cmp(&phi[a].abs()).then(a.cmp(&b)));
    idx.truncate(top);
    idx.into_iter()
        .map(|i| Reason {
            feature: i,
            value: x.get(i).copied().unwrap_or(f64::NAN),
            contribution: phi[i],
        })
        .collect()
}

fn number<S: Serializer>(v: f64, precision: Precision, s: S) -> Result<S::Ok, S::Error> {
    match precision {
        Precision::F32 => s.serialize_f32(v as f32),
        Precision::F64 => s.serialize_f64(v),
    }
}

struct Num(f64, Precision);
impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        number(self.0, self.1, s)
    }
}

/// Every feature's contribution to the raw score(s), and the bias, keyed by feature name
/// (per output when there are several). They add up to the raw score.
#[derive(Debug, Clone)]
pub struct FeatureContributions {
    keys: Arc<Keys>,
    /// `n_outputs × (n_features + 1)` values, the bias last in each output's run.
    values: Vec<f64>,
    precision: Precision,
}

impl PartialEq for FeatureContributions {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values && self.precision == other.precision
    }
}

impl FeatureContributions {
    /// The values: for each raw output, one per feature then the bias.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

struct OneOutput<'a> {
    keys: &'a Keys,
    values: &'a [f64],
    precision: Precision,
}

impl Serialize for OneOutput<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.keys.features.len();
        let mut m = s.serialize_map(Some(n + 1))?;
        for (k, v) in self.keys.features.iter().zip(self.values) {
            m.serialize_entry(k.as_ref(), &Num(*v, self.precision))?;
        }
        m.serialize_entry(
            BIAS_KEY,
            &Num(self.values.get(n).copied().unwrap_or(0.0), self.precision),
        )?;
        m.end()
    }
}

impl Serialize for FeatureContributions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let w = self.keys.features.len() + 1;
        let one = |j: usize| OneOutput {
            keys: &self.keys,
            values: self.values.get(j * w..(j + 1) * w).unwrap_or(&[]),
            precision: self.precision,
        };
        match &self.keys.outputs {
            None => one(0).serialize(s),
            Some(outputs) => {
                let mut m = s.serialize_map(Some(outputs.len()))?;
                for (j, k) in outputs.iter().enumerate() {
                    m.serialize_entry(k, &one(j))?;
                }
                m.end()
            }
        }
    }
}

/// One reason: a feature, its value in the request (`null` when missing) and its
/// contribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reason {
    /// Feature index.
    pub feature: usize,
    /// The feature's value (NaN when missing).
    pub value: f64,
    /// Its contribution.
    pub contribution: f64,
}

/// The top reasons, per output when there are several.
#[derive(Debug, Clone)]
pub struct Reasons {
    keys: Arc<Keys>,
    reasons: Vec<Vec<Reason>>,
    precision: Precision,
}

impl PartialEq for Reasons {
    fn eq(&self, other: &Self) -> bool {
        self.reasons == other.reasons
    }
}

impl Reasons {
    /// The reasons of each raw output, largest absolute contribution first.
    pub fn by_output(&self) -> &[Vec<Reason>] {
        &self.reasons
    }
}

struct ReasonJson<'a>(&'a Keys, Reason, Precision);

impl Serialize for ReasonJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.1;
        let mut st = s.serialize_struct("Reason", 3)?;
        st.serialize_field(
            "feature",
            self.0.features.get(r.feature).map_or("", |k| k.as_ref()),
        )?;
        st.serialize_field("value", &(!r.value.is_nan()).then_some(r.value))?;
        st.serialize_field("contribution", &Num(r.contribution, self.2))?;
        st.end()
    }
}

struct ReasonList<'a>(&'a Keys, &'a [Reason], Precision);

impl Serialize for ReasonList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.1.len()))?;
        for r in self.1 {
            seq.serialize_element(&ReasonJson(self.0, *r, self.2))?;
        }
        seq.end()
    }
}

impl Serialize for Reasons {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.keys.outputs {
            None => ReasonList(
                &self.keys,
                self.reasons.first().map_or(&[], Vec::as_slice),
                self.precision,
            )
            .serialize(s),
            Some(outputs) => {
                let mut m = s.serialize_map(Some(outputs.len()))?;
                for (k, r) in outputs.iter().zip(&self.reasons) {
                    m.serialize_entry(k, &ReasonList(&self.keys, r, self.precision))?;
                }
                m.end()
            }
        }
    }
}
