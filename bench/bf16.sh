#!/usr/bin/env bash
# bench/bf16.sh: --precision bf16 against fp32 on this machine.
#
#   bench/bf16.sh [--runs R] [--models a,b,c] [--threads N]
#
# 1. Accuracy: every model on the real photos in shared/photos (*.jpg, *.png, *.bmp, *.gif, *.ppm)
#    plus the bench JPEGs in bench/out/images-*/{small,camera} when bench/run_bench.sh has made them;
#    top-1 agreement of bf16 with fp32 and the largest logit difference (--raw logits).
# 2. Speed: ms/image of the image loop (the summary's "then X images/s", model load excluded) on the
#    photos' preprocessed tensors (shared/photos/*.torchvision.npy), -j 1 by default, fp32 and bf16
#    interleaved run by run (the machine may be shared), median of R runs; also both with
#    OM_WINOGRAD=0 to show what Winograd (which stays fp32) is worth next to bf16.
# OMPREDICT=/path/to/ompredict picks the binary (default build/ompredict, built when missing).
# Prints a Markdown table; exits 77 when the CPU lacks AVX512-BF16 (ompredict's warning says so).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${OM_SHARED:-$root/../shared}
runs=5
models=resnet18,mobilenet_v2,efficientnet_b0
threads=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--runs R] [--models a,b] [--threads N]" >&2; exit 2 ;;
  esac
done
bin=${OMPREDICT:-$root/build/ompredict}
if [ ! -x "$bin" ]; then
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j2 >/dev/null
fi
[ -d "$shared/photos" ] || { echo "no $shared/photos" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if "$bin" -m "$shared/zoo/resnet18.onnx" --precision bf16 "$shared/zoo/resnet18.ref/input_0.npy" \
     2>&1 >/dev/null | grep -q "lacks AVX512-BF16"; then
  echo "this CPU lacks AVX512-BF16: nothing to compare" >&2
  exit 77
fi

photos=()
for f in "$shared"/photos/*.jpg "$shared"/photos/*.png "$shared"/photos/*.bmp "$shared"/photos/*.gif \
         "$shared"/photos/*.ppm; do
  [ -e "$f" ] && photos+=("$f")
done
for d in "$root"/bench/out/images-*/small "$root"/bench/out/images-*/camera; do
  [ -d "$d" ] && for f in "$d"/*.jpg; do [ -e "$f" ] && photos+=("$f"); done
done
tensors=("$shared"/photos/*.torchvision.npy)

echo "| model | images | top-1 agree bf16/fp32 | max abs logit diff | max abs logit | fp32 ms/img | bf16 ms/img | speed-up | fp32 no-Wino ms/img | bf16 no-Wino ms/img |"
echo "|---|---|---|---|---|---|---|---|---|---|"
IFS=, read -r -a mlist <<< "$models"
for m in "${mlist[@]}"; do
  model=$shared/zoo/$m.onnx
  for p in fp32 bf16; do
    "$bin" -q -j "$threads" -m "$model" --precision "$p" --raw "$tmp/$m.$p.npy" "${photos[@]}" > "$tmp/$m.$p.csv"
  done
  acc=$(/usr/bin/python3 - "$tmp/$m.fp32.npy" "$tmp/$m.bf16.npy" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
ok = ~np.isnan(a).any(1) & ~np.isnan(b).any(1)
a, b = a[ok], b[ok]
agree = int((a.argmax(1) == b.argmax(1)).sum())
print("%d | %d/%d (%.1f%%) | %.4g | %.4g" % (len(a), agree, len(a), 100.0 * agree / len(a),
      float(np.abs(a - b).max()), float(np.abs(a).max())))
EOF
)
  declare -A t=()
  for cfg in fp32 bf16 fp32:0 bf16:0; do t[$cfg]=""; done
  for ((r = 0; r < runs; r++)); do
    for cfg in fp32 bf16 fp32:0 bf16:0; do
      p=${cfg%%:*}
      wino=1
      [ "$cfg" != "$p" ] && wino=0
      line=$(OM_WINOGRAD=$wino "$bin" -j "$threads" -m "$model" --precision "$p" "${tensors[@]}" 2>&1 >/dev/null | grep "images/s" | tail -1)
      rate=$(sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p' <<< "$line")
      t[$cfg]+="$rate "
    done
  done
  med() { /usr/bin/python3 -c "import sys,statistics; v=[1000.0/float(x) for x in sys.argv[1:]]; print('%.1f' % statistics.median(v))" $1; }
  f=$(med "${t[fp32]}"); b=$(med "${t[bf16]}"); f0=$(med "${t[fp32:0]}"); b0=$(med "${t[bf16:0]}")
  sp=$(/usr/bin/python3 -c "print('%.2fx' % ($f / $b))")
  echo "| $m | $acc | $f | $b | $sp | $f0 | $b0 |"
  unset t
done
echo
echo "($(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), -j $threads, median of $runs runs, ${#tensors[@]} tensors per run)"
