'use strict';
// Op types of an ONNX file's main graph, counted, read straight from the protobuf wire format
// (ModelProto.graph = field 7, GraphProto.node = 1, NodeProto.op_type = 4): enough to see what
// ONNX Runtime left of a graph after optimizing it, without a protobuf library.
const fs = require('fs');

function varint(buf, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[pos++];
    value += (b & 0x7f) * scale;  // exact below 2^53, which covers every length in a file
    if (!(b & 0x80)) return [value, pos];
    scale *= 128;
  }
}

// Calls f(field, start, end) for each length-delimited field in buf[start, end).
function eachField(buf, start, end, f) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) [, pos] = varint(buf, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len;
      [len, pos] = varint(buf, pos);
      f(field, pos, pos + len);
      pos += len;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

// { op_type: count } of the model's main graph.
function opCounts(file) {
  const buf = fs.readFileSync(file);
  const counts = {};
  eachField(buf, 0, buf.length, (f, s, e) => {
    if (f !== 7) return;
    eachField(buf, s, e, (gf, gs, ge) => {
      if (gf !== 1) return;
      eachField(buf, gs, ge, (nf, ns, ne) => {
        if (nf === 4) {
          const op = buf.toString('utf8', ns, ne);
          counts[op] = (counts[op] || 0) + 1;
        }
      });
    });
  });
  return counts;
}

module.exports = { opCounts };
