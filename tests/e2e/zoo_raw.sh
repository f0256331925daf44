#!/bin/bash
# zoo_raw.sh: whole-network numerics. For every NAME.onnx in $OM_SHARED/zoo (and, with OM_ZOO_EXTRA=1,
# the extra torchvision exports that tools/export_zoo.py regenerates into $OM_BUILD_DIR/zoo_extra at opsets
# 13 and 17) runs ompredict on the 4 preprocessed reference inputs with --raw and compares the logits with
# PyTorch's (tools/zoo_compare.py: scaled max error <= 1e-4, same top-5 order), by default and with
# --no-winograd, then the penultimate tensor
# (input of the last Gemm/MatMul, via --output-name) with features.npy where present.
# Exit 77 when $OM_SHARED/zoo, python3 with numpy/onnx, or the ompredict binary is missing.
set -u
SRC=${OM_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
ZOO=${OM_SHARED:-}/zoo
CMP="$SRC/tools/zoo_compare.py"

skip() { echo "SKIP: $*"; exit 77; }
[ -n "${OM_SHARED:-}" ] && [ -d "$ZOO" ] || skip "\$OM_SHARED/zoo not found"
[ -x "$PY" ] && "$PY" -c "import numpy, onnx" 2>/dev/null || skip "python3 with numpy and onnx needed"
[ -n "${OMPREDICT:-}" ] && [ -x "$OMPREDICT" ] || skip "ompredict binary (\$OMPREDICT) not built"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/om_zoo.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

dirs=("$ZOO")
if [ "${OM_ZOO_EXTRA:-0}" = 1 ]; then
  EXTRA=${OM_BUILD_DIR:-$TMP}/zoo_extra
  # .complete holds the model list it was made for: a changed "small" set re-exports
  want=$("$PY" -c "import sys; sys.path.insert(0, '$SRC/tools'); import export_zoo; print(' '.join(export_zoo.SMALL))" 2>/dev/null)
  if [ ! -f "$EXTRA/.complete" ] || [ "$(cat "$EXTRA/.complete")" != "$want" ]; then
    rm -rf "$EXTRA"
    if "$PY" -c "import torch, torchvision" 2>/dev/null; then
      echo "exporting the extra zoo into $EXTRA (tools/export_zoo.py small)"
      "$PY" "$SRC/tools/export_zoo.py" "$EXTRA" small --report "$EXTRA/report.md" 2>"$TMP/export.log" \
        && echo "$want" > "$EXTRA/.complete" || { echo "FAIL: export_zoo.py (see below)"; tail -20 "$TMP/export.log"; exit 1; }
    else
      echo "note: python3-torch/torchvision missing, extra zoo not checked"
    fi
  fi
  [ -d "$EXTRA/opset13" ] && dirs+=("$EXTRA/opset13")
  [ -d "$EXTRA/opset17" ] && dirs+=("$EXTRA/opset17")
fi

fails=0
count=0
for dir in "${dirs[@]}"; do
  for model in "$dir"/*.onnx; do
    [ -e "$model" ] || continue
    name=$(basename "$model" .onnx)
    ref="$dir/$name.ref"
    label="$(basename "$dir")/$name"
    [ -f "$ref/output.npy" ] || { echo "FAIL $label: $ref/output.npy missing"; fails=$((fails + 1)); continue; }
    count=$((count + 1))
    inputs=("$ref"/input_0.npy "$ref"/input_1.npy "$ref"/input_2.npy "$ref"/input_3.npy)
    out="$TMP/$name.logits.npy"
    rm -f "$out"
    if ! "$OMPREDICT" -m "$model" --raw "$out" -q -o /dev/null "${inputs[@]}" 2>"$TMP/err"; then
      echo "FAIL $label: ompredict exited $?: $(tail -3 "$TMP/err")"; fails=$((fails + 1)); continue
    fi
    "$PY" "$CMP" check "$out" "$ref/output.npy" --top5 --label "$label logits" || fails=$((fails + 1))
    # the direct 3x3 convolutions too (the default runs Winograd where it is faster)
    rm -f "$out"
    if ! "$OMPREDICT" -m "$model" --no-winograd --raw "$out" -q -o /dev/null "${inputs[@]}" 2>"$TMP/err"; then
      echo "FAIL $label: --no-winograd: ompredict exited $?: $(tail -3 "$TMP/err")"; fails=$((fails + 1)); continue
    fi
    "$PY" "$CMP" check "$out" "$ref/output.npy" --top5 --label "$label logits (--no-winograd)" || fails=$((fails + 1))
    if [ -f "$ref/features.npy" ]; then
      if tensor=$("$PY" "$CMP" penultimate "$model"); then
        feat="$TMP/$name.features.npy"
        rm -f "$feat"
        if ! "$OMPREDICT" -m "$model" --output-name "$tensor" --raw "$feat" -q -o /dev/null \
             "${inputs[@]}" 2>"$TMP/err"; then
          echo "FAIL $label: --output-name $tensor: $(tail -3 "$TMP/err")"; fails=$((fails + 1)); continue
        fi
        "$PY" "$CMP" check "$feat" "$ref/features.npy" --label "$label features ($tensor)" || fails=$((fails + 1))
      else
        echo "note $label: no Gemm/MatMul node, features.npy not compared"
      fi
    fi
  done
done
echo "$count models checked, $fails failures"
[ "$count" -gt 0 ] || { echo "FAIL: no models found"; exit 1; }
[ "$fails" -eq 0 ]
