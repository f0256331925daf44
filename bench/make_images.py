#!/usr/bin/python3
"""make_images.py: the benchmark's input images, made from the real photos in shared/photos.

Usage: /usr/bin/python3 bench/make_images.py OUTDIR [--photos DIR] [--small N] [--camera N] [--npy N]

Writes, deterministically (fixed seed), into OUTDIR:
  small/img_KKK.jpg    N ImageNet-sized JPEGs (500x375, every fourth one 375x500), quality 90
  camera/img_KKK.jpg   N camera-sized JPEGs (3000x2000), quality 90
  npy/img_KKK.npy      float32 [3,224,224]: torchvision's evaluation transform of small/img_KKK.jpg,
                       the inputs of the inference-only runs (so every tool sees the same tensors)
Each file is a different crop / rescale / flip of one of the photos. Camera-sized ones are upscaled
crops with mild sensor-like noise added, so their JPEG entropy (and decode cost) is closer to a real
camera file than a smooth upscale would be. Existing files made with the same settings are kept.
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

SOURCES = ["astronaut_3000x2000.jpg", "hubble_deep_field.jpg", "coffee.jpg", "rocket.jpg",
           "chelsea.jpg", "astronaut.jpg", "immunohistochemistry.jpg", "camera.jpg"]


def variant(src, w, h, rng, noise):
    """A random crop of src with aspect w:h (40..100% of the largest such crop), resized to w x h."""
    sw, sh = src.size
    cw = min(sw, sh * w / h)
    scale = rng.uniform(0.4, 1.0)
    cw = max(8, int(cw * scale))
    ch = max(8, int(cw * h / w))
    x0 = rng.integers(0, sw - cw + 1)
    y0 = rng.integers(0, sh - ch + 1)
    im = src.crop((int(x0), int(y0), int(x0) + cw, int(y0) + ch)).resize((w, h), Image.LANCZOS)
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    if noise > 0:
        a = np.asarray(im, dtype=np.float32)
        a = a + rng.normal(0.0, noise, size=a.shape).astype(np.float32)
        im = Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))
    return im


def make_set(outdir, srcs, n, size, noise, seed, portrait_every=0):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        src = srcs[k % len(srcs)]
        w, h = size
        if portrait_every and k % portrait_every == portrait_every - 1:
            w, h = h, w
        im = variant(src, w, h, rng, noise)
        p = os.path.join(outdir, "img_%03d.jpg" % k)
        im.save(p, quality=90)
        paths.append(p)
    return paths


def make_npy(outdir, jpegs):
    import torch  # only needed here; imported late so the JPEG part works without it
    from torchvision import transforms
    t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    os.makedirs(outdir, exist_ok=True)
    with torch.no_grad():
        for p in jpegs:
            x = t(Image.open(p).convert("RGB")).numpy().astype(np.float32)
            name = os.path.splitext(os.path.basename(p))[0] + ".npy"
            np.save(os.path.join(outdir, name), np.ascontiguousarray(x))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--photos", default=os.environ.get("OM_SHARED", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")) + "/photos")
    ap.add_argument("--small", type=int, default=64)
    ap.add_argument("--camera", type=int, default=64)
    ap.add_argument("--npy", type=int, default=64)
    a = ap.parse_args()

    settings = {"small": a.small, "camera": a.camera, "npy": a.npy, "version": 1}
    stamp = os.path.join(a.outdir, "images.json")
    try:
        with open(stamp) as f:
            if json.load(f) == settings:
                print("make_images: %s is up to date" % a.outdir)
                return 0
    except (OSError, ValueError):
        pass

    srcs = []
    for s in SOURCES:
        p = os.path.join(a.photos, s)
        try:
            srcs.append(Image.open(p).convert("RGB"))
        except OSError as e:
            print("make_images: cannot read %s: %s" % (p, e), file=sys.stderr)
    if not srcs:
        print("make_images: no source photos in %s" % a.photos, file=sys.stderr)
        return 1
    for sub in ("small", "camera", "npy"):
        d = os.path.join(a.outdir, sub)
        if os.path.isdir(d):
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))
    small = make_set(os.path.join(a.outdir, "small"), srcs, a.small, (500, 375), 0.0, 1, portrait_every=4)
    make_set(os.path.join(a.outdir, "camera"), srcs, a.camera, (3000, 2000), 3.0, 2)
    make_npy(os.path.join(a.outdir, "npy"), small[:a.npy])
    with open(stamp, "w") as f:
        json.dump(settings, f)
    print("make_images: %d small, %d camera, %d npy in %s" % (a.small, a.camera, min(a.npy, a.small), a.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
