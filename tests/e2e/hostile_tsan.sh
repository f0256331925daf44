#!/usr/bin/env bash
# hostile_tsan.sh: the parallel loop with 4 threads, a slow input (OMPREDICT_TEST_DELAY_MS) and bad
# inputs mixed in, so the reorder window fills and drains while workers finish out of order, plus
# an interruption (SIGTERM mid-run). Checks order and exit statuses. Label 'tsan': run it from a
# ThreadSanitizer build (clang, -DOMPREDICT_SANITIZE=thread) with LLVM's Archer OMPT tool
# (OMP_TOOL_LIBRARIES=.../libarcher.so), where any race aborts it:
#   TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1"
# The second option is what Archer itself asks for: Debian's libomp is not TSan-instrumented, and
# without it TSan reports libomp's own lock initialisation (pthread_mutex_init vs lock inside
# __kmp) as a race. No suppression file is needed.
. "$(dirname "$0")/cli_common.inc"
cd "$T" || exit 1
P=$SH/photos
"$PY" -c 'import numpy as np; [np.save("in%d.npy" % k, np.full((3, 32, 32), k, np.float32)) for k in range(4)]' || fail "npy"
head -c 1500 "$P/astronaut.jpg" > trunc.jpg
IN=()
for r in 1 2 3; do IN+=(in0.npy "$P/coffee.png" trunc.jpg in1.npy /no/such.png "$P/rocket.gif" in2.npy in3.npy); done
"$OMPREDICT" -m "$M" -q -j 1 --no-header "${IN[@]}" > ref.csv; [ $? = 1 ] || fail "-j 1 run"
for j in 2 4; do
  OMPREDICT_TEST_DELAY_MS=20 timeout 300 "$OMPREDICT" -m "$M" -q -j $j --no-header "${IN[@]}" > j$j.csv 2> err
  rc=$?
  grep -q "ThreadSanitizer" err && { cat err; fail "TSan report at -j $j"; }
  [ $rc = 1 ] || { cat err; fail "-j $j: exit $rc"; }
  cmp -s ref.csv j$j.csv || fail "-j $j output differs from -j 1"
done
# Interrupted mid-run: 143 and a complete ordered prefix.
for i in $(seq 40); do printf '%s\n' "${IN[@]}"; done > long.txt
OMPREDICT_TEST_DELAY_MS=50 "$OMPREDICT" -m "$M" -q -j 4 --no-header -o part.csv @long.txt 2> err &
pid=$!
sleep 2
kill -TERM $pid
wait $pid; rc=$?
grep -q "ThreadSanitizer" err && { cat err; fail "TSan report on SIGTERM"; }
[ $rc = 143 ] || { cat err; fail "SIGTERM: exit $rc, want 143"; }
[ -f part.csv.partial ] || fail "no part.csv.partial"
n=$(wc -l < part.csv.partial)
[ "$n" -gt 0 ] || fail "nothing written before SIGTERM"
"$PY" - <<'PY' || fail "partial is not an ordered prefix"
ref = open("ref.csv").read().splitlines()
part = open("part.csv.partial").read().splitlines()
for i, row in enumerate(part):
    want = ref[i % len(ref)].split(",", 1)[1]
    assert row == "%d,%s" % (i, want), (i, row)
PY
echo "hostile_tsan ok ($n rows before SIGTERM)"
