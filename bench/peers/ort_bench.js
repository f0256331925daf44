#!/usr/bin/env node
// ort_bench.js: the ONNX Runtime peer (onnxruntime-node from bench/node_modules), inference only.
//
//   node ort_bench.js --model M.onnx --npy-dir D [--batch B] [--threads T]
//       one process, intra-op threads T, the .npy tensors of D (float32 [3,H,W]) in batches of B
//   node ort_bench.js --model M.onnx --npy-dir D --procs P
//       P single-threaded worker processes (forked here, so one process tree), each running its
//       contiguous share of the files one image at a time; they load their model and tensors, wait
//       until all have, and start together (loop_s: first start to last end)
// The last line on stdout is JSON: images, load_s, loop_s (for --procs: first start to last end).
'use strict';
const fs = require('fs');
const path = require('path');
const { fork } = require('child_process');

function parseArgs(argv) {
  const a = { batch: 8, threads: 1, procs: 0, shard: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    if (k === '--model') { a.model = v; i++; }
    else if (k === '--npy-dir') { a.npyDir = v; i++; }
    else if (k === '--batch') { a.batch = parseInt(v, 10); i++; }
    else if (k === '--threads') { a.threads = parseInt(v, 10); i++; }
    else if (k === '--procs') { a.procs = parseInt(v, 10); i++; }
    else if (k === '--shard') { a.shard = v.split('/').map(Number); i++; }
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.model || !a.npyDir) throw new Error('--model and --npy-dir are required');
  return a;
}

// Minimal .npy reader: format 1.x/2.x, little-endian float32, C order.
function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.length < 10 || b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const hoff = major === 1 ? 10 : 12;
  const header = b.toString('latin1', hoff, hoff + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: expected little-endian float32 in C order, header ${header.trim()}`);
  const m = /'shape':\s*\(([^)]*)\)/.exec(header);
  const shape = m[1].split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const data = b.subarray(hoff + hlen);
  // Copy into an aligned Float32Array (the Buffer's offset may not be a multiple of 4).
  const f = new Float32Array(data.length / 4);
  new Uint8Array(f.buffer).set(data);
  return { shape, data: f };
}

function listNpy(dir) {
  return fs.readdirSync(dir).filter(f => f.endsWith('.npy')).sort().map(f => path.join(dir, f));
}

function nowS() { return (performance.timeOrigin + performance.now()) / 1000; }

async function runOne(a, files) {
  const ort = require(path.join(__dirname, '..', 'node_modules', 'onnxruntime-node'));
  const t0 = nowS();
  const sess = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all' });
  const load_s = nowS() - t0;
  const inName = sess.inputNames[0], outName = sess.outputNames[0];
  const tensors = files.map(readNpy);  // read before timing: this peer measures inference only
  if (tensors.length) {
    // one untimed run first: ONNX Runtime's first runs of a session are several times slower
    // (allocations, kernel set-up), which a short timed loop would otherwise mostly measure
    const per = tensors[0].data.length, nb = Math.min(a.batch, tensors.length);
    const x = new Float32Array(per * nb);
    for (let j = 0; j < nb; j++) x.set(tensors[j].data, j * per);
    await sess.run({ [inName]: new ort.Tensor('float32', x, [nb, ...tensors[0].shape]) });
  }
  if (a.shard && process.send) {
    // a --procs worker: all workers load first, then start together, so the span first start ->
    // last end is the time they ran side by side (staggered starts made it up to twice too long)
    process.send({ ready: true });
    await new Promise(resolve => process.once('message', resolve));
  }
  let top1_0 = -1;
  const start = nowS();
  for (let i = 0; i < tensors.length; i += a.batch) {
    const chunk = tensors.slice(i, i + a.batch);
    const per = chunk[0].data.length;
    const x = new Float32Array(per * chunk.length);
    chunk.forEach((t, j) => x.set(t.data, j * per));
    const out = await sess.run({ [inName]: new ort.Tensor('float32', x, [chunk.length, ...chunk[0].shape]) });
    if (i === 0) {
      const y = out[outName].data, n = out[outName].dims[1];
      let best = 0;
      for (let c = 1; c < n; c++) if (y[c] > y[best]) best = c;
      top1_0 = best;
    }
  }
  const end = nowS();
  return { images: tensors.length, load_s, loop_s: end - start, start, end, top1_0 };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let files = listNpy(a.npyDir);
  if (!files.length) throw new Error(`no .npy files in ${a.npyDir}`);
  if (a.procs > 0) {
    const children = [];
    let ready = 0;
    const results = await Promise.all([...Array(a.procs).keys()].map(k => new Promise((resolve, reject) => {
      const child = fork(__filename, ['--model', a.model, '--npy-dir', a.npyDir, '--batch', '1',
                                      '--threads', '1', '--shard', `${k}/${a.procs}`], { silent: true });
      children.push(child);
      // barrier: the go goes out when every worker has loaded its model and tensors
      child.on('message', () => { if (++ready === a.procs) children.forEach(c => c.send('go')); });
      let out = '';
      child.stdout.on('data', d => { out += d; });
      child.stderr.on('data', d => process.stderr.write(d));
      child.on('exit', code => {
        if (code !== 0) return reject(new Error(`worker ${k} exited with ${code}`));
        const lines = out.trim().split('\n');
        resolve(JSON.parse(lines[lines.length - 1]));
      });
    })));
    const start = Math.min(...results.map(r => r.start)), end = Math.max(...results.map(r => r.end));
    console.log(JSON.stringify({ images: results.reduce((s, r) => s + r.images, 0),
      load_s: Math.max(...results.map(r => r.load_s)), loop_s: end - start, procs: a.procs,
      top1_0: results[0].top1_0 }));
    return;
  }
  if (a.shard) {  // contiguous block k of n: [floor(k*len/n), floor((k+1)*len/n))
    const [k, n] = a.shard, len = files.length;
    files = files.slice(Math.floor(k * len / n), Math.floor((k + 1) * len / n));
  }
  console.log(JSON.stringify(await runOne(a, files)));
}

main().catch(e => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
