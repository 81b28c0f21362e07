"""Single-row latency and batch throughput of the icebreak Python package, one thread,
against the libraries' own predict on the same fitted models.

    .venv-python/bin/python scripts/python-bench.py      (after scripts/python-tests.sh)

Prints one line per model: the median single-row call (``predict_proba`` of one row, or
``predict`` for regressors) and batch rows per second (10,000 rows), icebreak and library.
"""

import os
import timeit

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import icebreak  # noqa: E402


def median_call(f, number):
    runs = timeit.repeat(f, number=number, repeat=7)
    return sorted(runs)[3] / number


def bench(name, obj, method, X, lib_call):
    m = icebreak.convert(obj)
    row = X[:1]
    ours = getattr(m, method)
    one_ours = median_call(lambda: ours(row), 2000)
    one_lib = median_call(lambda: lib_call(row), 200)
    batch = X[:10_000]
    b_ours = median_call(lambda: ours(batch), 3)
    b_lib = median_call(lambda: lib_call(batch), 3)
    print(
        f"{name:28s} one row: icebreak {one_ours * 1e6:8.2f} us, library {one_lib * 1e6:8.1f} us | "
        f"batch: icebreak {len(batch) / b_ours:12,.0f} rows/s, library {len(batch) / b_lib:12,.0f} rows/s"
    )


def main():
    X, y = make_classification(n_samples=20_000, n_features=30, n_informative=10, n_classes=3, random_state=0)
    logreg = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=1000))]).fit(X, y)
    bench("logreg+scaler (30 feat, 3 cl)", logreg, "predict_proba", X, logreg.predict_proba)
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=1, random_state=0).fit(X, y)
    bench("random forest (100 x depth 10)", rf, "predict_proba", X, rf.predict_proba)
    try:
        import xgboost as xgb
    except ImportError:
        return
    xg = xgb.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1, random_state=0).fit(X, y)
    bench("xgboost (100 rounds x 3 cl)", xg, "predict_proba", X, xg.predict_proba)
    try:
        import lightgbm as lgb
    except ImportError:
        return
    lg = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1, verbose=-1, random_state=0).fit(X, y)
    bench("lightgbm (100 rounds x 3 cl)", lg, "predict_proba", X, lambda r: lg.predict_proba(r, num_threads=1))


if __name__ == "__main__":
    main()
