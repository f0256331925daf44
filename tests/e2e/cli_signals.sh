#!/usr/bin/env bash
# cli_signals.sh: atomic -o (SIGKILL leaves no target, only possibly a hidden temp file), SIGTERM
# -> exit 143, FILE.partial with a whole-row prefix, and --resume giving the same bytes as an
# uninterrupted run (for csv with awkward names and for jsonl). Uses OMPREDICT_TEST_DELAY_MS (a
# test-only per-input sleep) to make the run slow enough to interrupt.
# The delays leave sanitizer builds (slow to start) time to install the signal handlers before the kill.
. "$(dirname "$0")/cli_common.inc"
cd "$T" || exit 1
"$PY" -c '
import numpy as np
rng = np.random.default_rng(2)
for k in range(8): np.save("in%d.npy" % k, rng.standard_normal((3, 32, 32)).astype(np.float32))
' || fail "setup"
cp in1.npy 'odd, "name"
x.npy'
: > list.txt
for r in $(seq 1 10); do for k in 0 1 2 3 4 5 6 7; do echo in$k.npy; done; echo /missing.png; done >> list.txt
printf '%s\n' 'odd, "name"' >> list.txt   # a missing path whose name needs quoting
ARGS=(-m "$M" -q -j 2 @list.txt 'odd, "name"
x.npy')

for fmt in csv jsonl; do
  "$OMPREDICT" "${ARGS[@]}" -f $fmt -o full.$fmt; rc=$?
  [ $rc = 1 ] || fail "reference run exit $rc"
  # SIGKILL: no target, no partial.
  rm -f out.$fmt out.$fmt.partial
  OMPREDICT_TEST_DELAY_MS=100 "$OMPREDICT" "${ARGS[@]}" -f $fmt -o out.$fmt & pid=$!
  sleep 1.0; kill -KILL $pid; wait $pid 2>/dev/null
  [ ! -e out.$fmt ] && [ ! -e out.$fmt.partial ] || fail "SIGKILL left a target"
  rm -f .out.$fmt.tmp.*
  # SIGTERM: 143, partial kept, then --resume completes it byte-identically.
  OMPREDICT_TEST_DELAY_MS=100 "$OMPREDICT" "${ARGS[@]}" -f $fmt -o out.$fmt 2> term.err & pid=$!
  sleep 1.5; kill -TERM $pid; wait $pid; rc=$?
  [ $rc = 143 ] || fail "SIGTERM exit $rc, want 143"
  grep -q "interrupted after [0-9]* of 92 inputs; rerun with --resume" term.err || fail "message: $(cat term.err)"
  [ ! -e out.$fmt ] && [ -s out.$fmt.partial ] || fail "no partial after SIGTERM"
  ls -A | grep -q '\.tmp\.' && fail "temp file left behind"
  # The partial is a prefix of the full output.
  cmp -s out.$fmt.partial <(head -c "$(stat -c %s out.$fmt.partial)" full.$fmt) || fail "partial is not a prefix"
  # Tear the last row to check that only whole rows are kept.
  truncate -s -3 out.$fmt.partial
  "$OMPREDICT" "${ARGS[@]}" -f $fmt -o out.$fmt --resume; rc=$?
  [ $rc = 1 ] || fail "resume exit $rc"
  cmp out.$fmt full.$fmt || fail "resumed $fmt differs from an uninterrupted run"
  [ ! -e out.$fmt.partial ] || fail "partial left after resume"
  # Complete output: --resume has nothing to do.
  "$OMPREDICT" "${ARGS[@]/-q/-v}" -f $fmt -o out.$fmt --resume 2> done.err; rc=$?
  [ $rc = 0 ] && grep -q "nothing to do" done.err || fail "resume of a complete file: $rc"
  cmp -s out.$fmt full.$fmt || fail "resume of a complete file changed it"
done
# --raw with --resume: RAW.partial is continued too, both files byte-identical to an uninterrupted run.
"$OMPREDICT" "${ARGS[@]}" -o rfull.csv --raw rfull.npy; [ $? = 1 ] || fail "--raw reference run"
OMPREDICT_TEST_DELAY_MS=100 "$OMPREDICT" "${ARGS[@]}" -o r.csv --raw r.npy 2> /dev/null & pid=$!
sleep 1.5; kill -TERM $pid; wait $pid; rc=$?
[ $rc = 143 ] && [ -s r.csv.partial ] && [ -s r.npy.partial ] || fail "--raw SIGTERM: exit $rc, partials missing"
cp r.csv.partial r.keep; mv r.npy.partial r.npysave
"$OMPREDICT" "${ARGS[@]}" -o r.csv --raw r.npy --resume 2> r.err; [ $? = 2 ] || fail "resume without RAW.partial accepted"
grep -q "r.npy.partial does not exist" r.err || fail "message: $(cat r.err)"
cmp -s r.csv.partial r.keep || fail "a refused --raw resume changed FILE.partial"
head -c 200 r.npysave > r.npy.partial
"$OMPREDICT" "${ARGS[@]}" -o r.csv --raw r.npy --resume 2> /dev/null; [ $? = 2 ] || fail "torn RAW.partial accepted"
cmp -s r.csv.partial r.keep || fail "a refused --raw resume changed FILE.partial"
mv r.npysave r.npy.partial
"$OMPREDICT" "${ARGS[@]}" -o r.csv --raw r.npy --resume; [ $? = 1 ] || fail "--raw resume exit"
cmp r.csv rfull.csv && cmp r.npy rfull.npy || fail "resumed --raw run differs from an uninterrupted one"
[ ! -e r.csv.partial ] && [ ! -e r.npy.partial ] || fail "partials left after the --raw resume"
# The kept rows' failures count: an error row only in the kept prefix still makes the resumed run
# exit 1, as the uninterrupted one does (and its summary says so).
for fmt in csv tsv jsonl; do
  "$OMPREDICT" -m "$M" -q -f $fmt /missing.png in0.npy in1.npy in2.npy -o ef.$fmt; [ $? = 1 ] || fail "ef reference"
  head -n 3 ef.$fmt > eo.$fmt.partial # header (jsonl: none) and the error row
  "$OMPREDICT" -m "$M" -f $fmt /missing.png in0.npy in1.npy in2.npy -o eo.$fmt --resume 2> eo.err; rc=$?
  [ $rc = 1 ] || fail "$fmt: resume after a kept error row: exit $rc, want 1"
  cmp -s eo.$fmt ef.$fmt || fail "$fmt: resumed output differs"
  grep -q "of them failed" eo.err || fail "$fmt: summary: $(cat eo.err)"
done
# A fresh (not --resume) run's complete output removes a stale FILE.partial / RAW.partial.
head -n 2 full.csv > fresh.csv.partial; : > fresh.npy.partial
"$OMPREDICT" -m "$M" -q in0.npy -o fresh.csv --raw fresh.npy || fail "fresh run over stale partials"
[ ! -e fresh.csv.partial ] && [ ! -e fresh.npy.partial ] || fail "stale partials left beside complete outputs"
# A partial from another input list is refused.
head -n 3 full.csv > other.csv.partial
"$OMPREDICT" -m "$M" -q in3.npy in4.npy -o other.csv --resume 2> err; [ $? = 2 ] || fail "foreign partial accepted"
# SIGINT to stdout output: 130 and an ordered prefix.
OMPREDICT_TEST_DELAY_MS=100 "$OMPREDICT" "${ARGS[@]}" > int.csv 2> int.err & pid=$!
sleep 1.5; kill -INT $pid; wait $pid; rc=$?
[ $rc = 130 ] || fail "SIGINT exit $rc"
cmp -s int.csv <(head -c "$(stat -c %s int.csv)" full.csv) || fail "stdout prefix after SIGINT"
# SIGINT while the input list is still being read from standard input: 130, not a read error.
{ sleep 4; echo in0.npy; } | "$OMPREDICT" -m "$M" -q - > /dev/null 2> stdin.err & pid=$!
sleep 1.5; kill -INT $pid; wait $pid; rc=$?
[ $rc = 130 ] || fail "SIGINT while reading standard input: exit $rc ($(cat stdin.err))"
# --raw: one row per input, NaN for failures, atomic.
"$OMPREDICT" -m "$M" -q in0.npy /missing.png in1.npy --raw raw.npy > /dev/null; [ $? = 1 ] || fail "--raw run"
"$PY" - "$M" <<'PY' || fail "--raw content"
import sys, numpy as np
r = np.load("raw.npy")
w = np.load(sys.argv[1] + ".w.npy").reshape(10, -1); b = np.load(sys.argv[1] + ".b.npy")
assert r.shape == (3, 10) and r.dtype == np.float32, r.shape
assert np.isnan(r[1]).all()
for i, f in ((0, "in0.npy"), (2, "in1.npy")):
    assert np.allclose(r[i], w @ np.load(f).reshape(-1) + b, rtol=1e-4, atol=1e-4)
PY
echo "cli_signals ok"
