"""Single-row latency and batch throughput of the icebreak Python package, one thread,
against the libraries' own predict and onnxruntime's Python API on the same fitted models.

    scripts/python-tests.sh -q -k describe               # builds the release wheel and the venv
    .venv-python/bin/pip install -r crates/python/requirements-bench.txt
    .venv-python/bin/python scripts/python-bench.py

Prints one line per model: the median single-row call (``predict_proba`` of one row, or
``predict`` for regressors; median of 7 repeats) and batch rows per second (10,000 rows),
for icebreak, the library, and onnxruntime (``InferenceSession.run`` on the skl2onnx or
onnxmltools export, ``intra_op_num_threads=1``) where the export exists. Every peer runs on
one thread. The icebreak single-row figure is the whole Python call: argument check, copy,
engine, result arrays.
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
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import icebreak  # noqa: E402


def median_call(f, number):
    runs = timeit.repeat(f, number=number, repeat=7)
    return sorted(runs)[3] / number


def ort_session(onnx_model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outputs = [o.name for o in sess.get_outputs()]
    # The probabilities output (skl2onnx/onnxmltools: the second, without ZipMap).
    out = [outputs[-1]]
    return lambda rows: sess.run(out, {name: rows})


def fmt_one(t):
    return f"{t * 1e6:9.2f} us" if t is not None else "        -   "


def fmt_batch(t, n):
    return f"{n / t:12,.0f}" if t is not None else "           -"


def bench(name, obj, X, lib_call, ort_call=None, ort_dtype=np.float32):
    m = icebreak.convert(obj)
    row = X[:1]
    batch = X[:10_000]
    one = [median_call(lambda: m.predict_proba(row), 2000), median_call(lambda: lib_call(row), 200), None]
    bat = [median_call(lambda: m.predict_proba(batch), 3), median_call(lambda: lib_call(batch), 3), None]
    if ort_call is not None:
        row_o, batch_o = row.astype(ort_dtype), batch.astype(ort_dtype)
        one[2] = median_call(lambda: ort_call(row_o), 2000)
        bat[2] = median_call(lambda: ort_call(batch_o), 3)
    print(
        f"| {name} | {fmt_one(one[0])} | {fmt_one(one[1])} | {fmt_one(one[2])} | "
        f"{fmt_batch(bat[0], len(batch))} | {fmt_batch(bat[1], len(batch))} | {fmt_batch(bat[2], len(batch))} |"
    )


def skl_onnx(obj, n_features, double=False):
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    except ImportError:
        return None
    t = DoubleTensorType if double else FloatTensorType
    try:
        onx = to_onnx(obj, initial_types=[("X", t([None, n_features]))], options={"zipmap": False},
                      target_opset={"": 17, "ai.onnx.ml": 3})
    except Exception:  # noqa: BLE001 - skl2onnx cannot export every family
        return None
    return ort_session(onx)


def main():
    X, y = make_classification(n_samples=20_000, n_features=30, n_informative=10, n_classes=3, random_state=0)
    nf = X.shape[1]
    print("| model | one row, icebreak | one row, library | one row, onnxruntime | batch rows/s, icebreak "
          "| batch rows/s, library | batch rows/s, onnxruntime |")
    print("|---|---|---|---|---|---|---|")
    logreg = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=1000))]).fit(X, y)
    bench("StandardScaler + LogisticRegression", logreg, X, logreg.predict_proba,
          skl_onnx(logreg, nf, double=True), np.float64)
    mlp = Pipeline([("s", StandardScaler()),
                    ("c", MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=50, random_state=0))]).fit(X, y)
    bench("StandardScaler + MLPClassifier (64, 32)", mlp, X, mlp.predict_proba,
          skl_onnx(mlp, nf, double=True), np.float64)
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, n_jobs=1, random_state=0).fit(X, y)
    bench("RandomForestClassifier, 100 trees, depth 10", rf, X, rf.predict_proba, skl_onnx(rf, nf))
    gb = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
    bench("GradientBoostingClassifier, 100 x 3 classes, depth 3", gb, X, gb.predict_proba, skl_onnx(gb, nf))
    Xc = X.copy()
    Xc[:, 0] = np.digitize(Xc[:, 0], np.quantile(Xc[:, 0], np.linspace(0, 1, 21)[1:-1]))
    hgb = HistGradientBoostingClassifier(max_iter=100, categorical_features=[0], random_state=0).fit(Xc, y)
    bench("HistGradientBoostingClassifier, 100 x 3 classes, 1 categorical", hgb, Xc,
          hgb.predict_proba, skl_onnx(hgb, nf))
    try:
        import xgboost as xgb
    except ImportError:
        return
    xg = xgb.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1, random_state=0).fit(X, y)
    ort_xg = None
    try:
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        ort_xg = ort_session(convert_xgboost(xg, initial_types=[("X", FloatTensorType([None, nf]))],
                                             target_opset=17))
    except Exception:  # noqa: BLE001
        pass
    bench("XGBClassifier, 100 rounds x 3 classes, depth 6", xg, X, xg.predict_proba, ort_xg)
    try:
        import lightgbm as lgb
    except ImportError:
        return
    lg = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1, verbose=-1, random_state=0).fit(X, y)
    ort_lg = None
    try:
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        ort_lg = ort_session(convert_lightgbm(lg, initial_types=[("X", FloatTensorType([None, nf]))],
                                              target_opset=17, zipmap=False))
    except Exception:  # noqa: BLE001
        pass
    bench("LGBMClassifier, 100 rounds x 3 classes, 31 leaves", lg, X,
          lambda r: lg.predict_proba(r, num_threads=1), ort_lg)


if __name__ == "__main__":
    main()
