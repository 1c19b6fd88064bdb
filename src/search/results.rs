//! What a search produces: Pareto fronts (energy vs accuracy, and with area), hypervolume over
//! evaluations, the chosen designs of each run (power-optimized, balanced, accuracy-optimized)
//! and the accelerator spec + route table of each.

use super::methods::{Eval, Method};
use super::problem::Problem;
use crate::rtl::{AcceleratorSpec, MxuSpec};
use serde::{Deserialize, Serialize};

/// Indices of the non-dominated points of (energy: min, top-1: max), by increasing energy.
pub fn pareto(points: &[(f64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
            .then(a.cmp(&b))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in idx {
        if points[i].1 > best {
            best = points[i].1;
            front.push(i);
        }
    }
    front
}

/// Non-dominated points of (energy: min, top-1: max, area: min).
pub fn pareto3(points: &[(f64, f64, f64)]) -> Vec<usize> {
    let dom = |a: (f64, f64, f64), b: (f64, f64, f64)| {
        a.0 <= b.0 && a.1 >= b.1 && a.2 <= b.2 && (a.0 < b.0 || a.1 > b.1 || a.2 < b.2)
    };
    let mut out: Vec<usize> = (0..points.len())
        .filter(|&i| !(0..points.len()).any(|j| dom(points[j], points[i])))
        .collect();
    out.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0).then(a.cmp(&b)));
    out.dedup_by(|a, b| points[*a] == points[*b]);
    out
}

/// Area dominated by the points in the (energy, top-1) plane, bounded by the reference point
/// (energy `e_ref`, top-1 `a_ref`): points with energy ≥ e_ref or top-1 ≤ a_ref add nothing.
pub fn hypervolume(points: &[(f64, f64)], e_ref: f64, a_ref: f64) -> f64 {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| p.0 < e_ref && p.1 > a_ref)
        .collect();
    let front = pareto(&pts);
    let mut hv = 0.0;
    // by increasing energy, accuracy increases along the front
    for (k, &i) in front.iter().enumerate() {
        let (e, a) = pts[i];
        let e_hi = front.get(k + 1).map_or(e_ref, |&j| pts[j].0);
        // the slab [e, e_hi) is dominated up to accuracy a
        hv += (e_hi - e) * (a - a_ref);
    }
    hv
}

/// Hypervolume after each evaluation of a run (feasible area only).
pub fn hv_trace(log: &[Eval], p: &Problem, e_ref: f64, a_ref: f64) -> Vec<f64> {
    let mut pts = Vec::new();
    log.iter()
        .map(|e| {
            if e.area <= p.params.phi {
                pts.push((e.energy, e.top1));
            }
            hypervolume(&pts, e_ref, a_ref)
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// every layer on the exact MXU
    Exact,
    /// lowest energy among the feasible evaluations (bound of Δ top-1 ≥ τ on the sample, area ≤ φ)
    Power,
    /// lowest barrier objective (among the feasible evaluations when there are any)
    Balanced,
    /// highest top-1 on the sample within the area cap (ties: lowest energy)
    Accuracy,
    /// lowest energy among the feasible evaluations (on their energy-KL front) that also hold
    /// on the confirmation set (the validation images outside the sample): Δ top-1's lower
    /// confidence bound there at least τ, and a probability of holding on a fresh
    /// validation-sized set of at least `hold`
    Confirmed,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Power => "power",
            Kind::Balanced => "balanced",
            Kind::Accuracy => "accuracy",
            Kind::Confirmed => "confirmed",
        }
    }
}

/// The designs a run offers: indices into its log.
pub fn choose(log: &[Eval], phi: f64) -> Vec<(Kind, usize)> {
    let mut out = Vec::new();
    let by = |f: &dyn Fn(&Eval, &Eval) -> std::cmp::Ordering| {
        (0..log.len()).min_by(|&a, &b| f(&log[a], &log[b]).then(a.cmp(&b)))
    };
    if let Some(i) = by(&|a, b| {
        b.feasible
            .cmp(&a.feasible)
            .then(a.energy.total_cmp(&b.energy))
            .then(b.top1.total_cmp(&a.top1))
    }) {
        if log[i].feasible {
            out.push((Kind::Power, i));
        }
    }
    if let Some(i) = by(&|a, b| {
        b.feasible
            .cmp(&a.feasible)
            .then(a.objective.total_cmp(&b.objective))
    }) {
        out.push((Kind::Balanced, i));
    }
    if let Some(i) = by(&|a, b| {
        (b.area <= phi)
            .cmp(&(a.area <= phi))
            .then(b.top1.total_cmp(&a.top1))
            .then(a.energy.total_cmp(&b.energy))
    }) {
        out.push((Kind::Accuracy, i));
    }
    out
}

/// The candidates for a run's confirmed design: the energy-fidelity front of its feasible
/// evaluations (no other feasible one at most as dear with at most its KL to exact int8 on the
/// sample), by increasing energy, at most `n`. On a small sample many cheap mappings tie at
/// zero discordance; the front keeps one per energy level and reaches up to the near-exact
/// ones, which are the likeliest to hold on unseen images.
pub fn confirm_candidates(log: &[Eval], n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..log.len()).filter(|&i| log[i].feasible).collect();
    idx.sort_by(|&a, &b| {
        log[a]
            .energy
            .total_cmp(&log[b].energy)
            .then(log[a].kl.total_cmp(&log[b].kl))
            .then(log[b].top1.total_cmp(&log[a].top1))
            .then(a.cmp(&b))
    });
    let mut front = Vec::new();
    let mut best_kl = f64::INFINITY;
    for i in idx {
        if log[i].kl < best_kl {
            best_kl = log[i].kl;
            front.push(i);
        }
    }
    front.truncate(n);
    front
}

/// A chosen design with its test-split accuracy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Design {
    /// None for the exact-only chip
    pub method: Option<Method>,
    pub seed: Option<u64>,
    pub kind: Kind,
    /// the run's step that found it
    pub step: usize,
    pub mapping: Vec<String>,
    /// % of the exact chip
    pub energy: f64,
    pub area: f64,
    /// % on the search sample
    pub sample_top1: f64,
    /// lower confidence bound of Δ top-1 vs exact int8 on the sample, points
    #[serde(default)]
    pub sample_lcb: f64,
    /// % on the confirmation set (confirmed designs and the exact chip)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_top1: Option<f64>,
    /// lower confidence bound of Δ top-1 vs exact int8 on the confirmation set, points
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_lcb: Option<f64>,
    /// probability of holding on a fresh validation-sized set, from the margin model on the
    /// confirmation set (`oracle::Rates::p_hold`)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_hold: Option<f64>,
    /// the margin model's loss and gain rates on the confirmation set
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_rates: Option<super::oracle::Rates>,
    /// the discordant pairs against exact int8 on the test split
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_paired: Option<super::oracle::Paired>,
    pub objective: f64,
    /// % on the full test split
    pub test_top1: f64,
    pub test_top5: f64,
    /// file stem of the exported spec (designs/<id>.toml)
    pub id: String,
}

impl Design {
    /// A design from evaluation `e` of the run (`method`, `seed`), not yet confirmed or
    /// re-measured on the test split.
    pub fn from_eval(method: Method, seed: u64, e: &Eval, kind: Kind, id: String) -> Design {
        Design {
            method: Some(method),
            seed: Some(seed),
            kind,
            step: e.step,
            mapping: e.mapping.clone(),
            energy: e.energy,
            area: e.area,
            sample_top1: e.top1,
            sample_lcb: e.lcb,
            confirm_top1: None,
            confirm_lcb: None,
            confirm_hold: None,
            confirm_rates: None,
            test_paired: None,
            objective: e.objective,
            test_top1: f64::NAN,
            test_top5: f64::NAN,
            id,
        }
    }

    pub fn label(&self) -> String {
        match (self.method, self.seed) {
            (Some(m), Some(s)) if m.seeded() => format!("{} (seed {s})", m.name()),
            (Some(m), _) => m.name().to_string(),
            _ => "exact int8".into(),
        }
    }

    /// The distinct approximate multipliers the design needs, in order of first use.
    pub fn mxus(&self, exact: &str) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for m in &self.mapping {
            if m != exact && !v.contains(m) {
                v.push(m.clone());
            }
        }
        v
    }

    /// The accelerator spec (the exact fallback plus the MXUs this design uses) with its
    /// layer -> route table, on the geometry of `base`.
    pub fn spec(&self, base: &AcceleratorSpec, layers: &[String], exact: &str) -> AcceleratorSpec {
        let mxus = self.mxus(exact);
        let routes = layers
            .iter()
            .zip(&self.mapping)
            .map(|(l, m)| {
                let r = mxus.iter().position(|x| x == m).map_or(0, |i| i + 1);
                (l.clone(), r)
            })
            .collect();
        AcceleratorSpec {
            exact_fallback: true,
            mxu: mxus
                .into_iter()
                .map(|m| MxuSpec {
                    multiplier: m,
                    top: None,
                })
                .collect(),
            routes,
            ..base.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_front_and_hypervolume() {
        let pts = [
            (90.0, 91.0),
            (95.0, 92.0),
            (92.0, 90.0),
            (99.0, 92.0),
            (85.0, 80.0),
        ];
        assert_eq!(pareto(&pts), vec![4, 0, 1]);
        // ref (100, 89): (90,91) covers [90,95) x (89,91] = 10; (95,92) covers [95,100) x 3 = 15
        // (92, 90) is dominated; (85, 80) is below the reference accuracy
        let hv = hypervolume(&pts, 100.0, 89.0);
        assert!((hv - 25.0).abs() < 1e-9, "{hv}");
        assert_eq!(hypervolume(&[], 100.0, 89.0), 0.0);
        let p3 = pareto3(&[(1.0, 90.0, 200.0), (1.0, 90.0, 300.0), (2.0, 91.0, 100.0)]);
        assert_eq!(p3, vec![0, 2]);
    }

    #[test]
    fn confirmation_candidates_are_the_energy_kl_front() {
        let ev = |energy: f64, kl: f64, feasible: bool| Eval {
            method: Method::Random,
            seed: 1,
            step: 1,
            mapping: vec![],
            z: None,
            top1: 99.0,
            top5: 100.0,
            delta: 0.0,
            lcb: 0.0,
            kl,
            energy,
            area: 100.0,
            objective: energy,
            feasible,
        };
        // 0 and 1 tie on energy (the lower KL first); 2 is dearer and less faithful than 1;
        // 3 is infeasible; 4 and 5 climb towards exact
        let log = [
            ev(88.0, 1e-3, true),
            ev(88.0, 5e-4, true),
            ev(89.0, 6e-4, true),
            ev(85.0, 1e-6, false),
            ev(95.0, 1e-4, true),
            ev(99.0, 1e-6, true),
        ];
        assert_eq!(confirm_candidates(&log, 8), vec![1, 4, 5]);
        assert_eq!(confirm_candidates(&log, 2), vec![1, 4]);
    }
}
