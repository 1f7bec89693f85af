#!/usr/bin/env python3
"""Per-layer ONNX Runtime latency of a compressed model against its input (a benchmark, run on
demand; needs Debian's python3-onnx and tools/install_deps.sh --ort).

    tools/layer_latency.py ORIGINAL.onnx COMPRESSED.onnx [--batch B] [--threads T] [--reps N] [--shape C,H,W]

For every layer qcp rewrote (a node of ORIGINAL whose output COMPRESSED computes through nodes
named qcp/<layer>/…, or whose weight it replaced), both versions are cut out as one-layer models
(onnx.utils.extract_model: the layer's input to its output, weight decoders included) and timed in
ORT by tools/ort/latency.js, interleaved. --shape fixes the input's dims after the batch when the
model leaves some dynamic (PP-OCRv4 rec: --shape 3,48,320). --stages also times each Conv/Gemm/MatMul
of a factorized chain cut out on its own (expansion, depthwise, projection; separate runs, so their
sum against the chain shows what ORT's layout changes between them cost). Prints a table (or --json) with each layer's median ms
and the ratio compressed / original: what the rewrite costs or saves in ORT, layer by layer."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import onnx
from onnx import shape_inference, utils

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fixed_batch(model, batch, shape=None):
    inits = {i.name for i in model.graph.initializer}
    for v in model.graph.input:
        dims = v.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = batch
        if shape and v.name not in inits and len(dims) == len(shape) + 1:
            for d, n in zip(dims[1:], shape):
                d.dim_value = n
    return shape_inference.infer_shapes(model)


def shapes_of(model):
    out = {}
    for v in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            out[v.name] = dims
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("original")
    ap.add_argument("compressed")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--shape", help="input dims after the batch, e.g. 3,48,320 (default: the model's)")
    ap.add_argument("--stages", action="store_true", help="also time each compute node of a chain alone")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    shape = [int(d) for d in a.shape.split(",")] if a.shape else None
    orig = onnx.load(a.original)
    comp = onnx.load(a.compressed)
    shapes = shapes_of(fixed_batch(onnx.load(a.original), 1, shape))
    comp_shapes = shapes_of(fixed_batch(onnx.load(a.compressed), 1, shape)) if a.stages else {}
    comp_nodes = {n.name: n for n in comp.graph.node}
    produced = {o for n in comp.graph.node for o in n.output}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for node in orig.graph.node:
            if node.op_type not in ("Conv", "Gemm", "MatMul") or not node.output:
                continue
            chain = [n for n in comp.graph.node if n.name.startswith("qcp/" + node.name + "/")]
            same = comp_nodes.get(node.name)
            rewritten = chain or (same is not None and list(same.input[1:2]) != list(node.input[1:2]))
            x, y = node.input[0], node.output[0]
            if not rewritten or x not in shapes or y not in produced:
                continue
            paths = []
            for tag, path in (("orig", a.original), ("comp", a.compressed)):
                p = os.path.join(tmp, f"{len(rows)}_{tag}.onnx")
                utils.extract_model(path, p, [x], [y])
                paths.append(p)
            cmd = ["node", os.path.join(ROOT, "tools/ort/latency.js"), "--batch", str(a.batch), "--threads",
                   str(a.threads), "--reps", str(a.reps), "--shape", ",".join(map(str, shapes[x][1:]))] + paths
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            m = r["models"]
            stages = None
            compute = [n for n in chain if n.op_type in ("Conv", "Gemm", "MatMul")]
            if a.stages and len(compute) >= 2:
                names = ["expansion", "depthwise", "projection"] if len(compute) == 3 else ["expansion", "projection"]
                stages = {}
                for k, n in enumerate(compute):
                    p = os.path.join(tmp, f"{len(rows)}_stage{k}.onnx")
                    utils.extract_model(a.compressed, p, [n.input[0]], [n.output[0]])
                    cmd = ["node", os.path.join(ROOT, "tools/ort/latency.js"), "--batch", str(a.batch), "--threads",
                           str(a.threads), "--reps", str(a.reps), "--shape", ",".join(map(str, comp_shapes[n.input[0]][1:])), p]
                    s = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["models"][0]
                    stages[names[k] if k < len(names) else f"stage{k + 1}"] = {"ms": s["median_ms"], "min_ms": s["min_ms"]}
                total = sum(v["ms"] for v in stages.values())
                for v in stages.values():
                    v["share"] = v["ms"] / total
            rows.append({"layer": node.name, "input_shape": shapes[x][1:], "original_ms": m[0]["median_ms"],
                         "compressed_ms": m[1]["median_ms"], "ratio": m[1]["ratio"],
                         "original_min_ms": m[0]["min_ms"], "compressed_min_ms": m[1]["min_ms"],
                         "ops": ",".join(n.op_type for n in chain) if chain else node.op_type, "stages": stages})
    if a.json:
        print(json.dumps({"batch": a.batch, "threads": a.threads, "reps": a.reps, "layers": rows}, indent=1))
        return
    print(f"batch {a.batch}, {a.threads} thread(s), median of {a.reps} interleaved runs per layer")
    print(f"{'layer':36} {'input':>14} {'orig ms':>9} {'comp ms':>9} {'ratio':>6}  ops")
    for r in rows:
        print(f"{r['layer']:36} {'x'.join(map(str, r['input_shape'])):>14} {r['original_ms']:9.3f} "
              f"{r['compressed_ms']:9.3f} {r['ratio']:6.2f}  {r['ops']}")
    if rows:
        o = sum(r["original_ms"] for r in rows)
        c = sum(r["compressed_ms"] for r in rows)
        print(f"{'sum of layers':36} {'':>14} {o:9.3f} {c:9.3f} {c / o:6.2f}")


if __name__ == "__main__":
    sys.exit(main())
