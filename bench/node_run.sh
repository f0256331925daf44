#!/usr/bin/env bash
# node_run.sh: the remote node's run of session 9 (bench/SCALING.md), from a kit of bench/node_kit.sh.
#   bash bench/node_run.sh KIT_DIR OUT_DIR      (from the repo root; python3 with onnxruntime)
# Writes OUT_DIR/: machine.txt, vs_ort_N.txt (all cores, bench/vs_ort_py.sh -r 3 -n 256), scaling.md
# (bench/scaling.sh, threads 1 2 4 ... N, npy and jpeg), bf16.txt (--precision bf16 vs fp32 at N threads
# and 1, 3 alternating rounds), vs_ort_1.txt (one thread), kernels.txt (bench/kernels, when in the kit).
# About 6 minutes on 16 cores; every part has its own timeout so a slow node still returns the rest.
set -u
[ $# -eq 2 ] || { sed -n 2,7p "$0"; exit 2; }
K=$(cd "$1" && pwd); O=$2
mkdir -p "$O"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LD_LIBRARY_PATH=$K/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
T0=$(date +%s)
el() { echo "($(($(date +%s) - T0)) s)"; }
{ lscpu; free -g; python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__)'; } > "$O/machine.txt" 2>&1
for f in "$K"/shared/zoo/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
"$K/ompredict" --version | head -1
P=$(nproc) Z=$K/shared/zoo
MS=(); for f in "$Z"/*.onnx; do MS+=("$f"); done
N256=$(mktemp -d) N48=$(mktemp -d)
trap 'rm -rf "$N256" "$N48"' EXIT
src=("$Z"/resnet18.ref/input_*.npy)
for i in $(seq 0 255); do ln -s "${src[$((i % ${#src[@]}))]}" "$N256/x$(printf %04d "$i").npy"; done
for i in $(seq 0 47); do ln -s "${src[$((i % ${#src[@]}))]}" "$N48/x$(printf %04d "$i").npy"; done
echo "== vs ONNX Runtime at $P threads $(el)"
timeout 250 bash bench/vs_ort_py.sh -r 3 -j "$P" -n 256 -b "$K/ompredict" "${MS[@]}" -- "$N256" 2>&1 | tee "$O/vs_ort_$P.txt"
echo "== scaling $(el)"
OMP_PROC_BIND=close OMP_PLACES=cores timeout 170 bash bench/scaling.sh -b "$K/ompredict" -s "$K/shared" \
  -m "resnet50 resnet18 mobilenet_v2 efficientnet_b0" -n 128 -r 2 2>&1 | tee "$O/scaling.md"
echo "== bf16 vs fp32 $(el)"
rate() { "$@" 2>&1 >/dev/null | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p'; }
for m in resnet50 resnet18 mobilenet_v2; do
  [ -f "$Z/$m.onnx" ] || continue
  for r in 1 2 3; do
    echo "$m,$r,fp32_j$P=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$P" "$N256")" \
      "bf16_j$P=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$P" --precision bf16 "$N256")" \
      "fp32_j1=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j 1 "$N48")" \
      "bf16_j1=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j 1 --precision bf16 "$N48")"
  done
done | tee "$O/bf16.txt"
echo "== vs ONNX Runtime, one thread $(el)"
timeout 150 bash bench/vs_ort_py.sh -r 5 -j 1 -n 48 -b "$K/ompredict" "${MS[@]}" -- "$N48" 2>&1 | tee "$O/vs_ort_1.txt"
[ -x "$K/kernels" ] && timeout 60 "$K/kernels" avx512 7 > "$O/kernels.txt" 2>&1
echo "== done $(el)"
