#!/usr/bin/env bash
# weights_release.sh: weights the planner packs are released from memory (their pages in the mapped
# model file, om_prep.consumed) while other nodes still need them. One model (a 3->64 stem, then), four times with its
# tensors shifted by 0..3 bytes in the file (so each is once borrowed in place, once copied):
#   W [64,64,3,3] shared by two Convs (Winograd at 16x16: the second packs pages the first released),
#   G [64,64] packed by a Gemm and also read at run time by a Mul (the plan must keep its own copy),
#   B [64] the Convs' bias and an Add's operand.
# Outputs (--raw, 1 and 2 threads) against float64 NumPy, scaled max error <= 1e-4.
. "$(dirname "$0")/cli_common.inc"
cd "$T" || exit 1

for pad in 0 1 2 3; do
  "$PY" - "$pad" <<'PY' || fail "model setup (pad $pad)"
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
pad = int(sys.argv[1])
rng = np.random.default_rng(7)
W = (rng.standard_normal((64, 64, 3, 3)) * np.sqrt(2 / 576)).astype(np.float32)
B = (rng.standard_normal(64) * 0.1).astype(np.float32)
G = (rng.standard_normal((64, 64)) / 8).astype(np.float32)
shape = numpy_helper.from_array(np.array([64, 1], np.int64), "shape")
S = (rng.standard_normal((64, 3, 3, 3)) * 0.3).astype(np.float32)
n = [helper.make_node("Conv", ["x", "S"], ["s"], pads=[1, 1, 1, 1]),
     helper.make_node("Conv", ["s", "W", "B"], ["c1"], pads=[1, 1, 1, 1]),
     helper.make_node("Relu", ["c1"], ["r1"]),
     helper.make_node("Conv", ["r1", "W", "B"], ["c2"], pads=[1, 1, 1, 1]),
     helper.make_node("GlobalAveragePool", ["c2"], ["gap"]),
     helper.make_node("Flatten", ["gap"], ["f"], axis=1),
     helper.make_node("Gemm", ["f", "G"], ["gm"]),
     helper.make_node("Add", ["gm", "B"], ["ga"]),
     helper.make_node("Reshape", ["ga", "shape"], ["col"]),
     helper.make_node("Mul", ["col", "G"], ["prod"]),
     helper.make_node("ReduceMean", ["prod"], ["out"], axes=[0], keepdims=1)]
g = helper.make_graph(n, "release",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
    [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 64])],
    [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B"), numpy_helper.from_array(G, "G"),
     numpy_helper.from_array(S, "S"), shape])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], doc_string="x" * pad)
onnx.save(m, "m%d.onnx" % pad)
x = rng.random((1, 3, 16, 16)).astype(np.float32)
np.save("x.npy", x)

def conv(a, w, b):  # float64, pad 1
    ap = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0],) + a.shape[1:])
    for i in range(3):
        for j in range(3):
            out += np.einsum('kc,chw->khw', w[:, :, i, j], ap[:, i:i + a.shape[1], j:j + a.shape[2]])
    return out + b[:, None, None]
W64, B64, G64 = W.astype(np.float64), B.astype(np.float64), G.astype(np.float64)
s = conv(x[0].astype(np.float64), S.astype(np.float64), np.zeros(64))
c2 = conv(np.maximum(conv(s, W64, B64), 0), W64, B64)
ga = c2.mean(axis=(1, 2)) @ G64 + B64
np.save("ref.npy", (ga[:, None] * G64).mean(axis=0, keepdims=True))
PY
  for j in 1 2; do
    rm -f out.npy
    "$OMPREDICT" -m "m$pad.onnx" -j $j -q --raw out.npy -o /dev/null x.npy x.npy x.npy \
      || fail "pad $pad -j $j: ompredict exited $?"
    "$PY" - <<'PY' || fail "pad $pad -j $j: outputs differ from NumPy"
import numpy as np
o, r = np.load("out.npy"), np.load("ref.npy")
assert o.shape == (3, 64), o.shape
e = np.abs(o - r).max() / (r.max() - r.min())
assert e <= 1e-4, e
PY
  done
done
echo "ok: weights released after packing, shared and run-time uses intact (4 layouts, 1 and 2 threads)"
