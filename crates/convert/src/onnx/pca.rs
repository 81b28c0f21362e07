//! skl2onnx's PCA: `Sub(mean)`, `MatMul(componentsᵀ)`, optionally `Div(√explained_variance)`
//! (whitening; the square root of the constant is folded by the canonicaliser). Becomes a
//! `pca` stage, committed when something reads the projection.

use super::graph::{Node, Tensor};
use super::params::{bias, dim, f32_vec, weights};
use super::walker::{Val, Walker};
use crate::ConvertError;
use icebreak_format::StageSpec;

/// The steps of the PCA pattern.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Pca {
    /// `x - mean`.
    Centered { at: usize, mean: Vec<f64> },
    /// `(x - mean) · W`; `comps` is `n_out × n_in`.
    Pending {
        at: usize,
        mean: Vec<f64>,
        comps: Vec<f64>,
        n_out: usize,
    },
}

impl Walker<'_> {
    /// `x - mean` of the current features.
    pub(super) fn pca_center(
        &mut self,
        node: &Node<'_>,
        at: usize,
        mean: &Tensor,
    ) -> Result<(), ConvertError> {
        let width = self.rows(node, Val::Rows(at))?;
        self.before_estimator(node, "a PCA")?;
        let mean = bias(node, mean, width)?;
        self.set(node, 0, Val::Pca(Pca::Centered { at, mean }))
    }

    /// `(x - mean) · W`.
    pub(super) fn pca_project(
        &mut self,
        node: &Node<'_>,
        at: usize,
        mean: Vec<f64>,
        w: &Tensor,
    ) -> Result<(), ConvertError> {
        self.check_fresh(node, at)?;
        let n_in = self.width_at(at);
        let (n_out, comps) = weights(node, w, n_in, false)?;
        let pending = Pca::Pending {
            at,
            mean,
            comps,
            n_out,
        };
        self.set(node, 0, Val::Pca(pending))
    }

    /// `(x - mean) · W / whiten`: commits the stage. `None` when `a` is not a projection.
    pub(super) fn pca_whiten(
        &mut self,
        node: &Node<'_>,
        a: &Val,
        b: &Val,
    ) -> Result<Option<()>, ConvertError> {
        let (Val::Pca(p @ Pca::Pending { n_out, .. }), Val::Const(w)) = (a, b) else {
            return Ok(None);
        };
        let w = bias(node, w, *n_out)?;
        self.commit_pca(node, p.clone(), Some(w))?;
        self.set(node, 0, Val::Rows(self.stages.len()))?;
        Ok(Some(()))
    }

    /// Pushes a PCA stage: `(x - mean) · componentsᵀ / whiten`.
    pub(super) fn commit_pca(
        &mut self,
        node: &Node<'_>,
        p: Pca,
        whiten: Option<Vec<f64>>,
    ) -> Result<Val, ConvertError> {
        let (at, mean, comps) = match p {
            Pca::Centered { at, mean } => (at, mean, None),
            Pca::Pending {
                at,
                mean,
                comps,
                n_out,
            } => (at, mean, Some((comps, n_out))),
        };
        self.check_fresh(node, at)?;
        self.before_estimator(node, "a PCA")?;
        let Some((comps, n_out)) = comps else {
            return Err(node.err(
                "a mean subtracted from the features without the PCA projection (MatMul) that \
                 follows is not supported",
            ));
        };
        let n_in = self.width_at(at);
        let what = || node.at();
        if !self.input_f32 {
            // A double graph: f64 parameters, computed in f64 (made f32 again when the
            // pipeline has a stage that computes in f32). The f32 conversion is checked now.
            f32_vec(&mean, &what)?;
            f32_vec(&comps, &what)?;
            if let Some(w) = &whiten {
                f32_vec(w, &what)?;
            }
            self.stages.push(StageSpec::PcaF64 {
                n_in: dim("the PCA input width", n_in)?,
                n_out: dim("the PCA components", n_out)?,
                mean,
                components: comps,
                whiten,
            });
            return Ok(Val::Rows(self.stages.len()));
        }
        self.stages.push(StageSpec::Pca {
            n_in: dim("the PCA input width", n_in)?,
            n_out: dim("the PCA components", n_out)?,
            mean: f32_vec(&mean, &what)?,
            components: f32_vec(&comps, &what)?,
            whiten: whiten.map(|w| f32_vec(&w, &what)).transpose()?,
        });
        Ok(Val::Rows(self.stages.len()))
    }
}
