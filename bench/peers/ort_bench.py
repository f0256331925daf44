#!/usr/bin/env python3
"""ort_bench.py: the ONNX Runtime peer through Python's onnxruntime package, inference only.

The same two modes and the same timing as ort_bench.js (the npm peer), for machines that have
Python's onnxruntime but no npm registry:

  ort_bench.py --model M.onnx --npy-dir D [--batch B] [--threads T]
      one process, intra-op threads T, the .npy tensors of D (float32 [3,H,W]) in batches of B
  ort_bench.py --model M.onnx --npy-dir D --procs P
      P single-threaded worker processes, each running its contiguous share of the files one image
      at a time; each loads its session and tensors and runs one untimed inference, then all start
      together behind a barrier (loop_s: first start to last end)

The last line on stdout is JSON: images, load_s, loop_s, top1_0 (top-1 class of the first tensor).
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time


def list_npy(d):
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".npy")]


def run_one(model, files, batch, threads, barrier=None):
    import numpy as np
    import onnxruntime as ort
    t0 = time.time()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    load_s = time.time() - t0
    name = sess.get_inputs()[0].name
    tensors = [np.load(f).astype(np.float32, copy=False) for f in files]  # read before timing
    if tensors:  # one untimed run: the first runs of a session are several times slower
        sess.run(None, {name: np.stack(tensors[:batch])})
    if barrier is not None:
        barrier.wait()
    top1_0 = -1
    start = time.time()
    for i in range(0, len(tensors), batch):
        y = sess.run(None, {name: np.stack(tensors[i:i + batch])})[0]
        if i == 0:
            top1_0 = int(y[0].argmax())
    end = time.time()
    return {"images": len(tensors), "load_s": load_s, "loop_s": end - start, "start": start,
            "end": end, "top1_0": top1_0}


def worker(model, files, barrier, q):
    try:
        q.put(run_one(model, files, 1, 1, barrier))
    except Exception as e:  # report instead of hanging the parent on the barrier
        barrier.abort()
        q.put({"error": str(e)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--npy-dir", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--procs", type=int, default=0)
    a = ap.parse_args()
    files = list_npy(a.npy_dir)
    if not files:
        sys.exit(f"ort_bench.py: no .npy files in {a.npy_dir}")
    if a.procs <= 0:
        print(json.dumps(run_one(a.model, files, a.batch, a.threads)))
        return
    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(a.procs), ctx.Queue()
    n = len(files)
    ps = [ctx.Process(target=worker, args=(a.model, files[k * n // a.procs:(k + 1) * n // a.procs],
                                           barrier, q)) for k in range(a.procs)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    bad = [r["error"] for r in res if "error" in r]
    if bad:
        sys.exit(f"ort_bench.py: worker failed: {bad[0]}")
    start, end = min(r["start"] for r in res), max(r["end"] for r in res)
    print(json.dumps({"images": sum(r["images"] for r in res), "load_s": max(r["load_s"] for r in res),
                      "loop_s": end - start, "procs": a.procs, "top1_0": res[0]["top1_0"]}))


if __name__ == "__main__":
    main()
