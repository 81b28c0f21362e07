"""Explanation speed of the icebreak Python package, one thread, against the libraries' own
Tree SHAP on the same fitted models: XGBoost ``pred_contribs=True``, LightGBM
``pred_contrib=True`` and ``shap.TreeExplainer(feature_perturbation="tree_path_dependent")``
for scikit-learn models.

    scripts/python-tests.sh -q -k describe               # builds the release wheel and the venv
    .venv-python/bin/python scripts/python-bench-explain.py

Prints one line per model: the median single-row call (median of 7 repeats) and rows per
second on a 2,000-row batch (median of 5 repeats), for icebreak's ``Model.explain`` and the
library's explanation. Every peer runs on one thread. Before timing, the two answers are
compared (largest difference relative to the row's scale, docs/FIDELITY.md).
"""

import os
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)

import icebreak  # noqa: E402

BATCH = 2000


def median_call(f, number, repeat=7):
    runs = timeit.repeat(f, number=number, repeat=repeat)
    return sorted(runs)[len(runs) // 2] / number


def as3(a, n, nf):
    return np.asarray(a, dtype=np.float64).reshape(n, -1, nf + 1)


def shap_call(est):
    import shap

    ex = shap.TreeExplainer(est, feature_perturbation="tree_path_dependent")

    def run(rows):
        sv = np.asarray(ex.shap_values(rows), dtype=np.float64)
        if sv.ndim == 2:
            sv = sv[:, None, :]
        else:
            sv = sv.transpose(0, 2, 1)
        bias = np.broadcast_to(np.asarray(ex.expected_value, dtype=np.float64).reshape(1, -1, 1),
                               (len(rows), sv.shape[1], 1))
        return np.concatenate([sv, bias], axis=2)

    return run


def bench(name, model, X, lib_call, lib_name):
    n, nf = X.shape
    batch = X[:BATCH]
    ours = as3(model.explain(batch), BATCH, nf)
    ref = as3(lib_call(batch), BATCH, nf)
    scale = np.maximum(1.0, np.abs(ref).sum(axis=2, keepdims=True))
    worst = float(np.max(np.abs(ours - ref) / scale))
    one = X[:1]
    t_one = median_call(lambda: model.explain(one), 200)
    t_one_lib = median_call(lambda: lib_call(one), 20)
    t_batch = median_call(lambda: model.explain(batch), 1, repeat=5)
    t_batch_lib = median_call(lambda: lib_call(batch), 1, repeat=5)
    print(
        f"{name:58s} one row {t_one * 1e6:9.1f} us vs {t_one_lib * 1e6:9.1f} us ({lib_name})"
        f" | batch {BATCH / t_batch:10,.0f} vs {BATCH / t_batch_lib:10,.0f} rows/s"
        f" | worst |diff|/scale {worst:.1e}",
        flush=True,
    )


def main():
    X, y = make_classification(n_samples=20000, n_features=30, n_informative=12, n_classes=3,
                               random_state=0)
    Xb, yb = X, (y == 0).astype(int)
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=1, random_state=0).fit(Xb, yb)
    bench("RandomForestClassifier, 100 trees, depth 10 (binary)", icebreak.convert(rf), Xb, shap_call(rf), "shap")
    gb = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(Xb, yb)
    bench("GradientBoostingClassifier, 100 trees, depth 3 (binary)", icebreak.convert(gb), Xb, shap_call(gb), "shap")
    hgb = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(Xb, yb)
    bench("HistGradientBoostingClassifier, 100 trees (binary)", icebreak.convert(hgb), Xb, shap_call(hgb), "shap")
    try:
        import xgboost as xgb

        xc = xgb.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1).fit(X, y)
        booster = xc.get_booster()
        booster.set_param({"nthread": 1})
        bench("XGBClassifier, 100 rounds x 3 classes, depth 6", icebreak.convert(xc), X,
              lambda rows: booster.predict(xgb.DMatrix(rows, nthread=1), pred_contribs=True), "xgboost")
    except ImportError:
        print("xgboost: not installed")
    try:
        import lightgbm as lgb

        lc = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1, verbose=-1).fit(X, y)
        bench("LGBMClassifier, 100 rounds x 3 classes, 31 leaves", icebreak.convert(lc), X,
              lambda rows: lc.booster_.predict(rows, pred_contrib=True, num_threads=1), "lightgbm")
    except ImportError:
        print("lightgbm: not installed")


if __name__ == "__main__":
    main()
