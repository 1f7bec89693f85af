#!/usr/bin/env node
'use strict';
// Reference ONNX Runtime (CPU) runner for qcp tests and benchmarks. Run `--help` for usage.
//
// Setup: `cd tools/ort && npm ci` (.npmrc there sets ignore-scripts: the package's postinstall
// only downloads optional CUDA/TensorRT providers, which fails offline). The CPU runtime ships
// inside the npm tarball:
//   node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node
//   node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
// The binding finds libonnxruntime.so.1 through RUNPATH=$ORIGIN, so no LD_LIBRARY_PATH is needed.

const fs = require('fs');
const path = require('path');
const { readNpy, writeNpy, DTYPES, ORT_TO_DESCR } = require('./npy');

const USAGE = `usage:
  node ort_run.js MODEL.onnx OUT_DIR [--input NAME=FILE.npy]... [--threads N] [--opt LEVEL]
      run once; write OUT_DIR/<output>.npy for every output and OUT_DIR/outputs.json
  node ort_run.js MODEL.onnx [OUT_DIR] --bench COUNT [--batch B] --input [NAME=]FILE.npy [--threads N]
      time COUNT samples fed in batches of B (default 1) from the first input; print JSON
  node ort_run.js MODEL.onnx OUT_DIR --argmax FILE.npy [--batch B] [--threads N]
      write OUT_DIR/argmax.npy: int64 argmax of the first output per sample (B default 256)
options:
  --input [NAME=]FILE.npy  without NAME=, files are matched to model inputs in order
  --threads N              intraOpNumThreads (default 1; 0 lets ORT choose)
  --opt LEVEL              graphOptimizationLevel: disabled|basic|extended|all (default all)
  --optimized FILE.onnx    also save the model as ORT optimized it (which fused kernels it chose)`;

class UsageError extends Error {}

function parseArgs(argv) {
  const a = { positional: [], inputs: [], threads: 1, opt: 'all', bench: null, batch: null, argmax: null, optimized: null };
  const intArg = (flag, v, min) => {
    if (!/^\d+$/.test(v || '') || Number(v) < min) throw new UsageError(`${flag} needs an integer >= ${min}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '-h' || arg === '--help') { a.help = true; }
    else if (arg === '--input') a.inputs.push(val());
    else if (arg === '--threads') a.threads = intArg(arg, val(), 0);
    else if (arg === '--opt') {
      a.opt = val();
      if (!['disabled', 'basic', 'extended', 'all'].includes(a.opt)) throw new UsageError(`bad --opt ${a.opt}`);
    } else if (arg === '--bench') a.bench = intArg(arg, val(), 1);
    else if (arg === '--batch') a.batch = intArg(arg, val(), 1);
    else if (arg === '--argmax') a.argmax = val();
    else if (arg === '--optimized') a.optimized = val();
    else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    else a.positional.push(arg);
  }
  if (a.help) return a;
  if (a.bench !== null && a.argmax !== null) throw new UsageError('--bench and --argmax are exclusive');
  const need = a.bench !== null ? [1, 2] : [2, 2];
  if (a.positional.length < need[0] || a.positional.length > need[1]) throw new UsageError('expected MODEL.onnx OUT_DIR');
  [a.model, a.outDir] = a.positional;
  return a;
}

// Maps --input args to model input names. "NAME=FILE" only counts as named when NAME is a
// real input, so file paths that contain '=' still work positionally.
function resolveInputs(specs, inputNames) {
  const feeds = new Map();
  let next = 0;
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    let name, file;
    if (eq > 0 && inputNames.includes(spec.slice(0, eq))) [name, file] = [spec.slice(0, eq), spec.slice(eq + 1)];
    else {
      while (next < inputNames.length && feeds.has(inputNames[next])) next++;
      if (next >= inputNames.length) throw new Error(`--input ${spec}: no such model input (inputs: ${inputNames.join(', ')})`);
      [name, file] = [inputNames[next], spec];
    }
    if (feeds.has(name)) throw new Error(`input ${name} given twice`);
    feeds.set(name, file);
  }
  return feeds;
}

function toTensor(ort, meta, arr, file) {
  const type = DTYPES[arr.dtype][1];
  if (meta && meta.isTensor && meta.type !== type) {
    throw new Error(`input ${meta.name}: model expects ${meta.type}, ${file} holds ${type}`);
  }
  return new ort.Tensor(type, arr.data, arr.shape);
}

// Rows [start, start+rows) of a (N, ...) array, wrapping past N; zero rows pad up to padTo.
// Returns a view (no copy) when possible: that keeps the benchmark loop free of memcpy.
function takeRows(arr, start, rows, padTo) {
  const n = arr.shape[0];
  const per = arr.data.length / n;
  if (start + rows <= n && rows === padTo) return arr.data.subarray(start * per, (start + rows) * per);
  const out = new arr.data.constructor(padTo * per);
  for (let r = 0; r < rows; r++) {
    const s = ((start + r) % n) * per;
    out.set(arr.data.subarray(s, s + per), r * per);
  }
  return out;
}

// Fixed (numeric) leading dimension of an input, or null when it is symbolic/unknown.
function fixedBatch(meta) {
  const d = meta && meta.isTensor && meta.shape.length ? meta.shape[0] : null;
  return typeof d === 'number' && d > 0 ? d : null;
}

function sanitize(name, used) {
  let base = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_') || '_';
  let file = base;
  for (let k = 1; used.has(file.toLowerCase()); k++) file = `${base}_${k}`;
  used.add(file.toLowerCase());
  return file + '.npy';
}

async function runOnce(ort, session, args) {
  const files = resolveInputs(args.inputs, session.inputNames);
  const missing = session.inputNames.filter((n) => !files.has(n));
  if (missing.length) throw new Error(`missing --input for: ${missing.join(', ')}`);
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    feeds[name] = toTensor(ort, session.inputMetadata[i], readNpy(files.get(name)), files.get(name));
  });
  const result = await session.run(feeds);
  fs.mkdirSync(args.outDir, { recursive: true });
  const used = new Set(['outputs']);
  const listing = session.outputNames.map((name) => {
    const t = result[name];
    const descr = t && ORT_TO_DESCR[t.type];
    if (!descr) throw new Error(`output ${name}: unsupported type ${t ? t.type : 'non-tensor'}`);
    const file = sanitize(name, used);
    writeNpy(path.join(args.outDir, file), descr, t.dims, t.data);
    return { name, file, dtype: t.type, descr, shape: Array.from(t.dims) };
  });
  fs.writeFileSync(path.join(args.outDir, 'outputs.json'), `[\n  ${listing.map((o) => JSON.stringify(o)).join(',\n  ')}\n]\n`);
}

// Shared by --bench and --argmax: the one model input is fed from `arr` in batches.
function batchPlan(session, arr, batchArg, dflt) {
  if (session.inputNames.length !== 1) {
    throw new Error(`batched modes need a model with exactly one input (has ${session.inputNames.length})`);
  }
  if (arr.shape.length < 1 || arr.shape[0] < 1) throw new Error('batched input needs shape (N, ...) with N >= 1');
  const fixed = fixedBatch(session.inputMetadata[0]);
  // A model exported with a fixed batch can only take exactly that many rows per run.
  const batch = batchArg !== null ? batchArg : fixed !== null ? fixed : dflt;
  if (fixed !== null && batch !== fixed) throw new Error(`model input has fixed batch ${fixed}, --batch is ${batch}`);
  return { batch, pad: fixed !== null };
}

async function runBench(ort, session, args) {
  if (args.inputs.length !== 1) throw new Error('--bench needs exactly one --input');
  const file = resolveInputs(args.inputs, session.inputNames).values().next().value;
  const arr = readNpy(file);
  const { batch, pad } = batchPlan(session, arr, args.batch, 1);
  const name = session.inputNames[0];
  const meta = session.inputMetadata[0];
  const makeFeed = (start, rows) => {
    const sub = { dtype: arr.dtype, shape: [pad ? batch : rows, ...arr.shape.slice(1)] };
    sub.data = takeRows(arr, start % arr.shape[0], rows, sub.shape[0]);
    return { [name]: toTensor(ort, meta, sub, file) };
  };
  await session.run(makeFeed(0, Math.min(batch, args.bench))); // warm-up, not timed
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < args.bench; done += batch) {
    await session.run(makeFeed(done, Math.min(batch, args.bench - done)));
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(JSON.stringify({
    samples: args.bench, seconds, samples_per_second: args.bench / seconds, threads: args.threads,
  }) + '\n');
}

async function runArgmax(ort, session, args) {
  const arr = readNpy(args.argmax);
  const { batch, pad } = batchPlan(session, arr, args.batch, 256);
  const n = arr.shape[0];
  const name = session.inputNames[0];
  const outName = session.outputNames[0];
  const result = new BigInt64Array(n);
  for (let start = 0; start < n; start += batch) {
    const rows = Math.min(batch, n - start);
    const sub = { dtype: arr.dtype, shape: [pad ? batch : rows, ...arr.shape.slice(1)] };
    sub.data = takeRows(arr, start, rows, sub.shape[0]);
    const out = (await session.run({ [name]: toTensor(ort, session.inputMetadata[0], sub, args.argmax) }))[outName];
    if (!out || !out.dims.length || out.dims[0] !== sub.shape[0]) {
      throw new Error(`output ${outName} has shape [${out ? out.dims : ''}], expected leading dim ${sub.shape[0]}`);
    }
    const per = out.data.length / out.dims[0];
    for (let r = 0; r < rows; r++) {
      // First maximum wins and NaN counts as the maximum, as in numpy.argmax.
      let best = 0;
      const o = r * per;
      for (let j = 1; j < per && out.data[o + best] === out.data[o + best]; j++) {
        const v = out.data[o + j];
        if (v > out.data[o + best] || v !== v) best = j;
      }
      result[start + r] = BigInt(best);
    }
  }
  fs.mkdirSync(args.outDir, { recursive: true });
  writeNpy(path.join(args.outDir, 'argmax.npy'), '<i8', [n], result);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) { process.stdout.write(USAGE + '\n'); return; }
  if (!fs.existsSync(args.model)) throw new Error(`model not found: ${args.model}`);
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    throw new Error(`cannot load onnxruntime-node (run: cd ${__dirname} && npm ci): ${e.message}`);
  }
  ort.env.logLevel = 'error'; // keep stderr to our one-line errors
  const session = await ort.InferenceSession.create(args.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: args.opt,
    logSeverityLevel: 3,
    ...(args.optimized ? { optimizedModelFilePath: args.optimized } : {}),
  });
  if (args.bench !== null) await runBench(ort, session, args);
  else if (args.argmax !== null) await runArgmax(ort, session, args);
  else await runOnce(ort, session, args);
}

main().catch((e) => {
  const msg = String(e && e.message ? e.message : e).replace(/\s*\n\s*/g, ' ').trim();
  process.stderr.write(`ort_run: ${msg}${e instanceof UsageError ? ' (see --help)' : ''}\n`);
  process.exit(2);
});
