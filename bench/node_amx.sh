#!/usr/bin/env bash
# node_amx.sh: the AMX bf16 kernel on a node with AMX (session 13). KIT from bench/node_kit.sh plus the
# unit tests test_bf16 and test_amx_emu copied in; run from the repo root: bash bench/node_amx.sh KIT
#  1. the tests: test_amx_emu, test_bf16 (AMX), test_bf16 with OM_AMX=0 (vdpbf16ps); OM_SHARED unset,
#     so test_bf16 stops (exit 77) after its GEMM and Conv-route checks, before the zoo models;
#  2. agreement on the kit's photos (--raw logits): bf16 on AMX against bf16 on vdpbf16ps (the same
#     bf16 operands, only the fp32 summation order differs) and against fp32;
#  3. the bf16 GEMM alone (bench/kernels ... bf16, when the kit has it) on AMX and with OM_AMX=0;
#  4. speed: fp32, bf16 (AMX), bf16 (OM_AMX=0), bf16 (AMX) with --no-winograd (the 3x3 stride-1
#     layers on AMX too instead of fp32 Winograd) alternating, at all cores (NBIG tensors, 256) and one (24). ROUNDS rounds (3).
K=$(cd "${1:?usage: bench/node_amx.sh KIT}" && pwd); export LD_LIBRARY_PATH=$K/lib
for f in "$K"/shared/zoo/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
Z=$K/shared/zoo P=$(nproc) T=$(mktemp -d) R=${ROUNDS:-3} NB=${NBIG:-256}
grep -o -w 'amx_[a-z0-9]*\|avx512_bf16' /proc/cpuinfo | sort | uniq -c
echo "== tests"
"$K/test_amx_emu" 2>&1 | tail -2
(unset OM_SHARED; "$K/test_bf16" 2>&1 | tail -4; echo "test_bf16 rc=$?")
(unset OM_SHARED; OM_AMX=0 "$K/test_bf16" 2>&1 | tail -3; echo "test_bf16 OM_AMX=0 rc=$?")
if [ -x "$K/kernels" ]; then
  echo "== bf16 GEMM alone"; "$K/kernels" avx512 9 bf16; OM_AMX=0 "$K/kernels" avx512 9 bf16 | tail -n +3
fi
MODELS="resnet50 resnet18 mobilenet_v2 efficientnet_b0 squeezenet1_1 shufflenet_v2_x1_0"
echo "== agreement on $(ls "$K"/shared/photos | wc -l) photos"
for m in $MODELS; do
  "$K/ompredict" -q -m "$Z/$m.onnx" -j "$P" --raw "$T/f.npy" -o /dev/null "$K/shared/photos"
  "$K/ompredict" -q -m "$Z/$m.onnx" -j "$P" --precision bf16 --raw "$T/a.npy" -o /dev/null "$K/shared/photos"
  OM_AMX=0 "$K/ompredict" -q -m "$Z/$m.onnx" -j "$P" --precision bf16 --raw "$T/v.npy" -o /dev/null "$K/shared/photos"
  python3 - "$m" "$T" <<'PY'
import sys, numpy as np
m, t = sys.argv[1], sys.argv[2]
f, a, v = (np.load(f"{t}/{x}.npy").astype(np.float64) for x in "fav")
s = np.abs(f).max()
print(f"{m}: max|logit| {s:.4g}; AMX vs vdpbf16ps max|diff| {np.abs(a - v).max():.3g}; "
      f"AMX vs fp32 {np.abs(a - f).max():.3g}, vdpbf16ps vs fp32 {np.abs(v - f).max():.3g}; "
      f"top-1 AMX=vdpbf16ps {np.mean(a.argmax(1) == v.argmax(1)):.3f}, AMX=fp32 {np.mean(a.argmax(1) == f.argmax(1)):.3f}")
PY
done
"$K/ompredict" -v -m "$Z/resnet50.onnx" --precision bf16 -o /dev/null "$Z/resnet18.ref" 2>&1 | grep precision
N=$T/n256; N1=$T/n24; mkdir -p "$N" "$N1"; src=("$Z"/resnet18.ref/input_*.npy)
for i in $(seq 1 "$NB"); do ln -s "${src[$((i % ${#src[@]}))]}" "$N/x$(printf %04d "$i").npy"; done
for i in $(seq 0 23); do ln -s "${src[$((i % ${#src[@]}))]}" "$N1/x$(printf %04d "$i").npy"; done
rate() { "$@" 2>&1 >/dev/null | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p'; }
echo "== speed, img/s: model,threads,round,fp32,bf16_amx,bf16_vdpbf16ps,bf16_amx_nowino"
for j in "$P" 1; do D=$N; [ "$j" = 1 ] && D=$N1
  for r in $(seq 1 "$R"); do for m in $MODELS; do
    f=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$j" "$D")
    a=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$j" --precision bf16 "$D")
    v=$(OM_AMX=0 rate "$K/ompredict" -m "$Z/$m.onnx" -j "$j" --precision bf16 "$D")
    w=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$j" --precision bf16 --no-winograd "$D")
    echo "$m,$j,$r,$f,$a,$v,$w"
  done; done
done
rm -rf "$T"
