// ORT all-level output of a model against its basic-level output, at each MatMulNBits accuracy level
// (docs/BENCHMARKS.md, "qdq and ORT's MatMulNBits fusion"): node tools/ort/matmulnbits_accuracy.js MODEL
// MODEL takes one input x of shape (2, 3, 48, 320) (PP-OCRv4 rec); the input is a fixed LCG in [-1, 1].
const ort = require('onnxruntime-node');
(async () => {
  const model = process.argv[2];
  const n = 2*3*48*320; const x = new Float32Array(n); let s = 1;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; x[i] = s / 2147483648 * 2 - 1; }
  const feeds = {x: new ort.Tensor('float32', x, [2,3,48,320])};
  const run = async (opts) => { const ss = await ort.InferenceSession.create(model, Object.assign({intraOpNumThreads: 1}, opts)); const o = await ss.run(feeds); return o[ss.outputNames[0]].data; };
  const ref = await run({graphOptimizationLevel: 'basic'});
  const cmp = (a) => { let num = 0, den = 0; for (let i = 0; i < a.length; i++) { num += (a[i]-ref[i])**2; den += ref[i]**2; } return Math.sqrt(num/den); };
  console.log('all, default accuracy level:', cmp(await run({graphOptimizationLevel: 'all'})).toExponential(2));
  for (const lvl of ['0','1','4']) console.log(`all, session.qdq_matmulnbits_accuracy_level=${lvl}:`, cmp(await run({graphOptimizationLevel: 'all', extra: {session: {qdq_matmulnbits_accuracy_level: lvl}}})).toExponential(2));
})();
