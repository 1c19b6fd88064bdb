//! `autoapprox bench evolve`: candidate evaluations per second of the evolver's inner loop
//! (one run on one thread, then one run per core in parallel), next to the Verilator
//! characterization harness's products per second, measured in the same run.

use super::es::{self, EsOptions, RunState};
use super::sim::Engine;
use super::{setup, EvolveConfig};
use crate::error::{IoContext, Result};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::time::Instant;

pub struct EvolveBench {
    pub pairs: usize,
    pub stream_cycles: usize,
    pub start_cells: usize,
    pub one_thread_evals_per_s: f64,
    pub threads: usize,
    pub all_threads_evals_per_s: f64,
    /// Mean nodes simulated per candidate (of the active ones) in the one-thread run.
    pub simulated_share: f64,
    pub harness_ns_per_product: f64,
    pub text: String,
}

/// Runs `generations` generations of the default configuration's target `target` (MRE %).
pub fn run(generations: u64, target: f64) -> Result<EvolveBench> {
    let tmp = tempfile::tempdir().at(std::env::temp_dir())?;
    let cfg = EvolveConfig::default();
    let s = setup(&cfg, None, tmp.path())?;
    let p = s.problem(&cfg, target)?;
    let o = EsOptions {
        generations,
        lambda: cfg.lambda,
        max_mutations: cfg.max_mutations,
        objective: cfg.objective,
    };
    let active_nodes = s.starts[0]
        .genome
        .active(&s.gates)
        .iter()
        .filter(|a| **a)
        .count();
    let one = |seed: u64| {
        let mut engine = Engine::new(&p);
        let t = Instant::now();
        let (st, best) = es::run(
            &mut engine,
            RunState::start(s.starts[0].genome.clone()),
            &o,
            seed,
            generations,
            u64::MAX,
            &mut |_, _| true,
        );
        let secs = t.elapsed().as_secs_f64();
        engine.release(best);
        (st.evaluations, secs)
    };
    let (evals, secs) = one(1);
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let runs: Vec<(u64, f64)> = (0..threads as u64)
        .into_par_iter()
        .map(|i| one(100 + i))
        .collect();
    let wall = t.elapsed().as_secs_f64();
    let total: u64 = runs.iter().map(|r| r.0).sum();
    // the share of the active nodes a mutant re-simulates, from a short traced run
    let share = {
        let mut engine = Engine::new(&p);
        let parent = engine.evaluate(&s.starts[0].genome);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        let (mut sim, mut n) = (0usize, 0usize);
        for _ in 0..2000 {
            let mut g = s.starts[0].genome.clone();
            let m = g.mutate(&s.gates, &parent.active, cfg.max_mutations, &mut rng);
            let e = engine.evaluate_child(&s.starts[0].genome, &parent, &g, &m);
            sim += e.simulated;
            n += 1;
            engine.discard(e);
        }
        engine.release(parent);
        sim as f64 / n as f64 / active_nodes.max(1) as f64
    };
    let harness = crate::characterize::bench::run()?;
    let ns = harness.ns_per_product();
    let one_rate = evals as f64 / secs;
    let all_rate = total as f64 / wall;
    let pairs = p.pair_words * 64;
    let cycles: usize = p.segments.iter().map(|x| x.cycles).sum();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "evolver benchmark: {} start cells ({} active), every candidate over {} operand pairs + {} \
         stream cycles, target MRE {target}%, {generations} generations x lambda {}",
        s.starts[0].genome.nodes.len(),
        active_nodes,
        pairs,
        cycles,
        cfg.lambda
    );
    let _ = writeln!(
        text,
        "  one thread                        {:>9.0} candidate evaluations/s",
        one_rate
    );
    let _ = writeln!(
        text,
        "  {threads} threads (one run each)        {:>9.0} candidate evaluations/s",
        all_rate
    );
    let _ = writeln!(
        text,
        "  nodes re-simulated per mutant     {:>9.1} % of the active ones",
        100.0 * share
    );
    let _ = writeln!(
        text,
        "  Verilator harness                 {:>9.3} ns/product = {:.0} full tables/s on one thread",
        ns,
        1e9 / ns / pairs as f64
    );
    let _ = writeln!(
        text,
        "  evolver vs harness (one thread)   {:>9.1}x tables/s",
        one_rate / (1e9 / ns / pairs as f64)
    );
    Ok(EvolveBench {
        pairs,
        stream_cycles: cycles,
        start_cells: active_nodes,
        one_thread_evals_per_s: one_rate,
        threads,
        all_threads_evals_per_s: all_rate,
        simulated_share: share,
        harness_ns_per_product: ns,
        text,
    })
}
