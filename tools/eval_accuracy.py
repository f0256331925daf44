#!/usr/bin/python3
"""Check ompredict's predictions on Fashion-MNIST PNGs (named by tools/fashion_to_png.py).

Owns: accuracy from the file names, image-by-image agreement of ompredict's top-1 with PyTorch's top-1
(models/fashion_mnist.torch_top1.txt, recorded at training time) and with an independent pure-NumPy
re-implementation of the network (weights read from the ONNX file with the onnx package, convolution by
im2col in float64, input decoded with PIL and normalized with preset=fashion-mnist's constants).

Usage:
  eval_accuracy.py --images DIR --pred OUT.jsonl|OUT.csv [--torch-top1 FILE] [--model MODEL.onnx]
                   [--min-accuracy 0.92] [--max-disagree 0]
Exit status 0 when every check passes, 1 when one fails, 2 on bad usage or unreadable inputs.
"""
import argparse
import csv
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_data import MEAN, STD  # noqa: E402

NAME_RE = re.compile(r"^(\d{5})_(\d)_[a-z]+\.png$")


def list_images(folder):
    out = []
    for name in sorted(os.listdir(folder)):
        m = NAME_RE.match(name)
        if m:
            out.append((name, int(m.group(1)), int(m.group(2))))
    return out


def read_predictions(path):
    """Returns {basename: top1 class or None for an error row} from ompredict's JSONL or CSV output."""
    preds = {}
    with open(path, "r", encoding="utf-8", errors="surrogateescape", newline="") as f:
        text = f.read()
    if text.lstrip().startswith("{"):
        for ln, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            base = os.path.basename(row["path"])
            top = row.get("top") or []
            preds[base] = int(top[0]["class"]) if row.get("status") == "ok" and top else None
    else:
        for row in csv.DictReader(text.splitlines()):
            base = os.path.basename(row["path"])
            ok = row.get("status") == "ok" and row.get("top1_class", "") != ""
            preds[base] = int(row["top1_class"]) if ok else None
    return preds


# ---- independent NumPy reference of the ONNX graph (only the ops this CNN family uses) ----

def _attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _im2col_conv(x, w, b, pads, strides, dilations, group):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    if group != 1:
        raise NotImplementedError("grouped Conv is not needed by this reference")
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    sh, sw = strides
    dh, dw = dilations
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw]
    cols = cols.reshape(n, c * kh * kw, oh * ow)
    y = np.einsum("mk,nkp->nmp", w.reshape(m, -1), cols, optimize=True).reshape(n, m, oh, ow)
    if b is not None:
        y += b.reshape(1, m, 1, 1)
    return y


def _maxpool(x, k, pads, strides):
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    n, c, h, w = xp.shape
    oh = (h - k[0]) // strides[0] + 1
    ow = (w - k[1]) // strides[1] + 1
    y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            y = np.maximum(y, xp[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]])
    return y


class NumpyNet:
    def __init__(self, path):
        import onnx
        from onnx import numpy_helper
        self.model = onnx.load(path)
        g = self.model.graph
        self.inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
        self.input = [i.name for i in g.input if i.name not in self.inits][0]
        self.output = g.output[0].name

    def run(self, x):
        from onnx import numpy_helper
        env = dict(self.inits)
        env[self.input] = x
        for node in self.model.graph.node:
            a = _attrs(node)
            ins = [env[i] if i else None for i in node.input]
            op = node.op_type
            if op == "Conv":
                if ins[1].ndim != 4:
                    raise NotImplementedError("only 2-D Conv")
                pads = a.get("pads", [0, 0, 0, 0])
                if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                    raise NotImplementedError("Conv auto_pad")
                y = _im2col_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                                 (pads[0], pads[1], pads[2], pads[3]), a.get("strides", [1, 1]),
                                 a.get("dilations", [1, 1]), a.get("group", 1))
            elif op == "BatchNormalization":
                xx, s, bb, mean, var = ins[:5]
                sh = (1, -1, 1, 1)
                y = (xx - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + a.get("epsilon", 1e-5)) \
                    * s.reshape(sh) + bb.reshape(sh)
            elif op == "Relu":
                y = np.maximum(ins[0], 0)
            elif op == "MaxPool":
                pads = a.get("pads", [0, 0, 0, 0])
                k = a["kernel_shape"]
                y = _maxpool(ins[0], k, pads, a.get("strides", k))
            elif op == "Flatten":
                ax = a.get("axis", 1)
                y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
            elif op == "Gemm":
                A = ins[0].T if a.get("transA", 0) else ins[0]
                B = ins[1].T if a.get("transB", 0) else ins[1]
                y = a.get("alpha", 1.0) * (A @ B)
                if len(ins) > 2 and ins[2] is not None:
                    y = y + a.get("beta", 1.0) * ins[2]
            elif op in ("Dropout", "Identity"):
                y = ins[0]
            elif op == "Constant":
                y = numpy_helper.to_array(a["value"]).astype(np.float64)
            elif op == "Reshape":
                shape = [int(v) for v in ins[1]]
                shape = [ins[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
                y = ins[0].reshape(shape)
            else:
                raise NotImplementedError("NumPy reference has no %s" % op)
            env[node.output[0]] = y
        return env[self.output]


def numpy_logits(model_path, folder, names, batch=250):
    from PIL import Image
    net = NumpyNet(model_path)
    out = []
    for i in range(0, len(names), batch):
        imgs = []
        for name in names[i:i + batch]:
            with Image.open(os.path.join(folder, name)) as im:
                im = im.convert("L")
                if im.size != (28, 28):
                    im = im.resize((28, 28), Image.BILINEAR)
                imgs.append(np.asarray(im, dtype=np.float64))
        x = (np.stack(imgs)[:, None] / 255.0 - MEAN) / STD
        out.append(net.run(x))
    return np.concatenate(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="folder of NNNNN_<class>_<name>.png files")
    ap.add_argument("--pred", required=True, help="ompredict output (JSONL or CSV)")
    ap.add_argument("--torch-top1", help="PyTorch's top-1 per test index, one per line")
    ap.add_argument("--model", help="ONNX model: also compare with the NumPy reference implementation")
    ap.add_argument("--min-accuracy", type=float, default=0.92)
    ap.add_argument("--max-disagree", type=int, default=0,
                    help="tolerated top-1 disagreements with each reference")
    args = ap.parse_args()

    try:
        images = list_images(args.images)
        preds = read_predictions(args.pred)
    except (OSError, ValueError, KeyError) as e:
        print("eval_accuracy: cannot read inputs: %s" % e, file=sys.stderr)
        return 2
    if not images:
        print("eval_accuracy: no NNNNN_<class>_<name>.png files in %s" % args.images, file=sys.stderr)
        return 2
    failures = []
    missing = [n for n, _, _ in images if n not in preds]
    errors = [n for n, _, _ in images if preds.get(n, 0) is None]
    if missing:
        failures.append("%d images have no prediction row (first: %s)" % (len(missing), missing[0]))
    if errors:
        failures.append("%d images have error rows (first: %s)" % (len(errors), errors[0]))
    top1 = np.array([-1 if preds.get(n) is None else preds[n] for n, _, _ in images])
    labels = np.array([c for _, _, c in images])
    acc = float((top1 == labels).mean())
    print("images %d  accuracy %.4f (%d correct)" % (len(images), acc, int((top1 == labels).sum())))
    if acc < args.min_accuracy:
        failures.append("accuracy %.4f is below %.4f" % (acc, args.min_accuracy))

    if args.torch_top1:
        with open(args.torch_top1) as f:
            ref = [int(v) for v in f.read().split()]
        bad = [(n, top1[k], ref[idx]) for k, (n, idx, _) in enumerate(images)
               if idx >= len(ref) or top1[k] != ref[idx]]
        print("PyTorch reference: %d/%d agree" % (len(images) - len(bad), len(images)))
        for n, got, want in bad[:10]:
            print("  differs: %s ompredict %d pytorch %d" % (n, got, want))
        if len(bad) > args.max_disagree:
            failures.append("%d images disagree with PyTorch's top-1" % len(bad))

    if args.model:
        names = [n for n, _, _ in images]
        logits = numpy_logits(args.model, args.images, names)
        ref = logits.argmax(1)
        srt = np.sort(logits, axis=1)
        margin = srt[:, -1] - srt[:, -2]
        bad = [k for k in range(len(names)) if top1[k] != ref[k]]
        print("NumPy reference: %d/%d agree, reference accuracy %.4f, smallest top-1 margin %.3g"
              % (len(names) - len(bad), len(names), float((ref == labels).mean()), float(margin.min())))
        for k in bad[:10]:
            print("  differs: %s ompredict %d numpy %d (numpy margin %.3g)"
                  % (names[k], top1[k], ref[k], margin[k]))
        if len(bad) > args.max_disagree:
            failures.append("%d images disagree with the NumPy reference" % len(bad))

    for f in failures:
        print("FAIL: %s" % f)
    print("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
