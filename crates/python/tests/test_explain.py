"""Model.explain against the libraries' own contributions.

Tolerances are those of docs/FIDELITY.md, "Explanations": each value within `tol × scale`,
the scale of a row and output being max(1, Σ |reference contributions and bias|).
"""

import glob
import itertools
import math
import os

import numpy as np
import pytest

import icebreak

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# docs/FIDELITY.md, "Explanations" (Python package rows).
TOL_XGBOOST = 1e-5
TOL_LIGHTGBM = 1e-9
TOL_SHAP = 1e-9
TOL_BRUTE = 1e-9


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def with_nan(X, rng, rate=0.1):
    """A copy of X with a share of its values replaced by NaN."""
    X = np.array(X, dtype=np.float64)
    X[rng.random(X.shape) < rate] = np.nan
    return X


def rows_of(X, rng, n=60):
    """Rows to explain: the first training rows, perturbed rows, and rows far outside."""
    X = np.asarray(X, dtype=np.float64)
    noise = X[:n] + rng.normal(scale=np.nanstd(X, axis=0) * 0.2 + 1e-3, size=X[:n].shape)
    return np.vstack([X[:n], noise, X[:5] * 10.0, -X[:5]])


def as3(a, n_rows, n_features):
    """Contributions as (rows, outputs, features + 1)."""
    return np.asarray(a, dtype=np.float64).reshape(n_rows, -1, n_features + 1)


def check_close(got, ref, tol):
    """Every value within tol × scale; returns the worst ratio to the scale."""
    assert got.shape == ref.shape, (got.shape, ref.shape)
    scale = np.maximum(1.0, np.abs(ref).sum(axis=-1, keepdims=True))
    err = np.abs(got - ref) / scale
    assert np.all(err <= tol), (float(err.max()), np.unravel_index(np.argmax(err), err.shape))
    return float(err.max())


def check_sums_to_margin(m, X, got, tol):
    """Each row's contributions (and bias) add up to icebreak's own raw score."""
    n, nf = X.shape
    margin = np.asarray(m.decision_function(X), dtype=np.float64).reshape(n, -1)
    c = as3(got, n, nf)
    total = c.sum(axis=2)
    scale = np.maximum(1.0, np.abs(c).sum(axis=2))
    assert np.all(np.abs(total - margin) <= tol * scale), float(np.max(np.abs(total - margin) / scale))


# --- XGBoost and LightGBM: the libraries' own contributions -------------------------------


def test_xgboost_matches_pred_contribs(cancer, iris, diabetes, rng):
    xgb = pytest.importorskip("xgboost")
    cases = [
        ("binary", xgb.XGBClassifier(n_estimators=30, max_depth=4), *cancer, True),
        ("multiclass", xgb.XGBClassifier(n_estimators=20, max_depth=3), *iris, True),
        ("regression", xgb.XGBRegressor(n_estimators=30, max_depth=5), *diabetes, False),
    ]
    for name, est, X, y, nan in cases:
        X = with_nan(X, rng) if nan else np.asarray(X, dtype=np.float64)
        est.fit(X, y)
        m = icebreak.convert(est)
        R = rows_of(X, rng)
        got = m.explain(R)
        ref = est.get_booster().predict(xgb.DMatrix(R), pred_contribs=True)
        assert got.shape == ref.shape, name
        assert got.dtype == np.float64
        check_close(as3(got, *R.shape), as3(ref, *R.shape), TOL_XGBOOST)
        check_sums_to_margin(m, R, got, TOL_XGBOOST)


def test_lightgbm_matches_pred_contrib(cancer, iris, diabetes, rng):
    lgb = pytest.importorskip("lightgbm")
    cases = [
        ("binary", lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1), *cancer, True),
        ("multiclass", lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1), *iris, True),
        ("regression", lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1), *diabetes, False),
    ]
    for name, est, X, y, nan in cases:
        X = with_nan(X, rng) if nan else np.asarray(X, dtype=np.float64)
        est.fit(X, y)
        m = icebreak.convert(est)
        R = rows_of(X, rng)
        got = m.explain(R)
        # LightGBM lays the classes side by side: (rows, classes × (features + 1)).
        ref = est.booster_.predict(R, pred_contrib=True)
        n_out = 3 if name == "multiclass" else 1
        assert got.shape == ((len(R), n_out, R.shape[1] + 1) if n_out > 1 else ref.shape), name
        check_close(as3(got, *R.shape), as3(ref, *R.shape), TOL_LIGHTGBM)
        check_sums_to_margin(m, R, got, TOL_LIGHTGBM)


# --- scikit-learn against shap.TreeExplainer -----------------------------------------------


def shap_reference(est, R):
    """shap's path-dependent Tree SHAP as (rows, outputs, features + 1), the bias last."""
    shap = pytest.importorskip("shap")
    ex = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")
    sv = np.asarray(ex.shap_values(R), dtype=np.float64)
    n, nf = R.shape
    if sv.ndim == 3:  # (rows, features, outputs)
        sv = sv.transpose(0, 2, 1)
    else:
        sv = sv.reshape(n, 1, nf)
    bias = np.broadcast_to(np.asarray(ex.expected_value, dtype=np.float64).reshape(1, -1, 1), (n, sv.shape[1], 1))
    return np.concatenate([sv, bias], axis=2)


SHAP_CASES = {
    "DecisionTreeClassifier": (lambda: DecisionTreeClassifier(max_depth=6, random_state=0), "cancer"),
    "DecisionTreeRegressor": (lambda: DecisionTreeRegressor(max_depth=8, random_state=0), "diabetes"),
    "RandomForestClassifier": (lambda: RandomForestClassifier(n_estimators=20, max_depth=7, random_state=0), "cancer"),
    "RandomForestClassifier-multiclass": (lambda: RandomForestClassifier(n_estimators=15, random_state=0), "iris"),
    "RandomForestRegressor": (lambda: RandomForestRegressor(n_estimators=20, max_depth=8, random_state=0), "diabetes"),
    "ExtraTreesClassifier": (lambda: ExtraTreesClassifier(n_estimators=15, max_depth=6, random_state=0), "cancer"),
    "ExtraTreesRegressor": (lambda: ExtraTreesRegressor(n_estimators=15, max_depth=7, random_state=0), "diabetes"),
    "GradientBoostingClassifier": (lambda: GradientBoostingClassifier(n_estimators=30, random_state=0), "cancer"),
    "GradientBoostingRegressor": (
        lambda: GradientBoostingRegressor(n_estimators=30, subsample=0.7, random_state=0), "diabetes"),
    "HistGradientBoostingClassifier": (
        lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0), "cancer-nan"),
    "HistGradientBoostingRegressor": (
        lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0), "diabetes-nan"),
}


@pytest.mark.parametrize("case", sorted(SHAP_CASES))
def test_sklearn_matches_shap(case, cancer, iris, diabetes, rng):
    make, data = SHAP_CASES[case]
    X, y = {"cancer": cancer, "iris": iris, "diabetes": diabetes}[data.split("-")[0]]
    X = with_nan(X, rng) if data.endswith("-nan") else np.asarray(X, dtype=np.float64)
    # Regression trees on diabetes would give leaves of one sample; weighted_n_node_samples
    # differ from counts with sample weights, so fit some models with them.
    weights = rng.uniform(0.5, 2.0, size=len(y)) if "Forest" in case or "Regressor" in case else None
    est = make().fit(X, y, sample_weight=weights)
    m = icebreak.convert(est)
    R = rows_of(X, rng, n=40)
    got = m.explain(R)
    n, nf = R.shape
    ref = shap_reference(est, R)
    check_close(as3(got, n, nf), ref, TOL_SHAP)
    if ref.shape[1] == 1:
        assert got.shape == (n, nf + 1)
    else:
        assert got.shape == (n, ref.shape[1], nf + 1)
    # Sum to the raw score: a forest's averaged leaves (probabilities for a classifier).
    if hasattr(est, "decision_function"):
        check_sums_to_margin(m, R, got, TOL_SHAP)
    else:
        raw = est.predict_proba(R) if hasattr(est, "predict_proba") else est.predict(R)
        c = as3(got, n, nf)
        assert np.all(np.abs(c.sum(axis=2) - np.asarray(raw).reshape(n, -1)) <= TOL_SHAP * np.abs(c).sum(axis=2).clip(1))


# --- Brute force: Shapley values by definition (models shap does not take) -----------------


def _walk_value(t, node, x, present):
    """E[f(x) | x_S] over one tree (Lundberg et al. 2018, Algorithm 1), S the present set."""
    if t["leaf"][node]:
        return t["value"][node]
    f = t["feature"][node]
    left, right = t["left"][node], t["right"][node]
    if f in present:
        v = x[f]
        if math.isnan(v):
            goes_left = t["nan_left"][node]
        else:
            goes_left = v <= t["threshold"][node]
        return _walk_value(t, left if goes_left else right, x, present)
    c = t["cover"]
    return (_walk_value(t, left, x, present) * c[left] + _walk_value(t, right, x, present) * c[right]) / c[node]


def brute_force(trees, targets, base, n_outputs, x, scale=1.0):
    """Shapley values of v(S) = base + scale · Σ trees E[tree(x) | x_S], every subset of
    features, and the bias v(∅): (outputs, features + 1)."""
    nf = len(x)
    v = {}
    for r in range(nf + 1):
        for S in itertools.combinations(range(nf), r):
            out = np.array(base, dtype=np.float64)
            for t, k in zip(trees, targets):
                out[k] += scale * _walk_value(t, 0, x, set(S))
            v[S] = out
    phi = np.zeros((n_outputs, nf + 1))
    for i in range(nf):
        others = [j for j in range(nf) if j != i]
        for r in range(nf):
            w = math.factorial(r) * math.factorial(nf - r - 1) / math.factorial(nf)
            for S in itertools.combinations(others, r):
                phi[:, i] += w * (v[tuple(sorted(S + (i,)))] - v[S])
    phi[:, nf] = v[()]
    return phi


def _sk_tree(tree_, values, round_f32):
    left = np.asarray(tree_.children_left)
    return {
        "leaf": left < 0,
        "left": left,
        "right": np.asarray(tree_.children_right),
        "feature": np.asarray(tree_.feature),
        "threshold": np.asarray(tree_.threshold),
        "value": values,
        "cover": np.asarray(tree_.weighted_n_node_samples, dtype=np.float64),
        "nan_left": np.asarray(getattr(tree_, "missing_go_to_left", np.zeros(tree_.node_count))),
        "round_f32": round_f32,
    }


def _explain_brute(trees, targets, base, n_outputs, R, scale=1.0, round_f32=True):
    out = []
    for x in R:
        x = x.astype(np.float32).astype(np.float64) if round_f32 else x
        out.append(brute_force(trees, targets, base, n_outputs, x, scale))
    return np.array(out)


def test_multiclass_gradient_boosting_is_shapley_by_brute_force(iris, rng):
    X, y = iris
    est = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0).fit(X, y)
    m = icebreak.convert(est)
    R = rows_of(X, rng, n=12)
    lr = est.learning_rate
    trees, targets = [], []
    for stage in est.estimators_:
        for k, member in enumerate(stage):
            trees.append(_sk_tree(member.tree_, lr * member.tree_.value.reshape(-1), True))
            targets.append(k)
    base = est._raw_predict_init(np.zeros((1, X.shape[1]), dtype=np.float32)).ravel()
    ref = _explain_brute(trees, targets, base, 3, R)
    got = m.explain(R)
    assert got.shape == (len(R), 3, X.shape[1] + 1)
    check_close(got, ref, TOL_BRUTE)
    check_sums_to_margin(m, R, got, TOL_BRUTE)


def test_multiclass_hist_gradient_boosting_is_shapley_by_brute_force(iris, rng):
    X, y = iris
    X = with_nan(X, rng)
    est = HistGradientBoostingClassifier(max_iter=6, max_leaf_nodes=8, random_state=0).fit(X, y)
    m = icebreak.convert(est)
    R = rows_of(X, rng, n=12)
    trees, targets = [], []
    for iteration in est._predictors:
        for k, p in enumerate(iteration):
            n = p.nodes
            trees.append({
                "leaf": n["is_leaf"].astype(bool), "left": n["left"], "right": n["right"],
                "feature": n["feature_idx"], "threshold": n["num_threshold"], "value": n["value"],
                "cover": n["count"].astype(np.float64), "nan_left": n["missing_go_to_left"],
            })
            targets.append(k)
    base = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    ref = _explain_brute(trees, targets, base, 3, R, round_f32=False)
    got = m.explain(R)
    check_close(got, ref, TOL_BRUTE)
    check_sums_to_margin(m, R, got, TOL_BRUTE)


def test_random_forest_is_averaged_shapley_by_brute_force(iris, rng):
    X, y = iris
    est = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    m = icebreak.convert(est)
    R = rows_of(X, rng, n=10)
    trees = [_sk_tree(e.tree_, e.tree_.value.reshape(-1), True) for e in est.estimators_]
    ref = _explain_brute(trees, [0] * len(trees), [0.0], 1, R, scale=1.0 / len(trees))
    got = m.explain(R)
    check_close(as3(got, *R.shape), ref, TOL_BRUTE)
    # A forest's prediction is the mean of its trees: the contributions add up to it.
    assert np.all(np.abs(got.sum(axis=1) - est.predict(R)) <= 1e-12 * np.abs(got).sum(axis=1).clip(1))


# --- Linear models, reasons, inputs ---------------------------------------------------------


def test_standardised_logistic_regression(cancer):
    X, y = cancer
    pipe = Pipeline([("s", StandardScaler()), ("lr", LogisticRegression(max_iter=2000))]).fit(X, y)
    m = icebreak.convert(pipe)
    got = m.explain(X[:50])
    s, lr = pipe.named_steps["s"], pipe.named_steps["lr"]
    ref = np.hstack([(X[:50] - s.mean_) / s.scale_ * lr.coef_[0], np.full((50, 1), lr.intercept_[0])])
    check_close(got, ref, 1e-5)
    check_sums_to_margin(m, X[:50], got, 1e-5)


def test_top_reasons(cancer, iris, rng):
    X, y = iris
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    m = icebreak.convert(est)
    R = rows_of(X, rng, n=20)
    c, reasons = m.explain(R, top=2)
    assert reasons.shape == (len(R), 3, 2) and reasons.dtype == np.int64
    np.testing.assert_array_equal(c, m.explain(R))
    order = np.argsort(-np.abs(c[:, :, :-1]), axis=2, kind="stable")[:, :, :2]
    np.testing.assert_array_equal(reasons, order)
    # More reasons than features: every feature, ranked.
    assert m.explain(R, top=50)[1].shape == (len(R), 3, 4)
    Xc, yc = cancer
    b = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(Xc, yc)
    c, reasons = icebreak.convert(b).explain(Xc[:7], top=5)
    assert c.shape == (7, 31) and reasons.shape == (7, 5)
    np.testing.assert_array_equal(reasons, np.argsort(-np.abs(c[:, :-1]), axis=1, kind="stable")[:, :5])
    with pytest.raises(icebreak.IcebreakError, match="top"):
        m.explain(R, top=0)


def test_dataframes_threads_and_empty_batches(diabetes, rng):
    pd = pytest.importorskip("pandas")
    X, y = diabetes
    names = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=names)
    est = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(frame, y)
    m = icebreak.convert(est)
    R = np.vstack([X] * 3)  # over 1000 rows: several threads
    ref = m.explain(R)
    np.testing.assert_array_equal(m.explain(R, n_threads=4), ref)
    shuffled = pd.DataFrame(R, columns=names)[names[::-1]]
    np.testing.assert_array_equal(m.explain(shuffled), ref)
    np.testing.assert_array_equal(m.explain(R.astype(np.float32)), m.explain(R.astype(np.float32).astype(np.float64)))
    assert m.explain(R[:0]).shape == (0, X.shape[1] + 1)
    with pytest.raises(icebreak.IcebreakError, match="features per row"):
        m.explain(R[:, :5])


# --- Models that cannot explain -------------------------------------------------------------


def test_models_without_covers_are_clear_errors(diabetes, iris, rng):
    X, y = diabetes
    Xc = np.array(X)
    Xc[:, 1] = (X[:, 1] > 0).astype(np.float64)  # sex as two codes
    Xc[:, 0] = rng.integers(0, 6, size=len(X))
    hgb = HistGradientBoostingRegressor(max_iter=10, categorical_features=[0, 1], random_state=0).fit(Xc, y)
    m = icebreak.convert(hgb)
    np.testing.assert_allclose(m.predict(Xc[:20]), hgb.predict(Xc[:20]), rtol=0, atol=1e-12)
    with pytest.raises(icebreak.IcebreakError, match="no node covers.*categorical splits"):
        m.explain(Xc[:5])
    # The same model without categorical features explains.
    plain = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(Xc, y)
    assert icebreak.convert(plain).explain(Xc[:5]).shape == (5, X.shape[1] + 1)
    # ONNX tree ensembles carry no covers.
    onnx = sorted(glob.glob(os.path.join(ROOT, "fixtures", "onnx_matrix", "tree_classifier", "*.onnx")))
    if onnx:
        tm = icebreak.convert(onnx[0])
        with pytest.raises(icebreak.IcebreakError, match="no node covers"):
            tm.explain(np.zeros((1, tm.n_features_in_)))
    # Not a tree ensemble nor a linear model.
    Xi, yi = iris
    mlp = MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(Xi, yi)
    with pytest.raises(icebreak.IcebreakError, match="cannot be explained"):
        icebreak.convert(mlp).explain(Xi[:2])
    # Covers survive the file: a saved and loaded model explains the same.
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(Xi, yi)
    m = icebreak.convert(rf)
    np.testing.assert_array_equal(icebreak.Model.from_bytes(m.to_bytes()).explain(Xi), m.explain(Xi))


def test_explanations_beyond_the_limit_are_refused(rng):
    # 1,100 outputs × (1,000 features + bias) exceeds limits::MAX_EXPLAIN_VALUES (2^20).
    from sklearn.linear_model import Ridge

    X = rng.normal(size=(20, 1000))
    Y = rng.normal(size=(20, 1100))
    m = icebreak.convert(Ridge().fit(X, Y))
    assert m.predict(X[:2]).shape == (2, 1100)
    with pytest.raises(icebreak.IcebreakError, match="MAX_EXPLAIN_VALUES"):
        m.explain(X[:2])
    # Just under the limit explains.
    m = icebreak.convert(Ridge().fit(X, Y[:, :1000]))
    c = m.explain(X[:2])
    assert c.shape == (2, 1000, 1001)
    np.testing.assert_allclose(c.sum(axis=2), m.decision_function(X[:2]), rtol=1e-5, atol=1e-5)
