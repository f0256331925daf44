#!/bin/sh
# merge_report.sh REPORT.csv FOLDER.csv...: the folder CSVs in the order given, one header (the
# first file's; all have the same columns for one model), rows unchanged (their path column names
# the folder; index counts within each folder). Written to a temporary file and renamed.
# Only the first line of each CSV is dropped: a header never spans lines, so quoted fields with
# newlines in later rows survive.
set -eu
report=$1
shift
tmp="$(dirname "$report")/.$(basename "$report").tmp.$$"
trap 'rm -f "$tmp"' EXIT
first=1
for f in "$@"; do
  if [ $first = 1 ]; then cat "$f"; first=0; else tail -n +2 "$f"; fi
done > "$tmp"
mv -f "$tmp" "$report"
trap - EXIT
