//! The CGP genome: one row of `columns` nodes, each a library cell with `MAX_ARITY` input genes
//! (a cell of smaller arity ignores the rest) and a function gene, plus one output gene per
//! product bit.
//!
//! Signals are numbered: `0..bits` = A (activation), `bits..2*bits` = B (weight), `2*bits` =
//! constant 0, `2*bits + 1` = constant 1, then node `i` = `2*bits + 2 + i`. A node's inputs
//! are primary inputs, constants or one of the `levels_back` nodes before it, so the genome is
//! always a feed-forward netlist.

use super::gates::{GateSet, MAX_ARITY};
use crate::error::{Error, Result};
use crate::ppa::netlist::{Bit, Netlist};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub gate: u16,
    pub ins: [u32; MAX_ARITY],
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genome {
    pub bits: u32,
    pub levels_back: usize,
    pub nodes: Vec<Node>,
    pub outputs: Vec<u32>,
}

/// What a mutation changed: the nodes whose genes differ, and whether an output gene did.
#[derive(Clone, Debug, Default)]
pub struct Mutation {
    pub nodes: Vec<u32>,
    pub outputs: bool,
}

/// A circuit as a plain netlist of named cells (the active part of a genome), independent of
/// a gate set's numbering: what result files and the committed family store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Circuit {
    pub bits: u32,
    /// Signals as in [`Genome`], with node `k` = `2*bits + 2 + k` of this list.
    pub nodes: Vec<CircuitNode>,
    pub outputs: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitNode {
    pub cell: String,
    pub ins: Vec<u32>,
}

impl Genome {
    /// Primary inputs and the two constants.
    pub fn n_inputs(&self) -> usize {
        2 * self.bits as usize + 2
    }

    pub fn n_signals(&self) -> usize {
        self.n_inputs() + self.nodes.len()
    }

    /// The node a signal is, if it is one.
    #[inline]
    pub fn node_of(&self, sig: u32) -> Option<usize> {
        (sig as usize).checked_sub(self.n_inputs())
    }

    /// Which nodes the outputs depend on.
    pub fn active(&self, gates: &GateSet) -> Vec<bool> {
        let mut act = vec![false; self.nodes.len()];
        let ni = self.n_inputs();
        for &o in &self.outputs {
            if let Some(i) = (o as usize).checked_sub(ni) {
                act[i] = true;
            }
        }
        for i in (0..self.nodes.len()).rev() {
            if act[i] {
                let n = &self.nodes[i];
                for &s in &n.ins[..gates.gates[n.gate as usize].arity()] {
                    if let Some(j) = (s as usize).checked_sub(ni) {
                        act[j] = true;
                    }
                }
            }
        }
        act
    }

    /// A random source for an input of node `i` (`None`: an output gene) replacing `current`:
    /// usually uniform over the primary inputs, the constants and the `levels_back` nodes
    /// before it; one time in eight a constant, and one time in eight one of the current
    /// source's own inputs (bypassing a cell). The last two are the simplifications an
    /// approximation is made of, rare under the uniform choice.
    fn random_source(
        &self,
        gates: &GateSet,
        i: Option<usize>,
        current: u32,
        rng: &mut impl Rng,
    ) -> u32 {
        let ni = self.n_inputs();
        let end = i.unwrap_or(self.nodes.len());
        let lo = if i.is_some() {
            end.saturating_sub(self.levels_back)
        } else {
            0
        };
        match rng.random_range(0..8u32) {
            0 => return 2 * self.bits + rng.random_range(0..2u32),
            1 => {
                if let Some(j) = self.node_of(current) {
                    let n = &self.nodes[j];
                    let a = gates.gates[n.gate as usize].arity();
                    let s = n.ins[rng.random_range(0..a)];
                    if self.node_of(s).is_none_or(|k| k >= lo) {
                        return s;
                    }
                }
            }
            _ => {}
        }
        let r = rng.random_range(0..ni + (end - lo));
        if r < ni {
            r as u32
        } else {
            (ni + lo + (r - ni)) as u32
        }
    }

    /// Point mutations: between 1 and `max_genes` random genes, and more until one that the
    /// phenotype uses (an active gene) has changed, so that every offspring differs from its
    /// parent where it matters (Goldman & Punch's remedy for wasted evaluations). Inactive
    /// genes change freely along the way: that is CGP's neutral drift.
    pub fn mutate(
        &mut self,
        gates: &GateSet,
        active: &[bool],
        max_genes: usize,
        rng: &mut impl Rng,
    ) -> Mutation {
        let per = 1 + MAX_ARITY;
        let node_genes = self.nodes.len() * per;
        let total = node_genes + self.outputs.len();
        let want = rng.random_range(1..=max_genes.max(1));
        let mut m = Mutation::default();
        let (mut done, mut hit) = (0usize, false);
        // bounded: a genome with no active gene at all (cannot happen with outputs) stops
        while (done < want || !hit) && done < 64 * total {
            done += 1;
            let g = rng.random_range(0..total);
            if g < node_genes {
                let (i, k) = (g / per, g % per);
                let node = self.nodes[i];
                let arity = gates.gates[node.gate as usize].arity();
                if k == 0 {
                    if gates.len() < 2 {
                        continue;
                    }
                    let mut f = rng.random_range(0..gates.len() - 1) as u16;
                    if f >= node.gate {
                        f += 1;
                    }
                    self.nodes[i].gate = f;
                    hit |= active[i];
                } else {
                    let s = self.random_source(gates, Some(i), node.ins[k - 1], rng);
                    if s == node.ins[k - 1] {
                        continue;
                    }
                    self.nodes[i].ins[k - 1] = s;
                    hit |= active[i] && k - 1 < arity;
                }
                if !m.nodes.contains(&(i as u32)) {
                    m.nodes.push(i as u32);
                }
            } else {
                let o = g - node_genes;
                let s = self.random_source(gates, None, self.outputs[o], rng);
                if s == self.outputs[o] {
                    continue;
                }
                self.outputs[o] = s;
                m.outputs = true;
                hit = true;
            }
        }
        m
    }

    /// A random genome of `columns` nodes (levels-back unlimited): for tests and benchmarks.
    pub fn random(bits: u32, columns: usize, gates: &GateSet, rng: &mut impl Rng) -> Genome {
        let mut g = Genome {
            bits,
            levels_back: columns.max(1),
            nodes: Vec::with_capacity(columns),
            outputs: Vec::new(),
        };
        for p in 0..columns {
            g.nodes.push(Node {
                gate: 0,
                ins: [0; MAX_ARITY],
            });
            let gate = rng.random_range(0..gates.len()) as u16;
            let mut ins = [0; MAX_ARITY];
            for x in &mut ins {
                *x = g.random_source(gates, Some(p), 0, rng);
            }
            g.nodes[p] = Node { gate, ins };
        }
        g.outputs = (0..2 * bits)
            .map(|_| rng.random_range(0..g.n_signals()) as u32)
            .collect();
        g
    }

    /// Reads a technology-mapped multiplier netlist (ports `a`, `b`, `o`) as a genome of
    /// `columns` nodes: the netlist's cells in topological order, spread evenly over the row,
    /// with random inactive nodes between them (room for evolution to insert logic anywhere).
    pub fn from_netlist(
        net: &Netlist,
        ports: [&str; 3],
        gates: &GateSet,
        columns: usize,
        levels_back: Option<usize>,
        rng: &mut impl Rng,
    ) -> Result<Genome> {
        let bad = |m: String| Error::Other(format!("seed netlist `{}`: {m}", net.module));
        let port = |name: &str| {
            net.port(name)
                .ok_or_else(|| bad(format!("no port `{name}`")))
        };
        let (pa, pb, po) = (port(ports[0])?, port(ports[1])?, port(ports[2])?);
        let bits = pa.bits.len();
        if pb.bits.len() != bits || po.bits.len() != 2 * bits || !(3..=8).contains(&bits) {
            return Err(bad(format!(
                "ports are {}, {} and {} bits wide; the evolver takes N x N -> 2N with N in 3..=8",
                pa.bits.len(),
                pb.bits.len(),
                po.bits.len()
            )));
        }
        let ni = 2 * bits + 2;
        // net id -> signal, for primary inputs first
        let mut sig_of: BTreeMap<usize, u32> = BTreeMap::new();
        for (k, b) in pa.bits.iter().chain(&pb.bits).enumerate() {
            if let Bit::Net(n) = b {
                sig_of.insert(*n, k as u32);
            }
        }
        let constant = |b: bool| (2 * bits + b as usize) as u32;
        // each instance: gate, input nets in gate pin order, output net
        struct Cell {
            gate: usize,
            ins: Vec<Bit>,
            out: usize,
        }
        let mut cells = Vec::new();
        for inst in &net.insts {
            let gate = gates.by_cell(&inst.cell).ok_or_else(|| {
                bad(format!(
                    "cell `{}` ({}) is not a node function of the evolver (one output, 1..={} \
                     inputs, combinational)",
                    inst.cell, inst.name, MAX_ARITY
                ))
            })?;
            let g = &gates.gates[gate];
            let mut ins = vec![Bit::Const(false); g.arity()];
            let mut out = None;
            for (pin, b, is_out) in &inst.pins {
                if *is_out {
                    if let Bit::Net(n) = b {
                        out = Some(*n);
                    }
                } else if let Some(k) = gates.pin_index(gate, pin) {
                    ins[k] = *b;
                }
            }
            // an instance whose output drives nothing is dead logic: dropped
            let Some(out) = out else { continue };
            cells.push(Cell { gate, ins, out });
        }
        // topological order (Kahn over the instances)
        let driver: BTreeMap<usize, usize> =
            cells.iter().enumerate().map(|(i, c)| (c.out, i)).collect();
        let mut order = Vec::with_capacity(cells.len());
        let mut placed = vec![false; cells.len()];
        let mut pending: Vec<usize> = (0..cells.len()).collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|&i| {
                let ready = cells[i].ins.iter().all(|b| match b {
                    Bit::Net(n) => driver.get(n).is_none_or(|&d| placed[d]),
                    Bit::Const(_) => true,
                });
                if ready {
                    placed[i] = true;
                    order.push(i);
                }
                !ready
            });
            if pending.len() == before {
                return Err(bad("combinational loop".into()));
            }
        }
        // the compact genome: the cells in topological order
        let mut node_sig = BTreeMap::new();
        for (k, &ci) in order.iter().enumerate() {
            node_sig.insert(cells[ci].out, (ni + k) as u32);
        }
        sig_of.extend(node_sig);
        let resolve = |b: &Bit| -> Result<u32> {
            match b {
                Bit::Const(v) => Ok(constant(*v)),
                Bit::Net(n) => sig_of
                    .get(n)
                    .copied()
                    .ok_or_else(|| bad(format!("net {n} has no driver"))),
            }
        };
        let mut compact = Genome {
            bits: bits as u32,
            levels_back: order.len().max(1),
            nodes: Vec::with_capacity(order.len()),
            outputs: Vec::new(),
        };
        for &ci in &order {
            let mut ins = [constant(false); MAX_ARITY];
            for (k, b) in cells[ci].ins.iter().enumerate() {
                ins[k] = resolve(b)?;
            }
            compact.nodes.push(Node {
                gate: cells[ci].gate as u16,
                ins,
            });
        }
        compact.outputs = po.bits.iter().map(resolve).collect::<Result<_>>()?;
        compact
            .spread(gates, columns, levels_back, rng)
            .map_err(bad)
    }

    /// This genome's nodes spread evenly over a row of `columns` (at least as many as it has),
    /// with random nodes between them (room for evolution to insert logic anywhere), and
    /// `levels_back` (default: unlimited). Errors when a node would read further back.
    pub fn spread(
        &self,
        gates: &GateSet,
        columns: usize,
        levels_back: Option<usize>,
        rng: &mut impl Rng,
    ) -> std::result::Result<Genome, String> {
        let ni = self.n_inputs();
        let n_seed = self.nodes.len();
        let columns = columns.max(n_seed);
        let levels_back = levels_back.unwrap_or(columns).max(1);
        // node k sits at column pos(k); the others are filled with random nodes
        let pos = |k: usize| k * columns / n_seed.max(1);
        let remap = |s: u32| match self.node_of(s) {
            Some(k) => (ni + pos(k)) as u32,
            None => s,
        };
        let mut g = Genome {
            bits: self.bits,
            levels_back,
            nodes: vec![
                Node {
                    gate: 0,
                    ins: [0; MAX_ARITY],
                };
                columns
            ],
            outputs: self.outputs.iter().map(|&s| remap(s)).collect(),
        };
        let mut is_seed = vec![false; columns];
        for (k, n) in self.nodes.iter().enumerate() {
            let p = pos(k);
            is_seed[p] = true;
            let mut ins = n.ins;
            for s in &mut ins {
                *s = remap(*s);
                if let Some(j) = (*s as usize).checked_sub(ni) {
                    if p - j > levels_back {
                        return Err(format!(
                            "levels-back {levels_back} is too small for the seed's structure \
                             (a cell reads one {} columns back); raise it",
                            p - j
                        ));
                    }
                }
            }
            g.nodes[p] = Node { gate: n.gate, ins };
        }
        for (p, &seeded) in is_seed.iter().enumerate() {
            if !seeded {
                let gate = rng.random_range(0..gates.len()) as u16;
                let mut ins = [0; MAX_ARITY];
                for x in &mut ins {
                    *x = g.random_source(gates, Some(p), 0, rng);
                }
                g.nodes[p] = Node { gate, ins };
            }
        }
        Ok(g)
    }

    /// The active part as a [`Circuit`].
    pub fn circuit(&self, gates: &GateSet) -> Circuit {
        let act = self.active(gates);
        let ni = self.n_inputs() as u32;
        let mut new_sig = vec![0u32; self.nodes.len()];
        let mut nodes = Vec::new();
        let map = |s: u32, new_sig: &[u32]| match self.node_of(s) {
            Some(i) => new_sig[i],
            None => s,
        };
        for (i, n) in self.nodes.iter().enumerate() {
            if !act[i] {
                continue;
            }
            let g = &gates.gates[n.gate as usize];
            nodes.push(CircuitNode {
                cell: g.cell.clone(),
                ins: n.ins[..g.arity()]
                    .iter()
                    .map(|&s| map(s, &new_sig))
                    .collect(),
            });
            new_sig[i] = ni + nodes.len() as u32 - 1;
        }
        Circuit {
            bits: self.bits,
            outputs: self.outputs.iter().map(|&s| map(s, &new_sig)).collect(),
            nodes,
        }
    }

    /// A genome holding exactly `c`'s nodes (levels-back unlimited).
    pub fn from_circuit(c: &Circuit, gates: &GateSet) -> Result<Genome> {
        let ni = 2 * c.bits as usize + 2;
        let mut nodes = Vec::with_capacity(c.nodes.len());
        for (i, n) in c.nodes.iter().enumerate() {
            let gate = gates.by_cell(&n.cell).ok_or_else(|| {
                Error::Other(format!(
                    "circuit node {i}: cell `{}` is not in the cell library",
                    n.cell
                ))
            })?;
            if n.ins.len() != gates.gates[gate].arity()
                || n.ins.iter().any(|&s| s as usize >= ni + i)
            {
                return Err(Error::Other(format!(
                    "circuit node {i} ({}): wrong inputs {:?}",
                    n.cell, n.ins
                )));
            }
            let mut ins = [2 * c.bits; MAX_ARITY];
            ins[..n.ins.len()].copy_from_slice(&n.ins);
            nodes.push(Node {
                gate: gate as u16,
                ins,
            });
        }
        if c.outputs.len() != 2 * c.bits as usize
            || c.outputs.iter().any(|&s| s as usize >= ni + nodes.len())
        {
            return Err(Error::Other("circuit outputs are wrong".into()));
        }
        Ok(Genome {
            bits: c.bits,
            levels_back: nodes.len().max(1),
            nodes,
            outputs: c.outputs.clone(),
        })
    }

    /// Logic depth: the longest path from an input to an output, in cells.
    pub fn depth(&self, gates: &GateSet) -> usize {
        let ni = self.n_inputs();
        let mut d = vec![0usize; self.nodes.len()];
        let level = |s: u32, d: &[usize]| (s as usize).checked_sub(ni).map_or(0, |j| d[j]);
        for (i, n) in self.nodes.iter().enumerate() {
            let a = gates.gates[n.gate as usize].arity();
            d[i] = 1 + n.ins[..a].iter().map(|&s| level(s, &d)).max().unwrap_or(0);
        }
        self.outputs
            .iter()
            .map(|&s| level(s, &d))
            .max()
            .unwrap_or(0)
    }

    /// Output value for one operand pair, gate by gate (slow; the reference for the
    /// bit-parallel simulator and for tests).
    pub fn eval(&self, gates: &GateSet, a: u32, b: u32) -> u32 {
        let ni = self.n_inputs();
        let bits = self.bits as usize;
        let mut v = vec![false; self.n_signals()];
        for k in 0..bits {
            v[k] = a >> k & 1 == 1;
            v[bits + k] = b >> k & 1 == 1;
        }
        v[2 * bits + 1] = true;
        for (i, n) in self.nodes.iter().enumerate() {
            let g = &gates.gates[n.gate as usize];
            let mut ins = [false; MAX_ARITY];
            for (x, &s) in ins.iter_mut().zip(&n.ins[..g.arity()]) {
                *x = v[s as usize];
            }
            v[ni + i] = g.eval_bits(&ins[..g.arity()]);
        }
        self.outputs
            .iter()
            .enumerate()
            .fold(0, |m, (k, &s)| m | (v[s as usize] as u32) << k)
    }
}

impl Circuit {
    /// Plain Verilog-2001 (EvoApproxLib's ports: `module X(A, B, O)`), one `assign` per cell
    /// from its Liberty function, the cell named in a comment. `header` lines come first (each
    /// is prefixed with `// `).
    pub fn verilog(&self, gates: &GateSet, module: &str, header: &[String]) -> Result<String> {
        let bits = self.bits as usize;
        let ni = 2 * bits + 2;
        let name = |s: u32| -> String {
            let s = s as usize;
            if s < bits {
                format!("A[{s}]")
            } else if s < 2 * bits {
                format!("B[{}]", s - bits)
            } else if s == 2 * bits {
                "1'b0".into()
            } else if s == 2 * bits + 1 {
                "1'b1".into()
            } else {
                format!("n{}", s - ni)
            }
        };
        let mut used = vec![false; 2 * bits];
        for n in &self.nodes {
            for &s in &n.ins {
                if (s as usize) < 2 * bits {
                    used[s as usize] = true;
                }
            }
        }
        for &s in &self.outputs {
            if (s as usize) < 2 * bits {
                used[s as usize] = true;
            }
        }
        let mut v = String::new();
        for h in header {
            let _ = writeln!(v, "// {h}");
        }
        let _ = writeln!(v, "module {module} (A, B, O);");
        for (p, port) in ["A", "B"].iter().enumerate() {
            let unused: Vec<String> = (0..bits)
                .filter(|&k| !used[p * bits + k])
                .map(|k| format!("{port}[{k}]"))
                .collect();
            if unused.is_empty() {
                let _ = writeln!(v, "  input [{}:0] {port};", bits - 1);
            } else {
                let _ = writeln!(
                    v,
                    "  // {} not used: evolution removed every cell that read {}.\n\
                     \x20 /* verilator lint_off UNUSEDSIGNAL */\n\
                     \x20 input [{}:0] {port};\n\
                     \x20 /* verilator lint_on UNUSEDSIGNAL */",
                    unused.join(", "),
                    if unused.len() == 1 { "it" } else { "them" },
                    bits - 1
                );
            }
        }
        let _ = writeln!(v, "  output [{}:0] O;", 2 * bits - 1);
        for k in 0..self.nodes.len() {
            let _ = writeln!(v, "  wire n{k};");
        }
        for (k, n) in self.nodes.iter().enumerate() {
            let g = gates.by_cell(&n.cell).ok_or_else(|| {
                Error::Other(format!("cell `{}` is not in the cell library", n.cell))
            })?;
            let g = &gates.gates[g];
            let rename = |pin: &str| {
                g.inputs
                    .iter()
                    .position(|p| p == pin)
                    .map_or_else(|| pin.to_string(), |i| name(n.ins[i]))
            };
            let _ = writeln!(
                v,
                "  assign n{k} = {};  // {}",
                g.function.verilog(&rename),
                n.cell
            );
        }
        for (k, &s) in self.outputs.iter().enumerate() {
            let _ = writeln!(v, "  assign O[{k}] = {};", name(s));
        }
        v.push_str("endmodule\n");
        Ok(v)
    }

    /// Cell count per cell name.
    pub fn cell_counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for n in &self.nodes {
            *m.entry(n.cell.clone()).or_insert(0) += 1;
        }
        m
    }
}
