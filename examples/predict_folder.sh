#!/bin/sh
# predict_folder.sh MODEL DIR OUT.csv: one ompredict run over DIR's images into OUT.csv (written
# atomically by ompredict itself). Exit 0 when every image was predicted or only some failed
# (status 1: error rows are kept in the CSV, reported here on stderr), unless STRICT=1; any other
# status (2 fatal, 128+n signal) is passed on so make fails the target.
set -u
model=$1 dir=$2 out=$3
set -- -q -m "$model" -o "$out"
[ -n "${THREADS:-}" ] && set -- "$@" -j "$THREADS"
"${OMPREDICT:-ompredict}" "$@" "$dir"
rc=$?
if [ $rc -eq 1 ]; then
  n=$(grep -c ',error,' "$out" || true)
  echo "predict_folder: $dir: $n image(s) failed; see the status=error rows of $out" >&2
  [ "${STRICT:-0}" = 1 ] && exit 1
  exit 0
fi
exit $rc
