# hpc_mpi.sh: 'mpirun -n R ompredict' (R = 2, 3, 4; 1 and 2 threads per rank) gives output, --raw
# and exit status byte-identical to one process; errors end every rank (no hang). Skipped (77)
# unless the binary was built with -DOMPREDICT_MPI=ON and mpirun is present.
set -u
: "${OMPREDICT:?}"
PY=/usr/bin/python3
SRC=${OM_SOURCE_DIR:-}
[ -x "$OMPREDICT" ] || { echo "no binary"; exit 77; }
"$OMPREDICT" --help | grep -q "^Built with mpi: yes" || { echo "binary built without MPI"; exit 77; }
command -v mpirun > /dev/null || { echo "no mpirun"; exit 77; }
[ -n "$SRC" ] && [ -d "$SRC/data" ] || { echo "no data/ PNGs"; exit 77; }
"$PY" -c 'import onnx, numpy' 2>/dev/null || { echo "no python onnx/numpy"; exit 77; }
T=$(mktemp -d /tmp/om_mpi_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
"$PY" - <<'PY' || exit 1
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(0)
w = (rng.standard_normal((10, 1, 28, 28)) * 0.05).astype(np.float32)
g = helper.make_graph([helper.make_node("Conv", ["input", "w"], ["c"]),
                       helper.make_node("Flatten", ["c"], ["logits"], axis=1)], "t",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], [numpy_helper.from_array(w, "w")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "t.onnx")
PY
# OMPI_MCA_rmaps_base_oversubscribe lets 4 ranks share 2 cores; --bind-to none as documented.
MPIRUN="mpirun --allow-run-as-root --oversubscribe --bind-to none"
export OMPI_MCA_rmaps_base_oversubscribe=1
printf 'not an image' > bad.png
ls "$SRC"/data/*.png | head -150 > list.txt
echo "$T/bad.png" >> list.txt
ls "$SRC"/data/*.png | tail -40 >> list.txt   # duplicates and a bad file in the middle
"$OMPREDICT" -q -m t.onnx -j 2 -k 3 @list.txt --raw ref.npy > ref.csv
[ $? -eq 1 ] || fail "single run exit status (want 1: one bad input)"
"$OMPREDICT" -q -m t.onnx -j 2 -f jsonl @list.txt > ref.jsonl
for nj in "2 1" "2 2" "3 1" "4 1" "3 2"; do
  set -- $nj; n=$1; j=$2
  [ "$n$j" = 32 ] && [ "$(nproc)" -lt 4 ] && continue   # 6 threads on 2 cores: slow, adds nothing
  {
    $MPIRUN -n $n "$OMPREDICT" -q -m t.onnx -j $j -k 3 @list.txt --raw r$n$j.npy > r$n$j.csv 2> err.txt
    rc=$?
    [ $rc -eq 1 ] || fail "mpirun -n $n -j $j: exit $rc, want 1: $(cat err.txt)"
    cmp -s ref.csv r$n$j.csv || fail "mpirun -n $n -j $j: CSV differs"
    cmp -s ref.npy r$n$j.npy || fail "mpirun -n $n -j $j: --raw differs"
  }
done
echo "csv and raw identical for 2, 3, 4 ranks x 1, 2 threads"
# -o (atomic, written by rank 0 only), jsonl, a shard of the list, a mask-free run with R > inputs.
$MPIRUN -n 3 "$OMPREDICT" -q -m t.onnx -f jsonl -o out.jsonl @list.txt 2> /dev/null
cmp -s ref.jsonl out.jsonl || fail "jsonl -o differs"
ls -a | grep -q '\.tmp\.' && fail "temporary files left behind"
"$OMPREDICT" -q -m t.onnx --shard 1/3 @list.txt > s1.csv
$MPIRUN -n 3 "$OMPREDICT" -q -m t.onnx --shard 1/3 @list.txt > m1.csv 2> /dev/null
cmp -s s1.csv m1.csv || fail "--shard 1/3 under MPI differs"
head -2 list.txt | tail -1 > one.txt
"$OMPREDICT" -q -m t.onnx @one.txt > one.csv
$MPIRUN -n 4 "$OMPREDICT" -q -m t.onnx @one.txt > mone.csv 2> /dev/null || fail "1 input on 4 ranks"
cmp -s one.csv mone.csv || fail "1 input on 4 ranks differs"
# --list prints once.
[ "$($MPIRUN -n 3 "$OMPREDICT" --list @list.txt | wc -l)" -eq "$(wc -l < list.txt)" ] || fail "--list"
# Fatal errors end every rank with status 2, no hang (timeout 60 s).
printf 'garbage' > bad.onnx
timeout 60 $MPIRUN -n 3 "$OMPREDICT" -q -m bad.onnx @list.txt > /dev/null 2> e1.txt
rc=$?
[ $rc -ne 124 ] || fail "bad model: mpirun hung"
[ $rc -ne 0 ] && grep -q "cannot load model" e1.txt || fail "bad model: exit $rc: $(cat e1.txt)"
timeout 60 $MPIRUN -n 3 "$OMPREDICT" -q -m t.onnx "$T/no_such_dir/*.png" > /dev/null 2> e2.txt
rc=$?
[ $rc -eq 2 ] && grep -q "no inputs" e2.txt || fail "no inputs: exit $rc: $(cat e2.txt)"
timeout 60 $MPIRUN -n 2 "$OMPREDICT" -q -m t.onnx -o /no_such_dir/x.csv @list.txt > /dev/null 2> e3.txt
rc=$?
[ $rc -ne 124 ] && [ $rc -ne 0 ] && grep -q "no_such_dir" e3.txt || fail "unwritable -o: exit $rc"
# SIGTERM to mpirun (forwarded to every rank): the ordered prefix is kept as FILE.partial, and
# --resume under MPI completes it byte-identically; a second --resume has nothing to do.
"$OMPREDICT" -q -m t.onnx "$SRC/data" > all.csv
# 100 ms per input: 10 s of work per rank, far past the kill below. mpirun forwards the signal late
# (about 1 s on a 2-core Zen 4 VM: the ranks stopped after 96 inputs), and with 30 ms the run had
# ended (3 s) before the signal reached it there.
OMPREDICT_TEST_DELAY_MS=100 $MPIRUN -n 3 "$OMPREDICT" -q -m t.onnx -j 1 -o sig.csv "$SRC/data" 2> /dev/null &
pid=$!
sleep 2.5
kill -TERM $pid
wait $pid
[ -f sig.csv.partial ] && [ ! -e sig.csv ] || fail "SIGTERM: no sig.csv.partial"
cmp -s -n "$(wc -c < sig.csv.partial)" sig.csv.partial all.csv || fail "SIGTERM: partial is not a prefix"
$MPIRUN -n 3 "$OMPREDICT" -q -m t.onnx -j 1 --resume -o sig.csv "$SRC/data" 2> /dev/null || fail "resume"
cmp -s sig.csv all.csv || fail "resume under MPI differs"
timeout 60 $MPIRUN -n 3 "$OMPREDICT" -q -m t.onnx --resume -o sig.csv "$SRC/data" || fail "nothing to do"
echo "hpc_mpi: ok"
