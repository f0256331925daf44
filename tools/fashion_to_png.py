#!/usr/bin/python3
"""Write Fashion-MNIST test images as 8-bit gray PNGs whose names carry the label.

Owns: the file naming scheme NNNNN_<classindex>_<shortname>.png (NNNNN = index in the t10k set), which
tools/eval_accuracy.py parses back. Pixels are written raw (0 = background, as stored in the dataset and as
seen in training), never inverted.

Usage: /usr/bin/python3 tools/fashion_to_png.py OUTDIR [--count N] [--start S] [--split t10k|train]
"""
import argparse
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_data import load_split  # noqa: E402  (same IDX parser as training)

SHORT = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def png_name(index, label):
    return "%05d_%d_%s.png" % (index, label, SHORT[label])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=0, help="number of images (0 = all from --start)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--split", default="t10k", choices=["t10k", "train"])
    args = ap.parse_args()
    images, labels = load_split(args.split)
    if args.start < 0 or args.start > len(images):
        ap.error("--start %d is outside 0..%d" % (args.start, len(images)))
    end = len(images) if args.count <= 0 else min(len(images), args.start + args.count)
    os.makedirs(args.outdir, exist_ok=True)
    for i in range(args.start, end):
        Image.fromarray(images[i], mode="L").save(os.path.join(args.outdir, png_name(i, int(labels[i]))),
                                                  optimize=True)
    print("wrote %d PNGs to %s" % (end - args.start, args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
