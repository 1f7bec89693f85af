#!/usr/bin/env python3
"""Train qcp's reference models on Fashion-MNIST and export them to ONNX.

Run once on a CPU with Debian's python3-torch, python3-torchvision, python3-onnx and
dataset-fashion-mnist installed:

    /usr/bin/python3 tools/train_models.py --out models [--only resnet,mlp,mobilenet]

Each model takes pixel/255 as float32 NCHW (N,1,28,28) with a dynamic batch dimension and
returns 10 logits. Models are exported in eval mode, so BatchNormalization is folded into the
preceding Conv by the exporter. The script prints the fp32 test top-1 on all 10,000 test
images, measured with torch; models/README.md records it with the file's sha256.
"""
import argparse
import gzip
import hashlib
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    x = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    """Stem 3x3 (1->32) at 28x28, then blocks 32->64 (s2), 64->128 (s2), 128->128 at 7x7."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.layer1 = BasicBlock(32, 64, 2)
        self.layer2 = BasicBlock(64, 128, 2)
        self.layer3 = BasicBlock(128, 128, 1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 128)
        self.fc4 = nn.Linear(128, 10)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        x = self.drop(F.relu(self.fc2(x)))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


def dw_separable(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())


class MobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
            dw_separable(32, 64, 1), dw_separable(64, 128, 1), dw_separable(128, 128, 2),
            dw_separable(128, 256, 1), dw_separable(256, 256, 1))
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        x = self.features(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


MODELS = {  # name: (constructor, epochs, augment)
    "mlp": (Mlp, 8, False),
    "mobilenet": (MobileNet, 7, True),
    "resnet": (ResNet, 10, True),
}


def augment(x):
    # random horizontal flip and random shift by up to 2 pixels (padding 2, crop 28)
    flip = torch.rand(x.shape[0]) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2))
    dx, dy = np.random.randint(0, 5, 2)
    return padded[:, :, dy:dy + 28, dx:dx + 28]


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def train(name, out_dir):
    ctor, epochs, aug = MODELS[name]
    torch.manual_seed(0)
    np.random.seed(0)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = ctor()
    batch = 128
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps, pct_start=0.2)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            xb = xtr[idx]
            if aug:
                xb = augment(xb)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, xte, yte)
        print(f"{name} epoch {epoch + 1}/{epochs} loss {loss.item():.4f} test top-1 {acc:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    path = os.path.join(out_dir, f"fmnist_{name}.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    params = sum(p.numel() for p in model.parameters())
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    print(f"RESULT {name} params(torch, incl. BN)={params} top1={acc:.4f} sha256={sha} path={path}",
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="models")
    ap.add_argument("--only", default="mlp,mobilenet,resnet")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    for name in args.only.split(","):
        train(name, args.out)


if __name__ == "__main__":
    main()
