//! Building a [`Problem`]: the input planes (every operand pair, then the stream segments),
//! the per-pair error coefficients of the chosen metric under a distribution, and the energy
//! model's constants.

use super::context::PeContext;
use super::gates::GateSet;
use super::sim::{Metric, Problem, Segment};
use crate::error::Result;
use crate::ppa::liberty::Library;

/// One stream segment's operand pairs, `(a, b)` per cycle.
#[derive(Clone, Debug)]
pub struct StreamSegment {
    pub name: String,
    pub pairs: Vec<(u8, u8)>,
    /// The partial sum arriving from above in each cycle (for the PE context).
    pub psums: Vec<u64>,
    /// The layer's share of the network's MACs.
    pub share: f64,
}

/// Per pair, the coefficient of its error: `metric(d) = Σ coef[p] · f(d[p])` with f(d) = d
/// (MRE, MAE) or d² (MSE). `weights` is the distribution p(a, b) (need not be normalized).
/// MRE is in percent and counts only pairs with a nonzero exact product, as in
/// [`crate::characterize::ErrorMetrics`].
pub fn coefficients(bits: u32, weights: &[f64], metric: Metric) -> Vec<f64> {
    let side = 1usize << bits;
    let exact = |p: usize| ((p >> bits) * (p & (side - 1))) as f64;
    let total: f64 = match metric {
        Metric::Mre => (0..weights.len())
            .filter(|&p| exact(p) > 0.0)
            .map(|p| weights[p])
            .sum(),
        _ => weights.iter().sum(),
    };
    let total = if total > 0.0 { total } else { 1.0 };
    (0..weights.len())
        .map(|p| match metric {
            Metric::Mre if exact(p) > 0.0 => 100.0 * weights[p] / total / exact(p),
            Metric::Mre => 0.0,
            _ => weights[p] / total,
        })
        .collect()
}

/// Options of [`build`] that are not data.
#[derive(Clone, Debug)]
pub struct ProblemOptions {
    pub metric: Metric,
    pub bound: f64,
    pub wce_bound: Option<u32>,
    pub output_load_pf: f64,
    pub period_ns: f64,
}

/// The problem for `bits` x `bits` multipliers; with `pe = Some((library, acc_bits))` the
/// energy counts the PE's adder and register around the multiplier ([`PeContext`]).
pub fn build(
    bits: u32,
    gates: GateSet,
    weights: &[f64],
    stream: &[StreamSegment],
    o: &ProblemOptions,
    pe: Option<(&Library, usize)>,
) -> Result<Problem> {
    let pairs = 1usize << (2 * bits);
    assert_eq!(weights.len(), pairs, "one weight per operand pair");
    let pair_words = pairs / 64;
    let mut segments = Vec::new();
    let mut words = pair_words;
    for s in stream {
        segments.push(Segment {
            name: s.name.clone(),
            start: words,
            cycles: s.pairs.len(),
            share: s.share,
        });
        words += s.pairs.len().div_ceil(64).max(1);
    }
    let nb = bits as usize;
    let mut inputs = vec![vec![0u64; words]; 2 * nb + 2];
    for p in 0..pairs {
        let (a, b) = (p >> nb, p & ((1 << nb) - 1));
        for k in 0..nb {
            inputs[k][p / 64] |= ((a >> k & 1) as u64) << (p % 64);
            inputs[nb + k][p / 64] |= ((b >> k & 1) as u64) << (p % 64);
        }
    }
    for (s, seg) in stream.iter().zip(&segments) {
        for (t, &(a, b)) in s.pairs.iter().enumerate() {
            let w = seg.start + t / 64;
            for k in 0..nb {
                inputs[k][w] |= ((a as u64 >> k) & 1) << (t % 64);
                inputs[nb + k][w] |= ((b as u64 >> k) & 1) << (t % 64);
            }
        }
    }
    inputs[2 * nb + 1].fill(u64::MAX);
    let input_toggles = inputs
        .iter()
        .map(|v| {
            segments
                .iter()
                .map(|seg| super::sim::segment_toggles(v, seg))
                .collect()
        })
        .collect();
    let context = match pe {
        None => None,
        Some((lib, acc)) => {
            let mut psum = vec![vec![0u64; words]; acc];
            for (s, seg) in stream.iter().zip(&segments) {
                for (t, &v) in s.psums.iter().enumerate() {
                    let w = seg.start + t / 64;
                    for (k, plane) in psum.iter_mut().enumerate() {
                        plane[w] |= ((v >> k) & 1) << (t % 64);
                    }
                }
            }
            Some(PeContext::new(&gates, lib, acc, psum, &segments)?)
        }
    };
    let side = 1usize << bits;
    Ok(Problem {
        bits,
        gates,
        inputs,
        pair_words,
        segments,
        words,
        exact: (0..pairs)
            .map(|p| ((p >> bits) * (p & (side - 1))) as u16)
            .collect(),
        coef: coefficients(bits, weights, o.metric),
        metric: o.metric,
        bound: o.bound,
        wce_bound: o.wce_bound,
        output_load_pf: o.output_load_pf,
        context,
        period_ns: o.period_ns,
        input_toggles,
    })
}
