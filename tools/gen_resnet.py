#!/usr/bin/python3
"""Writes an ImageNet-shaped ResNet (torchvision's layer shapes, random weights) for scale runs.

    /usr/bin/python3 tools/gen_resnet.py OUT_DIR [--arch resnet18|resnet50] [--calib 64] [--seed 0]

OUT_DIR/ARCH.onnx: input x (N, 3, 224, 224) -> logits (N, 1000), opset 13, the layer shapes of
torchvision's resnet18 / resnet50 (7x7 stem, max pool, basic or bottleneck blocks with 1x1
projection shortcuts, global average pool, 1000-way Gemm), BatchNorm already folded into the conv
biases. Weights He-normal, the last conv of each block scaled by 0.5 so that activations stay in
range through the random residual stack. OUT_DIR/calib.npy: CALIB float32 images, smooth random
fields (the weights are random, so photos would measure nothing more). Only onnx and numpy are
needed. Not committed (45 / 98 MB); docs/BENCHMARKS.md ("Scale: ImageNet-shaped ResNets") has the runs.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, kind):
        self.n += 1
        return f"{kind}_{self.n}"

    def conv(self, x, cin, cout, k, stride=1, relu=True, gain=1.0):
        w = self.rng.standard_normal((cout, cin, k, k)).astype(np.float32) * np.float32(gain * np.sqrt(2.0 / (cin * k * k)))
        b = (0.01 * self.rng.standard_normal(cout)).astype(np.float32)
        wn, bn, y = self.name("w"), self.name("b"), self.name("conv")
        self.inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)]
        p = k // 2
        self.nodes.append(helper.make_node("Conv", [x, wn, bn], [y], kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p]))
        return self.relu(y) if relu else y

    def relu(self, x):
        y = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [y]))
        return y

    def add_relu(self, a, b):
        y = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [y]))
        return self.relu(y)


def basic(b, x, cin, cout, stride):
    y = b.conv(x, cin, cout, 3, stride)
    y = b.conv(y, cout, cout, 3, 1, relu=False, gain=0.5)
    short = b.conv(x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
    return b.add_relu(y, short), cout


def bottleneck(b, x, cin, width, stride):
    cout = 4 * width
    y = b.conv(x, cin, width, 1)
    y = b.conv(y, width, width, 3, stride)
    y = b.conv(y, width, cout, 1, relu=False, gain=0.5)
    short = b.conv(x, cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else x
    return b.add_relu(y, short), cout


def build(arch, seed):
    b = Builder(seed)
    x = b.conv("x", 3, 64, 7, 2)
    pooled = b.name("pool")
    b.nodes.append(helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, c = pooled, 64
    blocks = {"resnet18": (basic, [2, 2, 2, 2]), "resnet50": (bottleneck, [3, 4, 6, 3])}[arch]
    for stage, count in enumerate(blocks[1]):
        width = 64 << stage
        for i in range(count):
            x, c = blocks[0](b, x, c, width, 2 if stage > 0 and i == 0 else 1)
    gap, flat = b.name("gap"), b.name("flat")
    b.nodes += [helper.make_node("GlobalAveragePool", [x], [gap]), helper.make_node("Flatten", [gap], [flat], axis=1)]
    w = (b.rng.standard_normal((1000, c)) * np.sqrt(1.0 / c)).astype(np.float32)
    b.inits += [numpy_helper.from_array(w, "fc_w"), numpy_helper.from_array(np.zeros(1000, np.float32), "fc_b")]
    b.nodes.append(helper.make_node("Gemm", [flat, "fc_w", "fc_b"], ["logits"], transB=1))
    graph = helper.make_graph(b.nodes, arch, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="qcp tools/gen_resnet.py")
    onnx.checker.check_model(model)
    return model


def smooth_images(n, seed):
    rng = np.random.default_rng(seed + 1)
    coarse = rng.standard_normal((n, 3, 14, 14)).astype(np.float32)
    up = np.repeat(np.repeat(coarse, 16, axis=2), 16, axis=3)  # 14 -> 224, blocky fields
    return (up + 0.3 * rng.standard_normal(up.shape)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet50"])
    ap.add_argument("--calib", type=int, default=64, help="calibration images to write (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, args.arch + ".onnx")
    onnx.save(build(args.arch, args.seed), path)
    np.save(os.path.join(args.out_dir, "calib.npy"), smooth_images(args.calib, args.seed))
    print(path)


if __name__ == "__main__":
    main()
