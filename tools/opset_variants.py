#!/usr/bin/env python3
"""Writes the Fashion-MNIST reference models at other opsets, for the size and runtime evidence
of docs/BENCHMARKS.md (a benchmark helper, run on demand; needs Debian's python3-onnx).

    tools/opset_variants.py OUT_DIR [MODEL...]   (default: models/fmnist_*.onnx)

Writes OUT_DIR/<name>_op{9,11,13,21}.onnx. The models use Conv, Relu, Add, Clip, Gemm, Flatten,
GlobalAveragePool and Constant, whose semantics are the same at opsets 9 to 21 except Clip (min/max
are attributes before opset 11), so the conversion is done here by hand: libonnx 1.12's converter
has no down-adapters for them. Results at opset ≤ 17 pass onnx.checker (1.12 knows no later); ORT runs all."""
import glob
import os
import sys

import onnx
from onnx import checker, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAME_SEMANTICS = {"Conv", "Relu", "Add", "Clip", "Gemm", "Flatten", "GlobalAveragePool", "Constant"}


def constant_value(model, name):
    for init in model.graph.initializer:
        if init.name == name:
            return float(numpy_helper.to_array(init))
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return float(numpy_helper.to_array(node.attribute[0].t))
    raise ValueError(f"Clip bound {name} is not constant")


def at_opset(src, opset):
    m = onnx.load(src)
    ops = {n.op_type for n in m.graph.node}
    if not ops <= SAME_SEMANTICS:
        raise ValueError(f"{src}: ops {sorted(ops - SAME_SEMANTICS)} are not handled")
    if opset < 11:
        for node in m.graph.node:
            if node.op_type != "Clip" or len(node.input) == 1:
                continue
            bounds = [constant_value(m, x) if x else None for x in list(node.input[1:])]
            del node.input[1:]
            if bounds and bounds[0] is not None:
                node.attribute.append(helper.make_attribute("min", bounds[0]))
            if len(bounds) > 1 and bounds[1] is not None:
                node.attribute.append(helper.make_attribute("max", bounds[1]))
        used = {x for n in m.graph.node for x in n.input}
        keep = [n for n in m.graph.node if n.op_type != "Constant" or n.output[0] in used]
        del m.graph.node[:]
        m.graph.node.extend(keep)
    for imp in m.opset_import:
        if imp.domain in ("", "ai.onnx"):
            imp.version = opset
    m.ir_version = 4 if opset <= 9 else (6 if opset <= 11 else (7 if opset <= 13 else 10))
    if opset <= 17:  # libonnx 1.12's checker knows IR ≤ 8 and opset ≤ 17; ORT checks the rest
        checker.check_model(m)
    return m


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    models = sys.argv[2:] or sorted(glob.glob(os.path.join(ROOT, "models", "fmnist_*.onnx")))
    for src in models:
        name = os.path.splitext(os.path.basename(src))[0]
        for opset in (9, 11, 13, 21):
            dst = os.path.join(out, f"{name}_op{opset}.onnx")
            onnx.save(at_opset(src, opset), dst)
            print(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
