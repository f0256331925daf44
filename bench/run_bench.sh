#!/usr/bin/env bash
# run_bench.sh: the one command of the benchmark. Installs the peers when missing (Debian packages,
# onnxruntime-node from npm into bench/node_modules), builds ompredict (Release, into build/), then runs
# bench/bench.py, which makes the images, times everything and writes bench/out/results.md.
#   bench/run_bench.sh [--quick] [--no-install] [bench.py options: --runs R --models a,b --threads N ...]
# OMPREDICT=/path/to/ompredict uses that binary and skips the build. Nothing here is needed to build or
# test ompredict; a peer that cannot be installed is reported as n/a in the tables.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY=/usr/bin/python3
say() { echo "[run_bench] $*" >&2; }

install=1
args=()
for a in "$@"; do
  if [ "$a" = "--no-install" ]; then install=0; else args+=("$a"); fi
done

apt_updated=0
apt_install() {  # best effort: apt_install PKG...
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    say "cannot install $* (needs root and apt-get); those peers will be n/a"; return 1
  fi
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { say "apt-get install $* failed; those peers will be n/a"; return 1; }
}

if [ "$install" = 1 ]; then
  pkgs=()
  "$PY" -c 'import numpy, PIL' 2>/dev/null || pkgs+=(python3-numpy python3-pil)
  "$PY" -c 'import torch' 2>/dev/null || pkgs+=(python3-torch)
  "$PY" -c 'import torchvision' 2>/dev/null || pkgs+=(python3-torchvision)
  "$PY" -c 'import onnx' 2>/dev/null || pkgs+=(python3-onnx)  # make_zoo.py exports resnet50 with it
  "$PY" -c 'import joblib' 2>/dev/null || pkgs+=(python3-joblib)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  if [ "${#pkgs[@]}" -gt 0 ]; then say "installing ${pkgs[*]}"; apt_install "${pkgs[@]}"; fi

  ort="$HERE/node_modules/onnxruntime-node"
  if command -v node >/dev/null 2>&1 && ! node -e "require('$ort').InferenceSession" >/dev/null 2>&1; then
    if command -v npm >/dev/null 2>&1; then
      say "installing onnxruntime-node into bench/node_modules"
      # --ignore-scripts: its post-install step downloads GPU add-ons and fails offline; the CPU
      # library for linux-x64 ships inside the package.
      (cd "$HERE" && npm install --ignore-scripts --no-save --no-package-lock --no-audit --no-fund \
         --prefix "$HERE" onnxruntime-node >/dev/null 2>&1) || say "npm install onnxruntime-node failed"
    fi
    if node -e "require('$ort').InferenceSession" >/dev/null 2>&1; then
      say "onnxruntime-node loads ($(node -p "require('$ort/package.json').version"))"
    else
      say "onnxruntime-node does not load; its rows will be n/a"
    fi
  fi
fi

if [ -z "${OMPREDICT:-}" ]; then
  say "building ompredict (Release) in build/"
  if cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null \
     && cmake --build "$ROOT/build" -j"$(nproc)" >/dev/null; then :; else
    say "building ompredict failed; its rows will be n/a"
  fi
  export OMPREDICT="$ROOT/build/ompredict"
fi

export OM_SHARED="${OM_SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
exec "$PY" "$HERE/bench.py" --ompredict "$OMPREDICT" --shared "$OM_SHARED" "${args[@]}"
