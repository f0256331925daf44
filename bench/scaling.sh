#!/usr/bin/env bash
# scaling.sh: thread (and MPI rank x thread) scaling of ompredict on this machine, as a Markdown
# report on stdout: images/s and parallel efficiency (speed-up / threads) per model and input kind.
#   bench/scaling.sh [-b BINARY] [-m "squeezenet1_1 mobilenet_v2 resnet18"] [-n IMAGES] [-r RUNS]
#                    [-t "1 2 4 8 16"] [-s SHARED]
# Inputs: "npy" = the zoo's preprocessed input_K.npy references repeated to IMAGES entries (no
# decode: engine scaling); "jpeg" = the shared photos' JPEGs repeated likewise (decode + resize +
# engine). Threads default to 1, 2, 4, ... up to the CPUs this process may use, plus that number.
# Each point is the best of RUNS wall-clock runs of the whole command (model load included), runs of
# one table interleaved so background load hits all points alike. With an MPI build and mpirun,
# also R ranks x T threads (R*T = CPUs) with --bind-to none. OMP_PROC_BIND / OMP_PLACES from the
# environment are passed through (see bench/SCALING.md).
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BIN=${OMPREDICT:-$ROOT/build/ompredict}
SHARED=${OM_SHARED:-$ROOT/../shared}
MODELS="squeezenet1_1 mobilenet_v2 resnet18"
N=64
RUNS=3
THREADS=""
while getopts "b:m:n:r:t:s:" o; do
  case $o in
    b) BIN=$OPTARG ;; m) MODELS=$OPTARG ;; n) N=$OPTARG ;; r) RUNS=$OPTARG ;;
    t) THREADS=$OPTARG ;; s) SHARED=$OPTARG ;; *) exit 2 ;;
  esac
done
[ -x "$BIN" ] || { echo "scaling.sh: no binary $BIN (build first or -b)" >&2; exit 2; }
[ -d "$SHARED/zoo" ] || { echo "scaling.sh: no $SHARED/zoo" >&2; exit 2; }
P=$(nproc)
if [ -z "$THREADS" ]; then
  t=1
  while [ $t -lt "$P" ]; do THREADS="$THREADS $t"; t=$((t * 2)); done
  THREADS="$THREADS $P"
fi
W=$(mktemp -d /tmp/om_scaling_XXXXXX)
trap 'rm -rf "$W"' EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; } # floating point without bc (not installed on every node)
# best wall time of one command line over RUNS (interleaving is done by the caller's loops)
declare -A BEST
timeit() { # KEY CMD...
  local key=$1 t0 t1 dt
  shift
  t0=$(now)
  "$@" > /dev/null 2> "$W/err" || { [ $? -eq 1 ] || { echo "failed: $* : $(cat "$W/err")" >&2; return 1; }; }
  t1=$(now)
  dt=$(calc "$t1 - $t0")
  if [ -z "${BEST[$key]:-}" ] || [ "$(calc "($dt < ${BEST[$key]}) ? 1 : 0")" = 1 ]; then BEST[$key]=$dt; fi
}

make_list() { # KIND MODEL -> list file
  local f=$W/$1_$2.txt src=()
  if [ "$1" = npy ]; then src=("$SHARED/zoo/$2.ref"/input_*.npy)
  else
    for p in "$SHARED"/photos/*.jpg; do
      case $p in *3000x2000*) ;; *) src+=("$p") ;; esac
    done
  fi
  : > "$f"
  for ((i = 0; i < N; i++)); do echo "${src[i % ${#src[@]}]}" >> "$f"; done
  echo "$f"
}

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "# ompredict scaling on $(hostname): $P CPUs ($cpu)"
echo
echo "Command: \`bench/scaling.sh $(printf "%q " "$@")\` — $N images per run, best of $RUNS; binary $BIN"
echo "(\`$("$BIN" --version | head -1)\`); OMP_PROC_BIND=${OMP_PROC_BIND:-unset} OMP_PLACES=${OMP_PLACES:-unset}."
echo
for m in $MODELS; do
  M=$SHARED/zoo/$m.onnx
  [ -f "$M" ] || { echo "scaling.sh: no $M, skipped" >&2; continue; }
  echo "## $m"
  echo
  echo "| input | threads | images/s | speed-up | efficiency |"
  echo "|---|---|---|---|---|"
  for kind in npy jpeg; do
    L=$(make_list $kind "$m")
    BEST=()
    for ((r = 0; r < RUNS; r++)); do
      for t in $THREADS; do timeit "$t" "$BIN" -q -m "$M" -j "$t" "@$L"; done
    done
    base=""
    for t in $THREADS; do
      ips=$(calc "$N / ${BEST[$t]}")
      [ -z "$base" ] && base=$ips
      printf '| %s | %d | %.1f | %.2f | %.0f%% |\n' "$kind" "$t" "$ips" "$(calc "$ips / $base")" \
        "$(calc "100 * $ips / $base / $t")"
    done
  done
  echo
  if "$BIN" --help | grep -q "^Built with mpi: yes" && command -v mpirun > /dev/null; then
    L=$(make_list npy "$m")
    combos=""
    for r in 1 2 4 8 16; do
      [ $r -le "$P" ] && [ $((P % r)) -eq 0 ] && combos="$combos $r:$((P / r))"
    done
    BEST=()
    for ((i = 0; i < RUNS; i++)); do
      for c in $combos; do
        timeit "$c" mpirun --allow-run-as-root --oversubscribe --bind-to none -n "${c%%:*}" \
          "$BIN" -q -m "$M" -j "${c##*:}" "@$L"
      done
    done
    echo "| ranks x threads (npy, mpirun --bind-to none) | images/s |"
    echo "|---|---|"
    for c in $combos; do
      printf '| %s x %s | %.1f |\n' "${c%%:*}" "${c##*:}" "$(calc "$N / ${BEST[$c]}")"
    done
    echo
  fi
done
