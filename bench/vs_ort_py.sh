#!/usr/bin/env bash
# vs_ort_py.sh: ompredict against ONNX Runtime through Python's onnxruntime package (for nodes with
# pip's or a distribution's onnxruntime but no npm), all cores, inference only, alternating rounds.
#   bench/vs_ort_py.sh [-r ROUNDS] [-j THREADS] [-n IMAGES] [-b BINARY] MODEL.onnx... -- NPY_DIR
# NPY_DIR: preprocessed float32 [3,H,W] .npy tensors, repeated (symlinks) to IMAGES entries. Per round:
# ompredict -j THREADS (its "then N images/s" loop rate: model load excluded, like the peer's),
# bench/peers/ort_bench.py --procs THREADS (one single-threaded process per core, started together
# after a warm-up) and --threads THREADS --batch 16 (one process, intra-op threads). Prints a CSV per
# round and the medians with ompredict / (ONNX Runtime's better configuration). PY=python3 by default.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=${PY:-python3}
R=3 J=$(nproc) N=256 BIN=$HERE/../build/ompredict
while getopts "r:j:n:b:" o; do
  case $o in r) R=$OPTARG ;; j) J=$OPTARG ;; n) N=$OPTARG ;; b) BIN=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
models=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do models+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ $# -eq 1 ] && [ ${#models[@]} -gt 0 ] || { sed -n 2,9p "$0"; exit 2; }
"$PY" -c 'import onnxruntime' 2>/dev/null || { echo "vs_ort_py.sh: $PY has no onnxruntime" >&2; exit 2; }
W=$(mktemp -d /tmp/om_vsort_XXXXXX)
trap 'rm -rf "$W"' EXIT
src=("$1"/*.npy)
[ -e "${src[0]}" ] || { echo "vs_ort_py.sh: no .npy in $1" >&2; exit 2; }
for ((i = 0; i < N; i++)); do ln -s "$(realpath "${src[i % ${#src[@]}]}")" "$(printf "$W/x%06d.npy" $i)"; done
rate() { "$PY" -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d["images"]/d["loop_s"])' 2>/dev/null || echo nan; }
echo "model,round,ompredict_j$J,ort_procs$J,ort_intra${J}_b16"
for M in "${models[@]}"; do
  m=$(basename "$M" .onnx)
  for ((r = 1; r <= R; r++)); do
    om=$("$BIN" -m "$M" -j "$J" -k 1 "$W" 2>&1 >/dev/null | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p')
    a=$("$PY" "$HERE/peers/ort_bench.py" --model "$M" --npy-dir "$W" --procs "$J" | rate)
    b=$("$PY" "$HERE/peers/ort_bench.py" --model "$M" --npy-dir "$W" --threads "$J" --batch 16 | rate)
    echo "$m,$r,${om:-nan},$a,$b"
  done
done | tee "$W/rows.csv"
"$PY" - "$W/rows.csv" <<'PYEOF'
import csv, statistics as st, sys
rows = {}
for m, _, om, a, b in csv.reader(open(sys.argv[1])):
    rows.setdefault(m, []).append((float(om), float(a), float(b)))
print("\n| model | ompredict img/s | ORT procs | ORT intra-op b16 | ompredict / best ORT |")
print("|---|---|---|---|---|")
for m, v in rows.items():
    om, a, b = (st.median(x[i] for x in v) for i in range(3))
    print(f"| {m} | {om:.1f} | {a:.1f} | {b:.1f} | {om / max(a, b):.2f} |")
PYEOF
