#!/usr/bin/env bash
# cli_basic.sh: ordering and byte-identical output for -j 1/2/4 and OMP_NUM_THREADS; the three
# formats parsed by python csv/json; scores of .npy inputs against a NumPy reference; bad inputs
# mixed among good ones -> error rows and exit 1; exit statuses 0/1/2; --list; --shard
# concatenation for N = 1..7; `| head -1` ends quietly.
. "$(dirname "$0")/cli_common.inc"
P=$SH/photos
cd "$T" || exit 1

# Good inputs: photos plus generated .npy tensors (reference computed by NumPy below).
"$PY" - <<'PY' || fail "npy setup"
import os
import numpy as np
rng = np.random.default_rng(1)
for k in range(6):
    np.save("in%d.npy" % k, rng.standard_normal((3, 32, 32)).astype(np.float32))
np.save("in_batch1.npy", rng.standard_normal((1, 3, 32, 32)).astype(np.float32))
np.save("wrong_shape.npy", np.zeros((3, 16, 16), np.float32))
# read through the general path (converted) rather than straight into the input tensor
np.save("in_f8.npy", rng.standard_normal((3, 32, 32)))
np.save("in_f2.npy", rng.standard_normal((3, 32, 32)).astype(np.float16))
# the input's element count but not its shape; truncated data; Fortran order: error rows
np.save("wrong_perm.npy", np.zeros((32, 32, 3), np.float32))
np.save("trunc.npy", np.zeros((3, 32, 32), np.float32))
open("trunc.npy", "r+b").truncate(os.path.getsize("trunc.npy") - 4)
np.save("fortran.npy", np.asfortranarray(np.zeros((3, 32, 32), np.float32)))
PY
GOOD=("$P/astronaut.jpg" "$P/coffee.png" "$P/chelsea.bmp" "$P/rocket.gif" "$P/coffee.ppm"
      in0.npy in1.npy in2.npy in3.npy in4.npy in5.npy in_batch1.npy in_f8.npy in_f2.npy)
"$OMPREDICT" -m "$M" -q "${GOOD[@]}" > ok.csv; rc=$?
[ $rc = 0 ] || fail "all-good run exit $rc"

# Scores of .npy inputs: softmax(w . x + b) by NumPy, top-5 with ties to the lower index.
"$PY" - "$M" <<'PY' || fail "npy scores differ from NumPy"
import csv, sys, numpy as np
w = np.load(sys.argv[1] + ".w.npy").reshape(10, -1).astype(np.float64)
b = np.load(sys.argv[1] + ".b.npy").astype(np.float64)
rows = list(csv.reader(open("ok.csv", newline="")))
hdr = rows[0]
assert hdr[:3] == ["index", "path", "status"] and "top5_label" in hdr and hdr[-1] == "error", hdr
for r in rows[1:]:
    if not r[1].endswith(".npy"): continue
    x = np.load(r[1]).reshape(-1).astype(np.float64)
    z = w @ x + b
    p = np.exp(z - z.max()); p /= p.sum()
    order = sorted(range(10), key=lambda i: (-p[i], i))[:5]
    got = [int(r[3 + 3 * j]) for j in range(5)]
    sc = [float(r[5 + 3 * j]) for j in range(5)]
    assert got == order, (r[1], got, order)
    assert np.allclose(sc, p[order], rtol=1e-4, atol=1e-6), (sc, p[order])
    labels = ["zero", "one", "two,2", 'th"ree', "four", "five", "six", "seven", "eight", "nine"]
    assert r[4] == labels[order[0]]
print("npy scores ok")
PY

# Byte-identical output and order whatever the thread count.
for j in 1 2 4; do
  "$OMPREDICT" -m "$M" -q -j $j "${GOOD[@]}" "${GOOD[@]}" > j$j.csv || fail "-j $j"
done
OMP_NUM_THREADS=3 "$OMPREDICT" -m "$M" -q "${GOOD[@]}" "${GOOD[@]}" > env.csv || fail "OMP_NUM_THREADS"
cmp j1.csv j2.csv && cmp j1.csv j4.csv && cmp j1.csv env.csv || fail "output depends on threads"

# Bad inputs among good ones.
mkdir bad
: > bad/empty.png
head -c 3000 "$P/coffee.png" > bad/trunc.png
head -c 5000 "$P/astronaut.jpg" > bad/trunc.jpg
echo "just text" > bad/text.txt
printf '<!DOCTYPE html><html></html>' > bad/page.jpg
mkfifo bad/fifo.png
cp "$P/coffee.png" "bad/name with
newline,and \"quote\".png"
cp "$P/coffee.png" "$(printf 'bad/latin1_\xe9.png')"
cp "$P/coffee.png" bad/noread.png; chmod 000 bad/noread.png
echo bad > dirs.txt   # a directory named in a list is taken literally: an error row
LIST=("$P/coffee.png" bad/empty.png bad/trunc.png "$P/astronaut.jpg" bad/trunc.jpg bad/text.txt
      bad/page.jpg bad/fifo.png @dirs.txt /no/such/file.png wrong_shape.npy wrong_perm.npy trunc.npy
      fortran.npy "bad/name with
newline,and \"quote\".png" "$(printf 'bad/latin1_\xe9.png')" bad/noread.png in0.npy)
for f in csv tsv jsonl; do
  timeout 60 "$OMPREDICT" -m "$M" -q -j 2 -f $f "${LIST[@]}" > mixed.$f 2> mixed.err; rc=$?
  [ $rc = 1 ] || { cat mixed.err; fail "mixed inputs ($f): exit $rc, want 1"; }
done
"$PY" - "$(id -u)" <<'PY' || fail "mixed rows"
import csv, json, os, sys
root = os.getuid() == 0
want_err = {"bad/empty.png", "bad/trunc.png", "bad/trunc.jpg", "bad/text.txt", "bad/page.jpg",
            "bad/fifo.png", "/no/such/file.png", "wrong_shape.npy", "wrong_perm.npy", "trunc.npy",
            "fortran.npy"}
if not root: want_err.add("bad/noread.png")
def unt(s):
    return s.replace("\\\\", "\0").replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r").replace("\0", "\\")
csvr = list(csv.reader(open("mixed.csv", newline="", encoding="utf-8", errors="surrogateescape")))[1:]
tsvr = [[unt(x) for x in l.split("\t")] for l in
        open("mixed.tsv", newline="", encoding="utf-8", errors="surrogateescape").read().split("\n")[1:-1]]
js = [json.loads(l) for l in open("mixed.jsonl", encoding="utf-8").read().split("\n")[:-1]]
assert len(csvr) == len(tsvr) == len(js), (len(csvr), len(tsvr), len(js))
for i, (c, t, j) in enumerate(zip(csvr, tsvr, js)):
    assert int(c[0]) == int(t[0]) == j["index"] == i
    assert os.fsencode(c[1]) == os.fsencode(t[1]) == os.fsencode(j["path"]), (c[1], t[1], j["path"])
    path = c[1]
    bad = path in want_err or path == "bad"
    assert (c[2] == "error") == bad, (path, c)
    assert t[2] == c[2] and j["status"] == c[2]
    if bad:
        assert c[-1] and j["error"] == c[-1] == t[-1], (c, j)
    else:
        assert j["top"][0]["class"] == int(c[3]) and abs(j["top"][0]["score"] - float(c[5])) < 1e-9
js_err = {j["path"]: j["error"] for j in js if j["status"] == "error"}
assert "No such file or directory" in js_err["/no/such/file.png"], js_err
assert "not a regular file" in js_err["bad/fifo.png"], js_err
assert js_err["bad"] == "is a directory", js_err
assert "does not match the model input" in js_err["wrong_perm.npy"], js_err
# the row names the file; its error does not repeat the path
assert "data is" in js_err["trunc.npy"] and "trunc.npy" not in js_err["trunc.npy"], js_err
assert not any(js_err[k].startswith(k) for k in ("wrong_shape.npy", "fortran.npy")), js_err
assert "Fortran order" in js_err["fortran.npy"], js_err
print("mixed ok")
PY
# The last good input was predicted even though bad ones came first.
grep -q '^17,in0.npy,ok,' mixed.csv || fail "last good input missing"

# Exit status 2: usage, missing model, bad model, no inputs, unwritable output.
"$OMPREDICT" -q "${GOOD[@]}" 2>/dev/null; [ $? = 2 ] || fail "no -m: want 2"
"$OMPREDICT" -m "$M" --top x in0.npy 2>/dev/null; [ $? = 2 ] || fail "bad --top: want 2"
"$OMPREDICT" -m "$M" --bogus in0.npy 2>/dev/null; [ $? = 2 ] || fail "unknown option: want 2"
"$OMPREDICT" -m /no/model.onnx in0.npy 2>err; [ $? = 2 ] && grep -q "/no/model.onnx" err || fail "missing model"
echo "not a model" > notmodel.onnx
"$OMPREDICT" -m notmodel.onnx in0.npy 2>err; [ $? = 2 ] && grep -q "notmodel.onnx" err || fail "bad model"
"$OMPREDICT" -m "$M" 2>err; [ $? = 2 ] && grep -q "no inputs" err || fail "no inputs"
"$OMPREDICT" -m "$M" 'nomatch_*.png' 2>err; [ $? = 2 ] && grep -q "pattern matched no files" err || fail "glob no match"
"$OMPREDICT" -m "$M" -o /no/such/dir/out.csv in0.npy 2>err; [ $? = 2 ] || fail "unwritable -o"
if [ -x "$OM_SOURCE_DIR/tools/make_bad_models.py" ] || [ -f "$OM_SOURCE_DIR/tools/make_bad_models.py" ]; then
  mkdir badmodels
  if "$PY" "$OM_SOURCE_DIR/tools/make_bad_models.py" badmodels >/dev/null 2>&1; then
    # manifest.tsv: FILE STAGE REASON; stage "load" reasons must appear in our message.
    while IFS=$'\t' read -r file stage reason; do
      [ "$stage" = ok ] && continue
      [ -f "badmodels/$file" ] || continue
      timeout 30 "$OMPREDICT" -m "badmodels/$file" in0.npy > /dev/null 2> err; rc=$?
      [ $rc = 2 ] || fail "$file: exit $rc, want 2"
      grep -q "ompredict: .*$file" err || fail "$file: message does not name the model: $(cat err)"
      if [ "$stage" = load ]; then grep -qF -- "$reason" err || fail "$file: '$reason' not in: $(cat err)"; fi
    done < badmodels/manifest.tsv
  fi
fi

# --list and shards: contiguous blocks whose concatenation is the whole run.
"$OMPREDICT" --list "${GOOD[@]}" "$P" > list.txt || fail "--list"
[ "$(head -1 list.txt)" = "$P/astronaut.jpg" ] || fail "--list order"
n=$(wc -l < list.txt)
"$OMPREDICT" -m "$M" -q --no-header "${GOOD[@]}" "$P" > whole.csv; [ $? -le 1 ] || fail "whole"
for N in 1 2 3 4 5 6 7; do
  : > cat.csv; : > catlist.txt
  for ((K = 0; K < N; K++)); do
    "$OMPREDICT" -m "$M" -q --no-header --shard $K/$N "${GOOD[@]}" "$P" >> cat.csv; [ $? -le 1 ] || fail "shard $K/$N"
    "$OMPREDICT" --list --shard $K/$N "${GOOD[@]}" "$P" >> catlist.txt
    lo=$(( K * n / N )); hi=$(( (K + 1) * n / N ))
    [ "$("$OMPREDICT" --list --shard $K/$N "${GOOD[@]}" "$P" | wc -l)" = $((hi - lo)) ] || fail "shard size"
  done
  cmp -s cat.csv whole.csv || fail "shards of $N do not concatenate to the whole"
  cmp -s catlist.txt list.txt || fail "--list shards of $N"
done
SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_STEP=1 \
  "$OMPREDICT" --list --shard auto "${GOOD[@]}" "$P" > auto.txt || fail "--shard auto"
"$OMPREDICT" --list --shard 2/3 "${GOOD[@]}" "$P" | cmp -s - auto.txt || fail "--shard auto != 2/3"
"$OMPREDICT" --list --shard 3/3 in0.npy 2>/dev/null; [ $? = 2 ] || fail "bad shard: want 2"

# --profile: same rows, and a table on stderr whose Conv line counts the model's Conv nodes.
"$OMPREDICT" -m "$M" -q --no-header -j 2 --profile "${GOOD[@]}" "$P" > prof.csv 2> prof.err; [ $? -le 1 ] || fail "--profile"
cmp -s prof.csv whole.csv || fail "--profile changed the rows"
grep -q "profile over [1-9][0-9]* network runs" prof.err || fail "--profile header: $(head -3 prof.err)"
nconv=$(/usr/bin/python3 -c "import onnx,sys; print(sum(n.op_type == 'Conv' for n in onnx.load(sys.argv[1]).graph.node))" "$M" 2>/dev/null)
if [ -n "$nconv" ]; then
  awk -v n="$nconv" '$1 == "Conv" && $2 == n && $6 > 0 { ok = 1 } END { exit !ok }' prof.err \
    || fail "--profile: no 'Conv $nconv layers' row with a GFLOP/s figure: $(cat prof.err)"
fi
# the share of the measured peak: a peak line and a %peak cell, wherever the CPU has SIMD FMAs
if "$OMPREDICT" --version 2>&1 | grep -qE "avx2|avx512"; then
  grep -qE "FP32 peak: [0-9]+\.[0-9] GFLOP/s" prof.err || fail "--profile: no measured peak line: $(head -3 prof.err)"
  awk '$1 == "Conv" && $7 ~ /^[0-9]+%$/ { ok = 1 } END { exit !ok }' prof.err \
    || fail "--profile: no %peak cell on the Conv row: $(cat prof.err)"
fi

# .npy tensors alone: a model whose input is not an image (5 channels, 6x7) runs at its own shape;
# its logits (--raw) against NumPy's. With an image among the inputs: the shape error, status 2.
"$PY" - <<'PY' || fail "5-channel model setup"
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(5)
w = rng.standard_normal((4, 5, 6, 7)).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Flatten", ["c"], ["y"], axis=1)],
    "ch5", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 6, 7])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [numpy_helper.from_array(w, "w")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "ch5.onnx")
np.save("ch5.w.npy", w)
for k in range(3):
    np.save("ch5_%d.npy" % k, rng.standard_normal((5, 6, 7)).astype(np.float32))
PY
"$OMPREDICT" -m ch5.onnx -q -o /dev/null --raw ch5_raw.npy ch5_0.npy ch5_1.npy ch5_2.npy || fail "5-channel .npy run"
"$PY" - <<'PY' || fail "5-channel logits differ from NumPy"
import numpy as np
w = np.load("ch5.w.npy").reshape(4, -1).astype(np.float64)
got = np.load("ch5_raw.npy")
want = np.stack([w @ np.load("ch5_%d.npy" % k).reshape(-1).astype(np.float64) for k in range(3)])
assert got.shape == (3, 4), got.shape
assert np.allclose(got, want, rtol=1e-4, atol=1e-4), (got, want)
PY
"$OMPREDICT" -m ch5.onnx -q -o /dev/null ch5_0.npy "$P/coffee.png" 2> ch5.err; [ $? = 2 ] || fail "image + 5-channel model: want 2"
grep -q "preprocessing gives" ch5.err || fail "image + 5-channel model: $(cat ch5.err)"

# A model output with NaN and -inf (Log of channel means 7.389, -1, 0): the NaN class keeps its NaN
# and takes no share, -inf gets 0, the rest is normalized; JSON gets null (strict parse), CSV "nan".
"$PY" - <<'PY' || fail "NaN model setup"
import numpy as np, onnx
from onnx import helper, TensorProto
g = helper.make_graph(
    [helper.make_node("GlobalAveragePool", ["x"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
     helper.make_node("Log", ["f"], ["y"])], "nanlog",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "nanlog.onnx")
x = np.zeros((3, 4, 4), np.float32); x[0] = np.exp(2.0); x[1] = -1.0
np.save("nanlog_in.npy", x)
PY
"$OMPREDICT" -m nanlog.onnx -q -k 3 -f jsonl nanlog_in.npy > nan.jsonl || fail "NaN model jsonl run"
"$OMPREDICT" -m nanlog.onnx -q -k 3 nanlog_in.npy > nan.csv || fail "NaN model csv run"
"$PY" - <<'PY' || fail "NaN scores: $(cat nan.jsonl nan.csv)"
import csv, json
def bad(c): raise ValueError("non-JSON constant " + c)
r = json.loads(open("nan.jsonl").read(), parse_constant=bad)
assert r["status"] == "ok", r
assert [t["class"] for t in r["top"]] == [0, 2, 1], r
assert [t["score"] for t in r["top"]] == [1.0, 0.0, None], r
row = list(csv.reader(open("nan.csv")))[1]
assert row[2] == "ok" and row[3:9] == ["0", "1", "2", "0", "1", "nan"], row  # class, score (no labels)
PY

# --labels: a byte order mark, CR LF and blank lines at the end are not part of the names.
printf '\xef\xbb\xbfL0\r\nL1\r\nL2\r\nL3\r\nL4\r\nL5\r\nL6\r\nL7\r\nL8\r\nL9\r\n\r\n\n' > labels.txt
"$OMPREDICT" -m "$M" -q -l labels.txt in0.npy in1.npy > lab.csv || fail "--labels with BOM / blank tail: $?"
"$PY" - <<'PY' || fail "label names: $(cat lab.csv)"
import csv
for r in list(csv.reader(open("lab.csv", newline="")))[1:]:
    assert r[4] == "L" + r[3], r
PY

# -o or --raw naming an input (under another spelling too) or each other: refused (2), nothing written.
cp "$P/chelsea.jpg" self.jpg
"$OMPREDICT" -m "$M" -q -o self.jpg self.jpg 2> self.err; [ $? = 2 ] || fail "-o onto an input: want 2"
cmp -s self.jpg "$P/chelsea.jpg" || fail "-o replaced its input"
grep -q "refusing to replace an input" self.err || fail "-o onto an input: $(cat self.err)"
mkdir -p sub
"$OMPREDICT" -m "$M" -q -o /dev/null --raw sub/../in0.npy ./in0.npy 2> /dev/null; [ $? = 2 ] || fail "--raw onto an input: want 2"
"$PY" -c "import numpy as np; assert np.load('in0.npy').shape == (3, 32, 32)" || fail "--raw replaced its input"
"$OMPREDICT" -m "$M" -q -o same.out --raw same.out in0.npy 2> /dev/null; [ $? = 2 ] || fail "-o = --raw: want 2"
[ ! -e same.out ] || fail "-o = --raw wrote a file"

# --max-pixels below a megapixel: the limit in pixels (it read "0 megapixels").
"$OMPREDICT" -m "$M" -q --max-pixels 10 "$P/chelsea.jpg" > mp.csv; [ $? = 1 ] || fail "--max-pixels 10: want 1"
grep -q "(135300 pixels), over the limit of 10 pixels" mp.csv || fail "--max-pixels message: $(cat mp.csv)"

# --raw that cannot be created: status 2 and nothing on standard output (not a lone header).
"$OMPREDICT" -m "$M" -q --raw /no/such/dir/r.npy in0.npy > noraw.out 2> /dev/null; [ $? = 2 ] || fail "--raw uncreatable: want 2"
[ ! -s noraw.out ] || fail "--raw uncreatable: stdout got $(cat noraw.out)"

# A closed pipe: quick, quiet, status 2.
for i in $(seq 1 30); do echo in0.npy; done > many.txt
start=$(date +%s)
{ "$OMPREDICT" -m "$M" -q @many.txt @many.txt @many.txt 2> pipe.err; echo $? > pipe.rc; } | head -1 > /dev/null
[ "$(cat pipe.rc)" = 2 ] || [ "$(cat pipe.rc)" = 0 ] || fail "pipe exit $(cat pipe.rc)"
! grep -qi "broken pipe" pipe.err || fail "Broken pipe noise: $(cat pipe.err)"
for i in $(seq 1 20000); do echo "/no/such/$i.png"; done > long.txt
"$OMPREDICT" --list @long.txt 2> lpipe.err | head -1 > /dev/null
[ -s lpipe.err ] && fail "--list into a closed pipe: $(cat lpipe.err)"
# A missing option argument is named as such; --list writes no -o / --raw.
"$OMPREDICT" -m "$M" in0.npy -k 2> opt.err; [ $? = 2 ] && grep -q "'-k' needs an argument" opt.err || fail "-k without N: $(cat opt.err)"
"$OMPREDICT" --list -o x.txt in0.npy 2> /dev/null; [ $? = 2 ] && [ ! -e x.txt ] || fail "--list -o accepted"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "closed pipe not prompt"
echo "cli_basic ok"
