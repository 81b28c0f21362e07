//! skl2onnx's KMeans: `ReduceSumSquare(x)`, `Mul(0)` of it (a zero bias column),
//! `Gemm(x, C, zeros; alpha = -2, transB)`, `Add` of the two, `Add(‖c‖²)`, then `ArgMin`
//! for the label and `Sqrt` for the distances. Becomes a `kmeans` stage labelled `0..k`.

use super::graph::{Node, Tensor};
use super::params::{bias, dim, f32_vec, weights};
use super::registry::Op;
use super::walker::{unsupported, Out, Val, Walker};
use crate::ConvertError;
use icebreak_format::{LabelsSpec, StageSpec};

/// The operators this module owns alone.
pub(super) const OPS: &[Op] = &[
    Op::std("ReduceSumSquare", |w, n| w.km_row_squares(n)),
    Op::std("ArgMin", |w, n| w.km_argmin(n)),
    Op::std("Sqrt", |w, n| w.km_sqrt(n)),
];

/// The steps of the KMeans pattern.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Km {
    /// `Σ x_i²` per row.
    RowSq { at: usize },
    /// `√(Σ x_i²)` per row: the norm of skl2onnx's L2 `Normalizer` written in double
    /// (`ReduceSumSquare`, `Sqrt`, `Div`), which [`Walker::normalize_l2`] reads.
    RowNorm { at: usize },
    /// `|x|` of the features, and `Σ |x_i|` per row: skl2onnx's L1 `Normalizer` written in
    /// double (`Abs`, `ReduceSum`, `Div`).
    RowAbs { at: usize },
    /// See [`Km::RowAbs`].
    RowL1 { at: usize },
    /// `0 · Σ x_i²` (skl2onnx's zero bias column for its Gemm).
    Zero { at: usize },
    /// `-2 x · Cᵀ`; `centers` is `k × n_in`.
    Cross {
        at: usize,
        centers: Vec<f64>,
        k: usize,
    },
    /// `Σ x_i² - 2 x · Cᵀ`.
    Partial {
        at: usize,
        centers: Vec<f64>,
        k: usize,
    },
    /// Squared distances to the centres (the stage is pushed).
    Squared(Out),
}

impl Km {
    /// Whether the value is computed from the estimator's output (rather than the features).
    pub fn over_scores(&self) -> bool {
        matches!(self, Km::Squared(_))
    }
}

/// `x * c`: the zero column.
pub(super) fn mul_const(x: &Val, c: &Tensor) -> Option<Val> {
    match x {
        Val::Km(Km::RowSq { at }) if c.floats().is_some_and(|v| v.iter().all(|&x| x == 0.0)) => {
            Some(Val::Km(Km::Zero { at: *at }))
        }
        _ => None,
    }
}

/// `a + b`: the row squares plus the cross term.
pub(super) fn add_pair(a: &Val, b: &Val) -> Option<Val> {
    match (a, b) {
        (
            Val::Km(Km::RowSq { at }),
            Val::Km(Km::Cross {
                at: at2,
                centers,
                k,
            }),
        )
        | (
            Val::Km(Km::Cross {
                at: at2,
                centers,
                k,
            }),
            Val::Km(Km::RowSq { at }),
        ) if at == at2 => Some(Val::Km(Km::Partial {
            at: *at,
            centers: centers.clone(),
            k: *k,
        })),
        _ => None,
    }
}

impl Walker<'_> {
    /// `Gemm(x, C, zeros)` with the zero column as its third input: `-2 x · Cᵀ`.
    pub(super) fn km_gemm(
        &mut self,
        node: &Node<'_>,
        x: &Val,
        at: usize,
        (alpha, beta, trans_b): (f64, f64, bool),
        w: &Tensor,
    ) -> Result<(), ConvertError> {
        if *x != Val::Rows(at) || at != self.stages.len() {
            return Err(node.err("the KMeans pattern reads other features"));
        }
        if alpha != -2.0 || beta != 1.0 || !trans_b {
            return Err(node.err(format_args!(
                "KMeans pattern with alpha {alpha}, beta {beta}, transB {trans_b}: \
                 expected -2, 1, 1"
            )));
        }
        let n_in = self.width_at(at);
        let (k, centers) = weights(node, w, n_in, true)?;
        self.set(node, 0, Val::Km(Km::Cross { at, centers, k }))
    }

    /// `partial + ‖c‖²`: the squared distances; pushes the stage.
    pub(super) fn km_add_const(
        &mut self,
        node: &Node<'_>,
        km: Km,
        norms: &Tensor,
    ) -> Result<Val, ConvertError> {
        let Km::Partial { at, centers, k } = km else {
            return Err(unsupported(
                node,
                "adding a constant to {}",
                &[&Val::Km(km)],
            ));
        };
        self.check_fresh(node, at)?;
        let n_in = self.width_at(at);
        let cc = bias(node, norms, k)?;
        // The constant must be Σ_i c_i² of each centre (the graph's squared distances are
        // what icebreak's distances square to).
        for (j, &v) in cc.iter().enumerate() {
            let want: f64 = centers[j * n_in..(j + 1) * n_in]
                .iter()
                .map(|c| c * c)
                .sum();
            if (v - want).abs() > 1e-5 * want.abs().max(1.0) {
                return Err(node.err(format_args!(
                    "the KMeans pattern's constant {v} is not the squared norm {want} of centre {j}"
                )));
            }
        }
        let what = || node.at();
        let c32 = f32_vec(&centers, &what)?;
        self.stages.push(if self.input_f32 {
            StageSpec::KMeans {
                n_in: dim("the KMeans input width", n_in)?,
                k: dim("the KMeans clusters", k)?,
                centers: c32,
            }
        } else {
            // A double graph: f64 centres, computed in f64 (made f32 again when the pipeline
            // has a stage that computes in f32).
            StageSpec::KMeansF64 {
                n_in: dim("the KMeans input width", n_in)?,
                k: dim("the KMeans clusters", k)?,
                centers,
            }
        });
        self.set_labels(node, LabelsSpec::Int((0..k as i64).collect()))?;
        Ok(Val::Km(Km::Squared(Out::raw(k))))
    }

    fn km_row_squares(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["axes", "keepdims"])?;
        if node.ints("axes")? != Some(&[1][..]) || node.int("keepdims")?.unwrap_or(1) != 1 {
            return Err(node.err("only a per-row sum kept as a column is supported"));
        }
        let v = self.input(&node, 0)?.clone();
        let at = self.stages.len();
        self.rows(&node, v)?;
        self.before_estimator(&node, "a KMeans")?;
        self.set(&node, 0, Val::Km(Km::RowSq { at }))
    }

    fn km_argmin(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&["axis", "keepdims", "select_last_index"])?;
        if !matches!(node.int("axis")?, Some(1) | Some(-1))
            || node.int("select_last_index")?.unwrap_or(0) != 0
        {
            return Err(node.err("only axis 1, first of ties, is supported"));
        }
        match self.input(&node, 0)?.clone() {
            Val::Km(Km::Squared(_)) => self.set(&node, 0, Val::Label),
            other => Err(unsupported(&node, "the arg-min of {}", &[&other])),
        }
    }

    /// The distances; a square root of constants is folded by the canonicaliser.
    fn km_sqrt(&mut self, node: Node<'_>) -> Result<(), ConvertError> {
        node.arity(1..=1, 1)?;
        node.only(&[])?;
        match self.input(&node, 0)?.clone() {
            Val::Km(Km::Squared(o)) => self.set(&node, 0, Val::Out(o)),
            Val::Km(Km::RowSq { at }) => self.set(&node, 0, Val::Km(Km::RowNorm { at })),
            other => Err(unsupported(&node, "the square root of {}", &[&other])),
        }
    }
}
