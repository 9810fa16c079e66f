#!/usr/bin/env bash
# Installs what berth needs on a fresh Debian 12 machine, and nothing when it
# is all there already. Safe to run repeatedly.
#
# Guest plugins are built for wasm32-wasip2. When the rustup toolchain has
# that target, nothing more is needed; otherwise Debian's rustc-web (a
# complete Rust with the standard library sources) builds them with
# -Zbuild-std. See shared/wasm-toolchain.md.
set -euo pipefail

log() { printf 'setup: %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq
        apt_updated=1
    fi
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust with rustup first" >&2
    exit 1
fi

sysroot=$(rustc --print sysroot)
if [ -d "$sysroot/lib/rustlib/wasm32-wasip2" ]; then
    log "rustup toolchain has wasm32-wasip2"
else
    log "rustup toolchain lacks wasm32-wasip2; using Debian's rustc-web for guests"
    apt_install rustc-web cargo-web rust-web-src rust-web-llvm wasi-libc lld
fi
# curl drives the HTTPS/HTTP2 end-to-end test (`curl --cacert --http2`);
# chromium runs the web console's browser test (Playwright drives it);
# minisign checks that berth's plugin signatures verify with the stock tool.
apt_install curl chromium minisign
# PostgreSQL backs cluster mode (`--registry postgres://…`); the tests start
# throwaway servers with its initdb and pg_ctl (storage/src/throwaway_postgres.rs).
apt_install postgresql
# `berth-load --flamegraph` records the served path with perf.
apt_install linux-perf
# The web console is built with Vite from npm by host/console/build.rs.
if ! command -v npm >/dev/null; then
    apt_install nodejs npm
fi
# componentize-py builds Python plugins (the py-hello guest, `berth plugin
# build` of a Python project); keep in step with guests/artifacts/componentize_py.rs.
componentize_py=0.25.1
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null)" != "$componentize_py" ]; then
    if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3 python3-pip
    fi
    log "installing componentize-py $componentize_py"
    pip_install() { python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@" "componentize-py==$componentize_py"; }
    # A Debian-managed python3 refuses plain installs (PEP 668).
    pip_install || pip_install --break-system-packages
fi
# cargo-fuzz runs the fuzz targets (scripts/fuzz.sh); with RUSTC_BOOTSTRAP=1
# it works on the stable toolchain.
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz
fi
log "ready"
