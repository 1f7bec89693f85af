#!/usr/bin/python3
"""Writes a model whose weights pass protobuf's 2 GB limit, stored as ONNX external data.

    /usr/bin/python3 tools/gen_large_model.py OUT_DIR [--gib 2.2] [--width 4096]

OUT_DIR/large.onnx holds the graph, OUT_DIR/large.onnx.data the weights (64-byte aligned):
x (N, width) -> [MatMul (width, width) -> Relu] x L -> y, with L layers of width^2 float32
weights each, enough to pass --gib GiB. Weights are written one layer at a time, so the script
needs about one layer of memory. Not committed (several GB); docs/BENCHMARKS.md records what
qcp does with it.
"""
import argparse
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

ALIGN = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--gib", type=float, default=2.2, help="weight bytes to pass, in GiB (default 2.2)")
    ap.add_argument("--width", type=int, default=4096, help="layer width (default 4096: 64 MiB per layer)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    width = args.width
    layer_bytes = width * width * 4
    layers = math.ceil(args.gib * (1 << 30) / layer_bytes)
    rng = np.random.default_rng(args.seed)
    data_name = "large.onnx.data"
    nodes, inits = [], []
    offset = 0
    with open(os.path.join(args.out_dir, data_name), "wb") as f:
        for i in range(layers):
            w = (rng.standard_normal((width, width), dtype=np.float32) * (1.0 / math.sqrt(width))).astype(np.float32)
            pad = (-offset) % ALIGN
            f.write(b"\0" * pad)
            offset += pad
            f.write(w.tobytes())
            t = TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[width, width],
                            data_location=TensorProto.EXTERNAL)
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(layer_bytes))):
                e = t.external_data.add()
                e.key, e.value = k, v
            inits.append(t)
            offset += layer_bytes
            src = "x" if i == 0 else f"r{i - 1}"
            nodes.append(helper.make_node("MatMul", [src, f"w{i}"], [f"m{i}"], name=f"fc{i}"))
            nodes.append(helper.make_node("Relu", [f"m{i}"], [f"r{i}" if i + 1 < layers else "y"], name=f"relu{i}"))
    graph = helper.make_graph(nodes, "large", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gen_large_model")
    model.ir_version = 8
    with open(os.path.join(args.out_dir, "large.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    print(f"{layers} layers of ({width}, {width}) float32: {offset} weight bytes ({offset / (1 << 30):.2f} GiB) "
          f"in {os.path.join(args.out_dir, data_name)}")


if __name__ == "__main__":
    main()
