#!/usr/bin/env python3
"""Install the `fmnist-resnet` benchmark (ARCHITECTURE.md "Benchmarks").

- model: benchmarks/fmnist-resnet/model.onnx, trained by scripts/train_fmnist_resnet.py (its
  record: benchmarks/fmnist-resnet/training.json), copied with its SHA-256 checked.
- data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz, MIT), written
  uncompressed; MD5s of the uncompressed files are checked (t10k-images matches the official
  8181f547...). Validation split: the last 10,000 training images (the model never trained on
  them); test split: t10k.

Usage: bench_fmnist_resnet.py OUT_DIR   (no third-party Python packages needed)
"""
import gzip, hashlib, json, os, shutil, sys

SRC = "/usr/share/datasets/fashion-mnist"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "data/benchmarks/fmnist-resnet"
    if not os.path.isdir(SRC):
        sys.exit(f"{SRC} not found: install Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")
    os.makedirs(out, exist_ok=True)
    for name, want in MD5.items():
        data = gzip.open(os.path.join(SRC, name + ".gz")).read()
        got = hashlib.md5(data).hexdigest()
        if got != want:
            sys.exit(f"{SRC}/{name}.gz: MD5 of the uncompressed file is {got}, expected {want}")
        with open(os.path.join(out, name + ".tmp"), "wb") as f:
            f.write(data)
        os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
    record = json.load(open(os.path.join(REPO, "benchmarks/fmnist-resnet/training.json")))
    model = os.path.join(REPO, "benchmarks/fmnist-resnet/model.onnx")
    sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
    if sha != record["model_sha256"]:
        sys.exit(f"{model}: SHA-256 {sha} does not match training.json ({record['model_sha256']})")
    shutil.copyfile(model, os.path.join(out, "model.onnx"))
    meta = {
        "name": "fmnist-resnet",
        "model": "model.onnx",
        "format": "idx",
        "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
        "validation": {
            "from": "train", "start": 50000, "count": 10000,
            "held_out": "scripts/train_fmnist_resnet.py trains on train[0:50000] only",
        },
        "scale": 1.0 / 255.0,
        "md5": MD5,
        "training": record,
    }
    with open(os.path.join(out, "benchmark.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"fmnist-resnet installed in {out}: model.onnx (trained, fp32 test top-1 {record['fp32_test_top1']:.4f}) + Fashion-MNIST IDX files (MD5s verified)")


if __name__ == "__main__":
    main()
