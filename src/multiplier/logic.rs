//! Gate-level building blocks shared by the generators of the built-in multipliers.
//!
//! A reduction algorithm (carry-save array, Wallace tree with approximate compressors, OR-ed
//! lower part) is written once against the [`Logic`] trait. The [`Netlist`] implementation
//! records gates and prints them as Verilog `assign` statements; the `bool` implementation
//! ([`Eval`]) evaluates the same algorithm directly. Most families are checked against
//! arithmetic models that share no code with this file (see `builtin.rs`); only the 4:2
//! compressor family, whose error depends on the reduction schedule, uses [`Eval`] as its model.

use std::fmt::Write as _;

/// A gate-level interpretation of single bits.
pub trait Logic {
    type Bit: Copy;
    fn zero(&self) -> Self::Bit;
    fn and(&mut self, a: Self::Bit, b: Self::Bit) -> Self::Bit;
    fn or(&mut self, a: Self::Bit, b: Self::Bit) -> Self::Bit;
    fn xor(&mut self, a: Self::Bit, b: Self::Bit) -> Self::Bit;
}

/// Full adder: (sum, carry).
pub fn full_add<L: Logic>(l: &mut L, a: L::Bit, b: L::Bit, c: L::Bit) -> (L::Bit, L::Bit) {
    let t = l.xor(a, b);
    let s = l.xor(t, c);
    let g = l.and(a, b);
    let p = l.and(t, c);
    (s, l.or(g, p))
}

/// Half adder: (sum, carry).
pub fn half_add<L: Logic>(l: &mut L, a: L::Bit, b: L::Bit) -> (L::Bit, L::Bit) {
    (l.xor(a, b), l.and(a, b))
}

/// Carry-free approximate 4:2 compressor: `carry = x1 x2 + x3 x4`, `sum = (x1^x2) + (x3^x4)`
/// (`+` is OR). It is exact except when the four inputs hold exactly two ones split across the
/// pairs (result 1 instead of 2) or four ones (result 2 instead of 4): it never overestimates.
pub fn approx_42<L: Logic>(l: &mut L, x: [L::Bit; 4]) -> (L::Bit, L::Bit) {
    let s1 = l.xor(x[0], x[1]);
    let s2 = l.xor(x[2], x[3]);
    let c1 = l.and(x[0], x[1]);
    let c2 = l.and(x[2], x[3]);
    (l.or(s1, s2), l.or(c1, c2))
}

/// Bits of a product, indexed by column (weight `2^column`); each column holds any number of bits.
pub type Columns<B> = Vec<Vec<B>>;

/// Compresses one column to a single bit, sending carries to `carry_out`.
fn compress_column<L: Logic>(l: &mut L, bits: &mut Vec<L::Bit>, carry_out: &mut Vec<L::Bit>) {
    while bits.len() >= 3 {
        let (c, b, a) = (
            bits.pop().unwrap(),
            bits.pop().unwrap(),
            bits.pop().unwrap(),
        );
        let (s, co) = full_add(l, a, b, c);
        bits.push(s);
        carry_out.push(co);
    }
    if bits.len() == 2 {
        let (b, a) = (bits.pop().unwrap(), bits.pop().unwrap());
        let (s, co) = half_add(l, a, b);
        bits.push(s);
        carry_out.push(co);
    }
}

/// Final carry-propagate addition of columns of any height, from the least significant column
/// up; bits carried out of the top column are dropped (the caller sizes `width` so none exist).
pub fn ripple_add<L: Logic>(l: &mut L, width: usize, mut cols: Columns<L::Bit>) -> Vec<L::Bit> {
    cols.resize(width + 1, Vec::new());
    let mut out = Vec::with_capacity(width);
    for c in 0..width {
        let mut bits = std::mem::take(&mut cols[c]);
        let mut carries = Vec::new();
        compress_column(l, &mut bits, &mut carries);
        cols[c + 1].extend(carries);
        out.push(bits.pop().unwrap_or_else(|| l.zero()));
    }
    out
}

/// Wallace-style reduction of partial-product columns. Columns below `approx_cols` use the
/// approximate 4:2 compressor on groups of four bits (a leftover triple uses a full adder);
/// the others use full adders on triples and a half adder on a leftover pair. Stages repeat
/// until every column holds at most two bits; then [`ripple_add`] finishes exactly.
pub fn compressor_tree<L: Logic>(
    l: &mut L,
    width: usize,
    mut cols: Columns<L::Bit>,
    approx_cols: usize,
) -> Vec<L::Bit> {
    cols.resize(width + 1, Vec::new());
    while cols.iter().any(|c| c.len() > 2) {
        let mut next: Columns<L::Bit> = vec![Vec::new(); width + 1];
        for c in 0..width {
            let bits = std::mem::take(&mut cols[c]);
            let height = bits.len();
            let mut it = bits.into_iter().peekable();
            let mut rest: Vec<L::Bit> = Vec::new();
            if c < approx_cols {
                while it.len() >= 4 {
                    let x = [
                        it.next().unwrap(),
                        it.next().unwrap(),
                        it.next().unwrap(),
                        it.next().unwrap(),
                    ];
                    let (s, co) = approx_42(l, x);
                    next[c].push(s);
                    next[c + 1].push(co);
                }
            }
            while it.len() >= 3 {
                let (a, b, x) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
                let (s, co) = full_add(l, a, b, x);
                next[c].push(s);
                next[c + 1].push(co);
            }
            rest.extend(it);
            if rest.len() == 2 && height > 2 && c >= approx_cols {
                let (s, co) = half_add(l, rest[0], rest[1]);
                next[c].push(s);
                next[c + 1].push(co);
            } else {
                next[c].extend(rest);
            }
        }
        cols = next;
    }
    ripple_add(l, width, cols)
}

/// Direct evaluation on booleans.
pub struct Eval;

impl Logic for Eval {
    type Bit = bool;
    fn zero(&self) -> bool {
        false
    }
    fn and(&mut self, a: bool, b: bool) -> bool {
        a & b
    }
    fn or(&mut self, a: bool, b: bool) -> bool {
        a | b
    }
    fn xor(&mut self, a: bool, b: bool) -> bool {
        a ^ b
    }
}

/// A bit in a [`Netlist`]: a constant or a named net.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    Zero,
    One,
    Id(usize),
}

/// Records gates with constant folding and prints the live ones as Verilog-2001.
#[derive(Default)]
pub struct Netlist {
    /// Input bit names; nets `0..inputs.len()` are inputs, the rest gates.
    inputs: Vec<String>,
    gates: Vec<(&'static str, Net, Net)>,
}

impl Netlist {
    pub fn new() -> Self {
        Self::default()
    }

    /// A named input bit such as `A[3]`. Declare all inputs before the first gate.
    pub fn input(&mut self, name: &str) -> Net {
        assert!(
            self.gates.is_empty(),
            "inputs must be declared before gates"
        );
        self.inputs.push(name.to_string());
        Net::Id(self.inputs.len() - 1)
    }

    fn gate(&mut self, op: &'static str, a: Net, b: Net) -> Net {
        self.gates.push((op, a, b));
        Net::Id(self.inputs.len() + self.gates.len() - 1)
    }

    /// Marks the nets `out` depends on.
    fn live(&self, out: &[Net]) -> Vec<bool> {
        let n_in = self.inputs.len();
        let mut live = vec![false; n_in + self.gates.len()];
        let mut stack: Vec<usize> = out
            .iter()
            .filter_map(|n| if let Net::Id(i) = n { Some(*i) } else { None })
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut live[i], true) || i < n_in {
                continue;
            }
            let (_, a, b) = self.gates[i - n_in];
            for x in [a, b] {
                if let Net::Id(j) = x {
                    stack.push(j);
                }
            }
        }
        live
    }

    /// Names of the input bits that `out` does not depend on.
    pub fn unused_inputs(&self, out: &[Net]) -> Vec<String> {
        let live = self.live(out);
        self.inputs
            .iter()
            .enumerate()
            .filter(|(i, _)| !live[*i])
            .map(|(_, n)| n.clone())
            .collect()
    }

    fn name(&self, n: Net, numbering: &[usize]) -> String {
        match n {
            Net::Zero => "1'b0".into(),
            Net::One => "1'b1".into(),
            Net::Id(i) if i < self.inputs.len() => self.inputs[i].clone(),
            Net::Id(i) => format!("n{}", numbering[i - self.inputs.len()]),
        }
    }

    /// Declarations and assignments of the gates `out` depends on (dead ones dropped), plus
    /// `assign O = {...}` for `out` (least significant bit first).
    pub fn verilog_body(&self, out: &[Net]) -> String {
        let n_in = self.inputs.len();
        let live = self.live(out);
        let mut numbering = vec![usize::MAX; self.gates.len()];
        let mut count = 0;
        for (g, slot) in numbering.iter_mut().enumerate() {
            if live[n_in + g] {
                *slot = count;
                count += 1;
            }
        }
        let mut s = String::new();
        let decl: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
        for chunk in decl.chunks(12) {
            let _ = writeln!(s, "  wire {};", chunk.join(", "));
        }
        if count > 0 {
            s.push('\n');
        }
        for (g, &(op, a, b)) in self.gates.iter().enumerate() {
            if live[n_in + g] {
                let _ = writeln!(
                    s,
                    "  assign n{} = {} {op} {};",
                    numbering[g],
                    self.name(a, &numbering),
                    self.name(b, &numbering)
                );
            }
        }
        let bits: Vec<String> = out
            .iter()
            .rev()
            .map(|&n| self.name(n, &numbering))
            .collect();
        let _ = writeln!(s, "\n  assign O = {{{}}};", bits.join(", "));
        s
    }
}

impl Logic for Netlist {
    type Bit = Net;
    fn zero(&self) -> Net {
        Net::Zero
    }
    fn and(&mut self, a: Net, b: Net) -> Net {
        match (a, b) {
            (Net::Zero, _) | (_, Net::Zero) => Net::Zero,
            (Net::One, x) | (x, Net::One) => x,
            _ => self.gate("&", a, b),
        }
    }
    fn or(&mut self, a: Net, b: Net) -> Net {
        match (a, b) {
            (Net::One, _) | (_, Net::One) => Net::One,
            (Net::Zero, x) | (x, Net::Zero) => x,
            _ => self.gate("|", a, b),
        }
    }
    fn xor(&mut self, a: Net, b: Net) -> Net {
        match (a, b) {
            (Net::Zero, x) | (x, Net::Zero) => x,
            _ => self.gate("^", a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(x: u32, n: usize) -> Vec<bool> {
        (0..n).map(|i| (x >> i) & 1 == 1).collect()
    }

    fn value(b: &[bool]) -> u32 {
        b.iter().enumerate().map(|(i, &x)| (x as u32) << i).sum()
    }

    #[test]
    fn compressor_tree_without_approximation_is_exact() {
        for a in (0..256u32).step_by(5) {
            for b in 0..256u32 {
                let (av, bv) = (bits(a, 8), bits(b, 8));
                let mut cols = vec![Vec::new(); 16];
                for i in 0..8 {
                    for j in 0..8 {
                        cols[i + j].push(av[i] & bv[j]);
                    }
                }
                assert_eq!(value(&compressor_tree(&mut Eval, 16, cols, 0)), a * b);
            }
        }
    }

    #[test]
    fn approx_42_errors_are_the_documented_ones() {
        for x in 0..16u32 {
            let v = bits(x, 4);
            let (s, c) = approx_42(&mut Eval, [v[0], v[1], v[2], v[3]]);
            let got = s as u32 + 2 * c as u32;
            let ones = x.count_ones();
            let split_pair = ones == 2 && x != 0b0011 && x != 0b1100;
            let want = if ones == 4 {
                2
            } else if split_pair {
                1
            } else {
                ones
            };
            assert_eq!(got, want, "inputs {x:04b}");
        }
    }
}
