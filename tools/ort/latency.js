#!/usr/bin/env node
'use strict';
// ONNX Runtime (CPU) latency of several models side by side, a benchmark run on demand
// (tools/bench_formats.sh, tools/layer_latency.py and docs/BENCHMARKS.md use it):
//   node latency.js [--input X.npy | --shape C,H,W] [--batch B] [--threads T] [--reps R] [--runs N]
//                   [--opt LEVEL] MODEL...
// Each model gets one session (graph optimizations LEVEL: ORT's default `all`, or disabled,
// basic, extended; T intra-op threads, default 1), fed the first B rows of X.npy or, without
// --input, a fixed pseudo-random batch in [0, 1) of shape (B, C, H, W) (--shape; default: the
// first model's input dims, which must then be fixed). After 3 warm-up runs each, R rounds
// (default 30) run every model N times (default 1) in turn, round r starting at model r mod M, so
// that drift of a shared machine and position in the order hit all models alike.
// Prints one JSON line: {"batch", "threads", "opt", "reps", "runs", "models": [{"path", "median_ms",
// "ratio", "min_ms", "samples", "load_ms"}]}; ratio = median / the first model's median; load_ms is
// the session creation time (where ORT constant-folds, e.g. the packed format's decoders).
const ort = require('onnxruntime-node');
const { readNpy } = require('./npy');

const USAGE = 'usage: node latency.js [--input X.npy | --shape C,H,W] [--batch B] [--threads T] [--reps R] [--runs N] [--opt LEVEL] MODEL...';

function usage(msg) {
  console.error(`latency.js: ${msg}\n${USAGE}`);
  process.exit(2);
}

function parse(argv) {
  const a = { batch: 1, threads: 1, reps: 30, runs: 1, opt: 'all', shape: null, input: null, models: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const int = () => {
      const v = argv[++i];
      if (!/^\d+$/.test(v || '') || Number(v) < 1) usage(`${flag} needs an integer >= 1`);
      return Number(v);
    };
    if (flag === '--batch') a.batch = int();
    else if (flag === '--threads') a.threads = int();
    else if (flag === '--reps' || flag === '--rounds') a.reps = int();
    else if (flag === '--runs') a.runs = int();
    else if (flag === '--opt') a.opt = argv[++i];
    else if (flag === '--input') a.input = argv[++i];
    else if (flag === '--shape') a.shape = (argv[++i] || '').split(',').map(Number);
    else if (flag.startsWith('--')) usage(`unknown option ${flag}`);
    else a.models.push(flag);
  }
  if (!a.models.length) usage('no model given');
  if (!['disabled', 'basic', 'extended', 'all'].includes(a.opt)) usage(`--opt ${a.opt}: disabled, basic, extended or all`);
  if (a.input && a.shape) usage('--input and --shape exclude each other');
  return a;
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// The batch every model is fed: rows of --input, or the fixed pseudo-random one.
function batchInput(a, firstSession) {
  if (a.input) {
    const x = readNpy(a.input);
    if (x.shape[0] < a.batch) usage(`${a.input} has ${x.shape[0]} rows, --batch is ${a.batch}`);
    const per = x.data.length / x.shape[0];
    return { data: Float32Array.from(x.data.subarray(0, a.batch * per)), shape: [a.batch, ...x.shape.slice(1)] };
  }
  let dims = a.shape;
  if (!dims) {
    const meta = firstSession.inputMetadata && firstSession.inputMetadata[0];
    dims = meta && meta.shape ? meta.shape.slice(1) : null;
    if (!dims || dims.some((d) => typeof d !== 'number' || d < 1)) usage('the input has dynamic dims; give --shape or --input');
  }
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) usage('bad --shape');
  const shape = [a.batch, ...dims];
  const data = new Float32Array(shape.reduce((x, y) => x * y, 1));
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = s / 2147483648;
  }
  return { data, shape };
}

async function main() {
  const a = parse(process.argv.slice(2));
  const opts = { intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: a.opt,
                 logSeverityLevel: 3 };
  const entries = [];
  for (const path of a.models) {
    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(path, opts);
    entries.push({ path, session, loadMs: Number(process.hrtime.bigint() - t0) / 1e6, times: [] });
  }
  const { data, shape } = batchInput(a, entries[0].session);
  for (const e of entries) e.feeds = { [e.session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
  for (let w = 0; w < 3; w++) for (const e of entries) await e.session.run(e.feeds);
  for (let r = 0; r < a.reps; r++)
    for (let k = 0; k < entries.length; k++) {
      const e = entries[(r + k) % entries.length];
      for (let i = 0; i < a.runs; i++) {
        const t0 = process.hrtime.bigint();
        await e.session.run(e.feeds);
        e.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
  const base = median(entries[0].times);
  const models = entries.map((e) => ({ path: e.path, median_ms: median(e.times), ratio: median(e.times) / base,
                                       min_ms: Math.min(...e.times), samples: e.times.length, load_ms: e.loadMs }));
  console.log(JSON.stringify({ batch: a.batch, threads: a.threads, opt: a.opt, reps: a.reps, runs: a.runs, models }));
}

main().catch((e) => {
  console.error(`latency.js: ${e.message.split('\n')[0]}`);
  process.exit(2);
});
