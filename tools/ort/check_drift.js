#!/usr/bin/env node
'use strict';
// Re-runs ONNX Runtime on every committed engine fixture and compares with the stored outputs,
// so a change in ORT (or a fixture edited by hand) is caught:
//   node tools/ort/check_drift.js [FIXTURES_DIR] [MODEL_FIXTURES_DIR MODELS_DIR]
// Float outputs must agree within 1e-6 relative (L2), integer outputs exactly. Exit 1 on drift.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy, DTYPES } = require('./npy');

const ROOT = path.resolve(__dirname, '..', '..');
const REL_TOL = 1e-6;

function numbered(dir, prefix) {
  const out = [];
  for (let i = 0; fs.existsSync(path.join(dir, `${prefix}${i}.npy`)); i++) out.push(readNpy(path.join(dir, `${prefix}${i}.npy`)));
  return out;
}

function caseDirs(root) {
  const found = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name === 'model.onnx') found.push(d);
    }
  };
  if (fs.existsSync(root)) walk(root);
  return found.sort();
}

function close(got, want) {
  if (got.length !== want.length) return false;
  if (!(want instanceof Float32Array || want instanceof Float64Array)) {
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return false;
    return true;
  }
  let e = 0;
  let r = 0;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]) && Number.isNaN(got[i])) continue;
    e += (got[i] - want[i]) ** 2;
    r += want[i] ** 2;
  }
  return Math.sqrt(e) <= REL_TOL * Math.sqrt(r) + 1e-30;
}

async function run(modelPath, inputs) {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    const a = inputs[i];
    const type = DTYPES[a.dtype][1];
    feeds[name] = new ort.Tensor(type, a.data, a.shape);
  });
  const result = await session.run(feeds);
  return session.outputNames.map((n) => result[n].data);
}

async function main() {
  ort.env.logLevel = 'error';
  const fixtures = process.argv[2] || path.join(ROOT, 'tests', 'engine', 'fixtures');
  const modelFixtures = process.argv[3] || path.join(ROOT, 'tests', 'engine', 'model_fixtures');
  const models = process.argv[4] || path.join(ROOT, 'models');
  let passed = 0;
  const failed = [];
  for (const dir of caseDirs(fixtures)) {
    let outs;
    try {
      outs = await run(path.join(dir, 'model.onnx'), numbered(dir, 'in_'));
    } catch (e) {
      throw new Error(`${path.relative(fixtures, dir)}: ${e.message}`);
    }
    const want = numbered(dir, 'out_');
    const ok = want.length === outs.length && want.every((w, i) => close(outs[i], w.data));
    if (ok) passed++;
    else failed.push(path.relative(fixtures, dir));
  }
  if (fs.existsSync(path.join(modelFixtures, 'input_64.npy'))) {
    const input = readNpy(path.join(modelFixtures, 'input_64.npy'));
    for (const f of fs.readdirSync(modelFixtures).filter((n) => n !== 'input_64.npy' && n.endsWith('.npy')).sort()) {
      const model = path.join(models, f.replace(/\.npy$/, '.onnx'));
      const [out] = await run(model, [input]);
      if (close(out, readNpy(path.join(modelFixtures, f)).data)) passed++;
      else failed.push(`models/${f}`);
    }
  }
  for (const f of failed) console.log(`drift: ${f}`);
  console.log(`fixture drift check: ${passed} passed, ${failed.length} failed`);
  return failed.length ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e) => {
  console.error(`check_drift: ${String(e.message || e).split('\n')[0]}`);
  process.exitCode = 2;
});
