#!/usr/bin/python3
"""torch_bench.py: the PyTorch peers of the benchmark (Debian python3-torch 1.13 + torchvision 0.14).

  export NAME OUT.pt [ZOO_SCRIPT]   build NAME exactly as shared/zoo/make_zoo.py does (same seed, same
                                    BatchNorm calibration, so the same weights as NAME.onnx) and save the
                                    whole eval-mode module with torch.save
  infer  --model OUT.pt --npy-dir D [--batch B] [--threads T]
                                    inference only: the preprocessed .npy tensors of D, in batches
  e2e    --model OUT.pt --dir D [--batch B] [--threads T]
                                    end to end: Pillow decode + torchvision's evaluation transform + the
                                    model, in a plain batched loop (no DataLoader: one process)

The last line on stdout is JSON: images, load_s (model load), loop_s (the timed loop), top1 of input 0.
"""
import argparse
import importlib.util
import json
import os
import sys
import time


def export(name, out, zoo_script):
    import torch
    spec = importlib.util.spec_from_file_location("make_zoo", zoo_script)
    mz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mz)
    m = mz.build(name)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    torch.save(m, tmp)
    os.replace(tmp, out)
    print(json.dumps({"exported": name, "path": out}))


def image_files(d):
    exts = (".jpg", ".jpeg", ".png")
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.lower().endswith(exts)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["export", "infer", "e2e"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--model")
    ap.add_argument("--npy-dir")
    ap.add_argument("--dir")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.mode == "export":
        if len(a.args) < 2:
            ap.error("export needs NAME OUT.pt [ZOO_SCRIPT]")
        zoo = a.args[2] if len(a.args) > 2 else os.path.join(os.environ.get("OM_SHARED", ""), "zoo", "make_zoo.py")
        export(a.args[0], a.args[1], zoo)
        return 0

    import numpy as np
    import torch
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = torch.load(a.model)
    model.eval()
    load_s = time.perf_counter() - t0

    if a.mode == "infer":
        files = [os.path.join(a.npy_dir, f) for f in sorted(os.listdir(a.npy_dir)) if f.endswith(".npy")]
        load = lambda p: torch.from_numpy(np.load(p))
    else:
        from PIL import Image
        from torchvision import transforms
        t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
        files = image_files(a.dir)
        load = lambda p: t(Image.open(p).convert("RGB"))
    if not files:
        print("torch_bench: no inputs", file=sys.stderr)
        return 2

    top1 = []
    t1 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(files), a.batch):
            x = torch.stack([load(p) for p in files[i:i + a.batch]])
            y = model(x)
            top1.extend(int(v) for v in y.argmax(1))
    loop_s = time.perf_counter() - t1
    print(json.dumps({"images": len(files), "load_s": load_s, "loop_s": loop_s, "top1_0": top1[0],
                      "threads": torch.get_num_threads()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
