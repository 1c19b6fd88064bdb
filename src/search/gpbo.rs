//! GP-BO over the relaxed z ∈ [0,1]^d (d = layers with a choice), the paper's method, built for
//! what the problem looks like at 10–30 layers and a budget of 50–200 mappings:
//!
//! * **Calibration prior mean.** The GP models the *residual* of ln(objective) against a prior
//!   the calibration table already gives for free: the objective of the mapping `Q(z)` with the
//!   top-1 predicted by adding up the single-layer losses of the table. A GP with a constant
//!   mean starts from nothing in 16 dimensions and spends its budget learning that lowering many
//!   layers at once loses accuracy; the prior mean knows that, the GP learns where losses
//!   compound or cancel.
//! * **Trust region** (TuRBO-1, Eriksson et al. 2019): candidates are drawn in a box around the
//!   incumbent that doubles after 3 improvements in a row and halves after `max(4, d/4)`
//!   evaluations without one (reset when it falls below 1/64); each candidate moves a few
//!   coordinates of the incumbent (probability min(1, 4/d) each, at least one). The relaxation
//!   is a step function (with a strong tie threshold a layer has just two survivors, the
//!   exact one owning [0.5, 1]), so a box that reaches no new mapping is widened, up to the
//!   whole box; if that reaches none either, every coordinate moves.
//! * **Expected improvement** of ln(objective) over the incumbent, computed on `prior + GP`,
//!   over 1,000 candidates whose mapping is new to the run (a repeat would waste the budget).
//!
//! The surrogate is egobox-gp's Kriging model (constant mean on the residual, squared
//! exponential kernel with one length scale per dimension, its deterministic multistart ML
//! fit). The initial design is z = 1 (the exact chip) alone: until three points are known the
//! prior picks the candidate, after that EI does. Every random choice comes from the run's
//! seeded stream.

use super::methods::Run;
use crate::error::Result;
use egobox_gp::correlation_models::SquaredExponentialCorr;
use egobox_gp::mean_models::ConstantMean;
use egobox_gp::GaussianProcess;
use linfa::prelude::{Dataset, Fit};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Candidates scored by EI per step.
const CANDIDATES: usize = 1000;
const LEN_INIT: f64 = 0.4;
const LEN_MIN: f64 = 1.0 / 64.0;
const LEN_MAX: f64 = 2.0;
const SUCCESS_TOL: usize = 3;

/// The trust region's state (TuRBO-1).
struct TrustRegion {
    len: f64,
    successes: usize,
    failures: usize,
    fail_tol: usize,
}

impl TrustRegion {
    fn update(&mut self, improved: bool) {
        if improved {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        if self.successes >= SUCCESS_TOL {
            self.len = (2.0 * self.len).min(LEN_MAX);
            self.successes = 0;
        } else if self.failures >= self.fail_tol {
            self.len /= 2.0;
            self.failures = 0;
        }
        if self.len < LEN_MIN {
            self.len = LEN_INIT;
        }
    }
}

fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Expected improvement (minimization) of a N(mu, sigma²) prediction over `best`.
pub fn expected_improvement(mu: f64, sigma: f64, best: f64) -> f64 {
    let imp = best - mu;
    if sigma <= 1e-12 {
        return imp.max(0.0);
    }
    let u = imp / sigma;
    imp * norm_cdf(u) + sigma * norm_pdf(u)
}

/// The GP on the residuals, or None when egobox cannot fit it (too few or degenerate points;
/// it may panic, which is caught).
fn fit(
    xs: &[Vec<f64>],
    res: &[f64],
) -> Option<GaussianProcess<f64, ConstantMean, SquaredExponentialCorr>> {
    if xs.len() < 3 {
        return None;
    }
    let d = xs[0].len();
    let x = ndarray016::Array2::from_shape_fn((xs.len(), d), |(i, j)| xs[i][j]);
    let y = ndarray016::Array1::from_vec(res.to_vec());
    crate::util::catch_quiet(|| {
        GaussianProcess::<f64, ConstantMean, SquaredExponentialCorr>::params(
            ConstantMean::default(),
            SquaredExponentialCorr::default(),
        )
        .nugget(1e-6)
        .fit(&Dataset::new(x, y))
        .ok()
    })
    .flatten()
}

/// Up to CANDIDATES points around `center`: each moves coordinate j with probability `prob`
/// (at least one) uniformly within ±len/2 of it, clipped to [0,1]; only points whose mapping
/// the run has not seen, one per mapping.
fn candidates(r: &Run, center: &[f64], len: f64, prob: f64, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let d = center.len();
    let mut maps = std::collections::HashSet::new();
    let mut out = Vec::new();
    for _ in 0..CANDIDATES {
        let mut z = center.to_vec();
        let forced = rng.random_range(0..d);
        for (j, zj) in z.iter_mut().enumerate() {
            if j == forced || rng.random::<f64>() < prob {
                let lo = (center[j] - len / 2.0).max(0.0);
                let hi = (center[j] + len / 2.0).min(1.0);
                *zj = lo + (hi - lo) * rng.random::<f64>();
            }
        }
        let m = r.p.decode(&z);
        if !r.seen(&m) && maps.insert(m) {
            out.push(z);
        }
    }
    out
}

/// Runs GP-BO to the run's budget.
pub fn gpbo(r: &mut Run, rng: &mut ChaCha8Rng) -> Result<()> {
    let p = r.p;
    let d = p.free.len();
    if d == 0 {
        r.eval(&[(p.decode(&[]), Some(vec![]))])?;
        return Ok(());
    }
    // ln(objective) of the mapping at z with the additive calibration prediction of its top-1
    let prior = |z: &[f64]| {
        let m = p.decode(z);
        p.objective(&m, p.predicted_top1(&m)).max(1e-9).ln()
    };
    let mut tr = TrustRegion {
        len: LEN_INIT,
        successes: 0,
        failures: 0,
        fail_tol: (d / 4).max(4),
    };
    let mut xs: Vec<Vec<f64>> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let z1 = vec![1.0; d];
    if let Some(i) = r.eval(&[(p.decode(&z1), Some(z1.clone()))])?[0] {
        ys.push(r.log[i].objective.max(1e-9).ln());
        xs.push(z1);
    }
    while !r.done() && !xs.is_empty() {
        let (bi, &best) = ys
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .expect("not empty");
        let center = xs[bi].clone();
        // candidates: the incumbent with a few coordinates moved inside the trust region, kept
        // when their mapping is new; a region too small to reach a new mapping (the relaxation
        // is a step function) is widened, and when even the whole box around the incumbent
        // has none, every coordinate moves
        let mut cands;
        let mut prob = (4.0 / d as f64).min(1.0);
        loop {
            cands = candidates(r, &center, tr.len, prob, rng);
            if !cands.is_empty() || (prob >= 1.0 && tr.len >= LEN_MAX) {
                break;
            }
            if tr.len < LEN_MAX {
                tr.len = (2.0 * tr.len).min(LEN_MAX);
            } else {
                prob = 1.0;
            }
        }
        if cands.is_empty() {
            break; // every mapping near and far has been seen
        }
        let gp = if xs.len() >= 3 {
            let res: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| y - prior(x)).collect();
            let gp = fit(&xs, &res);
            if gp.is_none() {
                r.gp_failures += 1;
            }
            gp
        } else {
            None
        };
        let pri: Vec<f64> = cands.iter().map(|z| prior(z)).collect();
        let pick = match &gp {
            Some(gp) => {
                let x = ndarray016::Array2::from_shape_fn((cands.len(), d), |(i, j)| cands[i][j]);
                match (gp.predict(&x), gp.predict_var(&x)) {
                    (Ok(mu), Ok(var)) => (0..cands.len())
                        .map(|i| {
                            let ei =
                                expected_improvement(pri[i] + mu[i], var[i].max(0.0).sqrt(), best);
                            (i, ei)
                        })
                        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                        .map(|(i, _)| i),
                    _ => None,
                }
            }
            None => None,
        };
        // without a surrogate: the candidate the prior likes best
        let pick = pick.unwrap_or_else(|| {
            (0..cands.len())
                .min_by(|&a, &b| pri[a].total_cmp(&pri[b]).then(a.cmp(&b)))
                .unwrap_or(0)
        });
        let z = cands.swap_remove(pick);
        let i = r.eval(&[(p.decode(&z), Some(z.clone()))])?[0];
        if let Some(i) = i {
            let y = r.log[i].objective.max(1e-9).ln();
            tr.update(y < best - 1e-3 * best.abs());
            ys.push(y);
            xs.push(z);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_improvement_matches_its_closed_form() {
        // at mu = best, EI = sigma / sqrt(2 pi)
        let ei = expected_improvement(1.0, 2.0, 1.0);
        assert!((ei - 2.0 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-12);
        // deterministic prediction: the plain improvement
        assert_eq!(expected_improvement(0.5, 0.0, 1.0), 0.5);
        assert_eq!(expected_improvement(1.5, 0.0, 1.0), 0.0);
        // more uncertainty, more EI
        assert!(expected_improvement(1.2, 1.0, 1.0) > expected_improvement(1.2, 0.5, 1.0));
    }

    #[test]
    fn trust_region_grows_on_success_shrinks_on_failure_and_restarts() {
        let mut tr = TrustRegion {
            len: LEN_INIT,
            successes: 0,
            failures: 0,
            fail_tol: 4,
        };
        for _ in 0..SUCCESS_TOL {
            tr.update(true);
        }
        assert_eq!(tr.len, 2.0 * LEN_INIT);
        for _ in 0..4 {
            tr.update(false);
        }
        assert_eq!(tr.len, LEN_INIT);
        for _ in 0..4 * 5 {
            tr.update(false);
        }
        // 0.4 / 2^5 = 0.0125 < 1/64 resets
        assert_eq!(tr.len, LEN_INIT);
    }
}
