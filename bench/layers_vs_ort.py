#!/usr/bin/env python3
"""layers_vs_ort.py: where the time goes, ompredict against ONNX Runtime, layer class by layer class.

    bench/layers_vs_ort.py MODEL.onnx [--runs 30] [--warmup 10] [--threads 1]

Both engines run the model on one 1x3x224x224 input, one thread by default: ompredict with
--profile -v (its per-layer timer, over RUNS network runs) and ONNX Runtime with its own profiler
(bench/peers/ort_profile.js; the first WARMUP runs of every node are dropped, then the median).
Layers are matched by what they compute, not by name (ONNX Runtime renames fused nodes): a Conv by
kernel, stride and output size ("Conv 1x1 s1 @7"), anything else by op type. Prints a Markdown
table per class: layers, ms per image on each side, the ratio; and the totals. The two profilers
add their own overhead (ONNX Runtime's per node more than ompredict's), so compare classes with each
other, and overall speed with bench/ort_ab.sh. Needs numpy, node and bench/node_modules (run
bench/run_bench.sh once to install them). OMPREDICT=/path/to/ompredict picks the binary (default
build/ompredict).
"""
import argparse
import collections
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def conv_class(x, w, y):
    """x, w, y: dims of input, weight, output -> class key."""
    kh, kw = w[2], w[3]
    s = max(1, round(x[2] / y[2])) if y[2] else 1
    dw = " dw" if w[1] == 1 and x[1] == y[1] and x[1] > 1 else ""
    return f"Conv{dw} {kh}x{kw} s{s} @{y[2]}"


def ours(model, runs, threads, exe):
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        np.save(os.path.join(d, "x0.npy"), rng.standard_normal((3, 224, 224)).astype(np.float32))
        for i in range(1, runs):
            os.symlink("x0.npy", os.path.join(d, f"x{i}.npy"))
        r = subprocess.run([exe, "-m", model, "-j", str(threads), "--profile", "-v", d, "-o", os.devnull],
                           capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"layers_vs_ort.py: ompredict failed:\n{r.stderr}")
    cls = collections.defaultdict(lambda: [0, 0.0])
    # "   1.519   3.4%     135.3   46 Conv 'name' [1x1024x14x14, 2048x1024x1x1(c), 2048(c)] -> 1x2048x7x7"
    pat = re.compile(r"^\s+([\d.]+)\s+[\d.]+%\s+(?:[\d.]+\s+(?:\d+%\s+)?)?\d+ (\w+) '[^']*' \[([^\]]*)\].*-> (\S+)")
    for line in r.stderr.splitlines():
        m = pat.match(line)
        if not m:
            continue
        ms, op = float(m.group(1)), m.group(2)
        dims = [[int(v) for v in re.sub(r"\(c\)", "", t).strip().split("x") if v]
                for t in m.group(3).split(",")]
        out = [int(v) for v in m.group(4).split("x")]
        key = conv_class(dims[0], dims[1], out) if op == "Conv" and len(out) == 4 else op
        cls[key][0] += 1
        cls[key][1] += ms
    return cls


def theirs(model, runs, warmup, threads):
    prefix = tempfile.mktemp(prefix="ortprof_")
    env = dict(os.environ)
    r = subprocess.run(["node", os.path.join(HERE, "peers", "ort_profile.js"), model,
                        str(runs + warmup), str(threads), prefix],
                       capture_output=True, text=True, check=False, env=env)
    files = sorted(glob.glob(prefix + "*.json"))
    if r.returncode != 0 or not files:
        sys.exit(f"layers_vs_ort.py: ONNX Runtime profile failed:\n{r.stderr}")
    events = json.load(open(files[-1]))
    for f in files:
        os.unlink(f)
    per = collections.defaultdict(list)
    info = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per[e["name"]].append(e["dur"] / 1000.0)
            info[e["name"]] = e["args"]
    cls = collections.defaultdict(lambda: [0, 0.0])
    for name, durs in per.items():
        a = info[name]
        op = a.get("op_name", "?")
        ins = [list(t.values())[0] for t in a.get("input_type_shape", [])]
        outs = [list(t.values())[0] for t in a.get("output_type_shape", [])]
        if op in ("Conv", "FusedConv") and len(ins) >= 2 and len(ins[1]) == 4 and outs and len(outs[0]) == 4:
            key = conv_class(ins[0], ins[1], outs[0])
        elif op.startswith("Reorder"):
            key = "(layout reorders)"
        else:
            key = op
        cls[key][0] += 1
        cls[key][1] += statistics.median(durs[warmup:] or durs)
    return cls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    exe = os.environ.get("OMPREDICT", os.path.join(ROOT, "build", "ompredict"))
    mine = ours(os.path.abspath(a.model), a.runs, a.threads, exe)
    ort = theirs(os.path.abspath(a.model), a.runs, a.warmup, a.threads)
    keys = sorted(set(mine) | set(ort), key=lambda k: -(mine.get(k, [0, 0])[1] + ort.get(k, [0, 0])[1]))
    print(f"### {os.path.basename(a.model)}: ms per image, {a.threads} thread(s), per-layer profilers\n")
    print("| layer class | layers (ompredict / ORT) | ompredict ms | ONNX Runtime ms | ORT / ompredict |")
    print("|---|---|---|---|---|")
    tm = to = 0.0
    for k in keys:
        n1, t1 = mine.get(k, [0, 0.0])
        n2, t2 = ort.get(k, [0, 0.0])
        tm += t1
        to += t2
        ratio = f"{t2 / t1:.2f}" if t1 > 0 and t2 > 0 else "-"
        print(f"| {k} | {n1} / {n2} | {t1:.3f} | {t2:.3f} | {ratio} |")
    print(f"| **total** | | **{tm:.3f}** | **{to:.3f}** | **{to / tm:.2f}** |")


if __name__ == "__main__":
    main()
