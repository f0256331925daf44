#!/bin/bash
# slurm_array.sh: one Slurm array task = one shard of the input list (ompredict --shard auto).
# Submit both steps (the merge runs only when every shard succeeded):
#   export OMPREDICT=/path/ompredict MODEL=/path/model.onnx INPUTS=/path/inputs.txt OUTDIR=/path/out
#   jid=$(sbatch --parsable --array=0-15 --export=ALL slurm_array.sh)
#   sbatch --dependency=afterok:$jid --export=ALL slurm_merge.sh
# Arrays may start anywhere and have a step (--array=1-31:2): shard K = (ID - MIN) / STEP of
# N = SLURM_ARRAY_TASK_COUNT, which is what --shard auto computes; the file is named after K so the
# merge can put the shards back in order. INPUTS is a list file (one path per line) so that every
# task sees the same ordered list; ompredict's own threads use the task's --cpus-per-task
# (SLURM_CPUS_PER_TASK). Exit status 1 (some images failed, error rows kept) counts as success.
#SBATCH --job-name=ompredict
#SBATCH --cpus-per-task=8
#SBATCH --output=ompredict_%A_%a.log
set -u
: "${MODEL:?MODEL=model.onnx}" "${INPUTS:?INPUTS=list file}" "${OUTDIR:?OUTDIR=output folder}"
: "${SLURM_ARRAY_TASK_ID:?not an array task}" "${SLURM_ARRAY_TASK_COUNT:?}"
k=$(( (SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}) / ${SLURM_ARRAY_TASK_STEP:-1} ))
mkdir -p "$OUTDIR"
out=$(printf '%s/shard_%06d.csv' "$OUTDIR" "$k")
# The shard's header is kept; the merge drops all but the first.
"${OMPREDICT:-ompredict}" -q -m "$MODEL" --shard auto -o "$out" ${EXTRA_ARGS:-} "@$INPUTS"
rc=$?
[ $rc -eq 1 ] && { echo "slurm_array: shard $k: some images failed (error rows in $out)" >&2; rc=0; }
exit $rc
