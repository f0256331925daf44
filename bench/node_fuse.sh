#!/usr/bin/env bash
# node_fuse.sh: the Conv + MaxPool fusion at all cores (OM_POOL_FUSE=0 as A, alternating), then
# squeezenet1_1, resnet18 and resnet50 against ONNX Runtime. KIT from bench/node_kit.sh; run from the
# repo root: bash bench/node_fuse.sh KIT (session 12).
K=$(cd "${1:?usage: bench/node_fuse.sh KIT}" && pwd); export LD_LIBRARY_PATH=$K/lib
for f in "$K"/shared/zoo/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
Z=$K/shared/zoo P=$(nproc)
N=$(mktemp -d); src=("$Z"/resnet18.ref/input_*.npy)
for i in $(seq 0 255); do ln -s "${src[$((i % ${#src[@]}))]}" "$N/x$(printf %04d "$i").npy"; done
rate() { "$@" 2>&1 >/dev/null | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p'; }
echo "model,round,unfused_j$P,fused_j$P"
for r in 1 2 3; do for m in squeezenet1_1 resnet18 resnet50; do
  a=$(OM_POOL_FUSE=0 rate "$K/ompredict" -m "$Z/$m.onnx" -j "$P" "$N")
  b=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$P" "$N")
  echo "$m,$r,$a,$b"
done; done
timeout 150 bash bench/vs_ort_py.sh -r 3 -j "$P" -n 256 -b "$K/ompredict" "$Z/squeezenet1_1.onnx" "$Z/resnet18.onnx" "$Z/resnet50.onnx" -- "$N" 2>&1
