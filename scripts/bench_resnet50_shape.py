#!/usr/bin/env python3
"""Install the `resnet50-shape` benchmark (ARCHITECTURE.md "Benchmarks"): the ResNet-50 graph at
224x224 (bottleneck blocks [3, 4, 6, 3], 53 convolutions + 1 FC, ~4.1 GMAC/image) with seeded
He-initialized weights (BatchNorm folded to identity), for speed measurements at the paper's
scale. Accuracy on it is meaningless; the images are seeded random bytes (4-D IDX, N x 3 x 224 x 224).

Built with the `onnx` package alone (no torch). Usage: bench_resnet50_shape.py OUT_DIR [IMAGES]
"""
import json, os, sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = {"conv": 0}

    def conv(x, cin, cout, k, stride, relu=True, name=None):
        count["conv"] += 1
        n = name or f"conv{count['conv']}"
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        b = np.zeros(cout, np.float32)
        inits.extend([numpy_helper.from_array(w, n + ".w"), numpy_helper.from_array(b, n + ".b")])
        p = k // 2
        nodes.append(helper.make_node("Conv", [x, n + ".w", n + ".b"], [n], kernel_shape=[k, k], strides=[stride, stride], pads=[p, p, p, p], name=n))
        if relu:
            nodes.append(helper.make_node("Relu", [n], [n + ".relu"]))
            return n + ".relu"
        return n

    x = conv("input", 3, 64, 7, 2, name="conv1")
    nodes.append(helper.make_node("MaxPool", [x], ["pool1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = "pool1", 64
    for stage, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)]):
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            y = conv(x, cin, width, 1, 1)
            y = conv(y, width, width, 3, stride)
            y = conv(y, width, width * 4, 1, 1, relu=False)
            short = conv(x, cin, width * 4, 1, stride, relu=False) if b == 0 else x
            out = f"s{stage}b{b}"
            nodes.append(helper.make_node("Add", [y, short], [out + ".add"]))
            nodes.append(helper.make_node("Relu", [out + ".add"], [out]))
            x, cin = out, width * 4
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"]))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], axis=1))
    w = (rng.standard_normal((1000, 2048)) * np.sqrt(1.0 / 2048)).astype(np.float32)
    inits.extend([numpy_helper.from_array(w, "fc.w"), numpy_helper.from_array(np.zeros(1000, np.float32), "fc.b")])
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], transB=1, name="fc"))
    graph = helper.make_graph(
        nodes, "resnet50_shape",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="autoapprox")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_idx(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    code = {1: 0x801, 4: 0x804}[arr.ndim]
    with open(path + ".tmp", "wb") as f:
        f.write(code.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes())
    os.replace(path + ".tmp", path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/benchmarks/resnet50-shape"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    os.makedirs(out, exist_ok=True)
    onnx.save(build(), os.path.join(out, "model.onnx.tmp"))
    os.replace(os.path.join(out, "model.onnx.tmp"), os.path.join(out, "model.onnx"))
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (n, 3, 224, 224), dtype=np.uint8)
    labels = rng.integers(0, 1000, n, dtype=np.int64).astype(np.uint8)  # meaningless; IDX labels are bytes
    for split in ("train", "test"):
        write_idx(os.path.join(out, f"{split}-images"), imgs)
        write_idx(os.path.join(out, f"{split}-labels"), labels)
    meta = {
        "name": "resnet50-shape", "model": "model.onnx", "format": "idx",
        "train_images": "train-images", "train_labels": "train-labels",
        "test_images": "test-images", "test_labels": "test-labels",
        "validation": {
            "from": "train", "start": 0, "count": n,
            "held_out": "synthetic images; the shape-only model's weights are random, never trained",
        },
        "scale": 1.0 / 255.0, "synthetic": True,
    }
    with open(os.path.join(out, "benchmark.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"resnet50-shape installed in {out}: model.onnx (random weights) + {n} synthetic images")


if __name__ == "__main__":
    main()
