#!/usr/bin/env bash
# Builds the icebreak Python wheel with maturin and runs its pytest suite in a fresh
# virtual environment with pinned numpy, scikit-learn, xgboost, lightgbm and shap.
#
#   scripts/python-tests.sh [pytest args...]
#
# The environment lives in .venv-python/ at the repository root (reused when its pins
# are already installed); the wheel is written to target/wheels/ (or $CARGO_TARGET_DIR/wheels).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-python"
reqs="$root/crates/python/requirements-test.txt"
target="${CARGO_TARGET_DIR:-$root/target}"
wheels="$target/wheels"

if [ ! -x "$venv/bin/python" ]; then
    echo "python-tests: creating $venv" >&2
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
pip_quiet=(-m pip install --quiet --disable-pip-version-check --no-input)
# Installing the pins again is a no-op when they are already there.
"$py" "${pip_quiet[@]}" -r "$reqs"

echo "python-tests: building the wheel (maturin, release)" >&2
rm -f "$wheels"/icebreak-*.whl
"$venv/bin/maturin" build --release --quiet \
    --manifest-path "$root/crates/python/Cargo.toml" \
    --interpreter "$py" --out "$wheels"
wheel="$(ls "$wheels"/icebreak-*.whl)"
"$py" "${pip_quiet[@]}" --force-reinstall --no-deps "$wheel"

echo "python-tests: pytest" >&2
cd "$root"
exec "$py" -m pytest -q -p no:cacheprovider crates/python/tests "$@"
