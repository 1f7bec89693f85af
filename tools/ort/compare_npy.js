#!/usr/bin/env node
'use strict';
// Compares two float32 logits files (N, C) sample by sample:
//   node compare_npy.js GOT.npy WANT.npy [--rtol 1e-5]
// Fails (exit 1) when any sample's ‖got − want‖ > rtol·‖want‖ or its argmax differs; prints the
// worst relative error and the number of argmax disagreements on one line.
const { readNpy } = require('./npy');

function main(argv) {
  const files = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--rtol');
  const ri = argv.indexOf('--rtol');
  const rtol = ri >= 0 ? Number(argv[ri + 1]) : 1e-5;
  if (files.length !== 2 || !(rtol > 0)) {
    console.error('usage: node compare_npy.js GOT.npy WANT.npy [--rtol R]');
    return 2;
  }
  const [a, b] = files.map(readNpy);
  if (a.dtype !== '<f4' || b.dtype !== '<f4' || a.shape.join() !== b.shape.join()) {
    console.error(`compare_npy: shapes or dtypes differ: ${a.dtype} (${a.shape}) vs ${b.dtype} (${b.shape})`);
    return 1;
  }
  const n = a.shape[0];
  const c = a.data.length / Math.max(n, 1);
  let worst = 0;
  let disagree = 0;
  const argmax = (x, o) => {
    let best = o;
    for (let i = o + 1; i < o + c; i++) if (x[i] > x[best]) best = i;
    return best - o;
  };
  for (let s = 0; s < n; s++) {
    let e = 0;
    let r = 0;
    for (let i = s * c; i < (s + 1) * c; i++) {
      e += (a.data[i] - b.data[i]) ** 2;
      r += b.data[i] ** 2;
    }
    worst = Math.max(worst, Math.sqrt(e) / Math.max(Math.sqrt(r), 1e-30));
    if (argmax(a.data, s * c) !== argmax(b.data, s * c)) disagree++;
  }
  console.log(`samples ${n}, worst relative error ${worst.toExponential(3)}, argmax disagreements ${disagree}`);
  return worst <= rtol && disagree === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
