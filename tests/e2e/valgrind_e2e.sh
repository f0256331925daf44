#!/usr/bin/env bash
# valgrind_e2e.sh: a small end-to-end run (2 threads, a few images of different formats, a truncated
# one, a missing one, a .npy) under valgrind memcheck: any invalid access, uninitialised use or
# definite leak fails the test (exit 77 where valgrind is missing). The output must still be right:
# exit 1, one row per input, the bad ones as error rows.
. "$(dirname "$0")/cli_common.inc"
command -v valgrind > /dev/null || { echo "no valgrind"; exit 77; }
# A sanitizer build cannot run under valgrind (its shadow memory clashes): that build is checked by
# the sanitizer itself.
if grep -qaE "__(asan|tsan|msan)_init" "$OMPREDICT"; then echo "sanitizer build: valgrind skipped"; exit 77; fi
cd "$T" || exit 1
P=$SH/photos
"$PY" -c 'import numpy as np; np.save("in.npy", np.ones((3, 32, 32), np.float32))' || fail "npy"
head -c 2000 "$P/coffee.png" > trunc.png
IN=("$P/astronaut.jpg" trunc.png "$P/coffee.png" in.npy /no/such.png "$P/rocket.gif" "$P/chelsea.bmp")
# GOMP keeps its thread pool alive at exit ("possibly lost"), hence only definite leaks count.
timeout 600 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --track-origins=yes --log-file=vg.log "$OMPREDICT" -m "$M" -j 2 -f jsonl "${IN[@]}" > out.jsonl 2> err
rc=$?
[ $rc != 99 ] || { cat vg.log; fail "valgrind found errors"; }
[ -s vg.log ] && { cat vg.log; fail "valgrind reported something"; }
[ $rc = 1 ] || { cat err vg.log; fail "exit $rc, want 1"; }
"$PY" - <<'PY' || fail "rows"
import json
js = [json.loads(l) for l in open("out.jsonl")]
assert [j["status"] for j in js] == ["ok", "error", "ok", "ok", "error", "ok", "ok"], js
PY
echo "valgrind_e2e ok"
