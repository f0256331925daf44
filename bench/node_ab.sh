#!/usr/bin/env bash
# node_ab.sh: one switch at all cores on a remote node: the kit's binary with VAR=VALUE in the
# environment as A against it without as B, alternating, 3 rounds of 256 tensors, then the same
# networks against ONNX Runtime. KIT from bench/node_kit.sh; run from the repo root:
#   bash bench/node_ab.sh KIT VAR=VALUE MODEL...
# e.g. OM_POOL_FUSE=0 squeezenet1_1 resnet18 resnet50 (session 12's Conv + MaxPool fusion),
#      OM_WINOGRAD=4 resnet18 resnet50 (session 14's F(2x2,3x3) on the 7x7 stage).
K=$(cd "${1:?usage: bench/node_ab.sh KIT VAR=VALUE MODEL...}" && pwd); export LD_LIBRARY_PATH=$K/lib
AB=${2:?usage: bench/node_ab.sh KIT VAR=VALUE MODEL...}; shift 2
for f in "$K"/shared/zoo/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
Z=$K/shared/zoo P=$(nproc)
N=$(mktemp -d); src=("$Z"/resnet18.ref/input_*.npy)
for i in $(seq 0 255); do ln -s "${src[$((i % ${#src[@]}))]}" "$N/x$(printf %04d "$i").npy"; done
rate() { "$@" 2>&1 >/dev/null | sed -n 's/.*then \([0-9.]*\) images\/s.*/\1/p'; }
echo "model,round,${AB}_j$P,default_j$P"
for r in 1 2 3; do for m in "$@"; do
  a=$(rate env "$AB" "$K/ompredict" -m "$Z/$m.onnx" -j "$P" "$N")
  b=$(rate "$K/ompredict" -m "$Z/$m.onnx" -j "$P" "$N")
  echo "$m,$r,$a,$b"
done; done
ms=(); for m in "$@"; do ms+=("$Z/$m.onnx"); done
timeout 150 bash bench/vs_ort_py.sh -r 3 -j "$P" -n 256 -b "$K/ompredict" "${ms[@]}" -- "$N" 2>&1
