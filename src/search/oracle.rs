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

    /// The probability that the mapping holds (top-1 at least exact int8's) on a fresh set of
    /// `n_ref` images, assuming it is at best neutral: its discordant images there are
    /// beta-binomial (Jeffreys prior on the discordance rate, updated with the d = losses + gains
    /// seen on these n images), and each is a loss or a gain with probability ½. This is what
    /// zero loss on a held-out split asks for, and it depends on d, not on the sign seen here:
    /// approximate multipliers do not truly improve accuracy, so gains on the validation images
    /// are not expected to repeat (measured: a design with 3 gains and 0 losses on 4,000
    /// validation images had 7 losses and 4 gains on the 5,000 test images).
    pub fn p_hold(&self, n_ref: usize) -> f64 {
        let d = (self.loss + self.gain) as f64;
        let n = self.n as f64;
        let (a, b) = (d + 0.5, n - d + 0.5);
        // ln P(K = k) for K ~ BetaBinomial(n_ref, a, b), k = 0..=n_ref, summed until the
        // remaining mass is negligible
        let lnb = |x: f64, y: f64| ln_gamma(x) + ln_gamma(y) - ln_gamma(x + y);
        let m = n_ref as f64;
        let base = lnb(a, b);
        let mut total = 0.0;
        let mut mass = 0.0;
        // ln C(k, k/2) / 2^k, updated as k grows by two
        for k in 0..=n_ref {
            let kf = k as f64;
            let ln_p = ln_gamma(m + 1.0) - ln_gamma(kf + 1.0) - ln_gamma(m - kf + 1.0)
                + lnb(kf + a, m - kf + b)
                - base;
            let p = ln_p.exp();
            let hold = if k == 0 {
                1.0
            } else if k % 2 == 1 {
                0.5
            } else {
                let ln_tie = ln_gamma(kf + 1.0)
                    - 2.0 * ln_gamma(kf / 2.0 + 1.0)
                    - kf * std::f64::consts::LN_2;
                0.5 + 0.5 * ln_tie.exp()
            };
            total += p * hold;
            mass += p;
            if 1.0 - mass < 1e-12 {
                break;
            }
        }
        // the rest of the mass (if the loop stopped early) holds with probability about ½
        (total + 0.5 * (1.0 - mass).max(0.0)).clamp(0.0, 1.0)
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
    fn ln_gamma_and_the_probability_of_holding() {
        for (x, want) in [
            (1.0, 0.0),
            (2.0, 0.0),
            (0.5, 0.572_364_942_924_700_1),
            (10.0, 12.801_827_480_081_469),
        ] {
            assert!((ln_gamma(x) - want).abs() < 1e-12, "{x}: {}", ln_gamma(x));
        }
        let p = |d: usize, n: usize, r: usize| {
            Paired {
                n,
                loss: d,
                gain: 0,
                flips: d,
            }
            .p_hold(r)
        };
        // no discordance on many images: very likely to hold; on few: hardly better than a
        // coin with ties; more discordance: less likely; the sign seen does not matter
        assert!(p(0, 100_000, 5_000) > 0.95, "{}", p(0, 100_000, 5_000));
        assert!(p(0, 4_000, 5_000) > p(0, 1_000, 5_000));
        assert!(p(0, 4_000, 5_000) > p(3, 4_000, 5_000));
        assert!(p(3, 4_000, 5_000) > p(30, 4_000, 5_000));
        assert!(p(30, 4_000, 5_000) > 0.5 && p(30, 4_000, 5_000) < 0.6);
        let gains = Paired {
            n: 4_000,
            loss: 0,
            gain: 3,
            flips: 3,
        };
        assert_eq!(gains.p_hold(5_000), p(3, 4_000, 5_000));
        // d = 0 of n with n_ref = n: P(K = 0) = B(½, 2n + ½) / B(½, n + ½) ≈ √½
        let q = p(0, 5_000, 5_000);
        assert!(q > 0.707 && q < 0.9, "{q}");
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
}
