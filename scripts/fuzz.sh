#!/usr/bin/env bash
# Runs berth's fuzz targets (fuzz/targets, cargo-fuzz with libFuzzer; what they
# assert is in fuzz/oracles).
#
#   scripts/fuzz.sh seed              copy the guests' packages and components into the corpora
#   scripts/fuzz.sh run TARGET [SECS] fuzz one target (default 600 s), keeping what it finds
#   scripts/fuzz.sh ci [SECS]         build every target, run each for SECS (default 30)
#
# A crash leaves its input in fuzz/targets/artifacts/TARGET/; copy it to
# fuzz/regressions/TARGET/ under a name saying what it found, fix the bug,
# and `cargo test -p berth-fuzz-oracles` replays it from then on.
# cargo-fuzz needs nightly features: RUSTC_BOOTSTRAP=1 lets the stable
# toolchain build them (scripts/setup.sh installs cargo-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1

TARGETS=(package_archive package_structured signature resolver paths kv_calls modules_calls records_calls config_reads components)
guest_components=target/wasm-guests/wasm32-wasip2/release

seed() {
    mkdir -p fuzz/corpus/components fuzz/corpus/package_archive
    for wasm in trap kvprobe hello; do
        [ -f "$guest_components/$wasm.wasm" ] && cp "$guest_components/$wasm.wasm" "fuzz/corpus/components/guest-$wasm.wasm"
    done
    python3 - "$guest_components" <<'PY'
import json, os, sys, zipfile
components = sys.argv[1]
for guest in ("dark-theme", "hello", "trap", "sales-widget"):
    folder = os.path.join("guests", guest)
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    with zipfile.ZipFile(f"fuzz/corpus/package_archive/guest-{guest}.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        if manifest.get("component"):
            wasm = os.path.join(components, guest.replace("-", "_") + ".wasm")
            if os.path.exists(wasm):
                z.write(wasm, manifest["component"])
        assets = manifest.get("assets")
        if assets:
            for root, _, files in os.walk(os.path.join(folder, assets)):
                for name in files:
                    path = os.path.join(root, name)
                    z.write(path, os.path.relpath(path, folder))
PY
}

run() {
    local target=$1 seconds=${2:-600}
    mkdir -p "fuzz/corpus/$target" "fuzz/regressions/$target"
    cargo fuzz run --fuzz-dir fuzz/targets -O "$target" "fuzz/corpus/$target" "fuzz/regressions/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1
}

case "${1:-}" in
    seed) seed ;;
    run) run "${2:?a target: ${TARGETS[*]}}" "${3:-600}" ;;
    ci)
        seed
        cargo fuzz build --fuzz-dir fuzz/targets -O
        for target in "${TARGETS[@]}"; do
            echo "== fuzz $target for ${2:-30} s"
            run "$target" "${2:-30}"
        done
        ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
esac
