#!/usr/bin/env python3
"""Side-by-side timing of a CatBoost model: CatBoost's own `predict` (one thread) against
icebreak's criterion bench (`crates/convert/benches/catboost.rs`), in one run.

1. Trains a CatBoost binary classifier (500 trees, depth 6, learning rate 0.1, one thread,
   seed 0) on make_classification(n_samples=6000, n_features=50, n_informative=25,
   n_redundant=10, random_state=0), the first 5000 rows; the data of `cargo xtask treebench`.
2. Saves `model.json` and the last 1000 rows (`rows.json`) under the output directory
   (default: `target/catboostbench`, under CARGO_TARGET_DIR when set).
3. Checks that icebreak answers like CatBoost on those rows: `icebreak convert` and
   `icebreak predict` (the CLI, built by cargo), probabilities within 1e-12.
4. Times CatBoost: `model.predict(row, prediction_type="Probability", thread_count=1)` on one
   row at a time (rows cycling through the 1000), and on the 1000 rows in one call; a clock
   reading (`time.perf_counter_ns`) around every call after a warm-up, the median.
5. Runs `cargo bench -p icebreak-convert --bench catboost -- catboost_t500_d6` with
   ICEBREAK_CATBOOST_BENCH_DIR set, reads criterion's median estimates, and prints the table
   of docs/BENCHMARKS.md (also written to `report.md` in the output directory).

Usage:
    .venv/bin/pip install -r scripts/fixtures/requirements-catboost.txt
    .venv/bin/python scripts/bench/catboost_side_by_side.py [--out-dir DIR] [--calls N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

# This folder holds `sklearn.py` (another benchmark): keep it from shadowing scikit-learn.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import catboost  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def median_ns(f, calls: int) -> float:
    times = []
    for i in range(calls):
        t0 = time.perf_counter_ns()
        f(i)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def criterion_median(name: str, bench: str) -> float:
    path = target_dir() / "criterion" / name / bench / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path, default=target_dir() / "catboostbench")
    ap.add_argument("--calls", type=int, default=3000)
    args = ap.parse_args()
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)

    X, y = make_classification(
        n_samples=6000, n_features=50, n_informative=25, n_redundant=10, random_state=0
    )
    model = catboost.CatBoostClassifier(
        iterations=500, depth=6, learning_rate=0.1, thread_count=1, random_seed=0,
        verbose=0, allow_writing_files=False,
    )
    model.fit(X[:5000], y[:5000])
    rows = X[5000:]
    model.save_model(str(out / "model.json"), format="json")
    (out / "rows.json").write_text(json.dumps(rows.tolist()))
    want = model.predict(rows, prediction_type="Probability", thread_count=1)

    # Same answers: the CLI converts the model and predicts the rows.
    subprocess.run(["cargo", "build", "--quiet", "-p", "icebreak-cli"], cwd=REPO, check=True)
    cli = target_dir() / "debug" / "icebreak"
    subprocess.run([cli, "convert", out / "model.json", "-o", out / "model.apr"], check=True)
    with open(out / "rows.csv", "w", newline="") as f:
        csv.writer(f).writerows([[repr(float(v)) for v in r] for r in rows])
    got = subprocess.run(
        [cli, "predict", out / "model.apr", "--input", out / "rows.csv"],
        check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    worst = max(
        abs(a - b)
        for line, w in zip(got, want)
        for a, b in zip(json.loads(line)["probabilities"], w)
    )
    if len(got) != len(want) or worst >= 1e-12:
        sys.exit(f"icebreak and CatBoost disagree: {len(got)} answers, worst {worst}")

    # CatBoost, one thread.
    one = [rows[i : i + 1] for i in range(len(rows))]
    for i in range(200):
        model.predict(one[i % 1000], prediction_type="Probability", thread_count=1)
    cb_row = median_ns(
        lambda i: model.predict(one[i % 1000], prediction_type="Probability", thread_count=1),
        args.calls,
    )
    cb_batch = median_ns(
        lambda i: model.predict(rows, prediction_type="Probability", thread_count=1), 30
    )

    # icebreak, criterion.
    env = dict(os.environ, ICEBREAK_CATBOOST_BENCH_DIR=str(out))
    subprocess.run(
        ["cargo", "bench", "-p", "icebreak-convert", "--bench", "catboost", "--",
         "catboost_t500_d6"],
        cwd=REPO, env=env, check=True,
    )
    ib_row = criterion_median("catboost_t500_d6", "predict_row/warm")
    ib_batch = criterion_median("catboost_t500_d6", "predict_batch/1000")

    report = "\n".join([
        f"catboost {catboost.__version__}, numpy {np.__version__}, Python {platform.python_version()}; "
        f"icebreak and CatBoost probabilities at most {worst:.1e} apart on the 1000 rows",
        "",
        "| engine | threads | single row (µs) | icebreak × | batch of 1000 (rows/s) | icebreak × |",
        "|---|---|--:|--:|--:|--:|",
        f"| **icebreak predict_row / predict_batch** | 1 | {ib_row / 1e3:.2f} |  | "
        f"{1e12 / ib_batch:,.0f} |  |",
        f"| catboost `predict` | 1 | {cb_row / 1e3:.1f} | {cb_row / ib_row:.1f} × | "
        f"{1e12 / cb_batch:,.0f} | {cb_batch / ib_batch:.2f} × |",
    ])
    print(report)
    (out / "report.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
