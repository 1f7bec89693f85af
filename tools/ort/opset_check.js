#!/usr/bin/env node
'use strict';
// ONNX Runtime runs models whose opset qcp upgraded and compares them with the originals:
//   node opset_check.js MANIFEST.tsv
//       each line "CONVERTED.onnx<TAB>CASE_DIR": CASE_DIR/in_<i>.npy fed, CASE_DIR/out_<i>.npy (ORT's
//       outputs of the original) expected: float outputs within 1e-5 relative L2 error, others equal
//   node opset_check.js --ref ORIGINAL.onnx CONVERTED.onnx INPUT.npy...
//       both run on the inputs; prints one JSON line per output with the max abs and rel difference
// Exit 1 when a model differs, 2 when one cannot be run.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, DTYPES } = require('./npy');

const REL_TOL = 1e-5;

function numbered(dir, prefix) {
  const out = [];
  for (let i = 0; fs.existsSync(path.join(dir, `${prefix}${i}.npy`)); i++) out.push(readNpy(path.join(dir, `${prefix}${i}.npy`)));
  return out;
}

async function run(modelPath, inputs) {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    const a = inputs[i];
    feeds[name] = new ort.Tensor(DTYPES[a.dtype][1], a.data, a.shape);
  });
  const result = await session.run(feeds);
  return session.outputNames.map((n) => ({ name: n, dims: Array.from(result[n].dims), data: result[n].data }));
}

const isFloat = (d) => d instanceof Float32Array || d instanceof Float64Array;

// { maxAbs, maxRel (max |a-b| / max |a|), relL2 }; Infinity when sizes or integer values differ.
function difference(got, want) {
  if (got.length !== want.length) return { maxAbs: Infinity, maxRel: Infinity, relL2: Infinity };
  if (!isFloat(want)) {
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return { maxAbs: Infinity, maxRel: Infinity, relL2: Infinity };
    return { maxAbs: 0, maxRel: 0, relL2: 0 };
  }
  let maxAbs = 0, scale = 0, e2 = 0, r2 = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]) && Number.isNaN(got[i])) continue;
    const d = Math.abs(got[i] - want[i]);
    maxAbs = Math.max(maxAbs, Number.isNaN(d) ? Infinity : d);
    scale = Math.max(scale, Math.abs(want[i]));
    e2 += d * d;
    r2 += want[i] * want[i];
  }
  return { maxAbs, maxRel: scale > 0 ? maxAbs / scale : maxAbs, relL2: r2 > 0 ? Math.sqrt(e2 / r2) : Math.sqrt(e2) };
}

async function checkManifest(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  let passed = 0;
  const failed = [];
  for (const line of lines) {
    const [model, dir] = line.split('\t');
    const label = path.basename(model);
    let outs;
    try {
      outs = await run(model, numbered(dir, 'in_'));
    } catch (e) {
      failed.push(`${label}: ORT cannot run it: ${String(e.message).split('\n')[0]}`);
      continue;
    }
    const want = numbered(dir, 'out_');
    const bad = want.length !== outs.length ? ['output count'] : want
      .map((w, i) => [outs[i].name, outs[i].dims.join() === w.shape.join() ? difference(outs[i].data, w.data) : null])
      .filter(([, d]) => d === null || d.relL2 > REL_TOL)
      .map(([n, d]) => (d === null ? `${n}: shape` : `${n}: rel. L2 error ${d.relL2.toExponential(2)}`));
    if (bad.length) failed.push(`${label}: ${bad.join(', ')}`);
    else passed++;
  }
  for (const f of failed) console.log(`FAIL ${f}`);
  console.log(`opset check: ${passed} passed, ${failed.length} failed`);
  return failed.length ? 1 : 0;
}

async function compareModels(ref, model, inputFiles) {
  const inputs = inputFiles.map(readNpy);
  const [a, b] = [await run(ref, inputs), await run(model, inputs)];
  let worst = 0;
  a.forEach((o, i) => {
    const d = o.dims.join() === b[i].dims.join() ? difference(b[i].data, o.data) : { maxAbs: Infinity, maxRel: Infinity, relL2: Infinity };
    worst = Math.max(worst, d.maxRel);
    console.log(JSON.stringify({ output: o.name, shape: o.dims, max_abs_diff: d.maxAbs, max_rel_diff: d.maxRel, rel_l2: d.relL2 }));
  });
  return worst > REL_TOL ? 1 : 0;
}

async function main(argv) {
  ort.env.logLevel = 'error';
  if (argv[0] === '--ref' && argv.length >= 4) return compareModels(argv[1], argv[2], argv.slice(3));
  if (argv.length === 1) return checkManifest(argv[0]);
  console.error('usage: node opset_check.js MANIFEST.tsv | --ref ORIGINAL.onnx CONVERTED.onnx INPUT.npy...');
  return 2;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
  console.error(`opset_check: ${String(e.message || e).split('\n')[0]}`);
  process.exitCode = 2;
});
