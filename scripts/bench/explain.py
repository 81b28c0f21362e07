#!/usr/bin/env python3
"""Explanations side by side: icebreak's Tree SHAP against XGBoost ``pred_contribs`` and
LightGBM ``pred_contrib``, one thread, single row and batch.

    .venv/bin/python scripts/bench/explain.py run [--out target/explainbench]
        [--rounds 3] [--timer target/release/bench-timer] [--quick]

``run`` trains (or reuses) binary classifiers on the data of ``scripts/bench/trees.py``
(``make_classification``: 50 features, 5000 training rows, 1000 held-out rows, seed 0) with
the same parameters: XGBoost and LightGBM, 100 and 500 trees of depth 6 and 8 (``--quick``:
100 trees of depth 6 only). It records each library's contributions for the first 50
held-out rows (``bench-timer explain`` refuses to time a model whose contributions differ),
then, round after round and model after model, times:

- the library: ``Booster.predict(DMatrix(1 row), pred_contribs=True)`` with ``nthread=1``
  (the one-row DMatrix built beforehand, rows cycling), and the 1000 rows in one call;
  LightGBM ``Booster.predict(row, pred_contrib=True, num_threads=1)`` likewise. The
  single-row figure includes each library's Python call overhead;
- icebreak: ``bench-timer explain`` (release build), ``Explainer::explain_row`` per row,
  and the 1000 rows one after another.

Per-row figures are medians over the rounds of each round's median. It prints a Markdown
table (the one in docs/BENCHMARKS.md) and writes it with the raw figures under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

SCRIPT_DIR = Path(__file__).resolve().parent
# scripts/bench/sklearn.py would shadow scikit-learn.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != SCRIPT_DIR]
REPO_ROOT = SCRIPT_DIR.parent.parent
REQUIREMENTS = SCRIPT_DIR / "requirements-trees.txt"

N_FEATURES = 50
N_TRAIN = 5000
N_ROWS = 1000
CHECK_ROWS = 50
GRID = [(100, 6), (500, 6), (100, 8), (500, 8)]
QUICK_GRID = [(100, 6)]
SINGLE_CALLS = 300
BATCH_REPS = 3


def check_pins():
    pins = {}
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = (p.strip() for p in line.split("==", 1))
            pins[name] = version
    bad = []
    for name in ("xgboost-cpu", "lightgbm", "numpy", "scikit-learn"):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have != pins[name]:
            bad.append(f"  {name}: pinned {pins[name]}, installed {have or 'nothing'}")
    if bad:
        sys.exit(f"error: packages differ from {REQUIREMENTS.name}:\n" + "\n".join(bad))
    return pins


def data():
    import numpy as np
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=N_TRAIN + N_ROWS, n_features=N_FEATURES,
                               n_informative=25, n_redundant=10, random_state=0)
    X = np.ascontiguousarray(X, dtype=np.float64)
    return X[:N_TRAIN], y[:N_TRAIN], np.ascontiguousarray(X[N_TRAIN:])


def train(lib, trees, depth, X, y, path):
    if lib == "xgboost":
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1,
                  "tree_method": "hist", "nthread": 1, "seed": 0}
        xgb.train(params, xgb.DMatrix(X, y), num_boost_round=trees).save_model(path)
    else:
        import lightgbm as lgb

        params = {"objective": "binary", "num_leaves": 2 ** depth, "max_depth": depth,
                  "learning_rate": 0.1, "num_threads": 1, "deterministic": True,
                  "force_col_wise": True, "seed": 0, "verbose": -1}
        lgb.train(params, lgb.Dataset(X, y), num_boost_round=trees).save_model(path)


def prepare(out: Path, grid):
    import numpy as np

    X, y, rows = data()
    models_dir = out / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    rows.astype("<f8").tofile(out / "rows.f64")
    models = []
    for lib in ("xgboost", "lightgbm"):
        for trees, depth in grid:
            name = f"{lib}_t{trees}_d{depth}"
            path = models_dir / f"{name}.{'json' if lib == 'xgboost' else 'txt'}"
            if not path.exists():
                t0 = time.perf_counter()
                train(lib, trees, depth, X, y, str(path))
                print(f"explain.py: trained {name} in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr, flush=True)
            booster, single, batch = library_callers(lib, path, rows)
            contribs = np.asarray(batch(), dtype=np.float64)[:CHECK_ROWS]
            cpath = models_dir / f"{name}.contribs.f64"
            contribs.astype("<f8").tofile(cpath)
            models.append({"name": name, "library": lib, "trees": trees, "depth": depth,
                           "file": str(path), "contribs": str(cpath)})
    manifest = {"n_features": N_FEATURES, "rows": str(out / "rows.f64"), "models": models}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest, rows


def library_callers(lib, path, rows):
    """The library's single-row and batch contribution calls for one model."""
    if lib == "xgboost":
        import xgboost as xgb

        b = xgb.Booster(model_file=str(path))
        b.set_param({"nthread": 1})
        singles = [xgb.DMatrix(rows[i:i + 1], nthread=1) for i in range(len(rows))]
        whole = xgb.DMatrix(rows, nthread=1)
        return (b, lambda i: b.predict(singles[i % len(singles)], pred_contribs=True),
                lambda: b.predict(whole, pred_contribs=True))
    import lightgbm as lgb

    b = lgb.Booster(model_file=str(path))
    return (b, lambda i: b.predict(rows[i % len(rows):i % len(rows) + 1], pred_contrib=True,
                                   num_threads=1),
            lambda: b.predict(rows, pred_contrib=True, num_threads=1))


def time_library(lib, path, rows, calls, reps):
    _, single, batch = library_callers(lib, path, rows)
    for i in range(20):
        single(i)
    ts = []
    for i in range(calls):
        t0 = time.perf_counter_ns()
        single(i)
        ts.append(time.perf_counter_ns() - t0)
    bs = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        batch()
        bs.append(time.perf_counter_ns() - t0)
    return statistics.median(ts), statistics.median(bs) / len(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, default=REPO_ROOT / "target" / "explainbench")
    r.add_argument("--rounds", type=int, default=3)
    r.add_argument("--timer", type=Path, default=None)
    r.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    pins = check_pins()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    timer = args.timer or Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target")) \
        / "release" / "bench-timer"
    manifest, rows = prepare(out, QUICK_GRID if args.quick else GRID)
    lib_single = {m["name"]: [] for m in manifest["models"]}
    lib_batch = {m["name"]: [] for m in manifest["models"]}
    ib_single = {m["name"]: [] for m in manifest["models"]}
    ib_batch = {m["name"]: [] for m in manifest["models"]}
    for rnd in range(1, args.rounds + 1):
        res = out / f"icebreak-round{rnd}.json"
        subprocess.run([str(timer), "explain", "--manifest", str(out / "manifest.json"),
                        "--round", str(rnd), "--out", str(res), "--calls", "3000",
                        "--batch-reps", "5"], check=True)
        for r in json.loads(res.read_text())["results"]:
            ib_single[r["model"]].append(r["single"]["median_ns"])
            ib_batch[r["model"]].append(r["batch"]["median_ns"] / r["batch_rows"])
        for m in manifest["models"]:
            s, b = time_library(m["library"], m["file"], rows, SINGLE_CALLS, BATCH_REPS)
            lib_single[m["name"]].append(s)
            lib_batch[m["name"]].append(b)
            print(f"explain.py: round {rnd} {m['name']}: library {s / 1e3:.1f} us/row single, "
                  f"{b / 1e3:.1f} us/row batch", file=sys.stderr, flush=True)
    med = statistics.median
    lines = [
        "| model | library, 1 row | icebreak, 1 row | ratio | library, per row of 1000 | "
        "icebreak, per row of 1000 | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in manifest["models"]:
        n = m["name"]
        ls, isg, lb, ib = (med(lib_single[n]), med(ib_single[n]), med(lib_batch[n]),
                           med(ib_batch[n]))
        lines.append(f"| {m['library']} {m['trees']} trees, depth {m['depth']} | "
                     f"{ls / 1e3:.1f} us | {isg / 1e3:.1f} us | {isg / ls:.3f} | "
                     f"{lb / 1e3:.1f} us | {ib / 1e3:.1f} us | {ib / lb:.3f} |")
    table = "\n".join(lines)
    facts = (f"{args.rounds} rounds; xgboost-cpu {pins['xgboost-cpu']}, lightgbm "
             f"{pins['lightgbm']}, python {platform.python_version()}; "
             f"{platform.machine()}, {os.cpu_count()} cpus")
    print(table)
    print(facts)
    (out / "explainbench.md").write_text(table + "\n\n" + facts + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
