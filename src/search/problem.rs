//! The mapping problem (ARCHITECTURE.md "The search problem"): N layers x K candidate multipliers, the
//! per-layer energy of each choice, the MXU areas, the calibration table, the relaxation of the
//! choices onto [0, 1] and the barrier objective every search method minimizes.
//!
//! Units: energy in % of the exact-only chip's network energy (so a mapping's energies sum to
//! 100 when every layer is exact), accuracy in % top-1 on the search sample, area in % of the
//! exact MXU (the exact-only chip is 100 %). The barrier B(x, b) = e^(x - b) then reads: one
//! point of accuracy below τ costs α1·e ≈ 22 % of energy; one point above it still costs
//! α1/e ≈ 2.9 %, so the optimum sits about two points above τ unless energy pays for less.

use super::calibrate::CalibrationTable;
use crate::error::{Error, Result};
use crate::nn::graph::LayerInfo;
use crate::ppa::energy::ChipModel;
use serde::{Deserialize, Serialize};

/// The knobs of the relaxation and of the barrier objective (paper defaults).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Params {
    /// Accuracy barrier weight.
    pub alpha1: f64,
    /// Area barrier weight.
    pub alpha2: f64,
    /// Accuracy floor, points of top-1 relative to exact int8 on the search sample (0: no loss).
    pub tau_rel: f64,
    /// Area cap, % of the exact MXU's area, the exact MXU included.
    pub phi: f64,
    /// Tie threshold, points of top-1: a candidate whose single-layer calibrated top-1 is more
    /// than this below τ is hopeless and pruned.
    pub tie: f64,
    /// One-sided confidence of the paired bound on Δ top-1 (`oracle::Paired::bounds`) that
    /// feasibility and the barrier use.
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// The probability of holding on a fresh validation-sized set (the margin model, `oracle::Rates::p_hold`)
    /// a design needs on the confirmation set to be confirmed.
    #[serde(default = "default_hold")]
    pub hold: f64,
}

fn default_hold() -> f64 {
    0.8
}

fn default_confidence() -> f64 {
    0.95
}

impl Default for Params {
    fn default() -> Self {
        Params {
            alpha1: 8.0,
            alpha2: 1.2,
            tau_rel: 0.0,
            phi: 400.0,
            tie: 0.2,
            confidence: default_confidence(),
            hold: default_hold(),
        }
    }
}

/// One layer's relaxed choice: the surviving candidates, least faithful (cheapest) first, and
/// their positions on [0, 1] (min-max scaled fidelity, -ln KL).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Relaxed {
    pub cands: Vec<usize>,
    pub pos: Vec<f64>,
}

impl Relaxed {
    /// The candidate Q_i rounds `z` to: the survivor with the largest position at or below z.
    pub fn pick(&self, z: f64) -> usize {
        let mut best = 0;
        for (k, &p) in self.pos.iter().enumerate() {
            if p <= z + 1e-12 {
                best = k;
            }
        }
        self.cands[best]
    }
}

/// A mapping: the candidate index of every layer (0 is the exact multiplier).
pub type Choice = Vec<usize>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    pub benchmark: String,
    pub layers: Vec<String>,
    pub macs: Vec<u64>,
    /// Candidates; index 0 is the exact multiplier.
    pub names: Vec<String>,
    pub mre_pct: Vec<f64>,
    /// energy[layer][cand], % of the exact chip's network energy
    pub energy: Vec<Vec<f64>>,
    /// MXU area per candidate, % of the exact MXU
    pub area: Vec<f64>,
    /// calibrated top-1 (%), calib[layer][cand]; the exact column is the exact int8 accuracy
    pub calib: Vec<Vec<f64>>,
    /// calibrated fidelity, kl[layer][cand]: mean KL(exact int8 ‖ network) on the sample when
    /// only that layer uses the candidate, nats (0 for the exact column)
    #[serde(default)]
    pub kl: Vec<Vec<f64>>,
    /// points of top-1 lost per nat of summed single-layer KL, fitted on the calibration table
    /// (GP-BO's additive prior)
    #[serde(default)]
    pub beta: f64,
    /// z of the one-sided confidence (`params.confidence`)
    #[serde(default)]
    pub z: f64,
    pub exact_top1: f64,
    pub exact_top5: f64,
    /// τ in absolute % top-1 on the search sample
    pub tau: f64,
    pub params: Params,
    pub relaxed: Vec<Relaxed>,
    /// layers with more than one surviving candidate: the dimensions of z
    pub free: Vec<usize>,
}

impl Problem {
    /// Builds the problem from a calibration table and a chip model that has every candidate.
    pub fn new(
        cal: &CalibrationTable,
        layers: &[LayerInfo],
        chip: &ChipModel,
        params: Params,
    ) -> Result<Problem> {
        if layers.len() != cal.layers.len() {
            return Err(Error::Other(format!(
                "calibration has {} layers, the network {}",
                cal.layers.len(),
                layers.len()
            )));
        }
        let mut names = vec![chip.exact.clone()];
        names.extend(cal.multipliers.iter().cloned());
        let mut mre_pct = vec![0.0];
        mre_pct.extend(cal.mre_pct.iter().copied());
        let exact_mapping = vec![chip.exact.as_str(); layers.len()];
        let total = chip.network_energy(layers, &exact_mapping)?;
        let energy = layers
            .iter()
            .map(|l| {
                names
                    .iter()
                    .map(|m| Ok(100.0 * chip.layer_energy(l, m)? / total))
                    .collect::<Result<Vec<f64>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let area =
            names
                .iter()
                .map(|m| {
                    Ok(100.0 * chip.variants[m.as_str()].mxu_area
                        / chip.variants[&chip.exact].mxu_area)
                })
                .collect::<Result<Vec<f64>>>()?;
        let exact_top1 = cal.exact_top1 * 100.0;
        let calib: Vec<Vec<f64>> = cal
            .top1
            .iter()
            .map(|row| {
                let mut r = vec![exact_top1];
                r.extend(row.iter().map(|v| v * 100.0));
                r
            })
            .collect();
        let kl: Vec<Vec<f64>> = cal
            .kl
            .iter()
            .map(|row| {
                let mut r = vec![0.0];
                r.extend(row.iter().map(|v| v.max(0.0)));
                r
            })
            .collect();
        if kl.len() != layers.len() || kl.iter().any(|r| r.len() != names.len()) {
            return Err(Error::Other(
                "the calibration table has no KL column per multiplier; recalibrate".into(),
            ));
        }
        // top-1 points lost per nat: least squares through the origin over every cell
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (crow, krow) in calib.iter().zip(&kl) {
            for (&a, &k) in crow.iter().zip(krow) {
                sxy += (exact_top1 - a).max(0.0) * k;
                sxx += k * k;
            }
        }
        let beta = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let tau = exact_top1 + params.tau_rel;
        let relaxed: Vec<Relaxed> = (0..layers.len())
            .map(|l| relax(&calib[l], &kl[l], &energy[l], tau, params.tie))
            .collect();
        let free = (0..layers.len())
            .filter(|&l| relaxed[l].cands.len() > 1)
            .collect();
        Ok(Problem {
            benchmark: cal.benchmark.clone(),
            layers: cal.layers.clone(),
            macs: cal.macs.clone(),
            names,
            mre_pct,
            energy,
            area,
            calib,
            kl,
            beta,
            z: super::oracle::z_of(params.confidence),
            exact_top1,
            exact_top5: cal.exact_top5 * 100.0,
            tau,
            params,
            relaxed,
            free,
        })
    }

    /// Distinct mappings the relaxation can reach (saturating).
    pub fn relaxed_size(&self) -> usize {
        self.relaxed
            .iter()
            .fold(1usize, |n, r| n.saturating_mul(r.cands.len()))
    }

    /// Distinct mappings of the categorical space, K^N (saturating).
    pub fn categorical_size(&self) -> usize {
        (0..self.layers.len()).fold(1usize, |n, _| n.saturating_mul(self.names.len()))
    }

    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Q: z over the free layers -> a mapping (fixed layers keep their only survivor).
    pub fn decode(&self, z: &[f64]) -> Choice {
        let mut m: Choice = self.relaxed.iter().map(|r| r.cands[0]).collect();
        for (&l, &zl) in self.free.iter().zip(z) {
            m[l] = self.relaxed[l].pick(zl.clamp(0.0, 1.0));
        }
        m
    }

    /// Σ_i Q_i: % of the exact chip's energy.
    pub fn energy_of(&self, m: &[usize]) -> f64 {
        m.iter().enumerate().map(|(l, &c)| self.energy[l][c]).sum()
    }

    /// Chip area, % of the exact MXU: the distinct MXUs the mapping uses plus the exact one.
    pub fn area_of(&self, m: &[usize]) -> f64 {
        let mut set: std::collections::BTreeSet<usize> = m.iter().copied().collect();
        set.insert(0);
        set.iter().map(|&c| self.area[c]).sum()
    }

    /// The barrier objective: energy + α1·e^(τ - acc) + α2·e^(area - φ). The exponents are
    /// capped at 300 so that the value stays finite (a mapping with 16 distinct MXUs is
    /// ~1,000 points over φ).
    pub fn objective(&self, m: &[usize], top1_pct: f64) -> f64 {
        let p = &self.params;
        let b = |x: f64| x.min(300.0).exp();
        self.energy_of(m)
            + p.alpha1 * b(self.tau - top1_pct)
            + p.alpha2 * b(self.area_of(m) - p.phi)
    }

    /// The top-1 (%) the calibration table predicts for a mapping if single-layer KLs add up
    /// (top-1 lost = β · Σ KL): GP-BO's prior.
    pub fn predicted_top1(&self, m: &[usize]) -> f64 {
        self.exact_top1
            - self.beta
                * m.iter()
                    .enumerate()
                    .map(|(l, &c)| self.kl[l][c])
                    .sum::<f64>()
    }

    /// The accuracy feasibility and the barrier judge a score by: exact int8's sample top-1
    /// plus the lower confidence bound of the paired Δ top-1.
    pub fn bounded_top1(&self, s: &super::evaluator::Score) -> f64 {
        self.exact_top1 + s.paired.lcb(self.z)
    }

    /// `top1_pct` is the bounded accuracy (`bounded_top1`).
    pub fn feasible(&self, m: &[usize], top1_pct: f64) -> bool {
        top1_pct >= self.tau - 1e-9 && self.area_of(m) <= self.params.phi + 1e-9
    }

    pub fn names_of(&self, m: &[usize]) -> Vec<String> {
        m.iter().map(|&c| self.names[c].clone()).collect()
    }

    /// A readable summary of the relaxation: per layer, the survivors and their positions.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} layers, {} candidates (incl. exact); exact int8 top-1 on the sample {:.2}%, τ = {:.2}% (on the {:.0}% lower bound of the paired Δ), φ = {:.0}%, tie {:.2} pt\n\
             free dimensions: {}; prior: {:.2} points of top-1 per nat of summed single-layer KL\n\
             per layer, the ladder (least faithful first): candidate@position(energy %, KL nats)\n",
            self.layers.len(),
            self.names.len(),
            self.exact_top1,
            self.tau,
            100.0 * self.params.confidence,
            self.params.phi,
            self.params.tie,
            self.free.len(),
            self.beta
        );
        for (l, r) in self.relaxed.iter().enumerate() {
            s.push_str(&format!("{:<28}", self.layers[l]));
            for (&c, &p) in r.cands.iter().zip(&r.pos) {
                s.push_str(&format!(
                    " {}@{:.2}({:.2}%E,{:.1e})",
                    self.names[c].trim_start_matches("mul8u_"),
                    p,
                    self.energy[l][c],
                    self.kl[l][c]
                ));
            }
            s.push('\n');
        }
        s
    }
}

/// One layer's relaxation, a ladder: drop candidates whose calibrated top-1 is below τ by more
/// than the tie threshold (hopeless: the single-layer accuracy bounds the network's); of the
/// rest keep the energy-fidelity Pareto front — a candidate is dominated when another is at
/// most as dear and at most as unfaithful (single-layer KL to exact int8), strictly in one (ties
/// by index). KL does not saturate the way top-1 does on a small sample, so near-exact
/// candidates keep their rungs between the aggressive ones and exact. The survivors, least
/// faithful first, are placed on [0, 1] by min-max scaled -ln KL.
///
/// Three choices the search problem leaves open, made here: (1) calibrated accuracies are capped at the
/// exact one (scoring above exact on the sample is chance); (2) the exact multiplier (index 0,
/// KL 0) always survives and sits at the top of every axis: z = 1 is the exact chip, and it is
/// the fallback that adds no MXU; (3) the positions are scaled to [0, (S-1)/S] for S survivors,
/// so that rounding down gives the most faithful survivor the last 1/S of the axis. Exact's KL
/// of 0 is placed one e-fold beyond the most faithful approximate survivor.
pub fn relax(acc: &[f64], kl: &[f64], energy: &[f64], tau: f64, tie: f64) -> Relaxed {
    let acc: Vec<f64> = acc.iter().map(|&a| a.min(acc[0])).collect();
    let kl: Vec<f64> = kl
        .iter()
        .enumerate()
        .map(|(c, &k)| if c == 0 { 0.0 } else { k.max(0.0) })
        .collect();
    let ok: Vec<usize> = (0..acc.len())
        .filter(|&c| c == 0 || acc[c] >= tau - tie)
        .collect();
    let dominated = |c: usize| {
        c != 0
            && ok.iter().any(|&d| {
                d != c
                    && kl[d] <= kl[c]
                    && energy[d] <= energy[c]
                    && (kl[d] < kl[c] || energy[d] < energy[c] || d < c)
            })
    };
    let mut cands: Vec<usize> = ok.iter().copied().filter(|&c| !dominated(c)).collect();
    // least faithful first; the exact fallback last
    cands.sort_by(|&a, &b| {
        (a == 0)
            .cmp(&(b == 0))
            .then(kl[b].total_cmp(&kl[a]))
            .then(energy[a].total_cmp(&energy[b]))
            .then(a.cmp(&b))
    });
    let s = cands.len() as f64;
    let min_pos = cands
        .iter()
        .filter(|&&c| c != 0 && kl[c] > 0.0)
        .map(|&c| kl[c])
        .fold(f64::INFINITY, f64::min);
    let fid = |c: usize| -> f64 {
        if kl[c] > 0.0 {
            -kl[c].ln()
        } else if min_pos.is_finite() {
            -min_pos.ln() + 1.0
        } else {
            0.0
        }
    };
    let lo = fid(cands[0]);
    let hi = fid(*cands.last().expect("the exact multiplier survives"));
    let mut pos: Vec<f64> = cands
        .iter()
        .map(|&c| {
            if hi > lo {
                (fid(c) - lo) / (hi - lo) * (s - 1.0) / s
            } else {
                0.0
            }
        })
        .collect();
    // equal fidelities would share a position (and Q_i could not reach one of them): then the
    // survivors are spaced evenly by rank instead
    if pos.windows(2).any(|w| w[1] - w[0] < 1e-12) {
        pos = (0..cands.len()).map(|k| k as f64 / s).collect();
    }
    Relaxed { cands, pos }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxation_keeps_the_energy_fidelity_front() {
        // exact (0); 1 cheap, faithful; 2 dearer and less faithful than 1 (dominated);
        // 3 hopeless on top-1; 4 cheapest, least faithful; 5 dearer than exact
        let acc = [90.0, 90.0, 90.0, 80.0, 89.0, 90.0];
        let kl = [0.0, 1e-3, 2e-3, 1.0, 1e-1, 1e-4];
        let energy = [10.0, 8.0, 9.0, 5.0, 7.0, 10.5];
        let r = relax(&acc, &kl, &energy, 90.0 - 1.5, 0.2);
        assert_eq!(r.cands, vec![4, 1, 0]);
        // -ln KL: 4 -> 2.303, 1 -> 6.908, exact -> 7.908; scaled to [0, 2/3]
        let (lo, hi) = (-(1e-1f64).ln(), -(1e-3f64).ln() + 1.0);
        let want = [
            0.0,
            (-(1e-3f64).ln() - lo) / (hi - lo) * 2.0 / 3.0,
            2.0 / 3.0,
        ];
        for (p, w) in r.pos.iter().zip(want) {
            assert!((p - w).abs() < 1e-12, "{:?}", r.pos);
        }
        assert_eq!(r.pick(0.0), 4);
        assert_eq!(r.pick(0.6), 1);
        assert_eq!(r.pick(0.9), 0);
    }

    #[test]
    fn near_exact_candidates_keep_their_rungs_when_top1_saturates() {
        // every candidate ties exact on top-1 (a saturated sample): top-1 alone would keep only
        // the cheapest; KL keeps a ladder of three
        let acc = [99.0; 5];
        let kl = [0.0, 0.5, 0.05, 0.005, 0.06];
        let energy = [10.0, 6.0, 8.0, 9.5, 8.5];
        let r = relax(&acc, &kl, &energy, 99.0, 0.2);
        assert_eq!(r.cands, vec![1, 2, 3, 0]);
        assert_eq!(r.pick(1.0), 0);
        assert!(r.pos.windows(2).all(|w| w[0] < w[1]));
        // equal KLs: spaced by rank
        let r = relax(
            &[90.0, 90.0, 90.0],
            &[0.0, 0.1, 0.1],
            &[10.0, 9.0, 8.0],
            90.0,
            0.2,
        );
        assert_eq!(r.cands, vec![2, 0]);
        let r = relax(&[90.0, 90.0], &[0.0, 0.0], &[10.0, 9.0], 90.0, 0.2);
        assert_eq!(r.cands, vec![1, 0]);
        assert_eq!(r.pos, vec![0.0, 0.5]);
    }
}
