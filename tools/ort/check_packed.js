#!/usr/bin/env node
'use strict';
// Checks qcp's packed weight format in ONNX Runtime, one case per NAME:
//   node check_packed.js INPUT.npy DIR [--rtol R] [--atol A] NAME...
// reads DIR/NAME.packed.onnx, DIR/NAME.float.onnx (the same compression written as float32) and
// DIR/NAME.qcp.npy (qcp's engine on the packed file) and requires that
//   - ORT's output of the packed file is bit-identical to the float file's (the decoder gives
//     exactly the dequantized weights) and within qcp's engine's output: per sample
//     ‖ort − qcp‖ ≤ R·‖qcp‖ + A·√n (R = 1e-5, A = 0 by default; a model whose output is ~0, as a
//     detector that compression broke, needs A);
//   - after ORT's basic optimizations (constant folding), the packed graph has the same ops as
//     the float graph: the decoder is folded at load and costs nothing per run;
// and prints both file sizes (on these tiny fixtures the decoder's few hundred bytes per weight
// can outweigh the saving; docs/BENCHMARKS.md measures real models).
// Prints one line per case; exits 1 when any check fails.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy } = require('./npy');
const { opCounts } = require('./onnx_ops');


async function run(model, x, level, optimized) {
  const opts = { graphOptimizationLevel: level, intraOpNumThreads: 1, logSeverityLevel: 3 };
  if (optimized) opts.optimizedModelFilePath = optimized;
  const session = await ort.InferenceSession.create(model, opts);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  const out = await session.run(feeds);
  return out[session.outputNames[0]].data;
}

// The worst per-sample relative error, and whether every sample is within the tolerance.
function compare(got, want, samples, tol) {
  const per = want.length / samples;
  let worst = 0;
  let ok = true;
  for (let s = 0; s < samples; s++) {
    let e = 0;
    let r = 0;
    for (let i = s * per; i < (s + 1) * per; i++) {
      e += (got[i] - want[i]) ** 2;
      r += want[i] ** 2;
    }
    worst = Math.max(worst, Math.sqrt(e) / Math.max(Math.sqrt(r), 1e-30));
    ok = ok && Math.sqrt(e) <= tol.rtol * Math.sqrt(r) + tol.atol * Math.sqrt(per);
  }
  return { worst, ok };
}

async function check(dir, name, x, tol) {
  const file = (kind) => path.join(dir, `${name}.${kind}`);
  const problems = [];
  const packed = await run(file('packed.onnx'), x, 'all');
  const float = await run(file('float.onnx'), x, 'all');
  const differing = packed.reduce((n, v, i) => n + (Object.is(v, float[i]) ? 0 : 1), 0);
  if (differing) problems.push(`${differing} outputs differ from the float file`);
  const { worst: rel, ok } = compare(packed, readNpy(file('qcp.npy')).data, x.shape[0], tol);
  if (!ok) problems.push(`relative error ${rel.toExponential(3)} against qcp's engine`);
  await run(file('packed.onnx'), x, 'basic', file('packed.basic.onnx'));
  await run(file('float.onnx'), x, 'basic', file('float.basic.onnx'));
  const sorted = (counts) => JSON.stringify(Object.keys(counts).sort().map((k) => [k, counts[k]]));
  const ops = sorted(opCounts(file('packed.basic.onnx')));
  const want = sorted(opCounts(file('float.basic.onnx')));
  if (ops !== want) problems.push(`not folded: ${ops} after basic optimization, float has ${want}`);
  const bytes = fs.statSync(file('packed.onnx')).size;
  const floatBytes = fs.statSync(file('float.onnx')).size;
  const summary = `${bytes} bytes (float ${floatBytes}), rel. error vs qcp ${rel.toExponential(2)}`;
  console.log(`${problems.length ? 'FAIL' : 'ok  '} ${name}: ${problems.length ? problems.join('; ') : summary}`);
  return problems.length === 0;
}

async function main(argv) {
  const tol = { rtol: 1e-5, atol: 0 };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rtol' || argv[i] === '--atol') tol[argv[i].slice(2)] = Number(argv[++i]);
    else rest.push(argv[i]);
  }
  if (rest.length < 3 || !(tol.rtol >= 0) || !(tol.atol >= 0)) {
    console.error('usage: node check_packed.js INPUT.npy DIR [--rtol R] [--atol A] NAME...');
    return 2;
  }
  const [input, dir, ...names] = rest;
  const x = readNpy(input);
  let failed = 0;
  for (const name of names) {
    try {
      if (!(await check(dir, name, x, tol))) failed++;
    } catch (e) {
      console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
      failed++;
    }
  }
  console.log(`check_packed: ${names.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(e.message);
  process.exit(2);
});
