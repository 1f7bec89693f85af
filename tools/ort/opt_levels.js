// A model's output in ORT at each graph-optimization level, against each other and against qcp's
// engine (docs/RESULTS.md, PP-OCRv4 det under the CP methods): max |difference| of the first output.
//   qcp eval MODEL --data X.npy --dump-outputs ENGINE.npy && node tools/ort/opt_levels.js MODEL X.npy ENGINE.npy
const ort = require('onnxruntime-node');
const { readNpy } = require('./npy');
(async () => {
  const [model, inp, eng] = process.argv.slice(2);
  const x = readNpy(inp);
  const run = async (level) => { const s = await ort.InferenceSession.create(model, {graphOptimizationLevel: level, intraOpNumThreads: 1});
    const o = await s.run({[s.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape)}); return o[s.outputNames[0]].data; };
  const maxd = (a, b) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i])); return m; };
  const all = await run('all'), basic = await run('basic'), none = await run('disabled'), ext = await run('extended');
  const e = readNpy(eng).data;
  console.log('extended-basic', maxd(ext, basic).toExponential(2), 'all-extended', maxd(all, ext).toExponential(2), 'all-basic', maxd(all, basic).toExponential(2), 'basic-disabled', maxd(basic, none).toExponential(2), 'engine-disabled', maxd(e, none).toExponential(2), 'engine-all', maxd(e, all).toExponential(2));
})();
