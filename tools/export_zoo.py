#!/usr/bin/python3
"""Export more torchvision classifiers to ONNX (opset 13 and 17) with PyTorch reference tensors.

Owns: the "extra zoo" that tests/e2e/zoo_raw.sh checks when OM_ZOO_EXTRA=1, and the data behind
tools/zoo_export_report.md. Same idea as /work/shared/zoo/make_zoo.py (fixed seeded weights, BatchNorm
statistics calibrated on smooth random images so activations have a realistic scale, eval mode), written
independently, with per-model input sizes (inception_v3: 299) and both opsets.

Usage: /usr/bin/python3 tools/export_zoo.py OUTDIR [--opsets 13,17] [--max-mb 60] [--report FILE.md] NAME...
       NAME "small" = the default test set (one model per family, each < 60 MB), "all" = every
       torchvision classification model (80 in 0.14; several GB and hours on 2 cores). Models whose float32 weights exceed --max-mb are skipped (listed).
Writes OUTDIR/opsetK/NAME.onnx and OUTDIR/opsetK/NAME.ref/{input_0..3,output,features}.npy, the same layout
as /work/shared/zoo (input "input" [N,3,S,S] with dynamic N, output "logits" [N,1000]).
Exit status 0 when every requested model exported (or was skipped for size), 1 otherwise.
"""
import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

# One model per family, each < 60 MB, exporting at both opsets (tools/zoo_export_report.md): with the
# export and both opsets' runs this takes about 10 minutes on 2 cores. No transformer/ConvNeXt model is
# this small (convnext_tiny, swin_t: 113 MB; vit_b_16: 346 MB): pass those by name or use "all".
SMALL = ["mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5", "squeezenet1_0", "regnet_y_400mf",
         "efficientnet_b1", "densenet121", "googlenet"]
INPUT_SIZE = {"inception_v3": 299}


def smooth_images(torch, n, size, gen):
    """Low-frequency noise plus a little pixel noise: closer to photo statistics than white noise."""
    x = torch.randn(n, 3, size // 4, size // 4, generator=gen)
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x * 0.9 + 0.1 * torch.randn(n, 3, size, size, generator=gen)


def build(torch, torchvision, name, size):
    torch.manual_seed(0)
    kw = {}
    if name in ("googlenet", "inception_v3"):
        kw = {"aux_logits": False, "init_weights": True}
    model = torchvision.models.get_model(name, weights=None, **kw)
    # torchvision zero-initialises some classifier heads (vit_*: heads.head), which would make every
    # reference logit 0 and the logit comparison vacuous; give such layers small random weights.
    gen0 = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen0) * m.in_features ** -0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen0) * 0.1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if bns:
        for b in bns:
            b.reset_running_stats()
            b.momentum = None  # cumulative average over the calibration batches
        model.train()
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for _ in range(4):
                model(smooth_images(torch, 8, size, gen))
    return model.eval()


def classifier_input(torch, model, x):
    """Input of the final classifier module, flattened, or None when the model has no such attribute."""
    head = None
    for attr in ("fc", "classifier", "head", "heads"):
        if hasattr(model, attr):
            head = getattr(model, attr)
            break
    if head is None:
        return None
    if isinstance(head, torch.nn.Sequential):
        # The last Linear is the classifier proper (e.g. vgg/alexnet/mobilenet_v3 have MLP heads).
        linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
        if linears:
            head = linears[-1]
    got = {}
    hook = head.register_forward_hook(lambda m, i, o: got.setdefault("f", i[0].detach().flatten(1)))
    with torch.no_grad():
        model(x)
    hook.remove()
    return got.get("f")


def export_one(torch, torchvision, onnx, name, outdir, opsets, max_mb):
    size = INPUT_SIZE.get(name, 224)
    t0 = time.time()
    model = build(torch, torchvision, name, size)
    mb = sum(p.numel() for p in model.parameters()) * 4 / 1e6
    if mb > max_mb:
        return {"name": name, "status": "skipped", "mb": mb, "why": "%.0f MB > --max-mb %.0f" % (mb, max_mb)}
    gen = torch.Generator().manual_seed(2)
    x = smooth_images(torch, 4, size, gen)
    with torch.no_grad():
        y = model(x)
    feats = classifier_input(torch, model, x)
    res = {"name": name, "status": "ok", "mb": mb, "size": size, "ops": {}, "errors": {}}
    for opset in opsets:
        d = os.path.join(outdir, "opset%d" % opset)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".onnx")
        try:
            torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                              do_constant_folding=True)
            g = onnx.load(path)
            onnx.checker.check_model(g)
        except Exception as e:  # record and go on: the report lists what fails and why
            msg = str(e).strip().splitlines()
            res["errors"][opset] = ("%s: %s" % (type(e).__name__, msg[0] if msg else ""))[:200]
            res["status"] = "partial"
            if os.path.exists(path):
                os.remove(path)
            continue
        res["ops"][opset] = sorted({n.op_type for n in g.graph.node})
        res["file_mb"] = os.path.getsize(path) / 1e6
        ref = os.path.join(d, name + ".ref")
        os.makedirs(ref, exist_ok=True)
        for k in range(x.shape[0]):
            np.save(os.path.join(ref, "input_%d.npy" % k), x[k].numpy().astype(np.float32))
        np.save(os.path.join(ref, "output.npy"), y.numpy().astype(np.float32))
        if feats is not None:
            np.save(os.path.join(ref, "features.npy"), feats.numpy().astype(np.float32))
    if not res["ops"]:
        res["status"] = "failed"
    res["seconds"] = time.time() - t0
    return res


def write_report(path, results, opsets):
    lines = ["# Extra zoo export report (tools/export_zoo.py)", "",
             "torch %s, torchvision %s, onnx %s; opsets %s. Size = float32 weights."
             % (REPORT_VERSIONS + (", ".join(map(str, opsets)),)), "",
             "| model | input | size MB | status | ops (opset %d) | extra/missing ops at other opsets |" % opsets[0],
             "|---|---|---|---|---|---|"]
    for r in results:
        if r["status"] == "skipped":
            lines.append("| %s | | %.0f | not exported: %s | | |" % (r["name"], r["mb"], r["why"]))
            continue
        base = r["ops"].get(opsets[0], [])
        diffs = []
        for o in opsets[1:]:
            if o in r["ops"]:
                plus = sorted(set(r["ops"][o]) - set(base))
                minus = sorted(set(base) - set(r["ops"][o]))
                if plus or minus:
                    diffs.append("opset %d: %s" % (o, " ".join(["+" + p for p in plus] + ["-" + m for m in minus])))
        for o, e in r["errors"].items():
            diffs.append("opset %d failed: %s" % (o, e.replace("|", "/")))
        lines.append("| %s | %d | %.0f | %s | %s | %s |" % (r["name"], r["size"], r["mb"], r["status"],
                                                        " ".join(base), "; ".join(diffs)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


REPORT_VERSIONS = ("?", "?", "?")


def main():
    global REPORT_VERSIONS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("names", nargs="+")
    ap.add_argument("--opsets", default="13,17")
    ap.add_argument("--max-mb", type=float, default=60.0)
    ap.add_argument("--report", help="write a Markdown table of the results here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="append one JSON line per model here (to merge runs into one report)")
    args = ap.parse_args()
    import onnx
    import torch
    import torchvision
    torch.set_num_threads(args.threads)
    REPORT_VERSIONS = (torch.__version__, torchvision.__version__, onnx.__version__)
    if hasattr(torchvision.models, "list_models"):
        known = torchvision.models.list_models(module=torchvision.models)
    else:  # upstream 0.14 lacks list_models: every lowercase builder in torchvision.models itself
        known = sorted(n for n in dir(torchvision.models) if n[0].islower() and not n.startswith("get_")
                       and callable(getattr(torchvision.models, n)) and n != "list_models")
    names = []
    for n in args.names:
        names += SMALL if n == "small" else known if n == "all" else [n]
    opsets = [int(o) for o in args.opsets.split(",")]
    results, ok = [], True
    for name in names:
        if name not in known:
            print("%s: not a torchvision %s classification model" % (name, torchvision.__version__))
            ok = False
            continue
        try:
            r = export_one(torch, torchvision, onnx, name, args.outdir, opsets, args.max_mb)
        except Exception as e:
            traceback.print_exc()
            r = {"name": name, "status": "skipped", "mb": 0, "why": "build failed: %s" % e}
            ok = False
        results.append(r)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")
        if r["status"] == "skipped":
            print("%s: skipped (%s)" % (name, r["why"]), flush=True)
        else:
            print("%s: %s, %.1f MB, %.0f s, ops: %s %s" % (name, r["status"], r["mb"], r["seconds"],
                  " ".join(r["ops"].get(opsets[0], [])), r["errors"] or ""), flush=True)
            ok = ok and r["status"] == "ok"
        if args.report:
            write_report(args.report, results, opsets)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
