#!/usr/bin/env bash
# ab.sh: A/B of two ompredict binaries on the same inputs, alternating runs (so drifting machine load
# hits both alike; which side runs first swaps every round), median of the "then N images/s" loop
# rate each run reports, and the median and range of the rounds' own B/A ratios.
#   bench/ab.sh OLD_BIN NEW_BIN [runs] [threads] MODEL.onnx... -- INPUT...
# Example: bench/ab.sh /tmp/base/build/ompredict build/ompredict 5 2 ../shared/zoo/resnet18.onnx -- bench/out/images-16-0/npy
set -u
[ $# -ge 6 ] || { sed -n 2,5p "$0"; exit 2; }
A=$1 B=$2 R=$3 J=$4
shift 4
models=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do models+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "ab.sh: no inputs after --" >&2; exit 2; }
rate() { "$1" -m "$2" -j "$J" -k 1 "${@:3}" 2>&1 >/dev/null | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf "%-24s %10s %10s %7s %16s\n" model "A img/s" "B img/s" "B/A" "pairs: B/A range"
for m in "${models[@]}"; do
  ra=() rb=() pr=()
  for ((i = 0; i < R; i++)); do
    # the side that runs first swaps every round: a run can gain or lose from its position alone
    if ((i % 2 == 0)); then a=$(rate "$A" "$m" "$@"); b=$(rate "$B" "$m" "$@")
    else b=$(rate "$B" "$m" "$@"); a=$(rate "$A" "$m" "$@"); fi
    ra+=("$a") rb+=("$b")
    pr+=("$(awk -v a="$a" -v b="$b" 'BEGIN {print (a + 0 > 0) ? b / a : 0}')")
  done
  ma=$(printf "%s\n" "${ra[@]}" | median) mb=$(printf "%s\n" "${rb[@]}" | median)
  # each round's own ratio cancels the host's drift between rounds; their median and range
  mp=$(printf "%s\n" "${pr[@]}" | median)
  lo=$(printf "%s\n" "${pr[@]}" | sort -g | head -1) hi=$(printf "%s\n" "${pr[@]}" | sort -g | tail -1)
  printf "%-24s %10.1f %10.1f %7.2f %6.3f %.2f-%.2f\n" "$(basename "$m" .onnx)" "$ma" "$mb" \
    "$(awk -v a="$ma" -v b="$mb" 'BEGIN {print (a + 0 > 0) ? b / a : 0}')" "$mp" "$lo" "$hi"
done
