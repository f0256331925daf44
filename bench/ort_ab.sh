#!/usr/bin/env bash
# ort_ab.sh: ompredict against ONNX Runtime's best configuration here (N single-threaded processes, one
# image at a time), run back to back in alternating rounds so the host's drift hits both alike; prints
# every round's loop rate and the medians. Uses what bench/run_bench.sh left in bench/out (the
# preprocessed tensors, bench/out/zoo/resnet50.onnx) and bench/node_modules (onnxruntime-node).
#   [NPY=DIR] bench/ort_ab.sh [rounds] [threads] MODEL...     (MODEL: resnet50, or a name in ../shared/zoo)
# Example: bench/ort_ab.sh 5 2 resnet50 resnet18
set -u
cd "$(dirname "$0")/.." || exit 2
R=${1:-5} J=${2:-2}
shift 2 2>/dev/null || { sed -n 2,7p "$0"; exit 2; }
[ $# -gt 0 ] || { sed -n 2,7p "$0"; exit 2; }
OM=${OMPREDICT:-build/ompredict}
SHARED=${OM_SHARED:-../shared}
# NPY=DIR picks the tensors; default: the largest set bench/run_bench.sh made (short runs measure
# mostly start-up effects)
npy=${NPY:-$(for d in bench/out/images-*/npy; do [ -d "$d" ] && echo "$(ls "$d" | wc -l) $d"; done |
             sort -n | tail -1 | cut -d' ' -f2)}
[ -n "$npy" ] && [ -d "$npy" ] || { echo "ort_ab.sh: no bench/out/images-*/npy: run bench/run_bench.sh first" >&2; exit 2; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for m in "$@"; do
  ox=$SHARED/zoo/$m.onnx
  [ -f "$ox" ] || ox=bench/out/zoo/$m.onnx
  [ -f "$ox" ] || { echo "ort_ab.sh: no model $m" >&2; continue; }
  a=() b=()
  "$OM" -m "$ox" -j "$J" -q -o /dev/null "$npy" # warm the page cache
  for ((i = 0; i < R; i++)); do
    a+=("$("$OM" -m "$ox" -j "$J" -o /dev/null "$npy" 2>&1 | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p')")
    b+=("$(node bench/peers/ort_bench.js --model "$ox" --npy-dir "$npy" --procs "$J" 2>/dev/null |
           tail -1 | python3 -c "import sys, json; d = json.load(sys.stdin); print('%.1f' % (d['images'] / d['loop_s']))")")
  done
  ma=$(printf "%s\n" "${a[@]}" | median) mb=$(printf "%s\n" "${b[@]}" | median)
  echo "$m ompredict ${a[*]} | ORT ${J} procs ${b[*]} | medians $ma / $mb = $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.2f", (b + 0 > 0) ? a / b : 0}')"
done
