//! The PE around the multiplier, for the energy objective: a weight-stationary PE adds the
//! product to the partial sum from above (`psum_out = psum_in + product`, `acc_bits` wide) and
//! registers it. Product bits that toggle drive that adder; product bits that are constant let
//! synthesis drop the adder's cells in their column (a truncated product saves more in the PE
//! than in the multiplier). The model: a ripple-carry adder of library cells (full adders as
//! two XOR2 and a MAJ3, half adders as XOR2/XNOR2 with AND2/OR2, columns of constants folded
//! away), simulated on the stream with the real partial sums, its cells' toggles costed like the
//! multiplier's, plus the accumulator register's D-pin energy per toggle of each sum bit and the
//! switching of the `psum_in` nets. It is an estimate of what the PE adds around a given
//! multiplier, not a mapping of the PE: the PPA stage synthesizes the real one.

use super::gates::GateSet;
use super::sim::{segment_toggles, Segment};
use crate::error::{Error, Result};
use crate::ppa::liberty::Library;
use crate::ppa::power::arc_energy;

/// A signal of the adder model.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ref {
    Const(bool),
    Product(usize),
    Psum(usize),
    /// an adder cell's output
    Net(usize),
}

struct Cell {
    gate: usize,
    ins: Vec<Ref>,
}

pub struct PeContext {
    pub acc_bits: usize,
    /// `psum_in` bit planes over a signal's words (only the stream words are set).
    psum: Vec<Vec<u64>>,
    /// Per psum bit and segment, its toggles.
    psum_toggles: Vec<Vec<u32>>,
    xor2: usize,
    xnor2: usize,
    and2: usize,
    or2: usize,
    maj3: usize,
    inv: usize,
    /// The accumulator register's D pin: capacitance (pF) and energy per toggle (pJ).
    d_cap: f64,
    d_energy: f64,
}

/// What the PE around a candidate costs.
pub struct Around {
    /// Energy per segment (pJ over the segment).
    pub per_segment: Vec<f64>,
    /// Load the adder puts on each product bit (pF).
    pub product_loads: Vec<f64>,
    pub cells: usize,
}

impl PeContext {
    /// `psum` holds `acc_bits` planes of `words` words each.
    pub fn new(
        gates: &GateSet,
        lib: &Library,
        acc_bits: usize,
        psum: Vec<Vec<u64>>,
        segments: &[Segment],
    ) -> Result<PeContext> {
        let need = |arity: usize, truth: u16, what: &str| {
            gates.cheapest(arity, truth).ok_or_else(|| Error::Input {
                file: lib.path.clone(),
                message: format!(
                    "the PE context model needs a {what} cell, which this library lacks; \
                     evolve with `context = \"multiplier\"`"
                ),
            })
        };
        let ff = lib
            .cells
            .values()
            .find(|c| c.ff.is_some() && !c.dont_use)
            .ok_or_else(|| Error::Input {
                file: lib.path.clone(),
                message: "no D flip-flop for the accumulator register".into(),
            })?;
        let d = ff.inputs().find(|p| !p.clock).ok_or_else(|| Error::Input {
            file: lib.path.clone(),
            message: format!("flip-flop {} has no data pin", ff.name),
        })?;
        let psum_toggles = psum
            .iter()
            .map(|v| segments.iter().map(|s| segment_toggles(v, s)).collect())
            .collect();
        Ok(PeContext {
            acc_bits,
            psum_toggles,
            psum,
            xor2: need(2, 0x6, "2-input XOR")?,
            xnor2: need(2, 0x9, "2-input XNOR")?,
            and2: need(2, 0x8, "2-input AND")?,
            or2: need(2, 0xE, "2-input OR")?,
            maj3: need(3, 0xE8, "3-input majority")?,
            inv: need(1, 0x1, "inverter")?,
            d_cap: d.capacitance,
            d_energy: arc_energy(d, 0.0),
        })
    }

    /// The adder, column by column, for these product bits (None: not constant).
    fn structure(&self, constant: &[Option<bool>]) -> (Vec<Cell>, Vec<Ref>) {
        let mut cells = Vec::new();
        let mut sums = Vec::with_capacity(self.acc_bits);
        let mut carry = Ref::Const(false);
        let add = |cells: &mut Vec<Cell>, gate: usize, ins: Vec<Ref>| {
            cells.push(Cell { gate, ins });
            Ref::Net(cells.len() - 1)
        };
        for j in 0..self.acc_bits {
            let p = match constant.get(j) {
                None => Ref::Const(false),
                Some(Some(b)) => Ref::Const(*b),
                Some(None) => Ref::Product(j),
            };
            let q = Ref::Psum(j);
            let (mut live, mut ones) = (Vec::new(), 0);
            for x in [p, carry] {
                match x {
                    Ref::Const(b) => ones += b as usize,
                    r => live.push(r),
                }
            }
            let (sum, next) = match (live.len(), ones) {
                (0, 0) => (q, Ref::Const(false)),
                (0, 1) => (add(&mut cells, self.inv, vec![q]), q),
                (0, _) => (q, Ref::Const(true)),
                (1, 0) => (
                    add(&mut cells, self.xor2, vec![q, live[0]]),
                    add(&mut cells, self.and2, vec![q, live[0]]),
                ),
                (1, _) => (
                    add(&mut cells, self.xnor2, vec![q, live[0]]),
                    add(&mut cells, self.or2, vec![q, live[0]]),
                ),
                _ => {
                    let x = add(&mut cells, self.xor2, vec![live[0], q]);
                    (
                        add(&mut cells, self.xor2, vec![x, live[1]]),
                        add(&mut cells, self.maj3, vec![live[0], q, live[1]]),
                    )
                }
            };
            sums.push(sum);
            carry = next;
        }
        (cells, sums)
    }

    /// Simulates the adder for `product` (each bit's vector over all words) on the stream.
    pub fn around(
        &self,
        gates: &GateSet,
        product: &[&[u64]],
        pair_words: usize,
        segments: &[Segment],
    ) -> Around {
        let constant: Vec<Option<bool>> = product
            .iter()
            .map(|v| {
                let w = &v[..pair_words];
                if w.iter().all(|&x| x == 0) {
                    Some(false)
                } else if w.iter().all(|&x| x == u64::MAX) {
                    Some(true)
                } else {
                    None
                }
            })
            .collect();
        let (cells, sums) = self.structure(&constant);
        let words = self.psum.first().map_or(0, |v| v.len());
        // loads
        let mut product_loads = vec![0f64; product.len()];
        let mut psum_loads = vec![0f64; self.acc_bits];
        let mut net_loads = vec![0f64; cells.len()];
        let mut load = |r: Ref, c: f64| match r {
            Ref::Product(j) => product_loads[j] += c,
            Ref::Psum(j) => psum_loads[j] += c,
            Ref::Net(i) => net_loads[i] += c,
            Ref::Const(_) => {}
        };
        for cell in &cells {
            for (k, &r) in cell.ins.iter().enumerate() {
                load(r, gates.gates[cell.gate].input_cap[k]);
            }
        }
        for &s in &sums {
            load(s, self.d_cap);
        }
        // simulate the cells over the stream words
        let mut nets: Vec<Vec<u64>> = Vec::with_capacity(cells.len());
        for cell in &cells {
            let mut out = vec![0u64; words - pair_words];
            {
                let ins: Vec<&[u64]> = cell
                    .ins
                    .iter()
                    .map(|r| match *r {
                        Ref::Product(j) => &product[j][pair_words..],
                        Ref::Psum(j) => &self.psum[j][pair_words..],
                        Ref::Net(i) => nets[i].as_slice(),
                        Ref::Const(_) => unreachable!("constants are folded"),
                    })
                    .collect();
                gates.gates[cell.gate].eval(&ins, &mut out);
            }
            nets.push(out);
        }
        let shifted: Vec<Segment> = segments
            .iter()
            .map(|s| Segment {
                start: s.start - pair_words,
                ..s.clone()
            })
            .collect();
        let v2 = gates.voltage * gates.voltage;
        let mut per_segment = vec![0f64; segments.len()];
        for (k, seg) in shifted.iter().enumerate() {
            let mut e = 0.0;
            let toggles_of = |r: Ref| match r {
                Ref::Net(i) => segment_toggles(&nets[i], seg),
                Ref::Psum(j) => self.psum_toggles[j][k],
                _ => 0,
            };
            for (i, cell) in cells.iter().enumerate() {
                let t = segment_toggles(&nets[i], seg);
                e += t as f64 * gates.gates[cell.gate].toggle_energy(net_loads[i], gates.voltage);
            }
            for (j, &c) in psum_loads.iter().enumerate() {
                e += self.psum_toggles[j][k] as f64 * 0.5 * c * v2;
            }
            for &s in &sums {
                e += toggles_of(s) as f64 * self.d_energy;
            }
            per_segment[k] = e;
        }
        Around {
            per_segment,
            product_loads,
            cells: cells.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_low_bits_fold_their_columns() {
        let lib = Library::from_str(
            crate::ppa::DEFAULT_LIBERTY,
            std::path::Path::new("default.lib"),
        )
        .unwrap();
        let gates = GateSet::from_library(&lib, None).unwrap();
        let ctx = PeContext::new(&gates, &lib, 32, vec![vec![0u64; 2]; 32], &[]).unwrap();
        // every product bit live: 16 columns with a carry in (bit 0 a half adder)
        let live = vec![None; 16];
        let (full, _) = ctx.structure(&live);
        // bit 0: HA (2), bits 1-15: FA (3 each), bits 16-31: HA on the carry (2 each)
        assert_eq!(full.len(), 2 + 15 * 3 + 16 * 2);
        // low 8 product bits constant 0: the first 8 columns are wires
        let mut trunc = vec![None; 16];
        trunc[..8].fill(Some(false));
        let (t, sums) = ctx.structure(&trunc);
        assert_eq!(t.len(), 2 + 7 * 3 + 16 * 2);
        assert_eq!(sums[3], Ref::Psum(3));
    }
}
