//! The evolver's inner loop: bit-parallel simulation of a candidate over every operand pair and
//! over an operand stream, its weighted error and its switching energy, re-evaluating only what
//! a mutation changed.
//!
//! A signal is a vector of `words` u64: the first `2^(2 bits) / 64` words hold one bit per
//! operand pair (pair `(a << bits) | b`, the LUT index), the rest hold the stream segments (one
//! bit per cycle, each segment padded to whole words). Node values live in a pool of such
//! vectors; an offspring shares its parent's vector for every node whose inputs and genes did
//! not change, and only the changed cone is simulated again. Error sums are kept per word of
//! pairs, so an offspring recomputes them only where an output bit changed.

use super::context::PeContext;
use super::gates::{GateSet, MAX_ARITY};
use super::genome::{Genome, Mutation};

/// What the error bound constrains (each weighted by the operand distribution).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Mean relative error in percent, over pairs with a nonzero exact product.
    Mre,
    /// Mean absolute error.
    Mae,
    /// Mean squared error.
    Mse,
}

impl std::str::FromStr for Metric {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Metric> {
        match s {
            "mre" => Ok(Metric::Mre),
            "mae" => Ok(Metric::Mae),
            "mse" => Ok(Metric::Mse),
            _ => Err(crate::Error::Other(format!(
                "unknown metric `{s}` (mre, mae, mse)"
            ))),
        }
    }
}

impl Metric {
    pub fn name(&self) -> &'static str {
        match self {
            Metric::Mre => "mre",
            Metric::Mae => "mae",
            Metric::Mse => "mse",
        }
    }
}

/// One stream segment (a network layer's PE cycles).
#[derive(Clone, Debug)]
pub struct Segment {
    pub name: String,
    /// First word of the segment in a signal.
    pub start: usize,
    pub cycles: usize,
    /// The layer's share of the network's MACs (the segments' shares sum to 1).
    pub share: f64,
}

/// Everything a candidate is measured against: the input planes, the error weighting and
/// bound, and the energy model's constants. Built once per run ([`super::problem`]).
pub struct Problem {
    pub bits: u32,
    pub gates: GateSet,
    /// One vector per primary input and constant (signals `0..2*bits+2`).
    pub inputs: Vec<Vec<u64>>,
    pub pair_words: usize,
    pub segments: Vec<Segment>,
    pub words: usize,
    /// Exact product per pair.
    pub exact: Vec<u16>,
    /// Per pair, the weight of its error in the metric (0 where it does not count).
    pub coef: Vec<f64>,
    pub metric: Metric,
    /// The bound on the metric (inclusive).
    pub bound: f64,
    /// Optional bound on the worst-case absolute error over all pairs.
    pub wce_bound: Option<u32>,
    /// Load on each product bit (pF) when there is no PE context.
    pub output_load_pf: f64,
    /// The PE around the multiplier (its adder and register), counted in the energy.
    pub context: Option<PeContext>,
    pub period_ns: f64,
    /// Per input signal, toggles per segment.
    pub input_toggles: Vec<Vec<u32>>,
}

/// A measured candidate.
#[derive(Clone, Debug)]
pub struct Eval {
    pub active: Vec<bool>,
    /// Pool slot of each active node's vector (`NONE` for inactive nodes).
    slot: Vec<u32>,
    /// Nodes simulated for this candidate (their slots are its own, not the parent's).
    fresh: Vec<bool>,
    word_err: Vec<f64>,
    word_wce: Vec<u32>,
    /// toggles per node and segment (node-major)
    toggles: Vec<u32>,
    /// The weighted metric.
    pub error: f64,
    pub wce: u32,
    pub feasible: bool,
    /// Energy per multiplication on the stream (pJ), the MAC-weighted mean over segments: the
    /// multiplier plus, with a PE context, what the PE's adder and register spend around it.
    pub energy: f64,
    /// The multiplier's part of `energy`.
    pub mult_energy: f64,
    /// Σ cell areas (µm²).
    pub area: f64,
    pub cells: usize,
    /// Nodes simulated to measure this candidate.
    pub simulated: usize,
}

const NONE: u32 = u32::MAX;

/// The node-value pool of one run.
pub struct Engine<'p> {
    pub p: &'p Problem,
    pool: Vec<Vec<u64>>,
    free: Vec<u32>,
}

/// Bits of `x` as 64 lanes: lane `i` gets bit `j` of `out` from bit `i` of `x[j]`.
#[inline(always)]
fn decode(x: &[u64], v: &mut [u16; 64]) {
    const LANE: [u16; 16] = {
        let mut l = [0u16; 16];
        let mut i = 0;
        while i < 16 {
            l[i] = 1 << i;
            i += 1;
        }
        l
    };
    *v = [0; 64];
    for (j, &xj) in x.iter().enumerate() {
        let bit = 1u16 << j;
        for blk in 0..4 {
            let h = (xj >> (16 * blk)) as u16;
            let lanes = &mut v[blk * 16..blk * 16 + 16];
            for i in 0..16 {
                lanes[i] |= if h & LANE[i] != 0 { bit } else { 0 };
            }
        }
    }
}

/// Error sum and worst absolute error of one word of 64 pairs.
#[inline(always)]
fn word_error_generic(x: &[u64], exact: &[u16], coef: &[f64], squared: bool) -> (f64, u32) {
    let mut v = [0u16; 64];
    decode(x, &mut v);
    let mut acc = [0f64; 8];
    let mut wce = 0u32;
    for i in 0..64 {
        let d = (v[i] as i32 - exact[i] as i32).unsigned_abs();
        wce = wce.max(d);
        let f = if squared {
            (d as f64) * (d as f64)
        } else {
            d as f64
        };
        acc[i % 8] += coef[i] * f;
    }
    let s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    (s, wce)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn word_error_avx2(x: &[u64], exact: &[u16], coef: &[f64], squared: bool) -> (f64, u32) {
    word_error_generic(x, exact, coef, squared)
}

/// The same sums as [`word_error_generic`], in the same order (lane `l` of the f64
/// accumulator adds pairs `l, l + 8, ...`, no fused multiply-add), so every ISA gives the same
/// bits: the 16 output planes become 64 u16 lanes with one masked add (of distinct bits) per plane
/// and half word.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn word_error_avx512(x: &[u64], exact: &[u16], coef: &[f64], squared: bool) -> (f64, u32) {
    use std::arch::x86_64::*;
    debug_assert!(exact.len() >= 64 && coef.len() >= 64);
    let mut v = [_mm512_setzero_si512(); 2];
    for (j, &xj) in x.iter().enumerate() {
        let bit = _mm512_set1_epi16(1i16.wrapping_shl(j as u32));
        v[0] = _mm512_mask_add_epi16(v[0], xj as u32, v[0], bit);
        v[1] = _mm512_mask_add_epi16(v[1], (xj >> 32) as u32, v[1], bit);
    }
    let mut acc = _mm512_setzero_pd();
    let mut dmax = _mm512_setzero_si512();
    for (h, vh) in v.iter().enumerate() {
        // SAFETY: `exact` holds 64 entries (checked by the caller's slicing).
        let e = _mm512_loadu_si512(exact.as_ptr().add(32 * h) as *const _);
        let d = _mm512_sub_epi16(_mm512_max_epu16(*vh, e), _mm512_min_epu16(*vh, e));
        dmax = _mm512_max_epu16(dmax, d);
        // lanes 0-7, 8-15, 16-23, 24-31 of this half: u16 -> i32 -> f64
        let d32 = [
            _mm512_cvtepu16_epi32(_mm512_castsi512_si256(d)),
            _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64::<1>(d)),
        ];
        for (q, x) in [
            _mm512_castsi512_si256(d32[0]),
            _mm512_extracti64x4_epi64::<1>(d32[0]),
            _mm512_castsi512_si256(d32[1]),
            _mm512_extracti64x4_epi64::<1>(d32[1]),
        ]
        .into_iter()
        .enumerate()
        {
            let df = _mm512_cvtepi32_pd(x);
            let f = if squared { _mm512_mul_pd(df, df) } else { df };
            let c = _mm512_loadu_pd(coef.as_ptr().add(32 * h + 8 * q));
            acc = _mm512_add_pd(acc, _mm512_mul_pd(c, f));
        }
    }
    let mut a = [0f64; 8];
    _mm512_storeu_pd(a.as_mut_ptr(), acc);
    let mut m = [0u16; 32];
    _mm512_storeu_si512(m.as_mut_ptr() as *mut _, dmax);
    let s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    (s, m.iter().copied().max().unwrap_or(0) as u32)
}

#[derive(Clone, Copy)]
enum Isa {
    Generic,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
    }
    Isa::Generic
}

/// The word error on every instruction set this CPU has (generic first), for tests.
#[cfg(test)]
pub(super) fn word_error_all_isas(
    x: &[u64],
    exact: &[u16],
    coef: &[f64],
    squared: bool,
) -> Vec<(f64, u32)> {
    let mut v = vec![word_error_generic(x, exact, coef, squared)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(word_error(Isa::Avx2, x, exact, coef, squared));
        }
        if std::arch::is_x86_feature_detected!("avx512bw") {
            v.push(word_error(Isa::Avx512, x, exact, coef, squared));
        }
    }
    v
}

#[inline]
fn word_error(isa: Isa, x: &[u64], exact: &[u16], coef: &[f64], squared: bool) -> (f64, u32) {
    match isa {
        // SAFETY: the features were detected by `isa()`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { word_error_avx512(x, exact, coef, squared) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { word_error_avx2(x, exact, coef, squared) },
        Isa::Generic => word_error_generic(x, exact, coef, squared),
    }
}

/// Toggles of a signal within one segment (consecutive cycles).
pub(super) fn segment_toggles(v: &[u64], seg: &Segment) -> u32 {
    let words = seg.cycles.div_ceil(64);
    let mut t = 0u32;
    let mut prev_top = v[seg.start] & 1; // no toggle into the first cycle
    for k in 0..words {
        let x = v[seg.start + k];
        let prev = (x << 1) | prev_top;
        let valid = if k + 1 == words && !seg.cycles.is_multiple_of(64) {
            (1u64 << (seg.cycles % 64)) - 1
        } else {
            u64::MAX
        };
        t += ((x ^ prev) & valid).count_ones();
        prev_top = x >> 63;
    }
    t
}

impl Problem {
    /// Energy per multiplication (the total and the multiplier's part), area and cells of the
    /// active nodes: each net's toggles times its driver's energy per toggle at the load the
    /// active nodes and `out_loads` (per product bit) put on it; `around` adds the PE's energy
    /// per segment.
    fn energy_area(
        &self,
        g: &Genome,
        active: &[bool],
        toggles: &[u32],
        out_loads: &[f64],
        around: Option<&[f64]>,
    ) -> (f64, f64, f64, usize) {
        let ni = g.n_inputs();
        let segs = self.segments.len();
        let mut load = vec![0f64; g.n_signals()];
        for (&o, &c) in g.outputs.iter().zip(out_loads) {
            load[o as usize] += c;
        }
        let (mut area, mut leak, mut cells) = (0.0, 0.0, 0usize);
        for (i, n) in g.nodes.iter().enumerate() {
            if !active[i] {
                continue;
            }
            let gate = &self.gates.gates[n.gate as usize];
            for (k, &s) in n.ins[..gate.arity()].iter().enumerate() {
                load[s as usize] += gate.input_cap[k];
            }
            area += gate.area;
            leak += gate.leakage_nw;
            cells += 1;
        }
        let v2 = self.gates.voltage * self.gates.voltage;
        let mut per_seg = vec![0f64; segs];
        // primary inputs: the load they present (½CV² per toggle), as the PPA counts them
        for (s, tg) in self
            .input_toggles
            .iter()
            .enumerate()
            .take(2 * g.bits as usize)
        {
            let e = 0.5 * load[s] * v2;
            for (k, &t) in tg.iter().enumerate() {
                per_seg[k] += t as f64 * e;
            }
        }
        for (i, n) in g.nodes.iter().enumerate() {
            if !active[i] {
                continue;
            }
            let e =
                self.gates.gates[n.gate as usize].toggle_energy(load[ni + i], self.gates.voltage);
            for k in 0..segs {
                per_seg[k] += toggles[i * segs + k] as f64 * e;
            }
        }
        let per_mac = |e: &[f64]| -> f64 {
            self.segments
                .iter()
                .zip(e)
                .map(|(s, e)| s.share * e / s.cycles.max(1) as f64)
                .sum()
        };
        // nW * ns = 1e-6 pJ
        let mult = per_mac(&per_seg) + leak * self.period_ns * 1e-6;
        let total = mult + around.map_or(0.0, per_mac);
        (total, mult, area, cells)
    }
}

impl<'p> Engine<'p> {
    pub fn new(p: &'p Problem) -> Engine<'p> {
        Engine {
            p,
            pool: Vec::new(),
            free: Vec::new(),
        }
    }

    fn alloc(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            return s;
        }
        self.pool.push(vec![0u64; self.p.words]);
        (self.pool.len() - 1) as u32
    }

    /// Slots in use (for tests: a run must not leak).
    pub fn slots_in_use(&self) -> usize {
        self.pool.len() - self.free.len()
    }

    fn signal<'a>(&'a self, g: &Genome, slot: &[u32], s: u32) -> &'a [u64] {
        match g.node_of(s) {
            Some(i) => &self.pool[slot[i] as usize],
            None => &self.p.inputs[s as usize],
        }
    }

    /// Measures `g` from scratch.
    pub fn evaluate(&mut self, g: &Genome) -> Eval {
        self.measure(g, None, &Mutation::default())
    }

    /// Measures `child`, a mutant of `parent` (measured as `pe`) by `m`.
    pub fn evaluate_child(
        &mut self,
        parent: &Genome,
        pe: &Eval,
        child: &Genome,
        m: &Mutation,
    ) -> Eval {
        self.measure(child, Some((parent, pe)), m)
    }

    fn measure(&mut self, g: &Genome, parent: Option<(&Genome, &Eval)>, m: &Mutation) -> Eval {
        let p = self.p;
        let n = g.nodes.len();
        let ni = g.n_inputs();
        let segs = p.segments.len();
        let active = g.active(&p.gates);
        let mut changed = vec![parent.is_none(); n];
        for &i in &m.nodes {
            changed[i as usize] = true;
        }
        let mut fresh = vec![false; n];
        let mut slot = vec![NONE; n];
        let mut simulated = 0;
        for i in 0..n {
            if !active[i] {
                continue;
            }
            let node = g.nodes[i];
            let gate = &p.gates.gates[node.gate as usize];
            let ins = &node.ins[..gate.arity()];
            let dirty = match parent {
                None => true,
                Some((_, pe)) => {
                    changed[i]
                        || !pe.active[i]
                        || ins
                            .iter()
                            .any(|&s| (s as usize).checked_sub(ni).is_some_and(|j| fresh[j]))
                }
            };
            if !dirty {
                slot[i] = parent.map_or(NONE, |(_, pe)| pe.slot[i]);
                continue;
            }
            let s = self.alloc();
            let mut out = std::mem::take(&mut self.pool[s as usize]);
            {
                let mut refs: [&[u64]; MAX_ARITY] = [&[]; MAX_ARITY];
                for (k, &sig) in ins.iter().enumerate() {
                    refs[k] = self.signal(g, &slot, sig);
                }
                gate.eval(&refs[..ins.len()], &mut out);
            }
            self.pool[s as usize] = out;
            slot[i] = s;
            fresh[i] = true;
            simulated += 1;
        }

        // error, per word of pairs where an output bit may have changed
        let nout = g.outputs.len();
        let pw = p.pair_words;
        let (mut word_err, mut word_wce, mut dirty_words) = match parent {
            None => (vec![0f64; pw], vec![0u32; pw], vec![true; pw]),
            Some((pg, pe)) => {
                let mut dw = vec![false; pw];
                for k in 0..nout {
                    let (cs, ps) = (g.outputs[k], pg.outputs[k]);
                    let node_fresh = g.node_of(cs).is_some_and(|i| fresh[i]);
                    if cs == ps && !node_fresh {
                        continue;
                    }
                    let (cv, pv) = (self.signal(g, &slot, cs), self.signal(pg, &pe.slot, ps));
                    for w in 0..pw {
                        dw[w] |= cv[w] != pv[w];
                    }
                }
                (pe.word_err.clone(), pe.word_wce.clone(), dw)
            }
        };
        let isa = isa();
        let squared = p.metric == Metric::Mse;
        let outs: Vec<&[u64]> = g
            .outputs
            .iter()
            .map(|&s| self.signal(g, &slot, s))
            .collect();
        let mut x = [0u64; 16];
        for w in 0..pw {
            if !dirty_words[w] {
                continue;
            }
            for (k, o) in outs.iter().enumerate() {
                x[k] = o[w];
            }
            let (e, c) = word_error(
                isa,
                &x[..nout],
                &p.exact[w * 64..w * 64 + 64],
                &p.coef[w * 64..w * 64 + 64],
                squared,
            );
            word_err[w] = e;
            word_wce[w] = c;
        }
        dirty_words.clear();
        let error: f64 = word_err.iter().sum();
        let wce = word_wce.iter().copied().max().unwrap_or(0);
        let feasible = error <= p.bound && p.wce_bound.is_none_or(|b| wce <= b);

        // toggles and energy (only for candidates that meet the bound)
        let mut toggles = match parent {
            Some((_, pe)) if feasible => pe.toggles.clone(),
            _ => vec![0u32; n * segs],
        };
        let (mut energy, mut mult_energy, mut area, mut cells) =
            (f64::INFINITY, f64::INFINITY, f64::INFINITY, 0);
        if feasible {
            for i in 0..n {
                if fresh[i] {
                    let v = &self.pool[slot[i] as usize];
                    for (k, seg) in p.segments.iter().enumerate() {
                        toggles[i * segs + k] = segment_toggles(v, seg);
                    }
                }
            }
            let around = p
                .context
                .as_ref()
                .map(|c| c.around(&p.gates, &outs, pw, &p.segments));
            let out_loads = around
                .as_ref()
                .map_or_else(|| vec![p.output_load_pf; nout], |a| a.product_loads.clone());
            (energy, mult_energy, area, cells) = p.energy_area(
                g,
                &active,
                &toggles,
                &out_loads,
                around.as_ref().map(|a| a.per_segment.as_slice()),
            );
        }
        Eval {
            active,
            slot,
            fresh,
            word_err,
            word_wce,
            toggles,
            error,
            wce,
            feasible,
            energy,
            mult_energy,
            area,
            cells,
            simulated,
        }
    }

    /// Releases the vectors only `e` owns (an offspring that was not kept).
    pub fn discard(&mut self, e: Eval) {
        for (i, &f) in e.fresh.iter().enumerate() {
            if f {
                self.free.push(e.slot[i]);
            }
        }
    }

    /// `new` (an offspring of `old`) became the parent: `old`'s vectors that `new` does not
    /// share are released.
    pub fn replace_parent(&mut self, old: Eval, new: &Eval) {
        for (i, &s) in old.slot.iter().enumerate() {
            if s != NONE && new.slot[i] != s {
                self.free.push(s);
            }
        }
    }

    /// Releases everything `e` holds (the end of a run).
    pub fn release(&mut self, e: Eval) {
        for &s in &e.slot {
            if s != NONE {
                self.free.push(s);
            }
        }
    }

    /// The candidate's output for every pair (its lookup table).
    pub fn table(&self, g: &Genome, e: &Eval) -> Vec<u16> {
        let outs: Vec<&[u64]> = g
            .outputs
            .iter()
            .map(|&s| self.signal(g, &e.slot, s))
            .collect();
        (0..self.p.pair_words * 64)
            .map(|pair| {
                outs.iter().enumerate().fold(0u16, |v, (k, o)| {
                    v | (((o[pair / 64] >> (pair % 64)) & 1) as u16) << k
                })
            })
            .collect()
    }
}
