# examples_make.sh: examples/Makefile: builds one CSV per folder and the report; a second make does
# nothing (make -q); touching one image rebuilds only its folder and the report; a bad image is an
# error row, not a failure (unless STRICT=1); a fatal folder fails under make -k while the others
# are built; make -j2 gives the same report.
. "$(dirname "$0")/examples_common.inc"
cd "$T" || exit 1   # scratch files (make1.err ...) stay in the temp dir
command -v make > /dev/null || { echo "no make"; exit 77; }
I=$T/images
mkdir -p "$I/a" "$I/b" "$I/c"
cp "${IMGS[0]}" "${IMGS[1]}" "${IMGS[2]}" "$I/a/"
cp "${IMGS[3]}" "${IMGS[4]}" "${IMGS[5]}" "$I/b/"
cp "${IMGS[6]}" "${IMGS[7]}" "$I/c/"
printf 'not an image' > "$I/c/zz_bad.png"
M() { make -s -f "$SRC/examples/Makefile" IMAGES="$I" OUT="$T/out" MODEL="$MODEL" OMPREDICT="$OMPREDICT" THREADS=2 "$@"; }
M 2> make1.err || fail "first make: $(cat make1.err)"
for d in a b c; do
  "$OMPREDICT" -q -m "$MODEL" -j 2 "$I/$d" > "$T/$d.ref"
  cmp -s "$T/$d.ref" "$T/out/$d.csv" || fail "out/$d.csv differs from a direct run"
done
{ cat "$T/a.ref"; tail -n +2 "$T/b.ref"; tail -n +2 "$T/c.ref"; } > "$T/report.ref"
cmp -s "$T/report.ref" "$T/out/report.csv" || fail "report differs"
grep -q 'zz_bad.png,error,' "$T/out/report.csv" || fail "the bad image has no error row"
M -q || fail "make -q: something is out of date after a full build"
[ -z "$(M -n)" ] || fail "make -n would run: $(M -n)"
# Touch one image: only b.csv and the report are rebuilt.
stamp() { stat -c %y "$T/out/a.csv" "$T/out/b.csv" "$T/out/c.csv" "$T/out/report.csv"; }
before=$(stamp)
sleep 1.1
touch "$I/b/$(basename "${IMGS[4]}")"
cmds=$(M -n)
runs=$(echo "$cmds" | grep "predict_folder.sh" | grep -o "out/[a-z]*\.csv" | tr '\n' ' ')
[ "$runs" = "out/b.csv " ] || fail "make -n would run ompredict for: '$runs'"
echo "$cmds" | grep -q "merge_report.sh" || fail "make -n would not remake the report"
M || fail "make after touch"
after=$(stamp)
changed=$(paste <(echo "$before") <(echo "$after") | awk -F'\t' '{print ($1 != $2)}' | tr -d '\n')
[ "$changed" = "0101" ] || fail "after touching one image in b, changed (a b c report) = $changed"
M -q || fail "not up to date after the rebuild"
# Removing an image reruns its folder (the folder's mtime changed).
sleep 1.1
rm "$I/a/$(basename "${IMGS[2]}")"
M && [ "$(wc -l < "$T/out/a.csv")" -eq 3 ] || fail "removing an image did not rebuild a.csv"
# STRICT=1: the folder with a bad image fails and its CSV stays as it was.
touch "$I/c/zz_bad.png"
M STRICT=1 2> /dev/null && fail "STRICT=1 accepted a failed image"
# A fatal folder (no images at all): make -k builds the rest, fails overall, leaves no d.csv.
rm -rf "$T/out"
mkdir -p "$I/d" && echo "notes" > "$I/d/readme.txt"
M -k 2> makek.err && fail "make -k succeeded with a fatal folder"
[ -f "$T/out/a.csv" ] && [ -f "$T/out/b.csv" ] && [ -f "$T/out/c.csv" ] || fail "make -k did not build the good folders"
[ ! -e "$T/out/d.csv" ] && [ ! -e "$T/out/report.csv" ] || fail "fatal folder left a CSV or a report"
ls -a "$T/out" | grep -q '\.tmp\.' && fail "temporary files left in out/"
# make -j2 from scratch (without d) gives the same report as the serial build.
rm -rf "$T/out" "$I/d"
M -j2 || fail "make -j2"
left=$(M -n); [ -z "$left" ] || fail "make -j2 left work to do: $left"
{ cat "$T/out/a.csv"; tail -n +2 "$T/out/b.csv"; tail -n +2 "$T/out/c.csv"; } | cmp -s - "$T/out/report.csv" || fail "make -j2 report"
echo "examples_make: ok"
