"""Fashion-MNIST data access shared by the tools (no torch needed): the IDX parser for Debian's
dataset-fashion-mnist package, the class names and the normalization constants of preset=fashion-mnist."""
import gzip
import os

import numpy as np

DATA_DIR = "/usr/share/datasets/fashion-mnist"
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Must match ompredict's "preset=fashion-mnist": 28x28 gray, stretch, pixel/255, then (x - mean) / std.
MEAN = 0.2860
STD = 0.3530


def read_idx(path):
    """Parse an IDX file (big-endian header: 0,0,dtype,ndim, then ndim uint32 dims) into a numpy array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError("%s: not an IDX file (bad magic)" % path)
    if raw[2] != 0x08:
        raise ValueError("%s: IDX dtype 0x%02x, only uint8 (0x08) is supported" % (path, raw[2]))
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError("%s: truncated IDX header" % path)
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - off != count:
        raise ValueError("%s: expected %d data bytes, found %d" % (path, count, len(raw) - off))
    return np.frombuffer(raw, dtype=np.uint8, offset=off).reshape(dims)


def load_split(split):
    """split = "train" or "t10k"; returns (uint8 images [N,28,28], uint8 labels [N])."""
    images = read_idx(os.path.join(DATA_DIR, "%s-images-idx3-ubyte.gz" % split))
    labels = read_idx(os.path.join(DATA_DIR, "%s-labels-idx1-ubyte.gz" % split))
    return images, labels
