#!/usr/bin/env bash
# hostile_io.sh: output failures. Standard output, -o and --raw onto /dev/full (ENOSPC): a message
# naming the output and the reason, exit 2, no crash, and /dev/full still a device afterwards (-o
# must not rename a temporary file onto a device node). -o onto a FIFO is written in place. A
# closed stdout (>&-) and a pipe closed by `head -1` (EPIPE) end the run promptly and quietly.
# -o into a read-only directory fails with exit 2 before any input is processed. An unreadable
# directory met while expanding the inputs (by -r, a "**" pattern, a wildcard, or given as DIR)
# becomes an input with an error row: exit 1, the directory named, never a silent loss.
# The permission cases run as nobody when run as root; without a way to switch, they are left
# out and the test reports itself skipped (77) after the other cases.
. "$(dirname "$0")/cli_common.inc"
cd "$T" || exit 1
"$PY" -c 'import numpy as np; np.save("in.npy", np.ones((3, 32, 32), np.float32))' || fail "npy"

crashed() { [ "$1" -ge 128 ]; }
if [ -c /dev/full ]; then
  "$OMPREDICT" -m "$M" -q in.npy > /dev/full 2> err; rc=$?
  [ $rc = 2 ] && grep -q "standard output: No space left on device" err || fail "stdout ENOSPC: $rc $(cat err)"
  "$OMPREDICT" -m "$M" -q -o /dev/full in.npy 2> err; rc=$?
  [ $rc = 2 ] && grep -q "/dev/full: No space left on device" err || fail "-o /dev/full: $rc $(cat err)"
  [ -c /dev/full ] || fail "-o /dev/full replaced the device node"
  "$OMPREDICT" -m "$M" -q --raw /dev/full in.npy > /dev/null 2> err; rc=$?
  [ $rc = 2 ] && grep -q "/dev/full.*No space left on device" err || fail "--raw /dev/full: $rc $(cat err)"
  [ -c /dev/full ] || fail "--raw /dev/full replaced the device node"
  # Many rows: the error must come at the first failing flush, not be lost.
  for i in $(seq 200); do echo in.npy; done > many.txt
  "$OMPREDICT" -m "$M" -q @many.txt > /dev/full 2> err; rc=$?
  [ $rc = 2 ] && grep -q "No space left" err || fail "stdout ENOSPC, many rows: $rc $(cat err)"
else
  echo "note: no /dev/full, ENOSPC cases skipped"
fi

# -o onto a FIFO: written in place, the reader gets every row.
mkfifo out.fifo
cat out.fifo > fifo.csv &
reader=$!
"$OMPREDICT" -m "$M" -q -o out.fifo in.npy in.npy 2> err; rc=$?
wait $reader
[ $rc = 0 ] || fail "-o FIFO: exit $rc $(cat err)"
[ -p out.fifo ] || fail "-o FIFO replaced the FIFO"
[ "$(wc -l < fifo.csv)" = 3 ] || fail "-o FIFO: $(cat fifo.csv)"

# Closed standard output.
"$OMPREDICT" -m "$M" -q in.npy >&- 2> err; rc=$?
[ $rc = 2 ] && grep -q "standard output" err || fail "closed stdout: $rc $(cat err)"

# EPIPE: 100 slow inputs (200 ms each) behind `head -1` must end within a few seconds, quietly.
for i in $(seq 100); do echo in.npy; done > slow.txt
start=$(date +%s%N)
{ OMPREDICT_TEST_DELAY_MS=200 "$OMPREDICT" -m "$M" -j 2 @slow.txt 2> pipe.err; echo $? > pipe.rc; } | head -1 > head.out
ms=$(( ($(date +%s%N) - start) / 1000000 ))
rc=$(cat pipe.rc)
[ "$rc" = 2 ] || fail "EPIPE: exit $rc, want 2"
[ ! -s pipe.err ] || fail "EPIPE: not quiet: $(cat pipe.err)"
grep -q '^index,path,status' head.out || fail "EPIPE: header not read"
[ $ms -lt 5000 ] || fail "EPIPE: took $ms ms"
echo "EPIPE: exit $rc after $ms ms"

# Read-only output directory: exit 2 at once (10 inputs at 1 s each on one thread would take 10 s
# if the work came first; half of that allows for slow sanitizer builds), no rows,
# no temporary file left. Root writes anywhere, so that case runs as nobody where possible.
mkdir ro
chmod 555 ro
chmod 755 "$T"
chmod 644 in.npy "$M"
AS=()
su_nobody() { su -s /bin/bash -c 'exec "$0" "$@"' -- nobody "$@"; }
if [ "$(id -u)" = 0 ]; then
  if setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$OMPREDICT" 2>/dev/null; then
    AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  elif su_nobody test -x "$OMPREDICT" 2>/dev/null; then
    AS=(su_nobody)
  else
    echo "note: root and cannot switch to nobody: permission cases skipped"
    AS=(skip)
  fi
fi
if [ "${AS[0]:-}" != skip ]; then
  start=$(date +%s%N)
  OMPREDICT_TEST_DELAY_MS=1000 "${AS[@]}" "$OMPREDICT" -m "$M" -q -j 1 -o ro/out.csv \
    in.npy in.npy in.npy in.npy in.npy in.npy in.npy in.npy in.npy in.npy > ro.stdout 2> err; rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ $rc = 2 ] || fail "read-only dir: exit $rc $(cat err)"
  grep -q "ro/.*Permission denied" err || fail "read-only dir message: $(cat err)"
  [ $ms -lt 5000 ] || fail "read-only dir: failed only after $ms ms (work was done first)"
  [ -z "$(ls -A ro)" ] && [ ! -s ro.stdout ] || fail "read-only dir: something was written"
fi

# Unreadable directory u/locked (mode 000, holding x.npy) beside readable inputs. It used to be
# skipped: exit 0 with 2 rows (-r: a warning that -q hid; "**": not even a warning).
if [ "${AS[0]:-}" != skip ]; then
  mkdir -p u/a u/locked
  cp in.npy u/1.npy && cp in.npy u/a/2.npy && cp in.npy u/locked/x.npy || fail "unreadable tree"
  chmod 755 u u/a && chmod 644 u/1.npy u/a/2.npy && chmod 000 u/locked
  # rows FILE: "path status" per row, in order, joined by ", "; the error reason of PATH on stdout.
  rows() { "$PY" -c 'import json, sys
print(", ".join(r["path"] + " " + r["status"] for r in map(json.loads, open(sys.argv[1]))))' "$1"; }
  reason() { "$PY" -c 'import json, sys
print([r for r in map(json.loads, open(sys.argv[1])) if r["path"] == sys.argv[2]][0].get("error", ""))' "$1" "$2"; }
  want="u/1.npy ok, u/a/2.npy ok, u/locked error"
  "${AS[@]}" "$OMPREDICT" -m "$M" -q -r -f jsonl u > u1.jsonl 2> err; rc=$?
  [ $rc = 1 ] && [ "$(rows u1.jsonl)" = "$want" ] && [ ! -s err ] ||
    fail "-q -r over an unreadable dir: exit $rc, rows $(rows u1.jsonl) $(cat err)"
  "${AS[@]}" "$OMPREDICT" -m "$M" -r -f jsonl u > u2.jsonl 2> err; rc=$?
  [ $rc = 1 ] && [ "$(rows u2.jsonl)" = "$want" ] &&
    grep -q "cannot read directory u/locked: Permission denied" err ||
    fail "-r over an unreadable dir: exit $rc, rows $(rows u2.jsonl) $(cat err)"
  "${AS[@]}" "$OMPREDICT" -m "$M" -f jsonl 'u/**/*.npy' > u3.jsonl 2> err; rc=$?
  [ $rc = 1 ] && [ "$(rows u3.jsonl)" = "$want" ] &&
    grep -q "cannot read directory u/locked: Permission denied" err ||
    fail "'u/**/*.npy' over an unreadable dir: exit $rc, rows $(rows u3.jsonl) $(cat err)"
  # A literal component below the unreadable directory: that path, with the reason in its row.
  "${AS[@]}" "$OMPREDICT" -m "$M" -q -f jsonl 'u/*/x.npy' > u4.jsonl 2> err; rc=$?
  [ $rc = 1 ] && [ "$(rows u4.jsonl)" = "u/locked/x.npy error" ] &&
    reason u4.jsonl u/locked/x.npy | grep -q "Permission denied" ||
    fail "'u/*/x.npy' below an unreadable dir: exit $rc, rows $(rows u4.jsonl) $(cat err)"
  # Given as DIR beside another: its own error row (was: a warning and no row, exit 0).
  "${AS[@]}" "$OMPREDICT" -m "$M" -q -f jsonl u/locked u/a > u5.jsonl 2> err; rc=$?
  [ $rc = 1 ] && [ "$(rows u5.jsonl)" = "u/locked error, u/a/2.npy ok" ] ||
    fail "unreadable DIR argument: exit $rc, rows $(rows u5.jsonl) $(cat err)"
  chmod 755 u/locked
fi
if [ "${AS[0]:-}" = skip ]; then
  echo "hostile_io ok, except the permission cases (skipped: root, cannot switch to nobody)"
  exit 77
fi
echo "hostile_io ok"
