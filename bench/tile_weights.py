#!/usr/bin/env python3
"""tile_weights.py: a compressible stand-in of an ONNX model, for timing on a remote node.

    bench/tile_weights.py IN.onnx OUT.onnx      (then gzip -9 OUT.onnx: resnet50 98 MB -> 1.7 MB)

Every float32 initializer of 8192 values or more is replaced by one fixed 4096-value random block
tiled over it, scaled to the tensor's own mean and standard deviation; the graph, shapes and small
tensors (biases) are kept. Speed is the same as the original's (checked: efficientnet_b0 151 vs 156
img/s, resnet18 alike) but predictions are meaningless, and a network whose activations depend on
trained weights in special ways (efficientnet's squeeze-excitation gates produce denormals only with
the real weights) can behave differently: ship the real model where that matters.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper

if len(sys.argv) != 3:
    sys.exit(__doc__)
m = onnx.load(sys.argv[1])
blk = np.random.default_rng(0).standard_normal(4096).astype(np.float32)
for i, t in enumerate(m.graph.initializer):
    a = numpy_helper.to_array(t)
    if a.dtype != np.float32 or a.size < 8192:
        continue
    v = np.resize(blk, a.size).reshape(a.shape) * a.std() + a.mean()
    m.graph.initializer[i].CopyFrom(numpy_helper.from_array(v.astype(np.float32), t.name))
onnx.save(m, sys.argv[2])
