//! The (1 + λ) evolution strategy: each generation, λ mutants of the parent are measured; the
//! cheapest one that meets the error bound replaces the parent if it costs no more (ties go to
//! the offspring: neutral drift). The run is a pure function of the start genome, the problem,
//! the options and the seed, and can stop and resume at any generation boundary.

use super::genome::Genome;
use super::sim::{Engine, Eval, Problem};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What evolution minimizes among candidates that meet the bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Switching energy per multiplication on the workload stream (the PPA stage's model).
    #[default]
    Energy,
    /// Σ cell areas.
    Area,
}

impl std::str::FromStr for Objective {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Objective> {
        match s {
            "energy" => Ok(Objective::Energy),
            "area" => Ok(Objective::Area),
            _ => Err(crate::Error::Other(format!(
                "unknown objective `{s}` (energy, area)"
            ))),
        }
    }
}

impl Objective {
    pub fn cost(&self, e: &Eval) -> f64 {
        match self {
            Objective::Energy => e.energy,
            Objective::Area => e.area,
        }
    }
}

#[derive(Clone, Debug)]
pub struct EsOptions {
    pub generations: u64,
    pub lambda: usize,
    pub max_mutations: usize,
    pub objective: Objective,
}

/// Where a run stands: enough to resume it exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    pub genome: Genome,
    pub generation: u64,
    pub evaluations: u64,
    /// Parent replacements that lowered the cost.
    pub improvements: u64,
    /// Position of the run's ChaCha8 stream (in 32-bit words).
    pub rng_word_pos: u128,
    /// The generation of the last synthesis step (see `evolve::run_target`).
    pub mapped_at: u64,
    /// The snapshot whose synthesized netlist was the cheapest so far.
    pub best: Option<Mapped>,
}

/// A genome and the cost of its netlist as Yosys + ABC map it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Mapped {
    pub genome: Genome,
    pub cost: f64,
    pub cells: usize,
}

impl RunState {
    pub fn start(genome: Genome) -> RunState {
        RunState {
            genome,
            generation: 0,
            evaluations: 0,
            improvements: 0,
            rng_word_pos: 0,
            mapped_at: 0,
            best: None,
        }
    }
}

/// Runs from `state` until generation `until` (at most `o.generations`); `report` is called
/// every `every` generations (and at the end) with the state and the parent's measurement,
/// and stops the run early by returning false. Returns the final state and the parent's
/// measurement.
pub fn run(
    engine: &mut Engine,
    mut state: RunState,
    o: &EsOptions,
    seed: u64,
    until: u64,
    every: u64,
    report: &mut dyn FnMut(&RunState, &Eval) -> bool,
) -> (RunState, Eval) {
    let p: &Problem = engine.p;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_word_pos(state.rng_word_pos);
    let mut parent = engine.evaluate(&state.genome);
    let until = until.min(o.generations);
    while state.generation < until {
        let mut best: Option<(Genome, Eval)> = None;
        for _ in 0..o.lambda.max(1) {
            let mut g = state.genome.clone();
            let m = g.mutate(&p.gates, &parent.active, o.max_mutations, &mut rng);
            let e = engine.evaluate_child(&state.genome, &parent, &g, &m);
            state.evaluations += 1;
            let better = e.feasible
                && best
                    .as_ref()
                    .is_none_or(|(_, b)| o.objective.cost(&e) < o.objective.cost(b));
            if better {
                if let Some((_, old)) = best.replace((g, e)) {
                    engine.discard(old);
                }
            } else {
                engine.discard(e);
            }
        }
        if let Some((g, e)) = best {
            let (c, pc) = (o.objective.cost(&e), o.objective.cost(&parent));
            if c <= pc {
                state.improvements += (c < pc) as u64;
                let old = std::mem::replace(&mut parent, e);
                engine.replace_parent(old, &parent);
                state.genome = g;
            } else {
                engine.discard(e);
            }
        }
        state.generation += 1;
        if state.generation.is_multiple_of(every.max(1)) || state.generation == until {
            state.rng_word_pos = rng.get_word_pos();
            if !report(&state, &parent) {
                break;
            }
        }
    }
    state.rng_word_pos = rng.get_word_pos();
    (state, parent)
}
