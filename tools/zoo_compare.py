#!/usr/bin/python3
"""Compare ompredict's --raw .npy output with a PyTorch reference (used by tests/e2e/zoo_raw.sh).

Owns the tolerance definition for whole-network checks:
  scaled error = max |out - ref| / (max(ref) - min(ref))  over the whole [rows, width] array, must be <= --tol;
  with --top5, each row's 5 largest entries of out must come in the same order as ref's, except that two
  entries whose ref values differ by less than tol * (max(ref) - min(ref)) count as a tie (either order).
Subcommands:
  zoo_compare.py check OUT.npy REF.npy [--top5] [--tol 1e-4] [--label NAME]
  zoo_compare.py penultimate MODEL.onnx   -> prints the input tensor name of the last Gemm/MatMul node
Exit 0 pass, 1 fail (with the reason on stdout), 2 unreadable input.
"""
import sys

import numpy as np


def check(out_path, ref_path, tol, top5, label):
    try:
        out = np.load(out_path)
        ref = np.load(ref_path).astype(np.float64)
    except (OSError, ValueError) as e:
        print("%s: cannot read: %s" % (label, e))
        return 2
    ref = ref.reshape(ref.shape[0], -1)
    if out.ndim < 1 or out.shape[0] != ref.shape[0] or out.size != ref.size:
        print("%s: FAIL shape %s, reference %s" % (label, out.shape, ref.shape))
        return 1
    out = out.reshape(ref.shape).astype(np.float64)
    if not np.isfinite(out).all():
        print("%s: FAIL %d non-finite values (failed rows are NaN)" % (label, int((~np.isfinite(out)).sum())))
        return 1
    span = float(ref.max() - ref.min()) or 1.0
    diff = np.abs(out - ref)
    worst = float(diff.max()) / span
    r, c = np.unravel_index(int(diff.argmax()), diff.shape)
    msg = "%s: scaled max error %.3g (row %d col %d: got %.6g want %.6g, ref range %.4g)" % (
        label, worst, r, c, out[r, c], ref[r, c], span)
    bad = worst > tol
    if top5:
        for row in range(ref.shape[0]):
            want = np.argsort(-ref[row], kind="stable")[:5]
            got = np.argsort(-out[row], kind="stable")[:5]
            if list(want) == list(got):
                continue
            # Accept only swaps among entries the reference itself cannot tell apart.
            same_set = set(want) == set(got)
            ref_vals = ref[row, got]
            ordered = all(ref_vals[i] >= ref_vals[i + 1] - tol * span for i in range(4))
            if not (same_set and ordered):
                msg += "; row %d top-5 %s, reference %s" % (row, list(got), list(want))
                bad = True
    print(("FAIL " if bad else "ok   ") + msg)
    return 1 if bad else 0


def penultimate(model_path):
    import onnx
    g = onnx.load(model_path).graph
    for node in reversed(g.node):
        if node.op_type in ("Gemm", "MatMul"):
            print(node.input[0])
            return 0
    return 1


def main(argv):
    if len(argv) >= 2 and argv[0] == "penultimate":
        return penultimate(argv[1])
    if len(argv) >= 3 and argv[0] == "check":
        tol, top5, label, rest = 1e-4, False, argv[1], argv[3:]
        i = 0
        while i < len(rest):
            if rest[i] == "--top5":
                top5 = True
            elif rest[i] == "--tol" and i + 1 < len(rest):
                i += 1
                tol = float(rest[i])
            elif rest[i] == "--label" and i + 1 < len(rest):
                i += 1
                label = rest[i]
            else:
                print("zoo_compare: unknown argument %s" % rest[i])
                return 2
            i += 1
        return check(argv[1], argv[2], tol, top5, label)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
