#!/usr/bin/python3
"""joblib_bench.py: the joblib/loky peer -- the common "parallelise a Python predict loop" pattern.

  joblib_bench.py --model OUT.pt --dir D [--n-jobs N]

The model is loaded once in the parent; predict() refers to it as a global, so cloudpickle ships the
whole model to the loky workers with every batch of tasks, as in
    Parallel(n_jobs=N)(delayed(predict)(f) for f in files)
Each call decodes one JPEG with Pillow, applies torchvision's evaluation transform and runs the model on
one image. joblib caps each worker's torch threads at cores // n_jobs (its default since 0.14).
The last line on stdout is JSON: images, load_s, loop_s (the Parallel call, worker start-up included).
"""
import argparse
import json
import os
import sys
import time

import torch
from joblib import Parallel, delayed
from PIL import Image
from torchvision import transforms

model = None
transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def predict(path):
    x = transform(Image.open(path).convert("RGB"))
    with torch.inference_mode():
        y = model(x.unsqueeze(0))
    return int(y.argmax(1)[0])


def main():
    global model
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    t0 = time.perf_counter()
    model = torch.load(a.model)
    model.eval()
    load_s = time.perf_counter() - t0
    exts = (".jpg", ".jpeg", ".png")
    files = [os.path.join(a.dir, f) for f in sorted(os.listdir(a.dir)) if f.lower().endswith(exts)]
    if not files:
        print("joblib_bench: no inputs", file=sys.stderr)
        return 2
    t1 = time.perf_counter()
    top1 = Parallel(n_jobs=a.n_jobs)(delayed(predict)(f) for f in files)
    loop_s = time.perf_counter() - t1
    print(json.dumps({"images": len(files), "load_s": load_s, "loop_s": loop_s, "top1_0": top1[0],
                      "n_jobs": a.n_jobs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
