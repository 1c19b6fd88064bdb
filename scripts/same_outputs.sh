#!/usr/bin/env bash
# Byte-identical outputs check (ARCHITECTURE.md "Invariants"): runs the whole flow with two
# builds of autoapprox on the same project, each with a fresh cache and the same output path,
# and compares every file they write, up to wall-clock times (see below).
#
#   scripts/same_outputs.sh BIN_BEFORE BIN_AFTER [PROJECT]
#   scripts/same_outputs.sh OUT_DIR_A OUT_DIR_B        (compare two runs' --out directories)
#
# BIN_* are autoapprox binaries (e.g. one built at the previous commit, copied aside, and
# target/release/autoapprox). PROJECT defaults to a small project like tests/flow.rs's (mnist-cnn,
# two built-in multipliers and one third-party file, a 4x4 array, budget 12; a few minutes);
# pass examples/autoapprox.toml for the demo (about 9 minutes per run). Exit status 0 when every
# file is identical, 1 with the differing files listed otherwise.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,12p' "$0"; exit 2; }
A=$(realpath "$1"); B=$(realpath "$2")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/same-outputs.XXXXXX")
if [ -d "$A" ] && [ -d "$B" ]; then
  # two output directories written earlier: compare only
  ln -s "$A" "$W/a"; ln -s "$B" "$W/b"
else
if [ $# -ge 3 ]; then
  PROJ=$(realpath "$3")
else
  mkdir -p "$W/proj/third_party"
  cat > "$W/proj/third_party/mul8u_tp_trunc4.v" <<'V'
module mul8u_tp_trunc4(A, B, O);
  input [7:0] A, B;
  output [15:0] O;
  wire [15:0] p = A * B;
  assign O = {p[15:4], 4'b0000};
endmodule
V
  cat > "$W/proj/autoapprox.toml" <<T
[network]
bench = "$ROOT/data/benchmarks/mnist-cnn"
sample = 300

[multipliers]
builtin = ["mul8u_drum_k4", "mul8u_kulkarni_t4"]
verilog = ["third_party/*.v"]

[accelerator]
rows = 4
cols = 4

[ppa]
images = 1
slots = 8
len = 16

[search]
methods = ["gpbo", "random", "greedy"]
budget = 12
seeds = [3]
tau = -1.0
confirm = 2

[chip]
method = "gpbo"
cosim_vectors = 16
T
  PROJ="$W/proj/autoapprox.toml"
fi
for side in a b; do
  bin=$A; [ $side = b ] && bin=$B
  rm -rf "$W/out" "$W/cache"
  echo "== $side: $bin run $PROJ" >&2
  (cd "$(dirname "$PROJ")" && AUTOAPPROX_CACHE="$W/cache" "$bin" run "$PROJ" --out "$W/out" >"$W/$side.log" 2>&1) \
    || { echo "run $side failed, see $W/$side.log" >&2; exit 2; }
  mv "$W/out" "$W/$side"
done
fi
# Wall-clock times are the only thing allowed to differ: tool logs and Verilator's build
# directories are skipped, keys ending in "seconds" are dropped from JSON files, and durations in text
# ("3.33 s", "2.2 ms") are masked before comparing.
st=0
python3 - "$W/a" "$W/b" <<'PY' || st=$?
import json, os, re, sys
a, b = sys.argv[1], sys.argv[2]
def files(root):
    out = set()
    for d, dirs, fs in os.walk(root):
        dirs[:] = [x for x in dirs if x != "obj_dir"]
        for f in fs:
            if f == "timings.json" or f.endswith(".log"):
                continue
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if not k.endswith("seconds")}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
TIME = re.compile(rb"\d+(\.\d+)? (s|ms)\b")
def norm(p):
    data = open(p, "rb").read()
    if p.endswith(".json"):
        try:
            return json.dumps(strip(json.loads(data)), sort_keys=True).encode()
        except ValueError:
            pass
    if p.endswith(".jsonl"):
        try:
            return b"\n".join(json.dumps(strip(json.loads(l)), sort_keys=True).encode()
                              for l in data.splitlines() if l.strip())
        except ValueError:
            pass
    return TIME.sub(b"<t>", data)
fa, fb = files(a), files(b)
bad = sorted(fa ^ fb)
for f in sorted(fa & fb):
    if norm(os.path.join(a, f)) != norm(os.path.join(b, f)):
        bad.append(f)
for f in bad:
    print("differs:", f)
print(f"{len(fa & fb) - len(bad) + len(fa ^ fb)} of {len(fa | fb)} files identical up to wall-clock times")
sys.exit(1 if bad else 0)
PY
echo "($W)"
exit $st
