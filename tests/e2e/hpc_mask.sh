# hpc_mask.sh: --mask-dir with tiny segmentation models made here with python3 onnx; each PNG
# decoded by Pillow and compared with a NumPy argmax plus Pillow's NEAREST resize, palette checked
# against the VOC formula, names against the documented '%2F' mapping, refusals.
set -u
: "${OMPREDICT:?}"
PY=/usr/bin/python3
SH=${OM_SHARED:-}
[ -x "$OMPREDICT" ] || { echo "no binary"; exit 77; }
[ -n "$SH" ] && [ -d "$SH/photos" ] || { echo "no shared photos"; exit 77; }
"$PY" -c 'import onnx, numpy, PIL' 2>/dev/null || { echo "no python onnx/numpy/PIL"; exit 77; }
T=$(mktemp -d /tmp/om_mask_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$T" || exit 1
"$PY" - <<'PY' || exit 1
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
from PIL import Image
rng = np.random.default_rng(1)
# segA: 1x1 Conv stride 3, 3 -> 3 classes on a 32x32 image: output [1,3,11,11].
w = rng.standard_normal((3, 3, 1, 1)).astype(np.float32)
b = rng.standard_normal(3).astype(np.float32)
g = helper.make_graph([helper.make_node("Conv", ["input", "w", "b"], ["seg"], strides=[3, 3])], "segA",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
    [helper.make_tensor_value_info("seg", TensorProto.FLOAT, [1, 3, 11, 11])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "segA.onnx")
np.save("segA.w.npy", w); np.save("segA.b.npy", b)
# segB: output independent of the pixels (input * 0 + a fixed [1,21,7,5] pattern), so the mask
# is the pattern's argmax resized to each image's own size.
pat = rng.standard_normal((1, 21, 7, 5)).astype(np.float32)
g = helper.make_graph([
    helper.make_node("Conv", ["input", "z"], ["c"], strides=[4, 4]),
    helper.make_node("Add", ["c", "pat"], ["seg"])], "segB",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 28, 20])],
    [helper.make_tensor_value_info("seg", TensorProto.FLOAT, [1, 21, 7, 5])],
    [numpy_helper.from_array(np.zeros((21, 3, 1, 1), np.float32), "z"), numpy_helper.from_array(pat, "pat")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "segB.onnx")
np.save("segB.pat.npy", pat)
import os
os.makedirs("in/sub", exist_ok=True)
for i in range(4):
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(f"in/sub/r{i}.png")
Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save("in/a%2Fb.png")
PY
mkdir -p mA mB
"$OMPREDICT" -q -m segA.onnx --preset none --size 32 --mask-dir mA in/sub/r0.png in/sub/r1.png in/sub/r2.png \
  in/sub/r3.png "in/a%2Fb.png" > a.csv || fail "segA run exit $?"
"$PY" - <<'PY' || fail "segA masks differ"
import os, numpy as np
from PIL import Image
w = np.load("segA.w.npy").astype(np.float64)[:, :, 0, 0]; b = np.load("segA.b.npy").astype(np.float64)
pal = []
for i in range(256):
    c, r, g, bb = i, 0, 0, 0
    for j in range(8):
        r |= (c & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); bb |= ((c >> 2) & 1) << (7 - j); c >>= 3
    pal += [r, g, bb]
names = {"in/sub/r%d.png" % i: "in%%2Fsub%%2Fr%d.png.png" % i for i in range(4)}
names["in/a%2Fb.png"] = "in%2Fa%252Fb.png.png"
assert sorted(os.listdir("mA")) == sorted(names.values()), os.listdir("mA")
for src, m in names.items():
    x = np.asarray(Image.open(src).convert("RGB"), np.float64) / 255.0   # H, W, 3
    logits = np.einsum("hwc,kc->khw", x[::3, ::3], w) + b[:, None, None]
    want = Image.fromarray(logits.argmax(0).astype(np.uint8)).resize((32, 32), Image.NEAREST)
    im = Image.open("mA/" + m)
    assert im.mode == "P" and im.size == (32, 32), (m, im.mode, im.size)
    assert im.getpalette()[:768] == pal, "palette"
    got = np.asarray(im)
    bad = (got != np.asarray(want)).sum()
    assert bad == 0, (m, bad)
print("segA ok")
PY
# segB on photos of many sizes (EXIF 6 applied under --preset none: the mask has the rotated size).
P=$SH/photos
"$OMPREDICT" -q -m segB.onnx --preset none --size 20x28 --mask-dir mB "$P/chelsea.jpg" "$P/tiny_7x5.png" \
  "$P/chelsea_exif6.jpg" "$P/coffee_palette.png" "$P/rocket.gif" > b.csv || fail "segB run exit $?"
"$PY" - "$P" <<'PY' || fail "segB masks differ"
import sys, os, numpy as np
from PIL import Image, ImageOps
P = sys.argv[1]
pat = np.load("segB.pat.npy")[0]
cls = Image.fromarray(pat.argmax(0).astype(np.uint8))
for f in ["chelsea.jpg", "tiny_7x5.png", "chelsea_exif6.jpg", "coffee_palette.png", "rocket.gif"]:
    src = ImageOps.exif_transpose(Image.open(os.path.join(P, f)))
    name = "mB/" + (P + "/" + f).replace("%", "%25").replace("/", "%2F") + ".png"
    im = Image.open(name)
    assert im.size == src.size, (f, im.size, src.size)
    want = np.asarray(cls.resize(src.size, Image.NEAREST))
    bad = (np.asarray(im) != want).sum()
    assert bad == 0, (f, bad)
print("segB ok")
PY
ls -a mA mB | grep -q '\.tmp\.' && fail "temporary mask files left behind"
# Refusals: a classifier result, a missing directory.
"$PY" - <<'PY' || exit 1
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
g = helper.make_graph([helper.make_node("Conv", ["input", "w"], ["c"]), helper.make_node("Flatten", ["c"], ["logits"])], "cls",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])],
    [numpy_helper.from_array(np.ones((4, 3, 32, 32), np.float32), "w")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "cls.onnx")
PY
"$OMPREDICT" -q -m cls.onnx --preset none --size 32 --mask-dir mA in/sub/r0.png > /dev/null 2> e1.txt
[ $? -eq 2 ] && grep -q "not \[1, C, H, W\]" e1.txt || fail "classifier with --mask-dir: $(cat e1.txt)"
"$OMPREDICT" -q -m segA.onnx --preset none --size 32 --mask-dir nodir in/sub/r0.png > /dev/null 2> e2.txt
[ $? -eq 2 ] && grep -q "not a directory" e2.txt || fail "missing mask dir: $(cat e2.txt)"
# A bad image gives an error row and no mask; the others still get theirs.
printf 'junk' > in/bad.png
rm -rf mC && mkdir mC
"$OMPREDICT" -q -m segA.onnx --preset none --size 32 --mask-dir mC in/bad.png in/sub/r1.png > c.csv
[ $? -eq 1 ] || fail "bad image exit status"
[ "$(ls mC)" = "in%2Fsub%2Fr1.png.png" ] || fail "masks after a bad image: $(ls mC)"
echo "hpc_mask: ok"
