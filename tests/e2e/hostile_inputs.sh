#!/usr/bin/env bash
# hostile_inputs.sh: the bad-input matrix. tools/make_hostile.py writes valid-but-unusual images
# (16-bit/palette PNG, CMYK/progressive JPEG, GIF animation, wrong extensions, odd file names) and
# broken ones (empty, truncated at 10/100/1000 bytes and half, text, HTML, huge and zero dimensions
# in valid headers); the shell adds a directory, a FIFO, a missing file and an unreadable file.
# Then every format stb decodes, and Netpbm, cut inside the pixel data (error rows), beside the
# intact files (Netpbm P1..P6 predicted as Pillow decodes them).
# All are passed mixed together, explicitly: exit 1, exactly one row per input in order, every
# broken input an error row with a specific message, every valid one a prediction equal to
# Pillow + torchvision's on Pillow's decode. Also: huge headers refused before allocation (peak
# RSS), symlink loops and dangling links in a -r walk, malformed models refused with exit 2.
. "$(dirname "$0")/cli_common.inc"
cd "$T" || exit 1
chmod 755 "$T"
"$PY" "$OM_SOURCE_DIR/tools/make_hostile.py" h || fail "make_hostile.py"
mkdir h/adir
mkfifo h/fifo.png

# Inputs: the manifest's files interleaved with shell-made specials, NUL-separated (names may hold
# newlines and non-UTF-8 bytes).
"$PY" - <<'PY' > inputs.bin || fail "input list"
import os, sys
rows = [l.split(b"\t") for l in open("h/manifest.tsv", "rb").read().split(b"\n") if l]
un = lambda s: s.replace(b"\\\\", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t").replace(b"\0", b"\\")
names = [b"h/" + un(r[0]) for r in rows]
extra = [b"@dirlist.txt", b"h/fifo.png", b"h/no_such_file.png", b"h/noread.png"]
out = []
for i, n in enumerate(names):
    out.append(n)
    if i % 10 == 5 and extra: out.append(extra.pop(0))
out += extra
sys.stdout.buffer.write(b"\0".join(out) + b"\0")
open("rows.bin", "wb").write(b"\0".join(b"h/adir" if p[:1] == b"@" else p for p in out) + b"\0")
PY
# A directory named explicitly is expanded (empty here: no rows); named in a list it is literal.
echo h/adir > dirlist.txt
mapfile -d '' INPUTS < inputs.bin
cp h/good1.png h/noread.png
chmod 000 h/noread.png
# root reads mode-000 files anyway: run as nobody where possible so that case means something.
AS=()
NOREAD=error
if [ "$(id -u)" = 0 ]; then
  if setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null &&
     setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$OMPREDICT" 2>/dev/null; then
    AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    chmod -R a+rX h && chmod 000 h/noread.png && chmod 777 "$T"
  else
    echo "note: root and cannot switch to nobody: unreadable-file case expects a prediction"
    NOREAD=ok
  fi
fi

for f in csv jsonl; do
  start=$(date +%s)
  timeout 60 "${AS[@]}" "$OMPREDICT" -m "$M" -q -j 2 -f $f "${INPUTS[@]}" > out.$f 2> err.$f; rc=$?
  [ $rc = 1 ] || { cat err.$f; fail "matrix ($f): exit $rc, want 1"; }
  echo "matrix $f: $(( $(date +%s) - start )) s"
done

"$PY" - "$M" "$NOREAD" <<'PY' || fail "matrix rows"
import csv, json, os, sys
import numpy as np
noread = sys.argv[2]
un = lambda s: s.replace(b"\\\\", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t").replace(b"\0", b"\\")
want = {}
for l in open("h/manifest.tsv", "rb").read().split(b"\n"):
    if not l: continue
    n, e, c = l.split(b"\t")
    want[b"h/" + un(n)] = (e.decode(), c.decode())
want[b"h/adir"] = ("error", "is a directory")
want[b"h/fifo.png"] = ("error", "not a regular file")
want[b"h/no_such_file.png"] = ("error", "No such file or directory")
want[b"h/noread.png"] = (noread, "Permission denied" if noread == "error" else "ref")
inputs = open("rows.bin", "rb").read().split(b"\0")[:-1]
csvr = list(csv.reader(open("out.csv", newline="", encoding="utf-8", errors="surrogateescape")))
hdr, csvr = csvr[0], csvr[1:]
js = [json.loads(l) for l in open("out.jsonl", encoding="utf-8").read().split("\n")[:-1]]
assert len(csvr) == len(js) == len(inputs), (len(csvr), len(js), len(inputs))

# Reference for valid images: Pillow decode + torchvision's transform + the tiny model by NumPy.
try:
    import torch, torchvision.transforms as T
    from PIL import Image
    tf = T.Compose([T.Resize(37), T.CenterCrop(32), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
except Exception as e:
    tf = None
    print("note: no torchvision, predictions not checked against a reference:", e)
w = np.load(sys.argv[1] + ".w.npy").reshape(10, -1).astype(np.float64)
b = np.load(sys.argv[1] + ".b.npy").astype(np.float64)
checked = 0
for i, (path, c, j) in enumerate(zip(inputs, csvr, js)):
    assert int(c[0]) == j["index"] == i, (i, c[0])
    assert os.fsencode(c[1]) == os.fsencode(j["path"]) == path, (path, c[1], j["path"])
    exp, chk = want[path]
    assert c[2] == j["status"] == exp, (path, c, j)
    if exp == "error":
        msg = j["error"]
        assert msg and c[-1] == msg, (path, c, j)
        assert chk == "-" or chk in msg, (path, msg, chk)
        assert msg not in ("error", "failed", "unknown error"), (path, msg)
        continue
    if chk == "ref" and tf is not None:
        x = tf(Image.open(os.fsdecode(path)).convert("RGB")).numpy().reshape(-1).astype(np.float64)
        z = w @ x + b
        p = np.exp(z - z.max()); p /= p.sum()
        top = int(np.argmax(p))
        got = j["top"][0]
        assert got["class"] == top and abs(got["score"] - p[top]) < 2e-3, (path, got, top, p[top])
        checked += 1
# 16-bit gray stored as v*257: must predict like the 8-bit gray PNG of the same pixels.
g16 = [j for p, j in zip(inputs, js) if p == b"h/gray16.png"][0]
gj = [j for p, j in zip(inputs, js) if p == b"h/gray.jpg"][0]
assert g16["top"][0]["class"] == gj["top"][0]["class"], (g16, gj)
print("matrix ok: %d rows, %d predictions checked against Pillow+torchvision" % (len(js), checked))
PY

# Truncated BMP (24/8/1-bit), GIF, TGA (raw and RLE) and Netpbm (P4..P6 by Pillow, P1..P3 by hand),
# cut at a third, a half and just inside the pixel data: error rows saying "truncated", never a
# padded image. The intact files beside them, every Netpbm kind included, must predict exactly as
# the PNG that Pillow writes from its own decode of them.
mkdir tr
"$PY" - <<'PY' > tr/list || fail "truncation files"
import io, numpy as np
from PIL import Image
rng = np.random.default_rng(11)
im = Image.fromarray(rng.integers(0, 256, (45, 61, 3), dtype=np.uint8))  # 61 wide: padded rows
def enc(img, fmt, **kw):
    b = io.BytesIO(); img.save(b, fmt, **kw); return b.getvalue()
def plain(magic, img, maxval, tok):
    a = np.asarray(img)
    rows = [b" ".join(tok(v) for v in r.reshape(-1)) for r in a]
    return magic + b"\n# written by hand\n61 45\n" + maxval + b"\n".join(rows) + b"\n"
L, B = im.convert("L"), im.convert("1")
# name: (bytes, bytes after the last pixel byte: BMP row padding, GIF terminator and trailer,
# TGA footer; None: plain Netpbm)
files = {
    "bmp24.bmp": (enc(im, "BMP"), 1), "bmp8.bmp": (enc(im.convert("P"), "BMP"), 3),
    "bmp1.bmp": (enc(B, "BMP"), 0), "gif.gif": (enc(im, "GIF"), 2),
    "tga.tga": (enc(im, "TGA"), 26), "tga_rle.tga": (enc(im, "TGA", rle=True), 26),
    "p6.ppm": (enc(im, "PPM"), 0), "p5.pgm": (enc(L, "PPM"), 0), "p4.pbm": (enc(B, "PPM"), 0),
    "p1.pbm": (plain(b"P1", B, b"", lambda v: b"0" if v else b"1"), None),
    "p2.pgm": (plain(b"P2", L, b"255\n", lambda v: b"%d" % v), None),
    "p3.ppm": (plain(b"P3", im, b"255\n", lambda v: b"%d" % v), None),
}
for name, (data, tail) in files.items():
    open("tr/" + name, "wb").write(data)
    Image.open("tr/" + name).convert("RGB").save("tr/" + name + ".png")
    print("tr/%s\tok\ttr/%s.png" % (name, name))
    # plain Netpbm: a cut inside the last number would look like a shorter number (to Pillow too)
    last = len(data) - tail - 1 if tail is not None else len(data) * 9 // 10
    for cut in (len(data) // 3, len(data) // 2, last):
        open("tr/%s.cut%d" % (name, cut), "wb").write(data[:cut])
        print("tr/%s.cut%d\terror\t-" % (name, cut))
PY
mapfile -t TR < <(cut -f1,3 tr/list | tr '\t' '\n' | grep -v '^-$')
timeout 60 "$OMPREDICT" -m "$M" -q -j 2 -k 10 "${TR[@]}" > tr.csv; rc=$?
[ $rc = 1 ] || fail "truncation files: exit $rc, want 1"
"$PY" - <<'PY' || fail "truncation rows"
import csv
rows = {r[1]: r for r in list(csv.reader(open("tr.csv")))[1:]}
n = 0
for line in open("tr/list"):
    path, want, ref = line.rstrip("\n").split("\t")
    r = rows[path]
    if want == "error":
        assert r[2] == "error" and "truncated" in r[-1], (path, r)
    else:  # the same prediction as Pillow's pixels through the PNG path
        assert r[2] == "ok" and r[3:] == rows[ref][3:], (path, r, rows[ref])
    n += 1
print("truncation ok: %d files, every cut an error row saying 'truncated'" % n)
PY

# Huge headers: refused from the header, before any pixel allocation.
for f in huge.png huge.jpg huge.bmp huge.gif huge.ppm wide_png.png; do
  /usr/bin/time -f %M -o rss.txt timeout 60 "$OMPREDICT" -m "$M" -q -j 1 "h/$f" > huge.csv 2>/dev/null
  rc=$?
  [ $rc = 1 ] || fail "$f: exit $rc, want 1"
  grep -q "over the limit of 100 megapixels" huge.csv || fail "$f: $(cat huge.csv)"
  kb=$(tail -1 rss.txt)
  [ "$kb" -lt 102400 ] || fail "$f: peak RSS $kb KB: allocated before the limit check?"
  echo "$f: refused, peak RSS $kb KB"
done
"$OMPREDICT" -m "$M" -q --max-pixels 1000 h/good0.jpg > mp.csv; [ $? = 1 ] || fail "--max-pixels 1000"
grep -q "96x72.*over the limit" mp.csv || fail "--max-pixels message: $(cat mp.csv)"

# -r walk with a dangling link, a self-loop link, and a directory link back to the root.
mkdir -p tree/sub
cp h/good1.png tree/a.png
cp h/good0.jpg tree/sub/b.jpg
ln -s /no/such/target.png tree/dangling.png
ln -s self.png tree/self.png
ln -s .. tree/sub/up
ln -s ../sub tree/sub/again
timeout 60 "$OMPREDICT" -m "$M" -q -r -f jsonl tree > walk.jsonl; rc=$?
[ $rc = 1 ] || fail "-r walk: exit $rc, want 1"
"$PY" - <<'PY' || fail "-r walk rows"
import json
js = [json.loads(l) for l in open("walk.jsonl")]
got = [(j["path"], j["status"]) for j in js]
assert got == [("tree/a.png", "ok"), ("tree/dangling.png", "error"), ("tree/self.png", "error"),
               ("tree/sub/b.jpg", "ok")], got
err = {j["path"]: j["error"] for j in js if j["status"] == "error"}
assert "No such file" in err["tree/dangling.png"], err
assert "symbolic links" in err["tree/self.png"], err
print("walk ok")
PY

# Malformed models: each refused with exit 2, the model named, the specific reason given.
mkdir bm
"$PY" "$OM_SOURCE_DIR/tools/make_bad_models.py" bm > /dev/null || fail "make_bad_models.py"
np_in=$(ls h/good0.jpg)
need="cycle undefined_tensor negative_dim huge_dims short_initializer unknown_op"
for n in $need; do grep -q "^$n.onnx" bm/manifest.tsv || fail "make_bad_models.py lacks $n"; done
while IFS=$'\t' read -r file stage reason; do
  [ "$stage" = ok ] && continue
  timeout 30 "$OMPREDICT" -m "bm/$file" "$np_in" > /dev/null 2> err; rc=$?
  [ $rc = 2 ] || fail "$file: exit $rc, want 2"
  grep -q "bm/$file" err || fail "$file: model not named: $(cat err)"
  grep -qiF -- "$reason" err || fail "$file: '$reason' not in: $(cat err)"
done < bm/manifest.tsv
# An opset newer than the operators follow (src/engine/engine.h OM_OPSET_NEWEST): runs, warns once,
# naming the opset; -q silences it; the newest followed opset and older ones run without it.
for n in newer_opset newest_opset valid; do
  grep -q "^$n.onnx" bm/manifest.tsv || fail "make_bad_models.py lacks $n"
  "$OMPREDICT" -m "bm/$n.onnx" "$np_in" > out.csv 2> err; rc=$?
  [ $rc = 0 ] && [ "$(grep -c ',ok,' out.csv)" = 1 ] || fail "$n: exit $rc, rows $(cat out.csv) $(cat err)"
  w=$(grep -c "warning: model bm/$n.onnx imports opset 23;.* up to opset 21" err)
  [ "$w" = "$([ $n = newer_opset ] && echo 1 || echo 0)" ] || fail "$n: $w opset warnings in: $(cat err)"
done
"$OMPREDICT" -q -m bm/newer_opset.onnx "$np_in" > /dev/null 2> err || fail "newer_opset -q: exit $?"
[ -s err ] && fail "newer_opset -q printed: $(cat err)"
# Model size limit reported with the limit.
if "$OMPREDICT" --help | grep -q -- --max-model-bytes; then
  "$OMPREDICT" -m "$M" --max-model-bytes 1000 "$np_in" > /dev/null 2> err; rc=$?
  [ $rc = 2 ] && grep -q "over the limit of 1000 bytes" err || fail "--max-model-bytes: $rc $(cat err)"
fi
echo "hostile_inputs ok"
