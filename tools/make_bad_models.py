#!/usr/bin/env python3
"""Writes malformed ONNX models for the loader/planner tests into OUTDIR.

Usage: make_bad_models.py OUTDIR

Also writes OUTDIR/manifest.tsv, one line per model: FILE<TAB>STAGE<TAB>REASON where STAGE is
  ok    - a valid model (the base of the others): must load and plan
  load  - the ONNX reader (src/onnx) must refuse it; REASON is a substring of its message
  plan  - well-formed protobuf, refused later by the planner (REASON is a hint, not checked here)
Byte-level damage is made on raw bytes; everything else with onnx.helper."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def base_model(nodes=None, inits=None, opset=13):
    w = numpy_helper.from_array(np.arange(4 * 3 * 3 * 3, dtype=np.float32).reshape(4, 3, 3, 3) / 100, "W")
    b = numpy_helper.from_array(np.arange(4, dtype=np.float32), "B")
    if nodes is None:
        nodes = [helper.make_node("Conv", ["input", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["output"], name="relu")]
    graph = helper.make_graph(
        nodes, "bad_models",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 8, 8])],
        initializer=[w, b] if inits is None else inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             producer_name="make_bad_models")


def with_init(mutate):
    m = base_model()
    mutate(m.graph.initializer[0])
    return m


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rows = []

    def put(name, data, stage, reason):
        if isinstance(data, onnx.ModelProto):
            data = data.SerializeToString()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        rows.append((name, stage, reason))

    good = base_model().SerializeToString()
    put("valid.onnx", good, "ok", "")
    # runs, with a warning that its opset is newer than the operators were written for
    put("newer_opset.onnx", base_model(opset=23), "ok", "")
    put("newest_opset.onnx", base_model(opset=21), "ok", "")
    for cut in sorted({1, 2, 10, len(good) // 4, len(good) // 2, len(good) - 5, len(good) - 1}):
        put("truncated_%d.onnx" % cut, good[:cut], "load", "not a valid ONNX model")
    put("empty.onnx", b"", "load", "empty")
    put("png_magic.onnx", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02"
        b"\x00\x00\x00\x90\x91h6", "load", "PNG")
    put("text.onnx", b"this is a text file, not a model\nsecond line\n", "load", "text")

    def neg(t):
        del t.dims[:]
        t.dims.extend([-4, 3, 3, 3])
    put("negative_dim.onnx", with_init(neg), "load", "negative dimension")

    def huge(t):
        del t.dims[:]
        t.dims.extend([1 << 40, 1 << 40, 1 << 40])
    put("huge_dims.onnx", with_init(huge), "load", "elements")

    def short(t):
        t.raw_data = t.raw_data[:100]
    put("short_initializer.onnx", with_init(short), "load", "bytes of data")

    def external(t):
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        e = t.external_data.add()
        e.key, e.value = "location", "weights.bin"
    put("external_data.onnx", with_init(external), "load", "external data")

    m = base_model()
    del m.opset_import[:]
    put("missing_opset.onnx", m, "load", "opset")

    m = base_model()
    m.graph.node[1].op_type = ""
    put("empty_op_type.onnx", m, "load", "op_type")

    m = onnx.ModelProto()
    m.ir_version = 8
    m.opset_import.add().version = 13
    put("no_graph.onnx", m, "load", "no graph")

    cyc = [helper.make_node("Add", ["input", "b"], ["a"], name="add_a"),
           helper.make_node("Relu", ["a"], ["b"], name="relu_b"),
           helper.make_node("Relu", ["a"], ["output"], name="relu_out")]
    put("cycle.onnx", base_model(nodes=cyc, inits=[]), "plan", "cycle")
    undef = [helper.make_node("Add", ["input", "ghost"], ["output"], name="add_ghost")]
    put("undefined_tensor.onnx", base_model(nodes=undef, inits=[]), "plan", "ghost")
    unk = [helper.make_node("FrobnicateXYZ", ["input"], ["output"], name="frob")]
    put("unknown_op.onnx", base_model(nodes=unk, inits=[]), "plan", "FrobnicateXYZ")

    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
