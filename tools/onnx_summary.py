#!/usr/bin/env python3
"""Prints a line summary of ONNX models (.onnx) and TensorProto files (.pb) using the official onnx
package, for tests/unit/test_onnx.c to compare with what our own C reader decodes.

Usage: onnx_summary.py FILE... (or @LISTFILE)   Each file's block starts with "== FILE" and ends with "== end".
A block line "refusable" says the file holds something our reader may legitimately refuse
(complex/unknown dtypes, sparse or external tensors, more than 8 dims)."""
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

SUPPORTED = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16}


def checksum(b):
    a = np.frombuffer(b, dtype=np.uint8).astype(np.uint64)
    w = (np.arange(a.size, dtype=np.uint64) % np.uint64(251)) + np.uint64(1)
    return int((a * w).sum(dtype=np.uint64))


def tensor_bytes(t):
    if t.data_type == TensorProto.STRING:
        return b""
    if t.data_type == TensorProto.BFLOAT16:  # to_array widens bfloat16; we keep the raw bits
        if t.HasField("raw_data"):
            return t.raw_data
        return np.array(t.int32_data, dtype=np.int64).astype(np.uint16).tobytes()
    return np.ascontiguousarray(numpy_helper.to_array(t)).astype(
        numpy_helper.to_array(t).dtype.newbyteorder("<")).tobytes()


def tensor_line(t, flags):
    dims = ",".join(str(d) for d in t.dims)
    if t.data_type not in SUPPORTED or len(t.dims) > 8 or t.data_location == 1:
        flags.add("refusable")
        return "%s dt=%d dims=[%s] ?" % (t.name, t.data_type, dims)
    b = tensor_bytes(t)
    return "%s dt=%d dims=[%s] cs=%d n=%d" % (t.name, t.data_type, dims, checksum(b), len(b))


def f32bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def vi_line(v, flags):
    tt = v.type.tensor_type if v.type.HasField("tensor_type") else None
    dt = tt.elem_type if tt is not None else 0
    if tt is None or not tt.HasField("shape"):
        return "%s dt=%d shape=none" % (v.name, dt)
    ds = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            ds.append(str(d.dim_value))
        elif d.HasField("dim_param"):
            ds.append("-1(%s)" % d.dim_param)
        else:
            ds.append("-1")
    if len(ds) > 8:
        flags.add("refusable")
    return "%s dt=%d shape=[%s]" % (v.name, dt, ",".join(ds))


def attr_line(a, flags):
    v = ""
    if a.type == 1:
        v = str(f32bits(a.f))
    elif a.type == 2:
        v = str(a.i)
    elif a.type == 3:
        v = a.s.hex()
    elif a.type == 4:
        v = tensor_line(a.t, flags)
    elif a.type == 6:
        v = ",".join(str(f32bits(x)) for x in a.floats)
    elif a.type == 7:
        v = ",".join(str(x) for x in a.ints)
    elif a.type == 8:
        v = ",".join(s.hex() for s in a.strings)
    return " attr %s %d %s" % (a.name, a.type, v)


def model_lines(path):
    flags = set()
    m = onnx.load(path, load_external_data=False)
    g = m.graph
    opset = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    if not opset:  # e.g. the training-domain node tests: our reader requires the default opset
        flags.add("refusable")
    out = ["ir %d opset %d producer %s graph %s" % (m.ir_version, opset[-1] if opset else -1,
                                                     m.producer_name, g.name)]
    for n in g.node:
        out.append("node %s|%s|%s in %s out %s" % (n.op_type, n.name, n.domain, ",".join(n.input),
                                                   ",".join(n.output)))
        for a in n.attribute:
            out.append(attr_line(a, flags))
    inits = {t.name for t in g.initializer}
    for t in g.initializer:
        out.append("init " + tensor_line(t, flags))
    if len(g.sparse_initializer):
        flags.add("refusable")
    for v in g.input:
        if v.name not in inits:
            out.append("input " + vi_line(v, flags))
    for v in g.output:
        out.append("output " + vi_line(v, flags))
    for v in g.value_info:
        out.append("vi " + vi_line(v, flags))
    for p in m.metadata_props:
        out.append("meta %s=%s" % (p.key, p.value))
    return out, flags


def pb_lines(path):
    flags = set()
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return ["tensor " + tensor_line(t, flags)], flags


def main():
    paths = []
    for a in sys.argv[1:]:
        if a.startswith("@"):  # a file listing one path per line
            with open(a[1:]) as f:
                paths += [l.rstrip("\n") for l in f if l.strip()]
        else:
            paths.append(a)
    for path in paths:
        try:
            lines, flags = pb_lines(path) if path.endswith(".pb") else model_lines(path)
        except Exception as e:  # the C side must then fail too
            lines, flags = ["python-error %s" % type(e).__name__], {"refusable"}
        print("== " + path)
        for f in sorted(flags):
            print(f)
        for l in lines:
            print(l)
        print("== end")


if __name__ == "__main__":
    main()
