#!/bin/bash
# accuracy_fashion.sh: end-to-end accuracy of the shipped models/fashion_mnist.onnx on all 10,000
# Fashion-MNIST test images. Writes them as PNGs (tools/fashion_to_png.py), runs ompredict on the folder,
# then tools/eval_accuracy.py checks accuracy >= 92%, that every image's top-1 equals PyTorch's recorded
# top-1 (models/fashion_mnist.torch_top1.txt) and equals an independent NumPy implementation's.
# Exit 77 (skipped) when the dataset package, python3 with numpy/PIL/onnx, or the binary is missing.
set -u
SRC=${OM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
DATASET=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
MODEL=$SRC/models/fashion_mnist.onnx

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$PY" ] || skip "$PY not found"
[ -r "$DATASET" ] || skip "Fashion-MNIST dataset package (dataset-fashion-mnist) not installed"
"$PY" -c "import numpy, PIL, onnx" 2>/dev/null || skip "python3 numpy/PIL/onnx not importable"
[ -n "${OMPREDICT:-}" ] && [ -x "$OMPREDICT" ] || skip "ompredict binary (\$OMPREDICT) not built"
[ -r "$MODEL" ] || { echo "FAIL: $MODEL missing"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/om_acc.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
"$PY" "$SRC/tools/fashion_to_png.py" "$TMP/png" || { echo "FAIL: fashion_to_png.py"; exit 1; }

start=$(date +%s)
"$OMPREDICT" -m "$MODEL" -f jsonl -o "$TMP/pred.jsonl" "$TMP/png"
rc=$?
end=$(date +%s)
if [ $rc -ne 0 ]; then echo "FAIL: ompredict exited $rc"; exit 1; fi
echo "ompredict: 10000 images in $((end - start)) s (wall, whole seconds)"

"$PY" "$SRC/tools/eval_accuracy.py" --images "$TMP/png" --pred "$TMP/pred.jsonl" \
  --torch-top1 "$SRC/models/fashion_mnist.torch_top1.txt" --model "$MODEL" --min-accuracy 0.92
