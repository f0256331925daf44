#!/usr/bin/python3
"""pillow_ref.py: Pillow's view of images, for ompredict's image tests (independent reference).

Reads commands from stdin, one per line, and writes raw pixel dumps: a text header "W H C\\n"
followed by H*W*C bytes (rows of interleaved channels).

  decode MODE IN OUT            Image.open(IN).convert(MODE), MODE = RGB or L
  exif IN OUT                   ImageOps.exif_transpose(Image.open(IN)).convert("RGB")
  gray16 IN OUT                 16-bit gray PNG scaled to 8 bits: round(v * 255 / 65535)
  resize MODE IN W H FILTER OUT Image.open(IN).convert(MODE).resize((W, H), FILTER),
                                FILTER = nearest | bilinear | bicubic
  mkexif K OUTJPG OUT           writes a 64x48 JPEG (quality 95) with EXIF orientation K and dumps
                                Pillow's exif_transpose of it (RGB)
Exits 0 when every command succeeded.
"""
import sys

import numpy as np
from PIL import Image, ImageOps

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def dump(arr, path):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    h, w, c = arr.shape
    with open(path, "wb") as f:
        f.write(f"{w} {h} {c}\n".encode())
        f.write(arr.tobytes())


def run(cmd):
    op = cmd[0]
    if op == "decode":
        dump(np.asarray(Image.open(cmd[2]).convert(cmd[1])), cmd[3])
    elif op == "exif":
        dump(np.asarray(ImageOps.exif_transpose(Image.open(cmd[1])).convert("RGB")), cmd[2])
    elif op == "gray16":
        a = np.asarray(Image.open(cmd[1])).astype(np.int64)
        dump(((a * 255 + 32767) // 65535).astype(np.uint8), cmd[2])
    elif op == "resize":
        im = Image.open(cmd[2]).convert(cmd[1])
        dump(np.asarray(im.resize((int(cmd[3]), int(cmd[4])), FILTERS[cmd[5]])), cmd[6])
    elif op == "mkexif":
        k = int(cmd[1])
        y, x = np.mgrid[0:48, 0:64]
        rgb = np.stack([x * 4, y * 5, (x + y) * 2], axis=2).astype(np.uint8)
        rgb[:8, :8] = (255, 0, 0)  # a marker corner, so flips are visible
        exif = Image.Exif()
        exif[0x0112] = k
        Image.fromarray(rgb).save(cmd[2], quality=95, exif=exif.tobytes())
        dump(np.asarray(ImageOps.exif_transpose(Image.open(cmd[2])).convert("RGB")), cmd[3])
    else:
        raise SystemExit(f"pillow_ref.py: unknown command {op!r}")


def main():
    for line in sys.stdin:
        parts = line.split()
        if parts:
            run(parts)


if __name__ == "__main__":
    main()
