#!/usr/bin/python3
"""Train the small Fashion-MNIST CNN that ompredict ships (models/fashion_mnist.onnx).

Owns: reading Debian's dataset-fashion-mnist IDX files, training on CPU with fixed seeds, exporting the
ONNX graph (opset 13, BatchNormalization kept as separate nodes), adding the ompredict.* metadata, and
writing PyTorch's own top-1 predictions on the 10,000 test images (the reference for eval_accuracy.py).

Usage: /usr/bin/python3 tools/train_fashion_mnist.py [--out models] [--epochs 10] [--threads 2]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_data import LABELS, MEAN, STD, load_split  # noqa: E402


class Net(nn.Module):
    def __init__(self, w1=16, w2=32, hidden=128):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, w1, 3, padding=1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
            nn.Conv2d(w1, w1, 3, padding=1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(w1, w2, 3, padding=1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(inplace=True),
            nn.Conv2d(w2, w2, 3, padding=1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(w2 * 7 * 7, hidden), nn.ReLU(inplace=True),
            nn.Dropout(0.25),
            nn.Linear(hidden, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def normalize(u8):
    return (torch.from_numpy(u8.astype(np.float32)).unsqueeze(1) / 255.0 - MEAN) / STD


def augment(batch_u8, rng, kinds):
    """Random crop 28x28 from the image zero-padded by 2, and/or random horizontal flip (per sample)."""
    if kinds == "none":
        return batch_u8
    n = batch_u8.shape[0]
    padded = np.zeros((n, 32, 32), dtype=np.uint8)
    padded[:, 2:30, 2:30] = batch_u8
    dy = rng.integers(0, 5, size=n)
    dx = rng.integers(0, 5, size=n)
    rows = dy[:, None] + np.arange(28)[None, :]
    cols = dx[:, None] + np.arange(28)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if "crop" not in kinds:
        out = batch_u8.copy()
    if "flip" not in kinds:
        return out
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def predict(model, images_u8, bs=1000):
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(images_u8), bs):
            outs.append(model(normalize(images_u8[i:i + bs])))
    return torch.cat(outs).numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--augment", default="flip", help="crop,flip | crop | flip | none")
    # One thread: on the shared 2-core machine, two intra-op threads were ~5x slower under load.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--progress", type=int, default=0, help="print every N steps")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images only (timing tests)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    tr_x, tr_y = load_split("train")
    te_x, te_y = load_split("t10k")
    if args.limit:
        tr_x, tr_y = tr_x[:args.limit], tr_y[:args.limit]
    print("train %s test %s" % (tr_x.shape, te_x.shape), flush=True)

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = (len(tr_x) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = rng.permutation(len(tr_x))
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(perm), args.batch):
            idx = perm[i:i + args.batch]
            x = normalize(augment(tr_x[idx], rng, args.augment))
            y = torch.from_numpy(tr_y[idx].astype(np.int64))
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            total += len(idx)
            if args.progress and (i // args.batch) % args.progress == 0:
                print("  step %d loss %.4f elapsed %.1fs" % (i // args.batch, loss.item(), time.time() - t0),
                      flush=True)
        test_acc = (predict(model, te_x).argmax(1) == te_y).mean()
        print("epoch %d loss %.4f train_acc %.4f test_acc %.4f elapsed %.0fs"
              % (epoch + 1, loss_sum / total, correct / total, test_acc, time.time() - t0), flush=True)
    train_s = time.time() - t0

    model.eval()
    logits = predict(model, te_x)
    top1 = logits.argmax(1)
    acc = float((top1 == te_y).mean())
    print("final test accuracy %.4f, training time %.0f s" % (acc, train_s), flush=True)

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "fashion_mnist.onnx")
    export(model, onnx_path, acc, train_s, args)
    with open(os.path.join(args.out, "fashion_mnist.torch_top1.txt"), "w") as f:
        f.write("".join("%d\n" % c for c in top1))
    print("wrote %s (%d bytes) and fashion_mnist.torch_top1.txt" % (onnx_path, os.path.getsize(onnx_path)))
    return 0


def export(model, path, acc, train_s, args):
    import onnx
    dummy = torch.zeros(2, 1, 28, 28)
    # PRESERVE (with the model already in eval mode) skips torch's eval-mode Conv+BN folding pass, so
    # BatchNormalization stays a separate node and the engine's own fusion gets exercised.
    torch.onnx.export(model, dummy, path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    m = onnx.load(path)
    meta = {
        "ompredict.labels": "\n".join(LABELS),
        "ompredict.preprocess": "preset=fashion-mnist",
        "ompredict.description": "Small CNN for Fashion-MNIST (28x28 gray, 0 = background): "
                                 "2x(conv3x3-BN-ReLU) 16ch, maxpool, 2x(conv3x3-BN-ReLU) 32ch, maxpool, "
                                 "fc128-ReLU, fc10. Outputs logits. Trained by tools/train_fashion_mnist.py.",
        "ompredict.test_accuracy": "%.4f" % acc,
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "ompredict tools/train_fashion_mnist.py"
    onnx.checker.check_model(m)
    onnx.save(m, path)
    ops = sorted({n.op_type for n in m.graph.node})
    print("ops in graph: %s" % " ".join(ops))


if __name__ == "__main__":
    sys.exit(main())
