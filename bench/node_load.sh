#!/usr/bin/env bash
# node_load.sh: model load times of two ompredict binaries on a node, alternating, then resnet50 and
# squeezenet1_1 against ONNX Runtime at all cores. KIT from bench/node_kit.sh, plus the older binary
# copied in as KIT/om_old. Run from the repo root: bash bench/node_load.sh KIT (session 12).
K=$(cd "${1:?usage: bench/node_load.sh KIT}" && pwd); export LD_LIBRARY_PATH=$K/lib
for f in "$K"/shared/zoo/*.gz; do [ -e "$f" ] && gunzip -f "$f"; done
Z=$K/shared/zoo P=$(nproc)
one=$(mktemp -d); ln -s "$Z/resnet18.ref/input_0.npy" "$one/a.npy"
echo "model,round,threads,old_load_s,new_load_s"
for m in resnet50 resnet18; do for r in 1 2 3 4 5; do for j in $P 1; do
  a=$("$K/om_old" -m "$Z/$m.onnx" -j $j -v "$one" -o /dev/null 2>&1 | grep -o "[0-9.]* s to load" | cut -d' ' -f1)
  b=$("$K/ompredict" -m "$Z/$m.onnx" -j $j -v "$one" -o /dev/null 2>&1 | grep -o "[0-9.]* s to load" | cut -d' ' -f1)
  echo "$m,$r,$j,$a,$b"
done; done; done
N=$(mktemp -d); src=("$Z"/resnet18.ref/input_*.npy)
for i in $(seq 0 255); do ln -s "${src[$((i % ${#src[@]}))]}" "$N/x$(printf %04d "$i").npy"; done
timeout 150 bash bench/vs_ort_py.sh -r 3 -j "$P" -n 256 -b "$K/ompredict" "$Z/resnet50.onnx" "$Z/squeezenet1_1.onnx" -- "$N" 2>&1
