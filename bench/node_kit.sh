#!/usr/bin/env bash
# node_kit.sh: packs what a run on a remote node needs (a node with Python's onnxruntime but no build
# tools or network), so the figures of bench/SCALING.md can be retaken there.
#   bench/node_kit.sh KIT_DIR [MODEL...]     (default models: the zoo's six; run from the repo root)
# KIT_DIR gets: ompredict (build/ompredict, Release) and the shared libraries it links besides libc;
# bench/kernels without OpenBLAS when it can be built; shared/zoo/<model>.onnx(.gz) with stand-in
# weights from bench/tile_weights.py (same speed, 1–2 MB gzipped) except efficientnet_b0, whose real
# weights matter to its speed (denormals, see SCALING.md); two preprocessed inputs per model; the
# shared photos' JPEGs but the 3000x2000 one. About 35 MB. On the node, from a checkout of this repo:
#   bash bench/node_run.sh KIT_DIR OUT_DIR
set -eu
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
SHARED=${OM_SHARED:-$ROOT/../shared}
PY=/usr/bin/python3
[ $# -ge 1 ] || { sed -n 2,11p "$0"; exit 2; }
KIT=$1; shift
MODELS=${*:-resnet50 resnet18 mobilenet_v2 efficientnet_b0 squeezenet1_1 shufflenet_v2_x1_0}
[ -x "$ROOT/build/ompredict" ] || { echo "node_kit.sh: build ompredict first (build/ompredict)" >&2; exit 2; }
mkdir -p "$KIT/lib" "$KIT/shared/zoo" "$KIT/shared/photos"
cp "$ROOT/build/ompredict" "$KIT/"
ldd "$ROOT/build/ompredict" | awk '/=> \// {print $3}' | grep -v -E '/lib(c|m|pthread|dl|rt)\.so' |
  while read -r l; do cp -L "$l" "$KIT/lib/"; done
# bench/kernels without OpenBLAS (its 36 MB library would not travel): pkg-config sees libpng alone
pc=$(mktemp -d)
for f in libpng libpng16 zlib; do
  p=$(pkg-config --variable=pcfiledir "$f" 2>/dev/null) && cp "$p/$f.pc" "$pc/" || true
done
if PKG_CONFIG_LIBDIR=$pc cmake -S "$HERE" -B "$pc/kb" -DOMPREDICT_BUILD_DIR="$ROOT/build" > /dev/null &&
   cmake --build "$pc/kb" --target kernels > /dev/null; then cp "$pc/kb/kernels" "$KIT/"
else echo "node_kit.sh: bench/kernels not built; the kit goes without it" >&2; fi
rm -rf "$pc"
for m in $MODELS; do
  src=$SHARED/zoo/$m.onnx
  [ -f "$src" ] || src=$HERE/out/zoo/$m.onnx # resnet50: exported by bench/run_bench.sh
  [ -f "$src" ] || { echo "node_kit.sh: no $m.onnx, skipped" >&2; continue; }
  if [ "$m" = efficientnet_b0 ]; then cp "$src" "$KIT/shared/zoo/"
  else "$PY" "$HERE/tile_weights.py" "$src" "$KIT/shared/zoo/$m.onnx" && gzip -9f "$KIT/shared/zoo/$m.onnx"; fi
  mkdir -p "$KIT/shared/zoo/$m.ref"
  cp "$SHARED"/zoo/resnet18.ref/input_{0,1}.npy "$KIT/shared/zoo/$m.ref/" # 3x224x224, every zoo model's input
done
for p in "$SHARED"/photos/*.jpg; do case $p in *3000x2000*) ;; *) cp "$p" "$KIT/shared/photos/" ;; esac; done
du -sh "$KIT"
