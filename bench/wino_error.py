#!/usr/bin/python3
"""bench/wino_error.py: where Winograd F(4x4, 3x3) loses accuracy in float32, by simulation.

One 3x3 layer (post-ReLU-like inputs, He-scaled weights) is computed in float64 (the reference), as a
float32 direct convolution summed sequentially over channels and taps, and as float32 Winograd with
the interpolation points of src/engine/conv_winograd.c, with each stage optionally exact (float64):
the input transform, the transformed-domain GEMM (the sum over channels) and the output transform.
Then the GEMM's sum in blocks of B channels, each block summed from zero (what conv_winograd.c does
with WKC = 64). Errors are max |got - ref| / max |ref| and the RMS, both over the whole output.

Usage: bench/wino_error.py [C ...]      (default 64 256 512; numpy only, a minute or two)
"""
import sys
from fractions import Fraction as Fr

import numpy as np

POINTS = [0, 1, -1, Fr(1, 2), -2]  # + infinity


def matrices(points):
    """Toom-Cook F(4, 3) on the given 5 finite points and infinity: A^T (4x6), G (6x3), B^T (6x6)."""
    m, r = 4, 3
    p = [Fr(x) for x in points]
    a = [[x ** j for j in range(m)] for x in p] + [[0] * (m - 1) + [1]]
    g = []
    for i, x in enumerate(p):
        den = Fr(1)
        for k, y in enumerate(p):
            if k != i:
                den *= x - y
        g.append([x ** j / den for j in range(r)])
    g.append([0] * (r - 1) + [1])

    def poly(roots):  # ascending coefficients of prod (t - root)
        c = [Fr(1)]
        for q in roots:
            c = [Fr(0)] + c
            for t in range(len(c) - 1):
                c[t] -= q * c[t + 1]
        return c

    bt = [poly([y for k, y in enumerate(p) if k != i]) + [Fr(0)] for i in range(len(p))]
    bt.append(poly(p))
    f = lambda mm: np.array([[float(v) for v in row] for row in mm])
    return f(a).T, f(g), f(bt)


def layer(C, K=32, T=32, seed=0):
    rng = np.random.default_rng(seed)
    d = np.maximum(rng.standard_normal((C, T, 6, 6)), 0).astype(np.float32)
    g = (rng.standard_normal((K, C, 3, 3)) * np.sqrt(2 / (9 * C))).astype(np.float32)
    win = np.lib.stride_tricks.sliding_window_view(d.astype(np.float64), (3, 3), axis=(2, 3))
    ref = np.einsum('ctabij,kcij->ktab', win, g.astype(np.float64))
    return d, g, win, ref


def err(y, ref):
    s = np.abs(ref).max()
    return np.abs(y - ref).max() / s, np.sqrt(np.mean((y - ref) ** 2)) / s


def direct32(g, win):
    K, C = g.shape[:2]
    y = np.zeros((K,) + win.shape[1:4], np.float32)
    w32 = win.astype(np.float32)
    for c in range(C):
        for i in range(3):
            for j in range(3):
                y += g[:, c, i, j][:, None, None, None] * w32[c][None, :, :, :, i, j]
    return y


def wino(d, g, exact_in=False, exact_gemm=False, exact_out=False, block=None):
    at, gm, bt = matrices(POINTS)
    K, C = g.shape[:2]
    u = np.einsum('xi,kcij,yj->kcxy', gm, g.astype(np.float64), gm).astype(np.float32)
    if exact_in:
        v = np.einsum('xi,ctij,yj->ctxy', bt, d.astype(np.float64), bt).astype(np.float32)
    else:
        t = np.einsum('xi,ctij->ctxj', bt.astype(np.float32), d).astype(np.float32)
        v = np.einsum('ctxj,yj->ctxy', t, bt.astype(np.float32)).astype(np.float32)
    if exact_gemm:
        m = np.einsum('kcxy,ctxy->ktxy', u.astype(np.float64), v.astype(np.float64))
    else:
        block = block or C
        m = np.zeros((K, d.shape[1], 6, 6), np.float32)
        for c0 in range(0, C, block):
            part = np.zeros_like(m)
            for c in range(c0, min(C, c0 + block)):  # sequential, as the micro-kernel's FMA chain
                part += u[:, c][:, None] * v[c][None]
            m += part
    if exact_out:
        return np.einsum('ax,ktxy,by->ktab', at, m.astype(np.float64), at)
    at32 = at.astype(np.float32)
    s = np.einsum('ax,ktxy->ktay', at32, m.astype(np.float32)).astype(np.float32)
    return np.einsum('ktay,by->ktab', s, at32).astype(np.float32)


def main():
    cs = [int(a) for a in sys.argv[1:]] or [64, 256, 512]
    print('%-6s %-34s %10s %10s' % ('C', 'variant', 'max', 'rms'))
    for C in cs:
        d, g, win, ref = layer(C)
        rows = [('direct float32 (sequential)', direct32(g, win)),
                ('winograd float32', wino(d, g)),
                ('  input transform exact', wino(d, g, exact_in=True)),
                ('  GEMM exact', wino(d, g, exact_gemm=True)),
                ('  output transform exact', wino(d, g, exact_out=True))]
        rows += [('  GEMM in blocks of %d' % b, wino(d, g, block=b)) for b in (128, 64, 32) if b < C]
        for name, y in rows:
            e = err(y, ref)
            print('%-6d %-34s %10.2e %10.2e' % (C, name, e[0], e[1]))


if __name__ == '__main__':
    main()
