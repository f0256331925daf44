#!/usr/bin/python3
"""bench.py: times ompredict against its peers on one machine in one run; writes bench/out/results.md.

Usually started by bench/run_bench.sh, which installs the peers and builds ompredict first.
  /usr/bin/python3 bench/bench.py [--quick] [--runs R] [--models a,b] [--ompredict PATH] [--threads N]

Measures, for each run, one whole process tree (the tool and every process it starts):
  wall      start to exit of the tree, model load and interpreter start-up included
  loop      the tool's own timing of its image loop (peers print it as JSON; ompredict's summary line,
            which also covers its model load)
  CPU       user+sys of the tree: wait4 rusage of the child (covers descendants it reaped), or the sum of
            per-process utime+stime sampled from /proc every 50 ms, whichever is larger
  peak RSS  the largest sum of RSS over the tree's processes, sampled every 50 ms (a page shared by
            several processes counts once per process, as `top` would show it), and at least the
            child's own max RSS from wait4
Each figure is the median over R runs. A tool that is missing or fails is reported as n/a (reason).
"""
import argparse
import csv
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
PY = "/usr/bin/python3"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- process-tree measurement
def _children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(x) for x in f.read().split())
    except OSError:
        pass
    return kids


def _tree(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def _sample(pid):
    """(rss bytes, utime+stime seconds) of one process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        with open("/proc/%d/statm" % pid) as f:
            rss = int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return None
    fields = s[s.rfind(")") + 2:].split()  # after "pid (comm) "; comm may contain spaces
    return rss, (int(fields[11]) + int(fields[12])) / CLK


class Result:
    def __init__(self):
        self.rc, self.wall, self.cpu, self.rss, self.stdout, self.stderr = None, 0.0, 0.0, 0, "", ""
        self.timed_out = False


def measure(cmd, log_base, timeout, env=None):
    """Runs cmd (a list) as a new session, stdout/stderr to log_base.out/.err, and measures its tree."""
    res = Result()
    with open(log_base + ".out", "wb") as fo, open(log_base + ".err", "wb") as fe:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, env=env,
                             start_new_session=True)
    cpu_last, peak = {}, [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            total = 0
            for q in _tree(p.pid):
                s = _sample(q)
                if s:
                    total += s[0]
                    cpu_last[q] = s[1]
            peak[0] = max(peak[0], total)
            stop.wait(0.05)

    def killer():
        res.timed_out = True
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    timer = threading.Timer(timeout, killer)
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    res.wall = time.perf_counter() - t0
    timer.cancel()
    stop.set()
    th.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    # Orphaned grandchildren (e.g. loky workers still exiting) would keep running: end our session.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass
    res.rc = p.returncode
    res.cpu = max(ru.ru_utime + ru.ru_stime, sum(cpu_last.values()))
    res.rss = max(peak[0], ru.ru_maxrss * 1024)
    with open(log_base + ".out", errors="replace") as f:
        res.stdout = f.read()
    with open(log_base + ".err", errors="replace") as f:
        res.stderr = f.read()
    return res


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def why(res):
    if res.timed_out:
        return "timed out"
    lines = [l for l in res.stderr.strip().splitlines() if l.strip()]
    msg = lines[-1].strip() if lines else "no message"
    return "exit %d: %s" % (res.rc, msg[:120])


# ---------------------------------------------------------------- tools
class Tool:
    """One way of running one workload; run() returns a dict of figures or raises RuntimeError(reason)."""

    def __init__(self, name, config, cmd, kind, images, unavailable=None):
        self.name, self.config, self.cmd, self.kind, self.images = name, config, cmd, kind, images
        self.unavailable = unavailable


def parse_ompredict(res, images):
    if res.rc != 0:
        raise RuntimeError(why(res))
    # The loop rate: the summary's "then N images/s" excludes model load; older builds print only the total.
    m = re.search(r"then ([0-9.]+) images/s", res.stderr) or re.search(r"([0-9.]+) images/s", res.stderr)
    loop = images / float(m.group(1)) if m and float(m.group(1)) > 0 else None
    rows = list(csv.reader(res.stdout.splitlines()))
    if len(rows) - 1 != images:
        raise RuntimeError("%d CSV rows on stdout for %d inputs" % (max(len(rows) - 1, 0), images))
    top1 = rows[1][rows[0].index("top1_class")] if "top1_class" in rows[0] else "?"
    return loop, int(top1) if top1.isdigit() else top1


def parse_peer(res, images):
    if res.rc != 0:
        raise RuntimeError(why(res))
    j = last_json(res.stdout)
    if not j or "loop_s" not in j:
        raise RuntimeError("no result line on stdout")
    if j["images"] != images:
        raise RuntimeError("%d images done of %d" % (j["images"], images))
    return j["loop_s"], j.get("top1_0")


def run_tools(tools, runs, logdir, timeout, tag, log):
    """Runs every tool R times, interleaved (A B C A B C ...) so that a change in the machine's load
    during the benchmark hits every tool alike; returns one dict of medians (or {"error"}) per tool."""
    figs = [[] for _ in tools]
    errs = [{"error": t.unavailable} if t.unavailable else None for t in tools]
    for r in range(runs):
        for i, tool in enumerate(tools):
            if errs[i]:
                continue
            base = os.path.join(logdir, "%s.%d.%d" % (tag, i, r))
            res = measure(tool.cmd, base, timeout)
            try:
                if tool.kind == "ompredict":
                    loop, top1 = parse_ompredict(res, tool.images)
                else:
                    loop, top1 = parse_peer(res, tool.images)
            except RuntimeError as e:
                errs[i] = {"error": str(e), "log": base}
                log("  %s %s: n/a: %s" % (tool.name, tool.config, e))
                continue
            figs[i].append({"wall": res.wall, "loop": loop if loop else res.wall, "cpu": res.cpu, "rss": res.rss,
                            "top1": top1})
            log("  %s %s: %.1f img/s wall, %.1f img/s loop" % (tool.name, tool.config, tool.images / res.wall,
                                                                tool.images / figs[i][-1]["loop"]))
    out = []
    for i, tool in enumerate(tools):
        if errs[i]:
            out.append(errs[i])
            continue
        med = lambda k: statistics.median(f[k] for f in figs[i])
        out.append({"wall": med("wall"), "loop": med("loop"), "cpu": med("cpu"), "rss": med("rss"),
                    "top1": figs[i][0]["top1"], "images": tool.images, "runs": runs})
    return out


# ---------------------------------------------------------------- preparation
def prepare_models(models, out, shared, log):
    """ONNX path and PyTorch .pt path (or an error string) per model."""
    onnx, pt = {}, {}
    zoo_script = os.path.join(shared, "zoo", "make_zoo.py")
    for m in models:
        cand = [os.path.join(shared, "zoo", m + ".onnx"), os.path.join(out, "zoo", m + ".onnx")]
        path = next((c for c in cand if os.path.exists(c)), None)
        if path is None:
            log("exporting %s to ONNX with make_zoo.py" % m)
            r = subprocess.run([PY, zoo_script, os.path.join(out, "zoo"), m], capture_output=True, text=True)
            path = cand[1] if r.returncode == 0 and os.path.exists(cand[1]) else None
            if path is None:
                onnx[m] = "n/a: make_zoo.py failed: %s" % (r.stderr.strip().splitlines() or ["?"])[-1][:100]
        if path:
            onnx[m] = path
        ptp = os.path.join(out, "torch", m + ".pt")
        if not os.path.exists(ptp):
            log("building the PyTorch module for %s" % m)
            r = subprocess.run([PY, os.path.join(BENCH, "peers", "torch_bench.py"), "export", m, ptp, zoo_script],
                               capture_output=True, text=True)
            if r.returncode != 0:
                pt[m] = "n/a: PyTorch export failed: %s" % (r.stderr.strip().splitlines() or ["?"])[-1][:100]
                continue
        pt[m] = ptp
    return onnx, pt


def is_err(x):
    return isinstance(x, str) and x.startswith("n/a: ")


def na(reason):
    """'n/a (reason)' for a table cell; reasons from prepare_models carry an 'n/a: ' prefix."""
    reason = reason[5:] if reason.startswith("n/a: ") else reason
    return "n/a (%s)" % reason.replace("|", "/").replace("\n", " ")


# ---------------------------------------------------------------- tables
def fmt_row(name, config, r, ref):
    if "error" in r:
        return "| %s | %s | %s | | | | | | |" % (name, config, na(r["error"]))
    n = r["images"]
    ratio_w = ratio_l = ""
    if ref and "error" not in ref and r is not ref:
        ratio_w = "%.2f" % ((ref["images"] / ref["wall"]) / (n / r["wall"]))
        ratio_l = "%.2f" % ((ref["images"] / ref["loop"]) / (n / r["loop"]))
    return "| %s | %s | %.1f | %.1f | %.2f | %.0f | %s | %s | %s |" % (
        name, config, n / r["wall"], n / r["loop"], r["cpu"] / n, r["rss"] / 2**20, r["top1"], ratio_w, ratio_l)


HEAD = ("| tool | config | img/s (wall) | img/s (loop) | CPU s/img | peak RSS MiB | top1[0] | "
        "ompredict/peer (wall) | ompredict/peer (loop) |\n|---|---|---|---|---|---|---|---|---|")


SELFTEST_CHILD = r"""
import os, sys, time
def work():
    buf = bytearray(100 * 2**20)          # 100 MiB, touched so it is resident
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    t = time.process_time()
    while time.process_time() - t < 1.0:  # 1 s of CPU whatever the machine's load
        pass
    time.sleep(0.3)                       # hold the memory so the sampler sees both at once
    t = os.times()
    print("cpu", t.user + t.system, flush=True)
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        work(); os._exit(0)
    pids.append(pid)
for p in pids:
    os.waitpid(p, 0)
t = os.times()
print("cpu", t.user + t.system, flush=True)
"""


def selftest():
    """Checks measure() on a known tree: a parent and two children, each child using 1 s of CPU
    and holding 100 MiB at the same time. Exit 0 when the figures are in range."""
    import tempfile
    d = tempfile.mkdtemp(prefix="bench-selftest-")
    res = measure([PY, "-c", SELFTEST_CHILD], os.path.join(d, "t"), 60)
    # Expected CPU: what the three processes report of themselves (os.times) just before exiting.
    want = sum(float(l.split()[1]) for l in res.stdout.splitlines() if l.startswith("cpu "))
    ok = (res.rc == 0 and want >= 2.0 and abs(res.cpu - want) <= 0.1 + 0.1 * want
          and 200 * 2**20 <= res.rss <= 400 * 2**20)
    print("selftest: rc %s, CPU %.2f s (processes report %.2f s), peak RSS %.0f MiB (expect 200-400): %s"
          % (res.rc, res.cpu, want, res.rss / 2**20, "ok" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    if "--selftest" in sys.argv[1:]:
        return selftest()
    ap = argparse.ArgumentParser(description="ompredict benchmark")
    ap.add_argument("--quick", action="store_true", help="R=1, few images: a smoke run of a few minutes")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,efficientnet_b0")
    ap.add_argument("--ompredict", default=os.environ.get("OMPREDICT", os.path.join(ROOT, "build", "ompredict")))
    ap.add_argument("--shared", default=os.environ.get("OM_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--out", default=os.path.join(BENCH, "out"))
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="cores to use (default: the CPUs this process may run on)")
    ap.add_argument("--images", type=int, help="ImageNet-sized images (and .npy tensors) per run")
    ap.add_argument("--camera", type=int, help="camera-sized images per run")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per run before it is killed")
    a = ap.parse_args()
    runs = a.runs or (1 if a.quick else 3)
    n_small = a.images or (8 if a.quick else 32)
    n_cam = a.camera if a.camera is not None else (4 if a.quick else 8)
    models = [m for m in a.models.split(",") if m]
    T = a.threads
    shared = os.path.abspath(a.shared)
    os.makedirs(a.out, exist_ok=True)
    logdir = os.path.join(a.out, "logs")
    os.makedirs(logdir, exist_ok=True)
    t_start = time.time()

    def log(msg):
        print("[bench %5.0fs] %s" % (time.time() - t_start, msg), file=sys.stderr, flush=True)

    imgdir = os.path.join(a.out, "images-%d-%d" % (n_small, n_cam))
    r = subprocess.run([PY, os.path.join(BENCH, "make_images.py"), imgdir, "--photos",
                        os.path.join(shared, "photos"), "--small", str(n_small), "--camera", str(n_cam),
                        "--npy", str(n_small)], capture_output=True, text=True)
    if r.returncode != 0:
        print("bench: making the images failed:\n" + r.stderr, file=sys.stderr)
        return 2
    log(r.stdout.strip())
    small, camera, npy = (os.path.join(imgdir, s) for s in ("small", "camera", "npy"))
    onnx, pt = prepare_models(models, a.out, shared, log)

    # Availability of each tool, checked once.
    omp_na = None
    if not os.access(a.ompredict, os.X_OK):
        omp_na = "no binary at %s" % a.ompredict
    else:
        h = subprocess.run([a.ompredict, "--help"], capture_output=True, text=True)
        if h.returncode != 0:
            omp_na = "`ompredict --help` exits %d: %s" % (
                h.returncode, (h.stderr.strip().splitlines() or ["?"])[-1][:80])
    ort_na = None
    ortmod = os.path.join(BENCH, "node_modules", "onnxruntime-node")
    if not os.path.isdir(ortmod):
        ort_na = "onnxruntime-node not installed in bench/node_modules"
    else:
        c = subprocess.run(["node", "-e", "require(%s).InferenceSession" % json.dumps(ortmod)],
                           capture_output=True, text=True) if _which("node") else None
        if c is None or c.returncode != 0:
            ort_na = "onnxruntime-node does not load: %s" % (
                "node missing" if c is None else (c.stderr.strip().splitlines() or ["?"])[-1][:80])
    jl_na = None
    if subprocess.run([PY, "-c", "import joblib"], capture_output=True).returncode != 0:
        jl_na = "python3-joblib not installed"

    omp = a.ompredict
    peer = lambda s: os.path.join(BENCH, "peers", s)
    results = {"machine": machine_info(T), "runs": runs, "sections": []}
    md = ["# ompredict benchmark", "", machine_line(results["machine"], runs), "",
          "img/s (wall): images / wall time of the whole process tree, start-up and model load included. "
          "img/s (loop): the tool's own timing of its image loop, model load excluded (ompredict: its "
          "summary line, model load included). "
          "CPU: user+sys of the whole tree. Peak RSS: largest sampled sum over the tree's processes "
          "(50 ms sampling). Ratios > 1: ompredict faster. top1[0]: class of the first input (should "
          "agree across tools: same weights). Medians of %d run(s)." % runs, ""]

    def section(title, tools, tagp):
        log(title)
        md.extend(["## " + title, "", HEAD])
        rows = list(zip(tools, run_tools(tools, runs, logdir, a.timeout, tagp, log)))
        ref = rows[0][1] if rows and rows[0][0].kind == "ompredict" else None
        for t, r in rows:
            md.append(fmt_row(t.name, t.config, r, ref))
        md.append("")
        results["sections"].append({"title": title, "rows": [
            dict(tool=t.name, config=t.config, cmd=" ".join(shlex.quote(c) for c in t.cmd), **r) for t, r in rows]})
        return rows

    for m in models:
        ox = onnx[m]
        ox_na = ox if is_err(ox) else None
        pt_na = pt[m] if is_err(pt[m]) else None
        tools = [
            Tool("ompredict", "-j %d, .npy inputs" % T, [omp, "-m", ox, "-j", str(T), npy], "ompredict", n_small,
                 omp_na or ox_na),
            Tool("ONNX Runtime", "1 process, %d intra-op threads, batch 8" % T,
                 ["node", peer("ort_bench.js"), "--model", ox, "--npy-dir", npy, "--batch", "8", "--threads", str(T)],
                 "peer", n_small, ort_na or ox_na)]
        if not a.quick:
            tools.append(Tool("ONNX Runtime", "1 process, %d intra-op threads, batch 16" % T,
                              ["node", peer("ort_bench.js"), "--model", ox, "--npy-dir", npy, "--batch", "16",
                               "--threads", str(T)], "peer", n_small, ort_na or ox_na))
        tools += [
            Tool("ONNX Runtime", "%d single-threaded processes, batch 1" % T,
                 ["node", peer("ort_bench.js"), "--model", ox, "--npy-dir", npy, "--procs", str(T)],
                 "peer", n_small, ort_na or ox_na),
            Tool("PyTorch", "%d threads, batch 8" % T,
                 [PY, peer("torch_bench.py"), "infer", "--model", pt[m], "--npy-dir", npy, "--batch", "8",
                  "--threads", str(T)], "peer", n_small, pt_na)]
        section("%s: inference only (%d preprocessed tensors)" % (m, n_small), tools, "%s.infer" % m)

        sets = [("ImageNet-sized JPEGs (500x375)", small, n_small)]
        if m == models[0] and n_cam > 0:  # decode-bound: one model shows it
            sets.append(("camera-sized JPEGs (3000x2000)", camera, n_cam))
        for label, d, n in sets:
            jl_skip = "skipped in --quick: see %s" % models[0] if a.quick and m != models[0] else None
            tools = [
                Tool("ompredict", "-j %d, torchvision preset" % T, [omp, "-m", ox, "-j", str(T), d], "ompredict", n,
                     omp_na or ox_na),
                Tool("PyTorch + torchvision", "%d threads, batch 8, Pillow decode" % T,
                     [PY, peer("torch_bench.py"), "e2e", "--model", pt[m], "--dir", d, "--batch", "8",
                      "--threads", str(T)], "peer", n, pt_na),
                Tool("joblib/loky", "n_jobs=%d, model pickled to workers" % T,
                     [PY, peer("joblib_bench.py"), "--model", pt[m], "--dir", d, "--n-jobs", str(T)], "peer", n,
                     jl_na or pt_na or jl_skip)]
            if d == camera:  # the opt-in DCT-downscaled decode, where it matters (its ratio: default / it)
                tools.append(Tool("ompredict", "-j %d, --fast-jpeg (opt-in, not pixel-exact)" % T,
                                  [omp, "-m", ox, "-j", str(T), "--fast-jpeg", d], "ompredict", n, omp_na or ox_na))
            rows = section("%s: end to end, %d %s" % (m, n, label), tools, "%s.e2e.%s" % (m, d.rsplit("/", 1)[-1]))
            if m == models[0] and d == small:
                reuse = {"ompredict": rows[0][1], "joblib": rows[2][1]}

    # Scaling and memory on the first model, ImageNet-sized JPEGs.
    m = models[0]
    ox = onnx[m]
    steps = sorted({t for t in [1, 2, 4, 8, 16, 32, 64, 128] if t < T} | {T})
    log("thread scaling and memory (%s)" % m)
    # ompredict at every thread count, interleaved so that scaling is not a change of load; joblib's
    # n_jobs=T run is the end-to-end one above.
    okw = omp_na or (ox if is_err(ox) else None)
    jkw = jl_na or (pt[m] if is_err(pt[m]) else None)
    otools = [Tool("ompredict", "-j %d" % t, [omp, "-m", ox, "-j", str(t), small], "ompredict", n_small, okw)
              for t in steps]
    jtools = [Tool("joblib/loky", "n_jobs=%d" % t, [PY, peer("joblib_bench.py"), "--model", pt[m], "--dir", small,
                                                    "--n-jobs", str(t)], "peer", n_small, jkw)
              for t in steps if t != T]
    got = run_tools(otools + jtools, runs, logdir, a.timeout, "%s.scale" % m, log)
    scal = list(zip(steps, got[:len(steps)]))
    jmem = list(zip(steps, got[len(steps):] + [reuse["joblib"]]))

    md.extend(["## Thread scaling: ompredict, %s, %d ImageNet-sized JPEGs" % (m, n_small), "",
               "| threads | img/s (wall) | img/s (loop) | speed-up (loop) | parallel efficiency |",
               "|---|---|---|---|---|"])
    base = scal[0][1]
    for t, r in scal:
        if "error" in r:
            md.append("| %d | %s | | | |" % (t, na(r["error"])))
            continue
        ips = r["images"] / r["loop"]
        if "error" not in base:
            s = ips / (base["images"] / base["loop"])
            md.append("| %d | %.1f | %.1f | %.2f | %.0f%% |" % (t, r["images"] / r["wall"], ips, s, 100 * s / t))
        else:
            md.append("| %d | %.1f | %.1f | | |" % (t, r["images"] / r["wall"], ips))
    md.extend(["", "## Memory: peak RSS of the process tree, %s, %d ImageNet-sized JPEGs" % (m, n_small), "",
               "| threads / n_jobs | ompredict MiB | ompredict img/s (wall) | joblib/loky MiB | joblib img/s (wall) |",
               "|---|---|---|---|---|"])
    for (t, r), (_, j) in zip(scal, jmem):
        c = lambda x: (na(x["error"]), "") if "error" in x else (
            "%.0f" % (x["rss"] / 2**20), "%.1f" % (x["images"] / x["wall"]))
        md.append("| %d | %s | %s | %s | %s |" % ((t,) + c(r) + c(j)))
    md.append("")
    results["scaling"] = [dict(threads=t, **r) for t, r in scal]
    results["joblib_memory"] = [dict(n_jobs=t, **r) for t, r in jmem]
    md.append("Total benchmark time: %.0f s." % (time.time() - t_start))

    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(text)
    log("wrote %s" % os.path.join(a.out, "results.md"))
    return 0


def _which(prog):
    return any(os.access(os.path.join(d, prog), os.X_OK) for d in os.environ.get("PATH", "").split(":"))


def machine_info(threads):
    """The CPU as /proc/cpuinfo and sysfs describe it: the model name alone does not tell the core
    (a VM's "AMD EPYC" was a Zen 5 core in some sessions and a Zen 4 one, half as fast per cycle in
    FP32, in another)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                k, _, v = line.partition(":")
                fields[k.strip()] = v.strip()
    except OSError:
        pass
    cpu = fields.get("model name", "?")
    flags = fields.get("flags", "").split()
    simd = [name for flag, name in (("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"), ("amx_tile", "AMX"))
            if flag in flags] or (["AVX2"] if "avx2" in flags else [])
    caches = []
    for idx in range(8):
        d = "/sys/devices/system/cpu/cpu0/cache/index%d/" % idx
        try:
            with open(d + "level") as f:
                level = f.read().strip()
            with open(d + "type") as f:
                kind = f.read().strip()
            with open(d + "size") as f:
                size = f.read().strip()
        except OSError:
            break
        if kind != "Instruction":
            caches.append("L%s%s %s" % (level, "d" if kind == "Data" else "", size))
    detail = []
    if "cpu family" in fields:
        detail.append("%s family %s model %s" % (fields.get("vendor_id", "?"), fields["cpu family"],
                                                  fields.get("model", "?")))
    if simd:
        detail.append(", ".join(simd))
    if caches:
        detail.append(", ".join(caches))
    if detail:
        cpu += " (%s)" % "; ".join(detail)
    load = os.getloadavg()[0]
    return {"cpu": cpu, "threads": threads, "load1_at_start": load, "date": time.strftime("%Y-%m-%d %H:%M")}


def machine_line(mi, runs):
    return ("Machine: %s, %d CPUs used; 1-minute load average at start %.2f (other work on the machine "
            "skews every figure); %s." % (mi["cpu"], mi["threads"], mi["load1_at_start"], mi["date"]))


if __name__ == "__main__":
    sys.exit(main())
