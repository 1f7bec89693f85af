#!/usr/bin/env node
'use strict';
// ONNX Runtime latency of several models side by side (a benchmark, run on demand):
//   node bench_latency.js INPUT.npy [--batch B] [--runs N] [--rounds R] [--threads T] [--opt LEVEL] MODEL...
// Each model gets one session (CPU, graph optimizations LEVEL (default: ORT's, all), T intra-op
// threads, default 1)
// fed the first B rows of INPUT.npy; then R rounds each run every model N times in turn, round r
// starting at model r mod M, so drift of a shared machine and position in the order hit all models
// alike. Prints, per model, the median over all runs of the
// milliseconds per batch, its ratio to the first model's, and the session creation time (where
// constant folding happens), as one JSON object per line.
const ort = require('onnxruntime-node');
const { readNpy } = require('./npy');

function parse(argv) {
  const a = { batch: 1, runs: 50, rounds: 5, threads: 1, opt: 'all', models: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} needs a positive integer`);
      return v;
    };
    if (flag === '--batch') a.batch = num();
    else if (flag === '--runs') a.runs = num();
    else if (flag === '--rounds') a.rounds = num();
    else if (flag === '--threads') a.threads = num();
    else if (flag === '--opt') a.opt = argv[++i];
    else if (flag.startsWith('--')) throw new Error(`unknown option ${flag}`);
    else if (!a.input) a.input = flag;
    else a.models.push(flag);
  }
  if (!a.input || !a.models.length) throw new Error('usage: node bench_latency.js INPUT.npy [--batch B] [--runs N] [--rounds R] MODEL...');
  return a;
}

const median = (v) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const a = parse(process.argv.slice(2));
  const x = readNpy(a.input);
  if (x.shape[0] < a.batch) throw new Error(`${a.input} has ${x.shape[0]} rows, --batch is ${a.batch}`);
  const per = x.data.length / x.shape[0];
  const data = x.data.slice(0, a.batch * per);
  const shape = [a.batch, ...x.shape.slice(1)];
  const entries = [];
  for (const model of a.models) {
    const t0 = process.hrtime.bigint();
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: a.threads, graphOptimizationLevel: a.opt, logSeverityLevel: 3 });
    const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, shape) };
    for (let w = 0; w < 3; w++) await session.run(feeds);  // warm-up
    entries.push({ model, session, feeds, loadMs, times: [] });
  }
  for (let r = 0; r < a.rounds; r++)
    for (let k = 0; k < entries.length; k++) {
      const e = entries[(r + k) % entries.length];
      for (let i = 0; i < a.runs; i++) {
        const t0 = process.hrtime.bigint();
        await e.session.run(e.feeds);
        e.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
  const base = median(entries[0].times);
  for (const e of entries) {
    const ms = median(e.times);
    console.log(JSON.stringify({ model: e.model, batch: a.batch, threads: a.threads, opt: a.opt, runs: e.times.length,
      median_ms: Number(ms.toFixed(4)), ratio: Number((ms / base).toFixed(3)), load_ms: Number(e.loadMs.toFixed(1)) }));
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(2);
});
