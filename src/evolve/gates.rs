//! The evolver's node functions: the combinational cells of a Liberty library, each with its
//! Boolean function compiled to a small bit-parallel program, its area, leakage, input pin
//! capacitances and the internal energy of an output toggle (the same arcs the PPA stage reads).

use crate::error::{Error, Result};
use crate::ppa::liberty::{Expr, Library, Pin};
use crate::ppa::power::arc_energy;
use std::collections::BTreeMap;

/// Most inputs a node has (cells with more are not used as node functions).
pub const MAX_ARITY: usize = 4;

/// Words of a signal processed per program step (the stack holds this many words per entry).
pub const CHUNK: usize = 64;

/// One step of a gate's postfix program over bit-parallel words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    In(u8),
    Const(bool),
    Not,
    And,
    Or,
    Xor,
}

/// Fused word loops for the common cell functions, matched to a cell by its truth table (in
/// its pin order); any other function runs through its postfix program.
macro_rules! kernels {
    ($( $name:ident [$n:literal] |$($v:ident),+| $body:expr ;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        enum Kernel { Program, $($name),* }

        const KERNELS: &[(Kernel, usize)] = &[$((Kernel::$name, $n)),*];

        /// The truth table of a kernel (bit m: inputs = the bits of m).
        fn kernel_truth(k: Kernel) -> u16 {
            match k {
                Kernel::Program => 0,
                $(Kernel::$name => {
                    let mut t = 0u16;
                    for m in 0..1u16 << $n {
                        let mut i = 0;
                        $( let $v: u64 = if m >> i & 1 == 1 { !0 } else { 0 }; i += 1; )+
                        let _ = i;
                        t |= ((($body) & 1) as u16) << m;
                    }
                    t
                })*
            }
        }

        /// Runs a kernel over whole signals; false for `Program`.
        #[inline(always)]
        fn kernel_eval(k: Kernel, ins: &[&[u64]], out: &mut [u64]) -> bool {
            let n = out.len();
            match k {
                Kernel::Program => false,
                $(Kernel::$name => {
                    let mut it = ins.iter();
                    $( let $v = &it.next().expect("arity")[..n]; )+
                    for w in 0..n {
                        $( let $v = $v[w]; )+
                        out[w] = $body;
                    }
                    true
                })*
            }
        }
    };
}

kernels! {
    inv [1] |a| !a;
    buf [1] |a| a;
    and2 [2] |a, b| a & b;
    nand2 [2] |a, b| !(a & b);
    or2 [2] |a, b| a | b;
    nor2 [2] |a, b| !(a | b);
    xor2 [2] |a, b| a ^ b;
    xnor2 [2] |a, b| !(a ^ b);
    andn2 [2] |a, b| a & !b;
    nandn2 [2] |a, b| !a & b;
    orn2 [2] |a, b| a | !b;
    norn2 [2] |a, b| !a | b;
    and3 [3] |a, b, c| a & b & c;
    nand3 [3] |a, b, c| !(a & b & c);
    or3 [3] |a, b, c| a | b | c;
    nor3 [3] |a, b, c| !(a | b | c);
    xor3 [3] |a, b, c| a ^ b ^ c;
    xnor3 [3] |a, b, c| !(a ^ b ^ c);
    a21o [3] |a, b, c| (a & b) | c;
    a21oi [3] |a, b, c| !((a & b) | c);
    o21a [3] |a, b, c| (a | b) & c;
    o21ai [3] |a, b, c| !((a | b) & c);
    mux2 [3] |a, b, s| (a & !s) | (b & s);
    mux2i [3] |a, b, s| !((a & !s) | (b & s));
    maj3 [3] |a, b, c| (a & b) | (c & (a | b));
    and4 [4] |a, b, c, d| a & b & c & d;
    nand4 [4] |a, b, c, d| !(a & b & c & d);
    or4 [4] |a, b, c, d| a | b | c | d;
    nor4 [4] |a, b, c, d| !(a | b | c | d);
    a22o [4] |a, b, c, d| (a & b) | (c & d);
    a22oi [4] |a, b, c, d| !((a & b) | (c & d));
    o22a [4] |a, b, c, d| (a | b) & (c | d);
    o22ai [4] |a, b, c, d| !((a | b) & (c | d));
    a211o [4] |a, b, c, d| (a & b) | c | d;
    a211oi [4] |a, b, c, d| !((a & b) | c | d);
    o211a [4] |a, b, c, d| (a | b) & c & d;
    o211ai [4] |a, b, c, d| !((a | b) & c & d);
    a31o [4] |a, b, c, d| (a & b & c) | d;
    a31oi [4] |a, b, c, d| !((a & b & c) | d);
    o31a [4] |a, b, c, d| (a | b | c) & d;
    o31ai [4] |a, b, c, d| !((a | b | c) & d);
}

/// A library cell usable as a CGP node: one output, 1..=MAX_ARITY inputs, a function.
#[derive(Clone, Debug)]
pub struct Gate {
    pub cell: String,
    /// Input pin names, in the order the node's input genes connect them.
    pub inputs: Vec<String>,
    pub output: String,
    pub function: Expr,
    /// Bit `m` is the output when input `k` is bit `k` of `m`.
    pub truth: u16,
    pub area: f64,
    pub leakage_nw: f64,
    /// Input pin capacitances (pF), in `inputs` order.
    pub input_cap: Vec<f64>,
    out_pin: Pin,
    prog: Vec<Op>,
    kernel: Kernel,
}

impl Gate {
    pub fn arity(&self) -> usize {
        self.inputs.len()
    }

    /// Energy (pJ) of one toggle of the output net at `load_pf`: the cell's internal energy
    /// (as [`arc_energy`], the PPA's reading of the tables) plus ½·C·V² of the load.
    pub fn toggle_energy(&self, load_pf: f64, voltage: f64) -> f64 {
        arc_energy(&self.out_pin, load_pf) + 0.5 * load_pf * voltage * voltage
    }

    /// The function on single bits (`ins[k]` is input `k`).
    pub fn eval_bits(&self, ins: &[bool]) -> bool {
        let m = ins
            .iter()
            .enumerate()
            .fold(0usize, |m, (k, &b)| m | (b as usize) << k);
        self.truth >> m & 1 == 1
    }

    /// `out[w] = f(ins[0][w], ins[1][w], ...)` for every word.
    #[inline]
    pub fn eval(&self, ins: &[&[u64]], out: &mut [u64]) {
        if kernel_eval(self.kernel, ins, out) {
            return;
        }
        self.eval_program(ins, out)
    }

    fn eval_program(&self, ins: &[&[u64]], out: &mut [u64]) {
        let n = out.len();
        let mut stack = [[0u64; CHUNK]; 6];
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let mut sp = 0;
            for op in &self.prog {
                match *op {
                    Op::In(k) => {
                        stack[sp][..len].copy_from_slice(&ins[k as usize][start..start + len]);
                        sp += 1;
                    }
                    Op::Const(b) => {
                        stack[sp][..len].fill(if b { u64::MAX } else { 0 });
                        sp += 1;
                    }
                    Op::Not => stack[sp - 1][..len].iter_mut().for_each(|x| *x = !*x),
                    Op::And | Op::Or | Op::Xor => {
                        let (lo, hi) = stack.split_at_mut(sp - 1);
                        let (a, b) = (&mut lo[sp - 2][..len], &hi[0][..len]);
                        match *op {
                            Op::And => a.iter_mut().zip(b).for_each(|(x, y)| *x &= y),
                            Op::Or => a.iter_mut().zip(b).for_each(|(x, y)| *x |= y),
                            _ => a.iter_mut().zip(b).for_each(|(x, y)| *x ^= y),
                        }
                        sp -= 1;
                    }
                }
            }
            out[start..start + len].copy_from_slice(&stack[0][..len]);
            start += len;
        }
    }
}

/// The node functions of one library, in a stable order (by cell name).
#[derive(Clone, Debug)]
pub struct GateSet {
    pub gates: Vec<Gate>,
    /// Supply voltage of the library (V).
    pub voltage: f64,
    /// Cells of the library that are not node functions, with the reason.
    pub skipped: Vec<(String, String)>,
    index: BTreeMap<String, usize>,
}

fn compile(e: &Expr, pins: &[String], prog: &mut Vec<Op>) -> std::result::Result<(), String> {
    match e {
        Expr::Const(b) => prog.push(Op::Const(*b)),
        Expr::Var(v) => {
            let k = pins
                .iter()
                .position(|p| p == v)
                .ok_or_else(|| format!("function uses `{v}`, which is not an input pin"))?;
            prog.push(Op::In(k as u8));
        }
        Expr::Not(a) => {
            compile(a, pins, prog)?;
            prog.push(Op::Not);
        }
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Xor(a, b) => {
            compile(a, pins, prog)?;
            compile(b, pins, prog)?;
            prog.push(match e {
                Expr::And(..) => Op::And,
                Expr::Or(..) => Op::Or,
                _ => Op::Xor,
            });
        }
    }
    Ok(())
}

/// Stack entries a program needs.
fn depth(prog: &[Op]) -> usize {
    let (mut sp, mut max) = (0usize, 0usize);
    for op in prog {
        match op {
            Op::In(_) | Op::Const(_) => sp += 1,
            Op::Not => {}
            _ => sp -= 1,
        }
        max = max.max(sp);
    }
    max
}

impl GateSet {
    /// Every combinational single-output cell of `lib` with 1..=MAX_ARITY inputs and a function
    /// (`dont_use` cells, flip-flops, latches and multi-output cells are skipped). `only`
    /// restricts the set to the named cells.
    pub fn from_library(lib: &Library, only: Option<&[String]>) -> Result<GateSet> {
        let mut gates = Vec::new();
        let mut skipped = Vec::new();
        for (name, c) in &lib.cells {
            if let Some(only) = only {
                if !only.iter().any(|o| o == name) {
                    continue;
                }
            }
            let reason = if c.dont_use {
                Some("dont_use".to_string())
            } else if c.ff.is_some() || c.unsupported.is_some() {
                Some("sequential".into())
            } else {
                None
            };
            let outs: Vec<&Pin> = c.outputs().collect();
            let ins: Vec<&Pin> = c.inputs().collect();
            let reason = reason.or_else(|| match (outs.len(), ins.len()) {
                (1, 1..=MAX_ARITY) => None,
                (1, 0) => Some("no inputs (constants are the evolver's own)".into()),
                (1, n) => Some(format!("{n} inputs (at most {MAX_ARITY})")),
                (n, _) => Some(format!("{n} outputs")),
            });
            if let Some(r) = reason {
                skipped.push((name.clone(), r));
                continue;
            }
            let out = outs[0];
            let Some(f) = &out.function else {
                skipped.push((name.clone(), "output has no function".into()));
                continue;
            };
            let inputs: Vec<String> = ins.iter().map(|p| p.name.clone()).collect();
            let parsed = Expr::parse(f).and_then(|e| {
                let mut prog = Vec::new();
                compile(&e, &inputs, &mut prog)?;
                Ok((e, prog))
            });
            let (function, prog) = match parsed {
                Ok(x) if depth(&x.1) <= 6 => x,
                Ok(_) => {
                    skipped.push((name.clone(), "function too deep".into()));
                    continue;
                }
                Err(e) => {
                    skipped.push((name.clone(), e));
                    continue;
                }
            };
            let mut truth = 0u16;
            for m in 0..1usize << inputs.len() {
                let v = |n: &str| {
                    let k = inputs.iter().position(|p| p == n).unwrap_or(0);
                    m >> k & 1 == 1
                };
                truth |= (function.eval(&v) as u16) << m;
            }
            let kernel = KERNELS
                .iter()
                .find(|(k, n)| *n == inputs.len() && kernel_truth(*k) == truth)
                .map_or(Kernel::Program, |(k, _)| *k);
            gates.push(Gate {
                kernel,
                cell: name.clone(),
                input_cap: ins.iter().map(|p| p.capacitance).collect(),
                inputs,
                output: out.name.clone(),
                function,
                truth,
                area: c.area,
                leakage_nw: c.leakage,
                out_pin: out.clone(),
                prog,
            });
        }
        if let Some(only) = only {
            if let Some(missing) = only.iter().find(|o| !gates.iter().any(|g| &g.cell == *o)) {
                return Err(Error::Input {
                    file: lib.path.clone(),
                    message: format!(
                        "cell `{missing}` is not a usable combinational cell of this library \
                         (single output, 1..={MAX_ARITY} inputs, a function)"
                    ),
                });
            }
        }
        if gates.is_empty() {
            return Err(Error::Input {
                file: lib.path.clone(),
                message: "no combinational single-output cells with functions: nothing to evolve \
                          with"
                    .into(),
            });
        }
        let index = gates
            .iter()
            .enumerate()
            .map(|(i, g)| (g.cell.clone(), i))
            .collect();
        Ok(GateSet {
            gates,
            voltage: lib.voltage,
            skipped,
            index,
        })
    }

    pub fn by_cell(&self, cell: &str) -> Option<usize> {
        self.index.get(cell).copied()
    }

    /// The smallest gate computing `truth` over `arity` inputs in pin order.
    pub fn cheapest(&self, arity: usize, truth: u16) -> Option<usize> {
        self.gates
            .iter()
            .enumerate()
            .filter(|(_, g)| g.arity() == arity && g.truth == truth)
            .min_by(|a, b| a.1.area.total_cmp(&b.1.area))
            .map(|(i, _)| i)
    }

    pub fn len(&self) -> usize {
        self.gates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gates.is_empty()
    }

    /// Position of each input pin of `cell` in the gate's input order (for reading netlists).
    pub fn pin_index(&self, gate: usize, pin: &str) -> Option<usize> {
        self.gates[gate].inputs.iter().position(|p| p == pin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn default_lib() -> Library {
        Library::from_str(crate::ppa::DEFAULT_LIBERTY, Path::new("default.lib")).unwrap()
    }

    #[test]
    fn word_programs_equal_the_liberty_functions() {
        let set = GateSet::from_library(&default_lib(), None).unwrap();
        assert!(set.len() >= 20, "{} gates", set.len());
        // every default cell has a fused kernel
        for g in &set.gates {
            assert_ne!(g.kernel, Kernel::Program, "{}", g.cell);
        }
        // multi-output adders are skipped, not mis-modelled
        assert!(set.by_cell("sky130_fd_sc_hd__fa_1").is_none());
        assert!(set.by_cell("sky130_fd_sc_hd__a21oi_1").is_some());
        // 16 words whose bit m of word k is bit k of m: every input combination
        let ins: Vec<Vec<u64>> = (0..MAX_ARITY)
            .map(|k| {
                (0..130)
                    .map(|w| (0..64).fold(0u64, |x, i| x | (((w * 64 + i) >> k & 1) as u64) << i))
                    .collect()
            })
            .collect();
        for g in &set.gates {
            let refs: Vec<&[u64]> = ins[..g.arity()].iter().map(|v| v.as_slice()).collect();
            let mut out = vec![0u64; 130];
            g.eval(&refs, &mut out);
            let mut prog = vec![0u64; 130];
            g.eval_program(&refs, &mut prog);
            assert_eq!(out, prog, "{}: kernel and program differ", g.cell);
            for p in 0..130 * 64 {
                let bits: Vec<bool> = (0..g.arity()).map(|k| p >> k & 1 == 1).collect();
                let want = g
                    .function
                    .eval(&|n: &str| bits[g.inputs.iter().position(|x| x == n).unwrap()]);
                assert_eq!(out[p / 64] >> (p % 64) & 1 == 1, want, "{} at {p}", g.cell);
                assert_eq!(g.eval_bits(&bits), want, "{}", g.cell);
            }
        }
    }

    #[test]
    fn toggle_energy_grows_with_load() {
        let set = GateSet::from_library(&default_lib(), None).unwrap();
        let g = &set.gates[set.by_cell("sky130_fd_sc_hd__nand2_1").unwrap()];
        let (e0, e1) = (g.toggle_energy(0.001, 1.8), g.toggle_energy(0.01, 1.8));
        assert!(e0 > 0.0 && e1 > e0 + 0.5 * 0.009 * 1.8 * 1.8 * 0.99);
        let only = ["sky130_fd_sc_hd__nand2_1".to_string()];
        assert_eq!(
            GateSet::from_library(&default_lib(), Some(&only))
                .unwrap()
                .len(),
            1
        );
        let bad = ["sky130_fd_sc_hd__fa_1".to_string()];
        assert!(GateSet::from_library(&default_lib(), Some(&bad)).is_err());
    }
}
