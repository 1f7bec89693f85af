'use strict';
// Minimal .npy reader/writer (NumPy format 1.0/2.0/3.0 read, 1.0 write), C order only.
// dtypes are numpy descr strings ('<f4', '<i8', '|u1', ...); data is a TypedArray that owns
// its own ArrayBuffer, so it is 8-byte aligned and safe to hand to onnxruntime-node.

const fs = require('fs');

// descr -> [TypedArray, onnxruntime tensor type]. float16 has no JS array in Node 20;
// onnxruntime-node takes its raw bits as Uint16Array.
const DTYPES = {
  '<f4': [Float32Array, 'float32'],
  '<f8': [Float64Array, 'float64'],
  '<f2': [Uint16Array, 'float16'],
  '<i8': [BigInt64Array, 'int64'],
  '<u8': [BigUint64Array, 'uint64'],
  '<i4': [Int32Array, 'int32'],
  '<u4': [Uint32Array, 'uint32'],
  '<i2': [Int16Array, 'int16'],
  '<u2': [Uint16Array, 'uint16'],
  '|i1': [Int8Array, 'int8'],
  '|u1': [Uint8Array, 'uint8'],
  '|b1': [Uint8Array, 'bool'],
};
const ORT_TO_DESCR = Object.fromEntries(Object.entries(DTYPES).map(([d, [, t]]) => [t, d]));

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function normalizeDescr(descr) {
  // numpy may write '=' (native) or, for 1-byte types, '<'/'>'/'|' interchangeably.
  const kind = descr.slice(1);
  const one = kind.endsWith('1');
  if (one) return '|' + kind;
  if (descr[0] === '=' || descr[0] === '<') return '<' + kind;
  return descr; // '>' big endian: rejected by the caller
}

function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  let hlen, hstart;
  if (major === 1) { hlen = buf.readUInt16LE(8); hstart = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); hstart = 12; }
  else throw new Error(`${path}: unsupported npy version ${major}.${buf[7]}`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', hstart, hstart + hlen);

  const descrM = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortM = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descrM || !fortM || !shapeM) throw new Error(`${path}: malformed npy header: ${header.trim()}`);
  if (fortM[1] === 'True') throw new Error(`${path}: fortran_order arrays are not supported (use np.ascontiguousarray)`);
  const dtype = normalizeDescr(descrM[1]);
  if (!DTYPES[dtype]) throw new Error(`${path}: unsupported dtype ${descrM[1]}`);
  const shape = shapeM[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${path}: bad shape (${shapeM[1]})`);

  const Arr = DTYPES[dtype][0];
  const count = shape.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const nbytes = count * Arr.BYTES_PER_ELEMENT;
  if (buf.length - off < nbytes) throw new Error(`${path}: truncated data (${buf.length - off} of ${nbytes} bytes)`);
  // Copy: the data offset inside the file buffer need not be aligned for the TypedArray.
  const data = new Arr(count);
  new Uint8Array(data.buffer).set(buf.subarray(off, off + nbytes));
  return { dtype, shape, data };
}

function writeNpy(path, dtype, shape, data) {
  dtype = normalizeDescr(dtype);
  if (!DTYPES[dtype]) throw new Error(`writeNpy: unsupported dtype ${dtype}`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // numpy pads magic+len+header to a multiple of 64 and ends the header with '\n'.
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  if (header.length > 0xffff) throw new Error('writeNpy: header too long for format 1.0');
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

module.exports = { readNpy, writeNpy, DTYPES, ORT_TO_DESCR };
