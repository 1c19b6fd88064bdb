//! The search methods, all on the same budget of distinct mappings and the same evaluation
//! cache: GP Bayesian optimization over the relaxed z ∈ [0,1]^N (the paper's method), greedy
//! layerwise (the paper's baseline), random search over the relaxed space, discrete BO over the
//! categorical space (one integer per layer, candidates ordered by MRE) and NSGA-II (ALWANN's
//! method) over the categorical space.
//!
//! Budget: a method may ask for a mapping it has already seen (it costs nothing and is not
//! counted); it stops after `budget` distinct mappings. Every random choice comes from one
//! ChaCha stream seeded by the run's seed, so the same seed gives the same evaluation log.

use super::evaluator::Evaluator;
use super::problem::{Choice, Problem};
use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Gpbo,
    Ego,
    Greedy,
    Random,
    Dbo,
    Nsga2,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Gpbo,
        Method::Ego,
        Method::Greedy,
        Method::Random,
        Method::Dbo,
        Method::Nsga2,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Method::Gpbo => "gpbo",
            Method::Ego => "ego",
            Method::Greedy => "greedy",
            Method::Random => "random",
            Method::Dbo => "dbo",
            Method::Nsga2 => "nsga2",
        }
    }
    /// Greedy makes no random choice: one run serves every seed.
    pub fn seeded(self) -> bool {
        self != Method::Greedy
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                Error::Other(format!(
                    "unknown search method `{s}` (gpbo, ego, greedy, random, dbo, nsga2)"
                ))
            })
    }
}

/// One line of a method's evaluation log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Eval {
    pub method: Method,
    pub seed: u64,
    /// 1-based count of distinct mappings this run evaluated
    pub step: usize,
    pub mapping: Vec<String>,
    /// the relaxed point that produced it (relaxed-space methods)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<Vec<f64>>,
    /// % on the search sample
    pub top1: f64,
    pub top5: f64,
    /// Δ top-1 vs exact int8 on the same sample images (points) and its lower confidence
    /// bound (`oracle::Paired`), which feasibility and the barrier use
    #[serde(default)]
    pub delta: f64,
    #[serde(default)]
    pub lcb: f64,
    /// mean KL(exact int8 ‖ mapping) on the sample, nats
    #[serde(default)]
    pub kl: f64,
    /// % of the exact chip
    pub energy: f64,
    pub area: f64,
    pub objective: f64,
    pub feasible: bool,
}

/// Called with each new log line (the JSON-lines writer and the progress bar).
pub type OnEval<'e> = Box<dyn FnMut(&Eval) -> Result<()> + 'e>;

/// The BO loop's question to its surrogate: the next point given the data (None: no answer).
type Suggest<'a> = &'a dyn Fn(&[Vec<f64>], &[f64]) -> Option<Vec<f64>>;

/// A method's run: its budget, its log, the mappings it has seen.
pub struct Run<'p, 'e, 's> {
    pub p: &'p Problem,
    pub ev: &'e mut Evaluator<'s>,
    pub method: Method,
    pub seed: u64,
    pub budget: usize,
    pub log: Vec<Eval>,
    /// GP suggestions that failed (egobox could not train); a random point was used instead
    pub gp_failures: usize,
    seen: HashMap<Choice, usize>,
    pub on_eval: OnEval<'e>,
}

impl<'p, 'e, 's> Run<'p, 'e, 's> {
    pub fn new(
        p: &'p Problem,
        ev: &'e mut Evaluator<'s>,
        method: Method,
        seed: u64,
        budget: usize,
        on_eval: OnEval<'e>,
    ) -> Self {
        // a space smaller than the budget is evaluated whole, then the run stops
        let space = match method {
            Method::Dbo | Method::Nsga2 => p.categorical_size(),
            _ => p.relaxed_size(),
        };
        Run {
            p,
            ev,
            method,
            seed,
            budget: budget.min(space),
            log: Vec::new(),
            gp_failures: 0,
            seen: HashMap::new(),
            on_eval,
        }
    }

    /// Whether this run has already evaluated mapping `c`.
    pub fn seen(&self, c: &Choice) -> bool {
        self.seen.contains_key(c)
    }

    pub fn done(&self) -> bool {
        self.log.len() >= self.budget
    }

    /// Scores the mappings (the new ones in parallel) in order; new mappings beyond the budget
    /// are dropped (None). Returns the log index of each.
    pub fn eval(&mut self, items: &[(Choice, Option<Vec<f64>>)]) -> Result<Vec<Option<usize>>> {
        let mut fresh: Vec<usize> = Vec::new();
        let mut planned: Vec<&Choice> = Vec::new();
        for (i, (c, _)) in items.iter().enumerate() {
            if !self.seen.contains_key(c)
                && !planned.contains(&c)
                && self.log.len() + planned.len() < self.budget
            {
                planned.push(c);
                fresh.push(i);
            }
        }
        let names: Vec<Vec<String>> = fresh
            .iter()
            .map(|&i| self.p.names_of(&items[i].0))
            .collect();
        let scores = self.ev.sample_batch(&names)?;
        for (&i, (s, mapping)) in fresh.iter().zip(scores.into_iter().zip(names)) {
            let c = &items[i].0;
            let e = Eval {
                method: self.method,
                seed: self.seed,
                step: self.log.len() + 1,
                mapping,
                z: items[i].1.clone(),
                top1: s.top1,
                top5: s.top5,
                delta: s.paired.delta(),
                lcb: s.paired.lcb(self.p.z),
                kl: s.kl,
                energy: self.p.energy_of(c),
                area: self.p.area_of(c),
                objective: self.p.objective(c, self.p.bounded_top1(&s)),
                feasible: self.p.feasible(c, self.p.bounded_top1(&s)),
            };
            (self.on_eval)(&e)?;
            self.seen.insert(c.clone(), self.log.len());
            self.log.push(e);
        }
        Ok(items
            .iter()
            .map(|(c, _)| self.seen.get(c).copied())
            .collect())
    }
}

/// Runs `method` to its budget.
pub fn run(r: &mut Run) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(r.seed ^ ((r.method as u64) << 32));
    match r.method {
        Method::Gpbo => super::gpbo::gpbo(r, &mut rng),
        Method::Ego => ego(r, &mut rng),
        Method::Greedy => greedy(r),
        Method::Random => random(r, &mut rng),
        Method::Dbo => dbo(r, &mut rng),
        Method::Nsga2 => nsga2(r, &mut rng),
    }
}

/// Latin hypercube sample of `n` points in [0,1]^d (one point per stratum on every axis).
pub fn lhs(n: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut pts = vec![vec![0.0; d]; n];
    for j in 0..d {
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            perm.swap(i, rng.random_range(0..=i));
        }
        for (i, pt) in pts.iter_mut().enumerate() {
            pt[j] = (perm[i] as f64 + rng.random::<f64>()) / n as f64;
        }
    }
    pts
}

/// Size of the initial design of the BO methods: about two points per dimension, at least 10,
/// at most a third of the budget.
fn n_initial(d: usize, budget: usize) -> usize {
    (2 * d).max(10).min((budget / 3).max(2)).min(budget)
}

/// Asks the GP for its next point; egobox panics when it cannot train the surrogate (e.g. a
/// degenerate clustering), which is turned into None (the caller tries a random point).
fn ask_gp(f: &dyn Fn() -> Vec<f64>) -> Option<Vec<f64>> {
    crate::util::catch_quiet(f)
}

/// The GP's target: ln of the barrier objective (positive; spans orders of magnitude because of
/// the exponential barriers, which a GP on the raw values cannot fit).
fn gp_target(f: f64) -> f64 {
    f.max(1e-9).ln()
}

fn to_arrays(x: &[Vec<f64>], y: &[f64]) -> (ndarray016::Array2<f64>, ndarray016::Array2<f64>) {
    let d = x.first().map_or(0, |r| r.len());
    let xa = ndarray016::Array2::from_shape_fn((x.len(), d), |(i, j)| x[i][j]);
    let ya = ndarray016::Array2::from_shape_fn((y.len(), 1), |(i, _)| y[i]);
    (xa, ya)
}

/// A BO loop over the unit box (relaxed) or an integer lattice (discrete): `decode` maps a
/// point to a mapping. A suggestion that lands on an already evaluated point or mapping adds no
/// information; after three such in a row a uniformly random point is tried instead.
fn bo_loop(
    r: &mut Run,
    rng: &mut ChaCha8Rng,
    init: Vec<Vec<f64>>,
    suggest: Suggest,
    random_point: &dyn Fn(&mut ChaCha8Rng) -> Vec<f64>,
    decode: &dyn Fn(&[f64]) -> Choice,
    relaxed: bool,
) -> Result<()> {
    let mut xs: Vec<Vec<f64>> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    let items: Vec<(Choice, Option<Vec<f64>>)> = init
        .iter()
        .map(|z| (decode(z), relaxed.then(|| z.clone())))
        .collect();
    let idx = r.eval(&items)?;
    for (z, i) in init.into_iter().zip(idx) {
        if let Some(i) = i {
            ys.push(gp_target(r.log[i].objective));
            xs.push(z);
        }
    }
    let mut stale = 0usize;
    let mut asks = 0usize;
    while !r.done() && asks < 20 * r.budget.max(1) {
        asks += 1;
        let mut z = if stale >= 3 {
            stale = 0;
            random_point(rng)
        } else {
            match suggest(&xs, &ys) {
                Some(z) => z,
                None => {
                    r.gp_failures += 1;
                    random_point(rng)
                }
            }
        };
        if xs.iter().any(|x| {
            x.iter()
                .zip(&z)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max)
                < 1e-9
        }) {
            stale += 1;
            z = random_point(rng);
        }
        let c = decode(&z);
        let before = r.log.len();
        let i = r.eval(&[(c, relaxed.then(|| z.clone()))])?[0];
        stale = if r.log.len() > before { 0 } else { stale + 1 };
        if let Some(i) = i {
            ys.push(gp_target(r.log[i].objective));
            xs.push(z);
        }
    }
    Ok(())
}

/// Plain EGO over the relaxed z ∈ [0,1]^d (d = layers with a choice), the textbook GP-BO kept
/// as an ablation of `gpbo`: egobox's EGO with the EI infill and a constant-mean GP, seeded;
/// the initial design holds z = 1 (every layer on its most accurate survivor) and a Latin
/// hypercube over the whole box.
fn ego(r: &mut Run, rng: &mut ChaCha8Rng) -> Result<()> {
    let p = r.p;
    let d = p.free.len();
    if d == 0 {
        r.eval(&[(p.decode(&[]), Some(vec![]))])?;
        return Ok(());
    }
    let mut init = vec![vec![1.0; d]];
    init.extend(lhs(n_initial(d, r.budget) - 1, d, rng));
    let mut xl = ndarray016::Array2::<f64>::zeros((d, 2));
    xl.column_mut(1).fill(1.0);
    let seed = r.seed;
    let ego = egobox_ego::EgorServiceBuilder::optimize()
        .configure(|c| c.infill_strategy(egobox_ego::InfillStrategy::EI).seed(seed))
        .min_within(&xl)
        .map_err(|e| Error::Other(format!("egobox: {e}")))?;
    let suggest = |x: &[Vec<f64>], y: &[f64]| -> Option<Vec<f64>> {
        let (xa, ya) = to_arrays(x, y);
        let s = ask_gp(&|| ego.suggest(&xa, &ya).row(0).to_vec())?;
        Some(s.iter().map(|v| v.clamp(0.0, 1.0)).collect())
    };
    let random_point = |rng: &mut ChaCha8Rng| (0..d).map(|_| rng.random::<f64>()).collect();
    bo_loop(
        r,
        rng,
        init,
        &suggest,
        &random_point,
        &|z| p.decode(z),
        true,
    )
}

/// Candidates ordered by MRE (exact first): the categorical methods' encoding.
fn by_mre(p: &Problem) -> Vec<usize> {
    let mut o: Vec<usize> = (0..p.names.len()).collect();
    o.sort_by(|&a, &b| p.mre_pct[a].total_cmp(&p.mre_pct[b]).then(a.cmp(&b)));
    o
}

/// Discrete BO: one integer per layer (XType::Int, the candidate's rank by MRE), egobox's
/// mixed-integer EGO with the EI infill; the initial design holds the all-exact mapping.
fn dbo(r: &mut Run, rng: &mut ChaCha8Rng) -> Result<()> {
    let p = r.p;
    let n = p.n_layers();
    let k = p.names.len();
    let order = by_mre(p);
    let xtypes = vec![egobox_ego::XType::Int(0, k as i32 - 1); n];
    let seed = r.seed;
    let ego = egobox_ego::EgorServiceBuilder::optimize()
        .configure(|c| c.infill_strategy(egobox_ego::InfillStrategy::EI).seed(seed))
        .min_within_mixint_space(&xtypes)
        .map_err(|e| Error::Other(format!("egobox: {e}")))?;
    let to_int = |z: &[f64]| -> Vec<f64> {
        z.iter()
            .map(|v| (v * k as f64).floor().clamp(0.0, k as f64 - 1.0))
            .collect()
    };
    let mut init = vec![vec![0.0; n]];
    init.extend(
        lhs(n_initial(n, r.budget) - 1, n, rng)
            .iter()
            .map(|z| to_int(z)),
    );
    let suggest = |x: &[Vec<f64>], y: &[f64]| -> Option<Vec<f64>> {
        let (xa, ya) = to_arrays(x, y);
        let s = ask_gp(&|| ego.suggest(&xa, &ya).row(0).to_vec())?;
        Some(
            s.iter()
                .map(|v| v.round().clamp(0.0, k as f64 - 1.0))
                .collect(),
        )
    };
    let random_point =
        |rng: &mut ChaCha8Rng| (0..n).map(|_| rng.random_range(0..k) as f64).collect();
    let decode = |x: &[f64]| -> Choice { x.iter().map(|&v| order[v as usize]).collect() };
    bo_loop(r, rng, init, &suggest, &random_point, &decode, false)
}

/// Random search over the relaxed space: z uniform in [0,1]^d, in batches of 8.
fn random(r: &mut Run, rng: &mut ChaCha8Rng) -> Result<()> {
    let p = r.p;
    let d = p.free.len();
    let mut tries = 0;
    while !r.done() && tries < 50 * r.budget.max(1) {
        let items: Vec<(Choice, Option<Vec<f64>>)> = (0..8)
            .map(|_| {
                let z: Vec<f64> = (0..d).map(|_| rng.random::<f64>()).collect();
                (p.decode(&z), Some(z))
            })
            .collect();
        tries += items.len();
        r.eval(&items)?;
        if d == 0 {
            break;
        }
    }
    Ok(())
}

/// Greedy layerwise (the paper's baseline): layers in order of decreasing exact energy; for
/// each, its surviving candidates from the cheapest up; the first that keeps the network (with
/// the choices made so far) at or above τ and within the area cap is kept.
fn greedy(r: &mut Run) -> Result<()> {
    let p = r.p;
    let n = p.n_layers();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| p.energy[b][0].total_cmp(&p.energy[a][0]).then(a.cmp(&b)));
    let mut cur: Choice = vec![0; n];
    for l in order {
        let mut cands = p.relaxed[l].cands.clone();
        cands.sort_by(|&a, &b| p.energy[l][a].total_cmp(&p.energy[l][b]));
        for c in cands {
            if c == cur[l] || p.energy[l][c] >= p.energy[l][cur[l]] {
                break;
            }
            if r.done() {
                return Ok(());
            }
            let mut m = cur.clone();
            m[l] = c;
            if p.area_of(&m) > p.params.phi {
                continue;
            }
            let i = r.eval(&[(m.clone(), None)])?[0];
            if let Some(i) = i {
                if r.log[i].feasible {
                    cur = m;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// NSGA-II (Deb et al. 2002) over the categorical space: population 20 (the all-exact mapping
/// and random ones), binary tournaments on (rank, crowding), uniform crossover (p = 0.9),
/// per-gene mutation (p = 1/N); objectives energy (min) and top-1 (max), the area cap as a
/// constraint (constrained domination).
fn nsga2(r: &mut Run, rng: &mut ChaCha8Rng) -> Result<()> {
    let p = r.p;
    let n = p.n_layers();
    let k = p.names.len();
    let pop_size = 20usize.min(r.budget.max(2));
    let mut pop: Vec<Choice> = vec![vec![0; n]];
    while pop.len() < pop_size {
        pop.push((0..n).map(|_| rng.random_range(0..k)).collect());
    }
    let score = |r: &mut Run, xs: &[Choice]| -> Result<Vec<Option<(f64, f64, f64)>>> {
        let items: Vec<(Choice, Option<Vec<f64>>)> = xs.iter().map(|c| (c.clone(), None)).collect();
        let idx = r.eval(&items)?;
        Ok(idx
            .into_iter()
            .map(|i| {
                i.map(|i| {
                    let e = &r.log[i];
                    (e.energy, -e.top1, (e.area - p.params.phi).max(0.0))
                })
            })
            .collect())
    };
    let first = score(r, &pop)?;
    // keep only evaluated members (the budget may cut the first population)
    let (mut pop, mut fit): (Vec<Choice>, Vec<(f64, f64, f64)>) = pop
        .into_iter()
        .zip(first)
        .filter_map(|(c, f)| f.map(|f| (c, f)))
        .unzip();
    let mut gens = 0;
    while !r.done() && gens < 10 * r.budget.max(1) && pop.len() >= 2 {
        gens += 1;
        let (rank, crowd) = rank_and_crowding(&fit);
        let tour = |rng: &mut ChaCha8Rng| {
            let a = rng.random_range(0..pop.len());
            let b = rng.random_range(0..pop.len());
            if (rank[a], -crowd[a]) <= (rank[b], -crowd[b]) {
                a
            } else {
                b
            }
        };
        let mut kids: Vec<Choice> = Vec::new();
        while kids.len() < pop_size {
            let (a, b) = (tour(rng), tour(rng));
            let mut c1 = pop[a].clone();
            let mut c2 = pop[b].clone();
            if rng.random::<f64>() < 0.9 {
                for g in 0..n {
                    if rng.random::<bool>() {
                        std::mem::swap(&mut c1[g], &mut c2[g]);
                    }
                }
            }
            for c in [&mut c1, &mut c2] {
                for g in c.iter_mut() {
                    if rng.random::<f64>() < 1.0 / n as f64 {
                        *g = rng.random_range(0..k);
                    }
                }
            }
            kids.push(c1);
            kids.push(c2);
        }
        kids.truncate(pop_size);
        let kf = score(r, &kids)?;
        for (c, f) in kids.into_iter().zip(kf) {
            if let Some(f) = f {
                if !pop.contains(&c) {
                    pop.push(c);
                    fit.push(f);
                }
            }
        }
        // environmental selection
        let (rank, crowd) = rank_and_crowding(&fit);
        let mut order: Vec<usize> = (0..pop.len()).collect();
        order.sort_by(|&a, &b| {
            rank[a]
                .cmp(&rank[b])
                .then(crowd[b].total_cmp(&crowd[a]))
                .then(a.cmp(&b))
        });
        order.truncate(pop_size);
        pop = order.iter().map(|&i| pop[i].clone()).collect();
        fit = order.iter().map(|&i| fit[i]).collect();
    }
    Ok(())
}

/// Constrained domination on (f1 min, f2 min, violation): feasible beats infeasible, smaller
/// violation beats larger, else Pareto dominance.
fn dominates(a: (f64, f64, f64), b: (f64, f64, f64)) -> bool {
    if a.2 != b.2 {
        return a.2 < b.2;
    }
    a.0 <= b.0 && a.1 <= b.1 && (a.0 < b.0 || a.1 < b.1)
}

/// Non-dominated sorting ranks (0 = first front) and crowding distances.
pub fn rank_and_crowding(fit: &[(f64, f64, f64)]) -> (Vec<usize>, Vec<f64>) {
    let n = fit.len();
    let mut rank = vec![usize::MAX; n];
    let mut left: Vec<usize> = (0..n).collect();
    let mut r = 0;
    while !left.is_empty() {
        let front: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| !left.iter().any(|&j| j != i && dominates(fit[j], fit[i])))
            .collect();
        for &i in &front {
            rank[i] = r;
        }
        left.retain(|i| !front.contains(i));
        r += 1;
    }
    let mut crowd = vec![0.0; n];
    for fr in 0..r {
        let members: Vec<usize> = (0..n).filter(|&i| rank[i] == fr).collect();
        for obj in 0..2 {
            let val = |i: usize| if obj == 0 { fit[i].0 } else { fit[i].1 };
            let mut m = members.clone();
            m.sort_by(|&a, &b| val(a).total_cmp(&val(b)).then(a.cmp(&b)));
            let (lo, hi) = (val(m[0]), val(*m.last().unwrap()));
            crowd[m[0]] = f64::INFINITY;
            crowd[*m.last().unwrap()] = f64::INFINITY;
            if hi > lo {
                for w in 1..m.len().saturating_sub(1) {
                    crowd[m[w]] += (val(m[w + 1]) - val(m[w - 1])) / (hi - lo);
                }
            }
        }
    }
    (rank, crowd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lhs_puts_one_point_in_every_stratum() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let pts = lhs(10, 4, &mut rng);
        for j in 0..4 {
            let mut strata: Vec<usize> = pts.iter().map(|p| (p[j] * 10.0) as usize).collect();
            strata.sort();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
        let mut rng2 = ChaCha8Rng::seed_from_u64(3);
        assert_eq!(pts, lhs(10, 4, &mut rng2));
    }

    #[test]
    fn nondominated_sorting_and_crowding() {
        let fit = [
            (1.0, 5.0, 0.0),
            (2.0, 3.0, 0.0),
            (3.0, 1.0, 0.0),
            (3.0, 4.0, 0.0), // dominated by (2,3)
            (0.5, 0.5, 1.0), // infeasible: last
        ];
        let (rank, crowd) = rank_and_crowding(&fit);
        assert_eq!(rank, vec![0, 0, 0, 1, 2]);
        assert!(crowd[0].is_infinite() && crowd[2].is_infinite());
        assert!((crowd[1] - 2.0).abs() < 1e-12);
    }
}
