#!/usr/bin/env python3
"""Tree-ensemble benchmark, Python side: trains the models and times xgboost, lightgbm,
onnxruntime and (when it installs) lleaves on them. Run by `cargo xtask treebench`, which
installs the pinned toolchain (scripts/bench/requirements-trees.txt) first, times icebreak on
the same model files and rows, times onnxruntime's C API and the compiled peers natively
(bench/peers), and writes the report.

    trees.py prepare --out DIR [--quick] [--lleaves] [--compiled]
        Trains the models (deterministic: fixed data seed, one training thread), saves them
        under DIR/models (XGBoost JSON, LightGBM text), converts each to ONNX with
        onnxmltools, compiles LightGBM models with lleaves when asked (--lleaves), compiles
        models to C with tl2cgen and m2cgen and those to shared objects with gcc when asked
        (--compiled), records the native library's probabilities for the timed rows, and
        writes DIR/manifest.json. Models, ONNX files and compiled libraries already built
        from the same inputs are reused.

    trees.py time --out DIR --round R [--calls N] [--batch-reps N] [--create-reps N]
                  [--budget S]
        Times every engine on every model once, in a shuffled order, and writes
        DIR/python-round-R.json. A measurement stops early (after at least 200 calls or 5
        batches) once it has taken S seconds: with their default threads, xgboost and lleaves
        can take milliseconds per row on a loaded 2-core machine.

Data: make_classification, 6000 samples of 50 features (25 informative, 10 redundant),
random_state 0; the first 5000 train, the last 1000 are the timed rows (never seen in
training). Single row: per-call times (time.perf_counter_ns) over --calls calls cycling
through the 1000 rows, after a warm-up; the median is reported. Batch: the 1000 rows in one
call, --batch-reps timed calls, the median call gives rows/s.
"""

import argparse
import functools
import hashlib
import json
import os
import random
import sys
import time
import traceback

import numpy as np

N_FEATURES = 50
N_TRAIN = 5000
N_ROWS = 1000
DATA_SEED = 0
WARM_CALLS = 200
WARM_BATCHES = 2
# Fewest timed calls when a measurement runs out of its time budget (--budget).
MIN_CALLS = 200
MIN_BATCHES = 5

# (trees, depth). The 500-tree model is the one the anchors are about.
GRID = [(500, 6), (10, 6), (100, 6), (1000, 6), (100, 4), (100, 8), (100, 10)]
QUICK_GRID = [(500, 6), (10, 6)]
# gcc's flags for m2cgen's C (tl2cgen picks its own: -O3 with its gcc toolchain).
M2CGEN_CFLAGS = ["-O2", "-shared", "-fPIC", "-std=c99"]


def data():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=N_TRAIN + N_ROWS, n_features=N_FEATURES,
                               n_informative=25, n_redundant=10, random_state=DATA_SEED)
    X = np.ascontiguousarray(X, dtype=np.float64)
    return X[:N_TRAIN], y[:N_TRAIN], np.ascontiguousarray(X[N_TRAIN:])


def versions():
    import lightgbm
    import onnx
    import onnxmltools
    import onnxruntime
    import sklearn
    import xgboost

    v = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgboost.__version__,
        "lightgbm": lightgbm.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "onnxmltools": onnxmltools.__version__,
    }
    try:
        import importlib.metadata as md

        v["lleaves"] = md.version("lleaves")
        v["llvmlite"] = md.version("llvmlite")
    except Exception:  # noqa: BLE001 - not installed is a normal outcome
        pass
    for name in ("tl2cgen", "treelite", "m2cgen"):
        try:
            import importlib.metadata as md

            v[name] = md.version(name)
        except Exception:  # noqa: BLE001 - not installed is a normal outcome
            pass
    try:
        import subprocess

        v["gcc"] = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True,
                                  text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - reported as missing
        pass
    return v


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def cached(path, stamp_path, stamp):
    """Whether `path` exists and was built from exactly `stamp`."""
    if not (os.path.exists(path) and os.path.exists(stamp_path)):
        return False
    with open(stamp_path) as f:
        return f.read() == stamp


def write_stamp(stamp_path, stamp):
    with open(stamp_path, "w") as f:
        f.write(stamp)


def train(lib, trees, depth, X, y, path):
    if lib == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1,
                  "tree_method": "hist", "nthread": 1, "seed": 0}
        booster = xgb.train(params, xgb.DMatrix(X, y), num_boost_round=trees)
        booster.save_model(path)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "num_leaves": 2 ** depth, "max_depth": depth,
                  "learning_rate": 0.1, "num_threads": 1, "deterministic": True,
                  "force_col_wise": True, "seed": 0, "verbose": -1}
        booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=trees)
        booster.save_model(path)
    return params


def to_onnx(lib, model_path, onnx_path):
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, N_FEATURES]))]
    if lib == "xgboost":
        import xgboost as xgb

        m = onnxmltools.convert_xgboost(xgb.Booster(model_file=model_path), initial_types=types)
    else:
        import lightgbm as lgb

        # zipmap=False: probabilities as a tensor, not a list of dicts.
        m = onnxmltools.convert_lightgbm(lgb.Booster(model_file=model_path),
                                         initial_types=types, zipmap=False)
    with open(onnx_path, "wb") as f:
        f.write(m.SerializeToString())


def native_proba(lib, model_path, X):
    if lib == "xgboost":
        import xgboost as xgb

        return np.asarray(xgb.Booster(model_file=model_path).inplace_predict(X), dtype=np.float64)
    import lightgbm as lgb

    return np.asarray(lgb.Booster(model_file=model_path).predict(X), dtype=np.float64)


def ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads == "1":
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def ort_proba(sess, X32):
    out = sess.run(None, {"input": X32})
    return np.asarray(out[1], dtype=np.float64)[:, 1]


def lleaves_model(model_path, so_path):
    import lleaves

    m = lleaves.Model(model_file=model_path)
    m.compile(cache=so_path)
    return m


def tl2cgen_build(lib, model_path, so_path):
    """The model through Treelite into tl2cgen's C, compiled by gcc into `so_path`."""
    import tl2cgen
    import treelite

    if lib == "xgboost":
        tm = treelite.frontend.load_xgboost_model(model_path)
    else:
        tm = treelite.frontend.load_lightgbm_model(model_path)
    tl2cgen.export_lib(tm, toolchain="gcc", libpath=so_path, nthread=1)


def m2cgen_build(lib, model_path, so_path):
    """The model through m2cgen's C exporter, compiled by gcc into `so_path`. m2cgen takes
    the scikit-learn wrappers, not boosters: the booster is loaded into one."""
    import subprocess

    import m2cgen

    # m2cgen walks its expression tree recursively: hundreds of trees need a deep stack.
    sys.setrecursionlimit(1_000_000)
    if lib == "xgboost":
        import xgboost as xgb

        clf = xgb.XGBClassifier()
        clf.load_model(model_path)
        # XGBoost 3 keeps base_score as a list string ("[5E-1]"); m2cgen 0.10 wants a float.
        conf = json.loads(clf.get_booster().save_config())
        clf.set_params(base_score=float(
            conf["learner"]["learner_model_param"]["base_score"].strip("[]")))
    else:
        import lightgbm as lgb

        clf = lgb.LGBMClassifier()
        clf._Booster = lgb.Booster(model_file=model_path)
        clf._n_classes = 2
        clf._objective = "binary"
        clf.fitted_ = True
    c_path = so_path[:-3] + ".c"
    with open(c_path, "w") as f:
        f.write(m2cgen.export_to_c(clf))
    subprocess.run(["gcc", *M2CGEN_CFLAGS, "-o", so_path, c_path, "-lm"], check=True)


def compiled_peer(entry, key, build, so_path, stamp):
    """Builds one compiled peer (cached by `stamp`) and records it in `entry`: the shared
    object under `key`, or why it could not be built under `key + "_error"`."""
    try:
        t0 = time.perf_counter()
        if not cached(so_path, so_path + ".stamp", stamp):
            if os.path.exists(so_path):
                os.remove(so_path)
            build(so_path)
            write_stamp(so_path + ".stamp", stamp)
            entry[f"{key}_compile_s"] = time.perf_counter() - t0
            print(f"trees.py: {key} compiled {entry['name']} in "
                  f"{entry[f'{key}_compile_s']:.1f} s", file=sys.stderr, flush=True)
        entry[key] = so_path
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        entry[f"{key}_error"] = f"{key} failed to build: {e!r}"[:400]
        traceback.print_exc()


def lleaves_link(object_path, so_path):
    """lleaves' compiled object linked by gcc into a shared object."""
    import subprocess

    subprocess.run(["gcc", "-shared", "-o", so_path, object_path, "-lm"], check=True)


def prepare(args):
    out = os.path.abspath(args.out)
    models_dir = os.path.join(out, "models")
    os.makedirs(models_dir, exist_ok=True)
    X, y, rows = data()
    rows.astype("<f8").tofile(os.path.join(out, "rows.f64"))
    vers = versions()
    grid = QUICK_GRID if args.quick else GRID
    lleaves_ok, lleaves_error = False, None
    if args.lleaves:
        try:
            import lleaves  # noqa: F401

            lleaves_ok = True
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            lleaves_error = f"import lleaves failed: {e!r}"
    else:
        lleaves_error = "lleaves is not installed (pip install failed; see the harness output)"
    compiled_ok, compiled_error = False, None
    if args.compiled:
        try:
            import m2cgen  # noqa: F401
            import tl2cgen  # noqa: F401
            import treelite  # noqa: F401

            compiled_ok = True
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            compiled_error = f"import tl2cgen, treelite, m2cgen failed: {e!r}"
    else:
        compiled_error = "tl2cgen and m2cgen are not installed (see the harness output)"
    models = []
    for lib in ("xgboost", "lightgbm"):
        for trees, depth in grid:
            name = f"{lib}_t{trees}_d{depth}"
            ext = "json" if lib == "xgboost" else "txt"
            path = os.path.join(models_dir, f"{name}.{ext}")
            stamp = json.dumps({"lib": lib, "trees": trees, "depth": depth, "n_train": N_TRAIN,
                                "seed": DATA_SEED, "version": vers[lib]}, sort_keys=True)
            t0 = time.perf_counter()
            if not cached(path, path + ".stamp", stamp):
                train(lib, trees, depth, X, y, path)
                write_stamp(path + ".stamp", stamp)
                print(f"trees.py: trained {name} in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr, flush=True)
            digest = sha256(path)
            onnx_path = os.path.join(models_dir, f"{name}.onnx")
            onnx_stamp = json.dumps({"model": digest, "onnxmltools": vers["onnxmltools"],
                                     "onnx": vers["onnx"]}, sort_keys=True)
            if not cached(onnx_path, onnx_path + ".stamp", onnx_stamp):
                to_onnx(lib, path, onnx_path)
                write_stamp(onnx_path + ".stamp", onnx_stamp)
            proba = native_proba(lib, path, rows)
            proba.astype("<f8").tofile(os.path.join(models_dir, f"{name}.proba.f64"))
            X32 = rows.astype(np.float32)
            entry = {
                "name": name, "library": lib, "trees": trees, "depth": depth,
                "file": path, "bytes": os.path.getsize(path), "sha256": digest,
                "onnx": onnx_path, "onnx_bytes": os.path.getsize(onnx_path),
                "proba": os.path.join(models_dir, f"{name}.proba.f64"),
                "onnx_max_abs_diff": float(np.max(np.abs(
                    ort_proba(ort_session(onnx_path, "1"), X32) - proba))),
            }
            if compiled_ok:
                for key, build in (("tl2cgen", tl2cgen_build), ("m2cgen", m2cgen_build)):
                    so = os.path.join(models_dir, f"{name}.{key}.so")
                    st = json.dumps({"model": digest, "peer": vers.get(key),
                                     "treelite": vers.get("treelite"), "gcc": vers.get("gcc"),
                                     "cflags": M2CGEN_CFLAGS}, sort_keys=True)
                    compiled_peer(entry, key,
                                  functools.partial(build, lib, path), so, st)
            want_lleaves = lib == "lightgbm" and lleaves_ok
            if want_lleaves:
                so_path = os.path.join(models_dir, f"{name}.lleaves.so")
                ll_stamp = json.dumps({"model": digest, "lleaves": vers.get("lleaves"),
                                       "llvmlite": vers.get("llvmlite")}, sort_keys=True)
                try:
                    t0 = time.perf_counter()
                    if not cached(so_path, so_path + ".stamp", ll_stamp):
                        if os.path.exists(so_path):
                            os.remove(so_path)
                        lleaves_model(path, so_path)
                        write_stamp(so_path + ".stamp", ll_stamp)
                        entry["lleaves_compile_s"] = time.perf_counter() - t0
                        print(f"trees.py: lleaves compiled {name} in "
                              f"{entry['lleaves_compile_s']:.1f} s", file=sys.stderr, flush=True)
                    m = lleaves_model(path, so_path)
                    entry["lleaves"] = so_path
                    # lleaves' cache is an object file (position-independent); linked into a
                    # shared object, the native timer calls its `forest_root` directly.
                    native = os.path.join(models_dir, f"{name}.lleaves-native.so")
                    compiled_peer(entry, "lleaves_native", functools.partial(
                        lleaves_link, so_path), native, ll_stamp)
                    entry["lleaves_max_abs_diff"] = float(np.max(np.abs(
                        np.asarray(m.predict(rows, n_jobs=1)) - proba)))
                except Exception as e:  # noqa: BLE001 - reported, not fatal
                    lleaves_error = f"lleaves failed on {name}: {e!r}"
                    traceback.print_exc()
            models.append(entry)
    manifest = {
        "versions": vers,
        "rows": os.path.join(out, "rows.f64"),
        "n_rows": N_ROWS,
        "n_features": N_FEATURES,
        "data": (f"make_classification(n_samples={N_TRAIN + N_ROWS}, n_features={N_FEATURES}, "
                 f"n_informative=25, n_redundant=10, random_state={DATA_SEED}); first "
                 f"{N_TRAIN} rows train, last {N_ROWS} timed"),
        "lleaves_available": lleaves_ok,
        "lleaves_error": lleaves_error,
        "compiled_available": compiled_ok,
        "compiled_error": compiled_error,
        "models": models,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def time_single(fn, inputs, calls, budget_s):
    """Median and spread of per-call times (ns), calls cycling through `inputs`: `calls`
    calls, or fewer (at least MIN_CALLS) when they take more than `budget_s` seconds."""
    n = len(inputs)
    for i in range(WARM_CALLS):
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


def summarize(ts):
    a = np.sort(np.asarray(ts, dtype=np.float64))
    return {"median_ns": float(np.median(a)), "p10_ns": float(a[len(a) // 10]),
            "p90_ns": float(a[(len(a) * 9) // 10]), "n": len(a)}


def engines_for(m, rows, rows32):
    """(engine, threads, single-row fn, its inputs, batch fn, batch) for model `m`."""
    import lightgbm as lgb
    import xgboost as xgb

    singles = [rows[i:i + 1] for i in range(len(rows))]
    singles32 = [{"input": rows32[i:i + 1]} for i in range(len(rows32))]
    out = []
    if m["library"] == "xgboost":
        b1 = xgb.Booster(model_file=m["file"])
        b1.set_param({"nthread": 1})
        bd = xgb.Booster(model_file=m["file"])
        out.append(("xgboost", "1", b1.inplace_predict, singles, b1.inplace_predict, rows))
        out.append(("xgboost", "default", bd.inplace_predict, singles, bd.inplace_predict, rows))
    else:
        b = lgb.Booster(model_file=m["file"])
        p1 = functools.partial(b.predict, num_threads=1)
        out.append(("lightgbm", "1", p1, singles, p1, rows))
        out.append(("lightgbm", "default", b.predict, singles, b.predict, rows))
        if "lleaves" in m:
            lm = lleaves_model(m["file"], m["lleaves"])
            l1 = functools.partial(lm.predict, n_jobs=1)
            out.append(("lleaves", "1", l1, singles, l1, rows))
            out.append(("lleaves", "default", lm.predict, singles, lm.predict, rows))
    for threads in ("1", "default"):
        s = ort_session(m["onnx"], threads)
        run = functools.partial(s.run, None)
        out.append(("onnxruntime", threads, run, singles32, run, {"input": rows32}))
    return out


def create_and_first(m, engine, row, row32):
    """One load of the model file plus one prediction, as a fresh process would do it."""
    if engine == "xgboost":
        import xgboost as xgb

        xgb.Booster(model_file=m["file"]).inplace_predict(row)
    elif engine == "lightgbm":
        import lightgbm as lgb

        lgb.Booster(model_file=m["file"]).predict(row)
    elif engine == "onnxruntime":
        ort_session(m["onnx"], "default").run(None, {"input": row32})
    else:
        lleaves_model(m["file"], m["lleaves"]).predict(row)


def timer_floor(calls):
    """The cost of the timing itself: an empty call measured the same way."""
    return time_single(lambda x: None, [None], calls, 60.0)


def time_round(args):
    with open(os.path.join(args.out, "manifest.json")) as f:
        manifest = json.load(f)
    rows = np.fromfile(manifest["rows"], dtype="<f8").reshape(manifest["n_rows"],
                                                               manifest["n_features"])
    rows32 = rows.astype(np.float32)
    rng = random.Random(1000 + args.round)
    models = list(manifest["models"])
    rng.shuffle(models)
    results, creates = [], []
    for m in models:
        engines = engines_for(m, rows, rows32)
        rng.shuffle(engines)
        for engine, threads, single, inputs, batch_fn, batch in engines:
            t0 = time.perf_counter()
            s = time_single(single, inputs, args.calls, args.budget)
            b = time_batch(batch_fn, batch, args.batch_reps, args.budget)
            results.append({"model": m["name"], "engine": engine, "threads": threads,
                            "single": s, "batch": b})
            print(f"trees.py: round {args.round} {m['name']} {engine}/{threads}: "
                  f"{s['median_ns'] / 1e3:.1f} us, "
                  f"{N_ROWS / (b['median_ns'] / 1e9):.0f} rows/s "
                  f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        del engines
        libs = [m["library"], "onnxruntime"] + (["lleaves"] if "lleaves" in m else [])
        for engine in libs:
            ts = []
            for _ in range(args.create_reps):
                t0 = time.perf_counter_ns()
                create_and_first(m, engine, rows[:1], rows32[:1])
                ts.append(time.perf_counter_ns() - t0)
            creates.append({"model": m["name"], "engine": engine, "create": summarize(ts)})
    out = {"round": args.round, "timer_floor": timer_floor(args.calls), "results": results,
           "creates": creates}
    with open(os.path.join(args.out, f"python-round-{args.round}.json"), "w") as f:
        json.dump(out, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--out", required=True)
    pp.add_argument("--quick", action="store_true")
    pp.add_argument("--lleaves", action="store_true")
    pp.add_argument("--compiled", action="store_true")
    pt = sub.add_parser("time")
    pt.add_argument("--out", required=True)
    pt.add_argument("--round", type=int, required=True)
    pt.add_argument("--calls", type=int, default=2000)
    pt.add_argument("--batch-reps", type=int, default=15)
    pt.add_argument("--create-reps", type=int, default=3)
    pt.add_argument("--budget", type=float, default=3.0,
                    help="seconds one single-row or batch measurement may take")
    args = p.parse_args()
    if args.cmd == "prepare":
        prepare(args)
    else:
        time_round(args)


if __name__ == "__main__":
    main()
