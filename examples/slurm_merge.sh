#!/bin/bash
# slurm_merge.sh: after every shard of slurm_array.sh succeeded (sbatch --dependency=afterok),
# concatenates OUTDIR/shard_000000.csv ... in shard order into OUTDIR/predictions.csv (one header)
# and checks that every shard is there and the row count equals the number of inputs. Shards are
# contiguous blocks of the input list and the index column is global, so the result is the
# unsharded output byte for byte. NSHARDS defaults to the number of shard files found.
# (Row counting is line counting: input paths containing newlines are not supported here.)
#SBATCH --job-name=ompredict-merge
#SBATCH --cpus-per-task=1
set -u
: "${OUTDIR:?}" "${INPUTS:?}"
shopt -s nullglob
files=("$OUTDIR"/shard_*.csv)
n=${NSHARDS:-${#files[@]}}
[ "$n" -ge 1 ] || { echo "slurm_merge: no shard files in $OUTDIR" >&2; exit 2; }
final=${FINAL:-$OUTDIR/predictions.csv}
tmp="$(dirname "$final")/.$(basename "$final").tmp.$$"
trap 'rm -f "$tmp"' EXIT
: > "$tmp"
for ((k = 0; k < n; k++)); do
  f=$(printf '%s/shard_%06d.csv' "$OUTDIR" "$k")
  [ -f "$f" ] || { echo "slurm_merge: shard $k of $n is missing ($f)" >&2; exit 2; }
  if [ $k -eq 0 ]; then cat "$f" >> "$tmp"; else tail -n +2 "$f" >> "$tmp"; fi
done
want=$("${OMPREDICT:-ompredict}" --list "@$INPUTS" | wc -l)
got=$(( $(wc -l < "$tmp") - 1 ))
[ "$got" -eq "$want" ] || { echo "slurm_merge: $got rows for $want inputs" >&2; exit 2; }
mv -f "$tmp" "$final"
trap - EXIT
echo "slurm_merge: $n shards, $got rows -> $final"
