#!/usr/bin/python3
"""make_hostile.py OUTDIR: writes hostile and unusual image files for the hardening tests.

Writes OUTDIR/manifest.tsv, one line per file: NAME<TAB>EXPECT<TAB>CHECK where NAME is the file
name as bytes (written with os.fsencode, may hold non-UTF-8 bytes; names with a newline or tab are
written escaped as \\n \\t \\\\), EXPECT is 'ok' (a valid image: the row must be a prediction) or
'error' (the row must be an error), and CHECK is, for 'ok', 'ref' (compare the prediction with
Pillow + torchvision on Pillow's decode) or '-' (no Pillow reference: Pillow clips 16-bit images),
and for 'error' a substring the error message must contain ('-' for any non-empty message).

Everything is made here from PIL (seeded pixels) and raw bytes: truncations, huge and zero
dimensions in valid headers (PNG with correct CRCs), wrong extensions, text, HTML.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(5)
rows = []


def put(name, data, expect, check="-"):
    """name: str (may carry surrogateescape'd bytes) or bytes."""
    bname = name if isinstance(name, bytes) else os.fsencode(name)
    with open(os.path.join(os.fsencode(out), bname), "wb") as f:
        f.write(data)
    esc = bname.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\t", b"\\t")
    rows.append(esc + b"\t" + expect.encode() + b"\t" + check.encode())


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def photo(w, h):
    """Smooth gradients plus noise: compresses like a photo, so truncation offsets land in data."""
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1)
    a = a + rng.integers(-40, 40, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def chunk(tag, body):
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_raw(w, h, data=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data)) +
            chunk(b"IEND", b""))


def patch_sof(jpg, w, h):
    i = jpg.find(b"\xff\xc0")
    if i < 0:
        i = jpg.find(b"\xff\xc2")
    b = bytearray(jpg)
    b[i + 5:i + 9] = struct.pack(">HH", h, w)
    return bytes(b)


# Valid images, some unusual: each must be predicted.
base = photo(96, 72)
jpg = pil_bytes(base, "JPEG", quality=90)
png = pil_bytes(base, "PNG")
put("good0.jpg", jpg, "ok", "ref")
put("good1.png", png, "ok", "ref")
put("good2.bmp", pil_bytes(photo(40, 50), "BMP"), "ok", "ref")
put("png_named.jpg", png, "ok", "ref")                        # wrong extension, valid content
put("jpeg_named.png", jpg, "ok", "ref")
put("progressive.jpg", pil_bytes(base, "JPEG", quality=85, progressive=True), "ok", "ref")
put("cmyk.jpg", pil_bytes(base.convert("CMYK"), "JPEG", quality=90), "ok", "ref")
put("gray.jpg", pil_bytes(base.convert("L"), "JPEG"), "ok", "ref")
put("palette.png", pil_bytes(base.convert("P", palette=Image.ADAPTIVE, colors=37), "PNG"), "ok", "ref")
pal = base.convert("P", palette=Image.ADAPTIVE, colors=16)
put("palette_trns.png", pil_bytes(pal, "PNG", transparency=3), "ok", "ref")
put("rgba.png", pil_bytes(base.convert("RGBA"), "PNG"), "ok", "ref")
put("interlaced.png", pil_bytes(base, "PNG", optimize=False), "ok", "ref")
# 16-bit gray whose samples are v*257: scaling to 8 bits gives v exactly, so the 8-bit image is
# the reference; Pillow itself clips 16-bit values, so no 'ref' check.
g8 = np.asarray(base.convert("L"), np.uint16)
put("gray16.png", pil_bytes(Image.fromarray((g8 * 257).astype(np.uint16)), "PNG"), "ok", "-")
frames = [photo(60, 45) for _ in range(3)]
put("anim.gif", pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50,
                          loop=0), "ok", "ref")
put("tiny_1x1.png", pil_bytes(photo(1, 1), "PNG"), "ok", "ref")
put("wide_300x2.png", pil_bytes(photo(300, 2), "PNG"), "ok", "ref")
put("ppm.ppm", pil_bytes(photo(33, 31), "PPM"), "ok", "ref")
put(b"latin1_\xe9\xff.png", png, "ok", "ref")                 # not UTF-8
put("new\nline,\"q\".png", png, "ok", "ref")
put("tab\there.jpg", jpg, "ok", "ref")

# Broken files: each must be an error row with a message.
put("empty.png", b"", "error", "empty file")
put("empty.jpg", b"", "error", "empty file")
big = pil_bytes(photo(400, 300), "JPEG", quality=95)
bigpng = pil_bytes(photo(200, 150), "PNG")
for off in (10, 100, 1000, len(big) // 2):
    put("trunc_%d.jpg" % off, big[:off], "error")
for off in (10, 100, 1000, len(bigpng) // 2):
    put("trunc_%d.png" % off, bigpng[:off], "error")
put("trunc_last2.jpg", big[:-2], "error")                     # only EOI missing: still truncated (Pillow would pad)
put("text.txt", b"just some text\n", "error", "not an image")
put("text.png", b"hello world, not a png\n" * 10, "error", "not an image")
put("page.html", b"<!DOCTYPE html><html><body>x</body></html>\n", "error", "not an image")
put("page.jpg", b"<html><head></head></html>", "error", "not an image")
put("jpg_garbage.jpg", b"\xff\xd8\xff" + bytes(rng.integers(0, 256, 500, dtype=np.uint8)), "error")
b = bytearray(bigpng)
b[len(b) // 2] ^= 0xFF                                         # corrupt IDAT: CRC mismatch
put("png_badcrc.png", bytes(b), "error")
# Huge dimensions in valid headers: refused from the header (default --max-pixels 100M).
put("huge.png", png_raw(60000, 60000, b"\0" * 100), "error", "limit")
put("huge.jpg", patch_sof(jpg, 65000, 65000), "error", "limit")
bmp = struct.pack("<2sIHHI", b"BM", 54 + 16, 0, 0, 54) + struct.pack(
    "<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 16, 2835, 2835, 0, 0) + b"\0" * 16
put("huge.bmp", bmp, "error", "limit")
gif = b"GIF89a" + struct.pack("<HHBBB", 65000, 65000, 0, 0, 0) + \
    b"\x2c" + struct.pack("<HHHHB", 0, 0, 65000, 65000, 0) + b"\x02\x02\x44\x01\x00\x3b"
put("huge.gif", gif, "error", "limit")
put("huge.ppm", b"P6\n60000 60000\n255\n" + b"\0" * 64, "error", "limit")
put("wide_png.png", png_raw(2000000, 100, b"\0" * 100), "error", "limit")
# Zero-size dimensions.
put("zero.png", png_raw(0, 10), "error")
put("zero.jpg", patch_sof(jpg, 96, 0), "error")
put("zero.gif", b"GIF89a" + struct.pack("<HHBBB", 0, 0, 0, 0, 0) + b"\x3b", "error")
bmp0 = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54) + struct.pack(
    "<IiiHHIIiiII", 40, 0, 0, 1, 24, 0, 0, 2835, 2835, 0, 0)
put("zero.bmp", bmp0, "error")

with open(os.path.join(out, "manifest.tsv"), "wb") as f:
    f.write(b"\n".join(rows) + b"\n")
