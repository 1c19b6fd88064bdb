//! The paired accuracy oracle (README "Searching a mapping", step 3): a mapping is always
//! compared with exact int8 **on the same images**. Per image it keeps the predicted class; per
//! set of images, top-1/top-5 and the mean KL divergence of its output distribution from exact
//! int8's (a continuous fidelity measure that does not saturate the way top-1 does on a small
//! sample). Two outcomes on the same images give the discordant pairs — images exact int8 gets
//! right and the mapping wrong (losses) or the other way round (gains) — and from them the
//! top-1 change Δ with a confidence interval.
//!
//! The interval is McNemar's, conditioned on the number of discordant images d = losses +
//! gains: given d, the losses are binomial(d, q) and Δ = (d/n)(1 - 2q); a Wilson score interval
//! for q at the one-sided confidence gives the bounds. It is exact-int8-relative by
//! construction (the noise common to both networks cancels), so on a 1,000-image sample a
//! mapping that flips 2 images is told apart from exact, where raw top-1 (±0.6 points binomial
//! noise each) could not. What it does not see: with d = 0 the interval is [0, 0] — the bound
//! is conditional on the disagreements observed, and a sample that happened to show none says
//! nothing more. The confirmation set (validation images that took no part in the selection)
//! is what guards against such lucky samples.

use crate::nn::eval::{in_top, Logits};
use serde::{Deserialize, Serialize};

/// A mapping's result on one set of images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// % top-1 and top-5
    pub top1: f64,
    pub top5: f64,
    /// predicted class per image, 2 hex digits each (4 when there are more than 256 classes)
    pub pred: String,
    /// mean and standard deviation over the images of KL(exact int8 ‖ mapping), nats
    pub kl_mean: f64,
    pub kl_sd: f64,
    /// the margin model's expected loss and gain rates (`Rates`)
    pub rates: Rates,
}

/// Expected rates, per image, of losses and gains against exact int8 on images like these,
/// from the **margin model**. On image i exact int8 ranks its top class t_i above the runner-up
/// by a logit margin m_i, and the mapping moves that margin by δ_i (negative: towards a flip).
/// Image i flips when δ_i < -m_i. Counting those events is what the paired counts do, and they
/// are rare (a good mapping flips 0–3 images of 5,000), so the count says little. The model
/// instead estimates each image's flip probability from the perturbations of the images whose
/// exact margins are nearest to its own: the images are sorted by m and cut into bins of
/// `MARGIN_BIN` images, and P(flip_i) is the share of δ_j in i's bin below -m_i. Perturbations
/// grow with the logits' magnitude, which grows with the margin, so pooling all images
/// over-predicts. Measured on mnist-cnn's validation split only (`autoapprox bench oracle`
/// after the demo: 26 confirmed mappings, rates from one half of the 4,000 confirmation
/// images, discordant images counted on the other half; 64 counted): pooled 788 predicted,
/// bins of 400 images 383, of 80 203, of 25 136, of 10 123; bins of 25 are the default. A loss is a
/// flip of an image exact int8 gets right; a gain, of an image it gets wrong, with m_i replaced
/// by the gap from its top class down to the label.
///
/// A validation set has no image closer to a tie than its smallest margin, but a fresh set
/// can: margins near 0 are given the density f0 = k / (n · m_(k)) of the k = `TIE_K` smallest,
/// and every perturbation of the lowest bin flips the share f0 · min(-δ, m_(1)) of images
/// there (this term is 44 of the 136 above: it makes the model conservative on a validation
/// split without near-ties, and it is what a test split with them needs). The standard errors
/// combine the spread of the per-image probabilities with each bin's binomial uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Rates {
    pub loss: f64,
    pub loss_se: f64,
    pub gain: f64,
    pub gain_se: f64,
}

/// Images per margin bin of the margin model.
pub const MARGIN_BIN: usize = 25;
/// The number of smallest margins that estimate the density of margins near a tie.
pub const TIE_K: usize = 5;

/// The gap of logit `c` below the best logit of the other classes (positive when `c` is the
/// strict arg max).
fn margin_of(row: &[f32], c: usize) -> f64 {
    let other = row
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != c)
        .fold(f64::NEG_INFINITY, |m, (_, &v)| m.max(v as f64));
    row[c] as f64 - other
}

impl Rates {
    /// The margin model of `out` against exact int8's `exact` on images labelled `labels`.
    pub fn new(out: &Logits, exact: &Logits, labels: &[u32]) -> Rates {
        Rates::model(out, exact, labels, MARGIN_BIN, true)
    }

    /// The margin model with bins of `bin` images and with or without the near-tie term
    /// (`autoapprox bench oracle` compares them).
    pub fn model(out: &Logits, exact: &Logits, labels: &[u32], bin: usize, ties: bool) -> Rates {
        let n = labels.len().min(out.len()).min(exact.len());
        if n == 0 || exact.classes < 2 {
            return Rates::default();
        }
        // per image: exact margin, perturbation, whether exact int8 is right, and the gap a
        // flip must cross (the margin when right, the top class down to the label when wrong)
        struct Img {
            m: f64,
            delta: f64,
            right: bool,
            gap: f64,
        }
        let mut imgs: Vec<Img> = labels
            .iter()
            .enumerate()
            .take(n)
            .map(|(j, &label)| {
                let (e, d) = (exact.row(j), out.row(j));
                let t = exact.argmax(j);
                let m = margin_of(e, t);
                let right = t == label as usize;
                Img {
                    m,
                    delta: margin_of(d, t) - m,
                    right,
                    gap: if right {
                        m
                    } else {
                        e[t] as f64 - e[label as usize] as f64
                    },
                }
            })
            .collect();
        imgs.sort_by(|a, b| a.m.total_cmp(&b.m));
        let bins = (n / bin.max(1)).max(1);
        let bin_of = |rank: usize| rank * bins / n;
        // sorted perturbations per bin
        let mut deltas: Vec<Vec<f64>> = vec![Vec::new(); bins];
        for (r, im) in imgs.iter().enumerate() {
            deltas[bin_of(r)].push(im.delta);
        }
        for d in &mut deltas {
            d.sort_by(f64::total_cmp);
        }
        let nf = n as f64;
        let rate = |right: bool| -> (f64, f64) {
            let mut p = vec![0.0; n];
            let mut binom = 0.0;
            for (r, im) in imgs.iter().enumerate() {
                if im.right != right {
                    continue;
                }
                let d = &deltas[bin_of(r)];
                let q = d.partition_point(|&x| x < -im.gap) as f64 / d.len() as f64;
                p[r] = q;
                binom += q * (1.0 - q) / d.len() as f64;
            }
            let mean = p.iter().sum::<f64>() / nf;
            let var = p.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0).max(1.0);
            // near-tie images a fresh set may hold
            let mut gaps: Vec<f64> = imgs
                .iter()
                .filter(|im| im.right == right)
                .map(|im| im.gap.max(0.0))
                .collect();
            gaps.sort_by(f64::total_cmp);
            let mut tie = 0.0;
            if ties && gaps.len() >= TIE_K && gaps[TIE_K - 1] > 0.0 {
                let f0 = TIE_K as f64 / (nf * gaps[TIE_K - 1]);
                let low = &deltas[0];
                tie = f0 * low.iter().map(|&x| (-x).clamp(0.0, gaps[0])).sum::<f64>()
                    / low.len() as f64;
            }
            (mean + tie, (var / nf + binom / (nf * nf)).sqrt())
        };
        let (loss, loss_se) = rate(true);
        let (gain, gain_se) = rate(false);
        Rates {
            loss,
            loss_se,
            gain,
            gain_se,
        }
    }

    /// The probability that the mapping holds (no more losses than gains) on a fresh set of
    /// `n_ref` images: losses and gains there are Poisson with means n_ref × rate, each rate
    /// uncertain by its standard error (a gamma mixture, so the counts are negative binomial).
    /// Gains count at most as much as losses: an approximate multiplier is at best neutral, and
    /// gains seen or modelled on validation images are not expected to repeat.
    pub fn p_hold(&self, n_ref: usize) -> f64 {
        let m = n_ref as f64;
        let losses = count_pmf(m * self.loss, m * self.loss_se);
        let (gain, gain_se) = if self.gain > self.loss {
            (self.loss, self.loss_se)
        } else {
            (self.gain, self.gain_se)
        };
        let gains = count_pmf(m * gain, m * gain_se);
        // P(G >= k) for k = 0, 1, ...
        let mut tail: f64 = 1.0;
        let mut hold = 0.0;
        for (k, &pl) in losses.iter().enumerate() {
            hold += pl * tail.max(0.0);
            tail -= gains.get(k).copied().unwrap_or(0.0);
        }
        hold.clamp(0.0, 1.0)
    }

    /// Expected losses and gains on `n_ref` images.
    pub fn expected(&self, n_ref: usize) -> (f64, f64) {
        (self.loss * n_ref as f64, self.gain * n_ref as f64)
    }
}

/// The probabilities of a count 0, 1, … whose mean is gamma-distributed with mean `mu` and
/// standard deviation `sd` (negative binomial; Poisson when sd is 0), until the rest is below
/// 1e-12 of the mass.
fn count_pmf(mu: f64, sd: f64) -> Vec<f64> {
    if mu <= 0.0 {
        return vec![1.0];
    }
    let v = sd * sd;
    let mut out = Vec::new();
    let mut mass = 0.0;
    let limit = (mu + 40.0 * (mu + v).sqrt() + 50.0) as usize;
    for x in 0..=limit.min(1_000_000) {
        let xf = x as f64;
        let ln_p = if v <= 1e-12 * mu {
            xf * mu.ln() - mu - ln_gamma(xf + 1.0)
        } else {
            let k = mu * mu / v;
            ln_gamma(xf + k) - ln_gamma(k) - ln_gamma(xf + 1.0)
                + k * (k / (k + mu)).ln()
                + xf * (mu / (k + mu)).ln()
        };
        let p = ln_p.exp();
        out.push(p);
        mass += p;
        if 1.0 - mass < 1e-12 {
            break;
        }
    }
    out
}

/// The paired comparison of a mapping with exact int8 on the same n images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Paired {
    pub n: usize,
    /// images exact int8 classifies correctly and the mapping does not
    pub loss: usize,
    /// images the mapping classifies correctly and exact int8 does not
    pub gain: usize,
    /// images whose predicted class differs from exact int8's
    pub flips: usize,
}

/// Softmax of a row (in f64, max-shifted).
fn softmax(row: &[f32]) -> Vec<f64> {
    let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let e: Vec<f64> = row.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// KL(p ‖ q) of two logit rows, nats (terms with p = 0 add nothing; q is floored at 1e-300).
pub fn kl(p_logits: &[f32], q_logits: &[f32]) -> f64 {
    let (p, q) = (softmax(p_logits), softmax(q_logits));
    p.iter()
        .zip(&q)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| a * (a / b.max(1e-300)).ln())
        .sum::<f64>()
        .max(0.0)
}

impl Outcome {
    /// The outcome of `out` against the exact int8 outputs `exact` on images labelled `labels`.
    pub fn new(out: &Logits, exact: &Logits, labels: &[u32]) -> Outcome {
        let n = labels.len().min(out.len());
        let (mut c1, mut c5) = (0usize, 0usize);
        let wide = out.classes > 256;
        let mut pred = String::with_capacity(n * if wide { 4 } else { 2 });
        let mut kls = Vec::with_capacity(n);
        for (i, &label) in labels.iter().enumerate().take(n) {
            let row = out.row(i);
            c1 += in_top(row, label as usize, 1) as usize;
            c5 += in_top(row, label as usize, 5) as usize;
            let p = out.argmax(i);
            if wide {
                pred.push_str(&format!("{p:04x}"));
            } else {
                pred.push_str(&format!("{p:02x}"));
            }
            kls.push(kl(exact.row(i), row));
        }
        let nf = n.max(1) as f64;
        let mean = kls.iter().sum::<f64>() / nf;
        let var = kls.iter().map(|k| (k - mean).powi(2)).sum::<f64>() / (nf - 1.0).max(1.0);
        Outcome {
            top1: 100.0 * c1 as f64 / nf,
            top5: 100.0 * c5 as f64 / nf,
            pred,
            kl_mean: mean,
            kl_sd: var.sqrt(),
            rates: Rates::new(out, exact, labels),
        }
    }

    /// The predicted classes of exactly `n` images (None when the stored string does not hold
    /// n of them).
    pub fn classes_n(&self, n: usize) -> Option<Vec<usize>> {
        if n == 0 {
            return Some(vec![]);
        }
        let w = self.pred.len() / n;
        if (w != 2 && w != 4) || self.pred.len() != w * n {
            return None;
        }
        (0..n)
            .map(|i| usize::from_str_radix(self.pred.get(i * w..(i + 1) * w)?, 16).ok())
            .collect()
    }

    /// Standard error of `kl_mean` over `n` images.
    pub fn kl_se(&self, n: usize) -> f64 {
        self.kl_sd / (n.max(1) as f64).sqrt()
    }
}

impl Paired {
    /// Counts the discordant pairs of predictions `m` against exact int8's `exact`.
    pub fn new(exact: &[usize], m: &[usize], labels: &[u32]) -> Paired {
        let mut p = Paired {
            n: labels.len(),
            ..Paired::default()
        };
        for ((&e, &x), &l) in exact.iter().zip(m).zip(labels) {
            let (ec, xc) = (e == l as usize, x == l as usize);
            p.loss += (ec && !xc) as usize;
            p.gain += (!ec && xc) as usize;
            p.flips += (e != x) as usize;
        }
        p
    }

    /// Δ top-1 vs exact int8, points.
    pub fn delta(&self) -> f64 {
        100.0 * (self.gain as f64 - self.loss as f64) / self.n.max(1) as f64
    }

    /// The (lower, upper) confidence bounds of Δ, points, each one-sided at z standard scores.
    pub fn bounds(&self, z: f64) -> (f64, f64) {
        let d = self.loss + self.gain;
        if d == 0 || self.n == 0 {
            return (0.0, 0.0);
        }
        let (q_lo, q_hi) = wilson(self.loss, d, z);
        let share = 100.0 * d as f64 / self.n as f64;
        (share * (1.0 - 2.0 * q_hi), share * (1.0 - 2.0 * q_lo))
    }

    pub fn lcb(&self, z: f64) -> f64 {
        self.bounds(z).0
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, &g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Wilson score interval of a binomial proportion k/n at z standard scores.
pub fn wilson(k: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let z2 = z * z;
    let centre = (k + z2 / 2.0) / (n + z2);
    let half = z * (k * (n - k) / n + z2 / 4.0).sqrt() / (n + z2);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The standard normal quantile for a one-sided confidence in (0.5, 1) (Acklam's rational
/// approximation, relative error below 1.2e-9).
pub fn z_of(confidence: f64) -> f64 {
    let p = confidence.clamp(1e-12, 1.0 - 1e-12);
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        for (c, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_6),
            (0.95, 1.644_853_6),
            (0.99, 2.326_347_9),
        ] {
            assert!((z_of(c) - z).abs() < 1e-6, "{c}: {}", z_of(c));
        }
        assert!((z_of(0.001) + 3.090_232_3).abs() < 1e-6);
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        for (x, want) in [
            (1.0, 0.0),
            (2.0, 0.0),
            (0.5, 0.572_364_942_924_700_1),
            (10.0, 12.801_827_480_081_469),
        ] {
            assert!((ln_gamma(x) - want).abs() < 1e-12, "{x}: {}", ln_gamma(x));
        }
    }

    #[test]
    fn wilson_matches_hand_computation() {
        // 0 of 10 at z = 1.96: upper z²/(n + z²) = 3.8416 / 13.8416
        let (lo, hi) = wilson(0, 10, 1.96);
        assert_eq!(lo, 0.0);
        assert!((hi - 3.8416 / 13.8416).abs() < 1e-12);
        let (lo, hi) = wilson(5, 10, 1.0);
        assert!((lo + hi - 1.0).abs() < 1e-12 && lo < 0.5 && hi > 0.5);
    }

    #[test]
    fn paired_counts_and_bounds() {
        // labels 0..5; exact right on 0,1,2; the mapping loses 1 and gains 3 and 4
        let labels = [0, 1, 2, 3, 4];
        let exact = [0, 1, 2, 0, 0];
        let m = [0, 0, 2, 3, 4];
        let p = Paired::new(&exact, &m, &labels);
        assert_eq!((p.n, p.loss, p.gain, p.flips), (5, 1, 2, 3));
        assert!((p.delta() - 20.0).abs() < 1e-12);
        let (lo, hi) = p.bounds(1.645);
        assert!(lo < p.delta() && p.delta() < hi, "{lo} {hi}");
        // no disagreement: [0, 0]; losses only: the upper bound is below zero
        assert_eq!(
            Paired::new(&exact, &exact, &labels).bounds(1.645),
            (0.0, 0.0)
        );
        let worse = Paired {
            n: 1000,
            loss: 6,
            gain: 0,
            flips: 6,
        };
        assert!(worse.bounds(1.645).1 < 0.0);
        // more images with the same disagreement rate tighten nothing (the bound is
        // conditional on d) but more disagreements do
        let a = Paired {
            n: 1000,
            loss: 1,
            gain: 3,
            flips: 4,
        };
        let b = Paired {
            n: 10_000,
            loss: 10,
            gain: 30,
            flips: 40,
        };
        assert!(b.lcb(1.645) > a.lcb(1.645));
    }

    #[test]
    fn outcome_scores_like_evaluate_and_kl_is_zero_against_itself() {
        let exact = Logits {
            classes: 3,
            data: vec![3.0, 1.0, 0.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0],
        };
        let labels = [0, 1, 1];
        let o = Outcome::new(&exact, &exact, &labels);
        // image 2 ties classes 0 and 1: the lower index wins, so label 1 is not top-1
        assert!((o.top1 - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(o.top5, 100.0);
        assert_eq!(o.pred, "000100");
        assert_eq!(o.classes_n(3), Some(vec![0, 1, 0]));
        assert_eq!(o.kl_mean, 0.0);
        let other = Logits {
            classes: 3,
            data: vec![0.0, 3.0, 0.0, 0.0, 2.0, 1.0, 1.0, 1.0, 0.0],
        };
        let o2 = Outcome::new(&other, &exact, &labels);
        assert!(o2.kl_mean > 0.0 && o2.kl_sd > 0.0);
        assert!((kl(exact.row(0), other.row(0)) - 3.0 * o2.kl_mean).abs() < 1e-9);
        assert_eq!(o2.classes_n(2), None);
    }

    #[test]
    fn margin_model_counts_pairs_within_a_bin_and_is_zero_against_itself() {
        // 40 images (one bin), 3 classes, a seeded pseudo-random perturbation
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f32 / 250.0 - 2.0
        };
        let n = 40;
        let exact = Logits {
            classes: 3,
            data: (0..3 * n).map(|_| next()).collect(),
        };
        let out = Logits {
            classes: 3,
            data: exact.data.iter().map(|&v| v + 0.3 * next()).collect(),
        };
        let labels: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
        let same = Rates::new(&exact, &exact, &labels);
        assert_eq!((same.loss, same.gain), (0.0, 0.0));
        assert_eq!(same.p_hold(5_000), 1.0);
        let r = Rates::new(&out, &exact, &labels);
        // brute force over all n² pairs, plus the near-tie term
        let mut deltas = vec![];
        let (mut right, mut wrong) = (vec![], vec![]);
        for (j, &label) in labels.iter().enumerate() {
            let t = exact.argmax(j);
            let m = margin_of(exact.row(j), t);
            deltas.push(margin_of(out.row(j), t) - m);
            if t == label as usize {
                right.push(m);
            } else {
                wrong.push((exact.row(j)[t] - exact.row(j)[label as usize]) as f64);
            }
        }
        let model = |xs: &mut Vec<f64>| {
            xs.sort_by(f64::total_cmp);
            let pairs = xs
                .iter()
                .map(|&m| deltas.iter().filter(|&&d| m + d < 0.0).count())
                .sum::<usize>() as f64
                / (n * n) as f64;
            let f0 = TIE_K as f64 / (n as f64 * xs[TIE_K - 1]);
            let tie = f0 * deltas.iter().map(|&d| (-d).clamp(0.0, xs[0])).sum::<f64>() / n as f64;
            pairs + tie
        };
        assert!((r.loss - model(&mut right)).abs() < 1e-12, "{r:?}");
        assert!((r.gain - model(&mut wrong)).abs() < 1e-12, "{r:?}");
        assert!(r.loss > 0.0 && r.gain > 0.0 && r.loss_se > 0.0 && r.gain_se > 0.0);
        assert!(r.p_hold(5_000) < 0.5);
    }

    #[test]
    fn margin_model_takes_perturbations_from_images_of_similar_margin() {
        // 2 classes, label 0 everywhere, exact right on every image. Half the images have
        // margins 0.5..1 and tiny perturbations; the other half margins 10..11 and
        // perturbations of -5 (large, but far from flipping them). Pooled, the large
        // perturbations would flip every low-margin image; binned by margin, none.
        let n = 4 * MARGIN_BIN;
        let (mut e, mut d) = (vec![], vec![]);
        for i in 0..n {
            let low = i % 2 == 0;
            let m = if low {
                0.5 + 0.5 * i as f32 / n as f32
            } else {
                10.0 + i as f32 / n as f32
            };
            let delta = if low { -0.01 } else { -5.0 };
            e.extend([m, 0.0]);
            d.extend([m + delta, 0.0]);
        }
        let labels = vec![0u32; n];
        let r = Rates::new(
            &Logits {
                classes: 2,
                data: d,
            },
            &Logits {
                classes: 2,
                data: e,
            },
            &labels,
        );
        // only the near-tie term is left: f0 · 0.01 with f0 from the 5 smallest margins
        assert!(r.loss > 0.0 && r.loss < 1e-3, "{r:?}");
        assert_eq!(r.gain, 0.0);
    }

    #[test]
    fn probability_of_holding_under_the_margin_model() {
        // a known loss rate and no gains: P(no loss in n_ref) = exp(-n_ref r) when certain
        let r = Rates {
            loss: 1e-4,
            ..Rates::default()
        };
        assert!((r.p_hold(5_000) - (-0.5f64).exp()).abs() < 1e-9);
        // uncertainty in the rate makes zero losses more likely (Jensen), never less
        let u = Rates { loss_se: 1e-4, ..r };
        assert!(u.p_hold(5_000) > r.p_hold(5_000));
        // gains offset losses; more losses hold less
        let g = Rates { gain: 1e-4, ..r };
        assert!(g.p_hold(5_000) > r.p_hold(5_000));
        // gains beyond the losses do not count (at best neutral)
        let more = Rates { gain: 1e-3, ..r };
        assert_eq!(more.p_hold(5_000), g.p_hold(5_000));
        let worse = Rates { loss: 1e-3, ..r };
        assert!(worse.p_hold(5_000) < 0.01);
        // the negative binomial sums to one and has the mean it was given
        let pmf = count_pmf(3.0, 2.0);
        let total: f64 = pmf.iter().sum();
        let mean: f64 = pmf.iter().enumerate().map(|(k, p)| k as f64 * p).sum();
        assert!(
            (total - 1.0).abs() < 1e-9 && (mean - 3.0).abs() < 1e-6,
            "{total} {mean}"
        );
        assert_eq!(r.expected(5_000), (0.5, 0.0));
    }
}
