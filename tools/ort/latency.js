#!/usr/bin/env node
'use strict';
// ONNX Runtime (CPU, default graph optimizations) latency of several models on the same random
// input, runs interleaved (model 1, 2, …, 1, 2, …) so that drift hits all alike. A benchmark, run
// on demand (tools/layer_latency.py and docs/BENCHMARKS.md use it).
//   node latency.js [--batch B] [--threads T] [--reps N] [--shape C,H,W] MODEL...
// Prints one JSON line: {"batch", "threads", "reps", "models": [{"path", "median_ms", "ratio", "min_ms"}]},
// ratio = median / the first model's median. --shape: the input's dims after the batch (default:
// the first model's input dims, which must then be fixed).
const ort = require('onnxruntime-node');

function usage(msg) {
  console.error(`latency.js: ${msg}\nusage: node latency.js [--batch B] [--threads T] [--reps N] [--shape C,H,W] MODEL...`);
  process.exit(2);
}

async function main() {
  const a = { batch: 1, threads: 1, reps: 30, shape: null, models: [] };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const int = () => {
      const v = argv[++i];
      if (!/^\d+$/.test(v || '') || Number(v) < 1) usage(`${argv[i - 1]} needs an integer >= 1`);
      return Number(v);
    };
    if (argv[i] === '--batch') a.batch = int();
    else if (argv[i] === '--threads') a.threads = int();
    else if (argv[i] === '--reps') a.reps = int();
    else if (argv[i] === '--shape') a.shape = (argv[++i] || '').split(',').map(Number);
    else if (argv[i].startsWith('--')) usage(`unknown option ${argv[i]}`);
    else a.models.push(argv[i]);
  }
  if (!a.models.length) usage('no model given');
  const opts = { intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential' };
  const sessions = [];
  for (const m of a.models) sessions.push(await ort.InferenceSession.create(m, opts));
  let dims = a.shape;
  if (!dims) {
    const meta = sessions[0].inputMetadata && sessions[0].inputMetadata[0];
    dims = meta && meta.shape ? meta.shape.slice(1) : null;
    if (!dims || dims.some((d) => typeof d !== 'number' || d < 1)) usage('the input has dynamic dims; give --shape');
  }
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) usage('bad --shape');
  const shape = [a.batch, ...dims];
  const n = shape.reduce((x, y) => x * y, 1);
  const data = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 2147483648;
  }
  const feeds = sessions.map((x) => ({ [x.inputNames[0]]: new ort.Tensor('float32', data, shape) }));
  for (let w = 0; w < 3; w++) for (let k = 0; k < sessions.length; k++) await sessions[k].run(feeds[k]);
  const times = sessions.map(() => []);
  for (let r = 0; r < a.reps; r++) {
    for (let k = 0; k < sessions.length; k++) {
      const t = process.hrtime.bigint();
      await sessions[k].run(feeds[k]);
      times[k].push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
  const base = median(times[0]);
  const models = a.models.map((p, k) => ({ path: p, median_ms: median(times[k]), ratio: median(times[k]) / base,
                                           min_ms: Math.min(...times[k]) }));
  console.log(JSON.stringify({ batch: a.batch, threads: a.threads, reps: a.reps, models }));
}

main().catch((e) => {
  console.error(`latency.js: ${e.message.split('\n')[0]}`);
  process.exit(2);
});
