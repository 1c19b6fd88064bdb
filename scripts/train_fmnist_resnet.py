#!/usr/bin/env python3
"""Train the `fmnist-resnet` benchmark (ARCHITECTURE.md "Benchmarks") and export it to ONNX.

A residual CNN with 16 mappable layers (15 convolutions + 1 fully connected), trained with
Debian's python3-torch on Debian's dataset-fashion-mnist (60k train / 10k test), then exported
with opset 13. The input is the image scaled to [0, 1]; the normalization is part of the graph.

  stem    conv3x3 1->16, BN, ReLU                                  1 conv
  stage1  2 basic blocks, 16 channels, 28x28                       4 convs
  stage2  2 basic blocks, 32 channels, 14x14 (stride 2, 1x1 proj)  5 convs
  stage3  2 basic blocks, 64 channels, 7x7 (stride 2, 1x1 proj)    5 convs
  head    global average pool, FC 64->10                           1 fc

The last 10,000 training images are held out as the validation split (the search samples from
it); the model trains on the first 50,000. Writes OUT/model.onnx and OUT/training.json.
Usage: train_fmnist_resnet.py OUT_DIR [EPOCHS]
"""
import gzip, hashlib, json, os, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SRC = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def idx(name):
    with gzip.open(os.path.join(SRC, name)) as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data[4 + 4 * nd:], np.uint8).reshape(dims)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class FmnistResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.stages = nn.Sequential(
            Block(16, 16, 1), Block(16, 16, 1),
            Block(16, 32, 2), Block(32, 32, 1),
            Block(32, 64, 2), Block(64, 64, 1),
        )
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = (x - MEAN) / STD
        x = self.stages(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return correct / len(x)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/fmnist-resnet"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    tr_x = torch.tensor(idx("train-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    tr_y = torch.tensor(idx("train-labels-idx1-ubyte.gz"), dtype=torch.long)
    te_x = torch.tensor(idx("t10k-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    te_y = torch.tensor(idx("t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
    fit_x, fit_y, val_x, val_y = tr_x[:50000], tr_y[:50000], tr_x[50000:], tr_y[50000:]

    model = FmnistResNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    steps = epochs * (len(fit_x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(fit_x))
        for i in range(0, len(fit_x) - 127, 128):
            b = perm[i:i + 128]
            x = fit_x[b]
            # Augmentation: random horizontal flip and a random shift of up to 2 pixels.
            flip = torch.rand(len(b)) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            dx, dy = np.random.randint(-2, 3, 2)
            x = torch.roll(F.pad(x, (2, 2, 2, 2)), shifts=(int(dy), int(dx)), dims=(2, 3))[:, :, 2:30, 2:30]
            loss = F.cross_entropy(model(x), fit_y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {ep + 1}/{epochs}: loss {loss.item():.3f}, validation {accuracy(model, val_x, val_y):.4f}, {time.time() - t0:.0f} s", flush=True)

    model.eval()
    test_acc = accuracy(model, te_x, te_y)
    val_acc = accuracy(model, val_x, val_y)
    tmp = os.path.join(out, "model.onnx.tmp")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), tmp, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    os.replace(tmp, os.path.join(out, "model.onnx"))
    info = {
        "model": "fmnist-resnet", "framework": f"torch {torch.__version__}", "epochs": epochs,
        "fp32_test_top1": test_acc, "fp32_validation_top1": val_acc,
        "train_images": 50000, "validation": "train[50000:60000]", "test": "t10k (10,000)",
        "mappable_layers": 16, "seconds": round(time.time() - t0),
        "model_sha256": hashlib.sha256(open(os.path.join(out, "model.onnx"), "rb").read()).hexdigest(),
    }
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(info, f, indent=2)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
