//! The mapping problem (DESIGN.md "The search problem"): N layers x K candidate multipliers, the
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
    /// Tie threshold, points of top-1: calibrated accuracies closer than this are incomparable.
    pub tie: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            alpha1: 8.0,
            alpha2: 1.2,
            tau_rel: 0.0,
            phi: 400.0,
            tie: 0.2,
        }
    }
}

/// One layer's relaxed choice: the surviving candidates, least accurate (cheapest) first, and
/// their positions on [0, 1] (min-max scaled calibrated accuracy).
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
        let tau = exact_top1 + params.tau_rel;
        let relaxed: Vec<Relaxed> = (0..layers.len())
            .map(|l| relax(&calib[l], &energy[l], tau, params.tie))
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

    /// The top-1 (%) the calibration table predicts for a mapping if single-layer losses add
    /// up (a gain over exact counts as none): GP-BO's prior.
    pub fn predicted_top1(&self, m: &[usize]) -> f64 {
        let e = self.exact_top1;
        e + m
            .iter()
            .enumerate()
            .map(|(l, &c)| self.calib[l][c].min(e) - e)
            .sum::<f64>()
    }

    pub fn feasible(&self, m: &[usize], top1_pct: f64) -> bool {
        top1_pct >= self.tau - 1e-9 && self.area_of(m) <= self.params.phi + 1e-9
    }

    pub fn names_of(&self, m: &[usize]) -> Vec<String> {
        m.iter().map(|&c| self.names[c].clone()).collect()
    }

    /// A readable summary of the relaxation: per layer, the survivors and their positions.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} layers, {} candidates (incl. exact); exact int8 top-1 on the sample {:.2}%, τ = {:.2}%, φ = {:.0}%, tie {:.2} pt\n\
             free dimensions: {}\n",
            self.layers.len(),
            self.names.len(),
            self.exact_top1,
            self.tau,
            self.params.phi,
            self.params.tie,
            self.free.len()
        );
        for (l, r) in self.relaxed.iter().enumerate() {
            s.push_str(&format!("{:<28}", self.layers[l]));
            for (&c, &p) in r.cands.iter().zip(&r.pos) {
                s.push_str(&format!(
                    " {}@{:.2}({:.2}%E)",
                    self.names[c].trim_start_matches("mul8u_"),
                    p,
                    self.energy[l][c]
                ));
            }
            s.push('\n');
        }
        s
    }
}

/// One layer's relaxation: drop candidates whose calibrated accuracy is below τ by more than the
/// tie threshold (hopeless: the single-layer accuracy bounds the network's); a candidate is
/// dominated when another is at least as accurate within the tie threshold and uses less energy
/// (or the same energy and is more accurate); the survivors, ordered by accuracy, are placed on
/// [0, 1] by min-max scaled accuracy.
///
/// Three choices DESIGN.md leaves open, made here: (1) calibrated accuracies are capped at the
/// exact one (scoring above exact on the sample is chance), so the exact multiplier is at the
/// top of every axis and z = 1 is the exact chip; (2) the exact multiplier (index 0) always
/// survives: it is the fallback that adds no MXU, so no approximate candidate dominates it once
/// area counts, and without it a layer could be pinned to an MXU that breaks the area cap;
/// (3) the positions are scaled to [0, (S-1)/S] for S survivors, so that rounding down gives the
/// most accurate survivor the last 1/S of the axis instead of the single point z = 1.
pub fn relax(acc: &[f64], energy: &[f64], tau: f64, tie: f64) -> Relaxed {
    // a multiplier that scores above exact on the sample does so by chance
    let acc: Vec<f64> = acc.iter().map(|&a| a.min(acc[0])).collect();
    let ok: Vec<usize> = (0..acc.len())
        .filter(|&c| c == 0 || acc[c] >= tau - tie)
        .collect();
    let dominated = |c: usize| {
        c != 0
            && ok.iter().any(|&d| {
                d != c
                    && acc[d] >= acc[c] - tie
                    && (energy[d] < energy[c]
                        || (energy[d] == energy[c]
                            && (acc[d] > acc[c] || (acc[d] == acc[c] && d < c))))
            })
    };
    let mut keep: Vec<usize> = ok.iter().copied().filter(|&c| !dominated(c)).collect();
    // by accuracy; the exact fallback last among equals, so that z = 1 is the exact chip
    keep.sort_by(|&a, &b| {
        acc[a]
            .total_cmp(&acc[b])
            .then((a == 0).cmp(&(b == 0)))
            .then(energy[a].total_cmp(&energy[b]))
            .then(a.cmp(&b))
    });
    let cands = keep;
    let lo = acc[cands[0]];
    let hi = acc[*cands.last().expect("the exact multiplier survives")];
    let s = cands.len() as f64;
    let mut pos: Vec<f64> = cands
        .iter()
        .map(|&c| {
            if hi > lo {
                (acc[c] - lo) / (hi - lo) * (s - 1.0) / s
            } else {
                0.0
            }
        })
        .collect();
    // equal accuracies would share a position (and Q_i could not reach one of them): then the
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
    fn relaxation_prunes_dominated_and_hopeless_candidates() {
        // exact (0), cheap+accurate (1), tie with 1 but dearer (2), hopeless (3), mid (4)
        let acc = [90.0, 89.95, 90.0, 80.0, 89.0];
        let energy = [10.0, 8.0, 9.0, 5.0, 7.0];
        let r = relax(&acc, &energy, 90.0 - 1.5, 0.2);
        // 2 ties with 1 within 0.2 and costs more; 3 is below τ - tie; exact always stays
        assert_eq!(r.cands, vec![4, 1, 0]);
        let want = [0.0, 0.95 * 2.0 / 3.0, 2.0 / 3.0];
        for (p, w) in r.pos.iter().zip(want) {
            assert!((p - w).abs() < 1e-12, "{:?}", r.pos);
        }
        assert_eq!(r.pick(0.5), 4);
        assert_eq!(r.pick(0.64), 1);
        assert_eq!(r.pick(0.9), 0);
        assert_eq!(r.pick(0.0), 4);
    }

    #[test]
    fn most_accurate_survivor_owns_the_last_share_of_the_axis() {
        let acc = [90.0, 88.0, 89.5];
        let energy = [10.0, 8.0, 9.0];
        let r = relax(&acc, &energy, 88.0, 0.2);
        assert_eq!(r.cands, vec![1, 2, 0]);
        assert!((r.pos[1] - 0.5).abs() < 1e-12 && (r.pos[2] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.pick(0.49), 1);
        assert_eq!(r.pick(0.5), 2);
        assert_eq!(r.pick(0.66), 2);
        assert_eq!(r.pick(0.7), 0);
        // an approximate multiplier that ties with exact at lower energy does not remove it;
        // one that beats exact on the sample counts as tied, below it
        let r = relax(&[90.0, 90.0], &[10.0, 9.0], 90.0, 0.2);
        assert_eq!(r.cands, vec![1, 0]);
        assert_eq!(r.pos, vec![0.0, 0.5]);
        let r = relax(&[90.0, 90.5, 88.0], &[10.0, 9.0, 8.0], 87.0, 0.2);
        assert_eq!(r.cands, vec![2, 1, 0]);
        assert_eq!(r.pick(1.0), 0);
    }
}
