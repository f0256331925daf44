#!/usr/bin/env node
// ort_profile.js: ONNX Runtime's own per-node profile (onnxruntime-node from bench/node_modules).
//
//   node ort_profile.js MODEL.onnx RUNS THREADS OUT_PREFIX
//
// One session (graph optimizations on, as in the timing runs), RUNS runs on one fixed input of shape
// ORT_PROFILE_SHAPE (default 1,3,224,224); ONNX Runtime writes its Chrome-trace JSON profile to
// OUT_PREFIX_<date>.json. bench/layers_vs_ort.py reads it.
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));

(async () => {
  const [model, runs, threads, prefix] = process.argv.slice(2);
  if (!model || !prefix) throw new Error('usage: ort_profile.js MODEL.onnx RUNS THREADS OUT_PREFIX');
  const s = await ort.InferenceSession.create(model, {
    intraOpNumThreads: parseInt(threads, 10), interOpNumThreads: 1, enableProfiling: true,
    profileFilePrefix: prefix, graphOptimizationLevel: 'all',
  });
  const feeds = {};
  for (const name of s.inputNames) {
    // onnxruntime-node does not expose input shapes; the bench models take [1,3,224,224] unless
    // the caller says otherwise
    const dims = (process.env.ORT_PROFILE_SHAPE || '1,3,224,224').split(',').map(Number);
    const n = dims.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = Math.sin(i * 0.37);
    feeds[name] = new ort.Tensor('float32', x, dims);
  }
  for (let i = 0; i < parseInt(runs, 10); i++) await s.run(feeds);
  s.endProfiling(); // writes OUT_PREFIX_<date>.json
})().catch(e => { console.error(`ort_profile.js: ${e.message}`); process.exit(1); });
