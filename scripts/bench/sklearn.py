#!/usr/bin/env python3
"""scikit-learn families benchmark, Python side: trains one model per family, exports it to
ONNX with skl2onnx, and times scikit-learn and onnxruntime on it. Run by
`cargo xtask sklearnbench`, which installs the pinned toolchain
(scripts/bench/requirements-sklearn.txt) first, times icebreak on the same ONNX files and
rows, and writes the report.

    sklearn.py prepare --out DIR
        Trains the models (deterministic: fixed seeds, one thread), pickles them and exports
        them to ONNX under DIR/models, records scikit-learn's outputs for the timed rows, and
        writes DIR/manifest.json. Models already built from the same inputs are reused.

    sklearn.py time --out DIR --round R [--calls N] [--batch-reps N] [--budget S]
        Times scikit-learn and onnxruntime (intra_op_num_threads=1) on every model, in a
        shuffled order, and writes DIR/python-round-R.json. A measurement stops early (after
        at least 200 calls or 5 batches) once it has taken S seconds.

Data: scikit-learn's digits (1797 images of 8x8), upscaled to 28x28 = 784 features with
scipy.ndimage.zoom (order 1) and divided by 16, so values lie in [0, 1]. Training rows: the
first 797 images and two copies of them shifted by one pixel (right; down), 2391 rows. Timed
rows: the last 1000 images, never seen in training, rounded to float32 so every engine gets
the same numbers. Single row: per-call times (time.perf_counter_ns) over --calls calls
cycling through the 1000 rows, after a warm-up; the median is reported. Batch: the 1000 rows
in one call, the median call gives rows/s. scikit-learn runs under threadpoolctl's
threadpool_limits(1), onnxruntime with intra_op_num_threads=1 and inter_op_num_threads=1.
"""

import argparse
import functools
import hashlib
import json
import os
import pickle
import random
import sys
import time
import warnings

# This file is called sklearn.py: drop its own directory from the import path, or
# `import sklearn` would import this script instead of scikit-learn.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402

N_TRAIN_IMAGES = 797
N_ROWS = 1000
SIDE = 28
N_FEATURES = SIDE * SIDE
SEED = 0
WARM_CALLS = 200
WARM_BATCHES = 2
MIN_CALLS = 200
MIN_BATCHES = 5
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def data():
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = d.images.astype(np.float64) / 16.0
    big = np.stack([zoom(im, SIDE / 8, order=1) for im in imgs])
    big = np.clip(big, 0.0, 1.0)
    tr = big[:N_TRAIN_IMAGES]
    ytr = d.target[:N_TRAIN_IMAGES]
    shifted = [np.roll(tr, 1, axis=2), np.roll(tr, 1, axis=1)]
    Xtr = np.concatenate([tr] + shifted).reshape(-1, N_FEATURES)
    ytr = np.concatenate([ytr] * 3)
    rows = big[-N_ROWS:].reshape(-1, N_FEATURES).astype(np.float32).astype(np.float64)
    return np.ascontiguousarray(Xtr), ytr, np.ascontiguousarray(rows)


def models():
    """(name, family, description, estimator factory, binary target?)."""
    from sklearn import cluster, decomposition, ensemble, linear_model, neural_network, svm

    return [
        ("logreg", "LogisticRegression",
         "LogisticRegression(max_iter=1000), 10 classes, 784 features, no scaler",
         lambda: linear_model.LogisticRegression(max_iter=1000), False),
        ("random_forest", "RandomForestClassifier",
         "RandomForestClassifier(n_estimators=100, max_depth=8), 10 classes",
         lambda: ensemble.RandomForestClassifier(n_estimators=100, max_depth=8,
                                                 random_state=SEED, n_jobs=1), False),
        ("gradient_boosting", "GradientBoostingClassifier",
         "GradientBoostingClassifier(n_estimators=500, max_depth=3, max_features='sqrt'), "
         "binary (digit < 5)",
         # max_features='sqrt' (28 of 784 features tried per split) keeps training to
         # seconds; the fitted model is still 500 trees of depth 3.
         lambda: ensemble.GradientBoostingClassifier(n_estimators=500, max_depth=3,
                                                     max_features="sqrt",
                                                     random_state=SEED), True),
        ("mlp", "MLPClassifier",
         "MLPClassifier(hidden_layer_sizes=(128, 64)), relu, 784-128-64-10",
         lambda: neural_network.MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=200,
                                              random_state=SEED), False),
        ("svc_rbf", "SVC",
         "SVC(kernel='rbf', gamma='scale', probability=True), 10 classes (one-vs-one)",
         lambda: svm.SVC(probability=True, random_state=SEED), False),
        ("kmeans", "KMeans",
         "KMeans(n_clusters=10, n_init=1), 784 features",
         lambda: cluster.KMeans(n_clusters=10, n_init=1, random_state=SEED), False),
        ("pca", "PCA",
         "PCA(n_components=50), 784 -> 50",
         lambda: decomposition.PCA(n_components=50, random_state=SEED), False),
    ]


def versions():
    import onnx
    import onnxruntime
    import scipy
    import skl2onnx
    import sklearn

    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def cached(path, stamp_path, stamp):
    if not (os.path.exists(path) and os.path.exists(stamp_path)):
        return False
    with open(stamp_path) as f:
        return f.read() == stamp


def write_stamp(stamp_path, stamp):
    with open(stamp_path, "w") as f:
        f.write(stamp)


def reference(model, X):
    """scikit-learn's outputs, as icebreak's `values` hold them: probabilities for the
    classifiers, the distances to the centres for k-means, the projection for PCA."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X), dtype=np.float64)
    return np.asarray(model.transform(X), dtype=np.float64)


def ort_session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def describe(model):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC

    if isinstance(model, SVC):
        return f"{int(model.n_support_.sum())} support vectors"
    if isinstance(model, RandomForestClassifier):
        nodes = sum(e.tree_.node_count for e in model.estimators_)
        return f"{nodes} nodes"
    if isinstance(model, GradientBoostingClassifier):
        nodes = sum(e.tree_.node_count for e in model.estimators_.ravel())
        return f"{model.estimators_.size} trees, {nodes} nodes"
    if isinstance(model, MLPClassifier):
        return f"{model.n_iter_} training epochs"
    if isinstance(model, KMeans):
        return f"{model.n_clusters} centres"
    if isinstance(model, PCA):
        return f"{model.n_components_} components"
    return f"{len(model.classes_)} classes"


def prepare(args):
    from skl2onnx import to_onnx
    from threadpoolctl import threadpool_limits

    out = os.path.abspath(args.out)
    models_dir = os.path.join(out, "models")
    os.makedirs(models_dir, exist_ok=True)
    Xtr, ytr, rows = data()
    rows.astype("<f8").tofile(os.path.join(out, "rows.f64"))
    vers = versions()
    data_digest = hashlib.sha256(Xtr.tobytes() + ytr.tobytes()).hexdigest()
    entries = []
    for name, family, desc, make, binary in models():
        y = (ytr < 5).astype(int) if binary else ytr
        pkl = os.path.join(models_dir, f"{name}.pkl")
        onnx_path = os.path.join(models_dir, f"{name}.onnx")
        stamp = json.dumps({"desc": desc, "data": data_digest, "versions": vers},
                           sort_keys=True)
        if cached(pkl, pkl + ".stamp", stamp) and cached(onnx_path, onnx_path + ".stamp", stamp):
            with open(pkl, "rb") as f:
                model = pickle.load(f)
        else:
            t0 = time.perf_counter()
            model = make()
            with threadpool_limits(1), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(Xtr, y)
            print(f"sklearn.py: trained {name} in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr, flush=True)
            opts = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
            onx = to_onnx(model, Xtr[:1].astype(np.float32), target_opset=TARGET_OPSET,
                          options=opts)
            with open(pkl, "wb") as f:
                pickle.dump(model, f)
            with open(onnx_path, "wb") as f:
                f.write(onx.SerializeToString())
            write_stamp(pkl + ".stamp", stamp)
            write_stamp(onnx_path + ".stamp", stamp)
        ref = reference(model, rows)
        ref_path = os.path.join(models_dir, f"{name}.ref.f64")
        ref.astype("<f8").tofile(ref_path)
        sess = ort_session(onnx_path)
        got = np.asarray(sess.run(None, {sess.get_inputs()[0].name:
                                         rows.astype(np.float32)})[-1], dtype=np.float64)
        entries.append({
            "name": name, "family": family, "description": desc, "detail": describe(model),
            "pickle": pkl, "onnx": onnx_path, "onnx_bytes": os.path.getsize(onnx_path),
            "reference": ref_path, "reference_width": int(ref.shape[1]),
            "sklearn_call": ("predict_proba" if hasattr(model, "predict_proba")
                             else "predict" if hasattr(model, "predict") else "transform"),
            "onnx_max_abs_diff": float(np.max(np.abs(got - ref))),
        })
    manifest = {
        "versions": vers,
        "rows": os.path.join(out, "rows.f64"),
        "n_rows": N_ROWS,
        "n_features": N_FEATURES,
        "data": ("digits upscaled to 28x28 = 784 features (scipy.ndimage.zoom, order 1) in "
                 "[0, 1]; trained on the first 797 images plus two one-pixel shifts of them "
                 "(2391 rows), timed on the last 1000 images (unseen), rounded to float32"),
        "models": entries,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def summarize(ts):
    a = np.sort(np.asarray(ts, dtype=np.float64))
    return {"median_ns": float(np.median(a)), "p10_ns": float(a[len(a) // 10]),
            "p90_ns": float(a[(len(a) * 9) // 10]), "n": len(a)}


def time_single(fn, inputs, calls, budget_s):
    n = len(inputs)
    for i in range(min(WARM_CALLS, calls)):
        fn(inputs[i % n])
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    ts = []
    for i in range(calls):
        x = inputs[i % n]
        t0 = clock()
        fn(x)
        t1 = clock()
        ts.append(t1 - t0)
        if t1 > deadline and i + 1 >= MIN_CALLS:
            break
    return summarize(ts)


def time_batch(fn, batch, reps, budget_s):
    for _ in range(WARM_BATCHES):
        fn(batch)
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    ts = []
    for _ in range(reps):
        t0 = clock()
        fn(batch)
        t1 = clock()
        ts.append(t1 - t0)
        if t1 > deadline and len(ts) >= MIN_BATCHES:
            break
    return summarize(ts)


def time_round(args):
    from threadpoolctl import threadpool_limits

    with open(os.path.join(args.out, "manifest.json")) as f:
        manifest = json.load(f)
    rows = np.fromfile(manifest["rows"], dtype="<f8").reshape(manifest["n_rows"],
                                                               manifest["n_features"])
    rows32 = rows.astype(np.float32)
    singles = [rows[i:i + 1] for i in range(len(rows))]
    rng = random.Random(1000 + args.round)
    entries = list(manifest["models"])
    rng.shuffle(entries)
    results = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in entries:
            with open(m["pickle"], "rb") as f:
                model = pickle.load(f)
            sk = getattr(model, m["sklearn_call"])
            sess = ort_session(m["onnx"])
            iname = sess.get_inputs()[0].name
            run = functools.partial(sess.run, None)
            engines = [
                ("scikit-learn", sk, singles, sk, rows),
                ("onnxruntime", run, [{iname: rows32[i:i + 1]} for i in range(len(rows32))],
                 run, {iname: rows32}),
            ]
            rng.shuffle(engines)
            for engine, single, inputs, batch_fn, batch in engines:
                t0 = time.perf_counter()
                s = time_single(single, inputs, args.calls, args.budget)
                b = time_batch(batch_fn, batch, args.batch_reps, args.budget)
                results.append({"model": m["name"], "engine": engine, "single": s, "batch": b})
                print(f"sklearn.py: round {args.round} {m['name']} {engine}: "
                      f"{s['median_ns'] / 1e3:.1f} us, "
                      f"{N_ROWS / (b['median_ns'] / 1e9):.0f} rows/s "
                      f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    floor = time_single(lambda x: None, [None], args.calls, 60.0)
    out = {"round": args.round, "timer_floor": floor, "results": results}
    with open(os.path.join(args.out, f"python-round-{args.round}.json"), "w") as f:
        json.dump(out, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--out", required=True)
    pt = sub.add_parser("time")
    pt.add_argument("--out", required=True)
    pt.add_argument("--round", type=int, required=True)
    pt.add_argument("--calls", type=int, default=2000)
    pt.add_argument("--batch-reps", type=int, default=15)
    pt.add_argument("--budget", type=float, default=3.0,
                    help="seconds one single-row or batch measurement may take")
    args = p.parse_args()
    if args.cmd == "prepare":
        prepare(args)
    else:
        time_round(args)


if __name__ == "__main__":
    main()
