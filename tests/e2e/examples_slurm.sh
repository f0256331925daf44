# examples_slurm.sh: examples/slurm_array.sh run by hand for every task of two arrays (0-2; and
# 5-14:3, a non-zero MIN with a STEP), then slurm_merge.sh: the merged file equals one unsharded
# run byte for byte; a missing shard makes the merge fail.
. "$(dirname "$0")/examples_common.inc"
cd "$T" || exit 1
printf '%s\n' "${IMGS[@]}" > inputs.txt
printf 'junk' > bad.png && echo "$T/bad.png" >> inputs.txt   # an error row inside some shard
"$OMPREDICT" -q -m "$MODEL" -o ref.csv @inputs.txt
[ $? -eq 1 ] || fail "reference run exit status"
run_array() { # OUTDIR COUNT MIN STEP
  local id
  for ((t = 0; t < $2; t++)); do
    id=$(( $3 + t * $4 ))
    env MODEL="$MODEL" INPUTS="$T/inputs.txt" OUTDIR="$1" SLURM_ARRAY_TASK_ID=$id \
      SLURM_ARRAY_TASK_COUNT=$2 SLURM_ARRAY_TASK_MIN=$3 SLURM_ARRAY_TASK_STEP=$4 \
      SLURM_CPUS_PER_TASK=1 bash "$SRC/examples/slurm_array.sh" 2> /dev/null || fail "task $id of $1"
  done
  OUTDIR="$1" INPUTS="$T/inputs.txt" bash "$SRC/examples/slurm_merge.sh" > /dev/null || fail "merge $1"
  cmp -s ref.csv "$1/predictions.csv" || fail "$1: merged output differs from one run"
}
run_array "$T/o3" 3 0 1
run_array "$T/o4" 4 5 3
[ "$(ls "$T/o4" | grep -c shard_)" -eq 4 ] || fail "array 5-14:3 did not give 4 shards"
rm "$T/o4/shard_000002.csv" "$T/o4/predictions.csv"
OUTDIR="$T/o4" NSHARDS=4 INPUTS="$T/inputs.txt" bash "$SRC/examples/slurm_merge.sh" > /dev/null 2> m.err
[ $? -eq 2 ] && grep -q "shard 2 of 4 is missing" m.err || fail "merge with a missing shard"
[ ! -e "$T/o4/predictions.csv" ] || fail "merge wrote a result despite a missing shard"
echo "examples_slurm: ok"
