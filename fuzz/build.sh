#!/usr/bin/env bash
# Builds the cargo-fuzz targets of icebreak with the STABLE toolchain, and optionally runs them.
#
#   fuzz/build.sh                 build every target
#   fuzz/build.sh run SECONDS     build, then run each target for SECONDS seconds
#
# Environment:
#   SANITIZER   none (default) or address. `none` needs nothing but stable: cargo-fuzz's
#               coverage instrumentation (-Cpasses=sancov-module, -Cllvm-args=...) is made of
#               stable -C flags. `address` needs -Zsanitizer=address, a nightly flag: on a stable
#               toolchain this script sets RUSTC_BOOTSTRAP=1 for it. The crate under test has no
#               unsafe code, so `none` loses little.
#   CARGO_TARGET_DIR   honoured (an absolute path); default fuzz/target.
#
# Every build has debug assertions on (cargo fuzz -a), so integer overflow panics instead of
# wrapping, and a crash is reported. Crashes land in fuzz/artifacts/<target>/, the growing
# corpus in fuzz/corpus/<target>/ (seeded from crates/format/tests/data/*.apr).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

sanitizer="${SANITIZER:-none}"
flags=(--sanitizer "$sanitizer" --debug-assertions)
if [[ "$sanitizer" != none ]] && ! rustc --version | grep -q -- '-nightly'; then
    export RUSTC_BOOTSTRAP=1
fi

# cargo caches rustc's target-info probe in <target dir>/.rustc_info.json, keyed on the flags but
# not on RUSTC_BOOTSTRAP: a probe that once failed without it (say `cargo fuzz build` on stable)
# would be replayed as a failure forever. Dropping the cache costs one probe.
rm -f "${CARGO_TARGET_DIR:-$here/target}/.rustc_info.json"

cargo fuzz build "${flags[@]}"

if [[ "${1:-}" == run ]]; then
    seconds="${2:?usage: fuzz/build.sh run SECONDS}"
    for target in $(cargo fuzz list); do
        mkdir -p "corpus/$target"
        for seed in "$here"/../crates/format/tests/data/*.apr "$here"/seeds/"$target"/*; do
            [[ -e "$seed" ]] && cp -n "$seed" "corpus/$target/" || true
        done
        echo "== fuzzing $target for ${seconds}s"
        cargo fuzz run "${flags[@]}" "$target" "corpus/$target" -- -max_total_time="$seconds"
    done
elif [[ $# -gt 0 ]]; then
    echo "usage: fuzz/build.sh [run SECONDS]" >&2
    exit 2
fi
