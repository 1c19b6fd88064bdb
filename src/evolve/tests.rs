//! Unit tests of the evolver's engine on random circuits (no tools needed).

use super::es::{self, EsOptions, Objective, RunState};
use super::gates::GateSet;
use super::genome::Genome;
use super::problem::{self, ProblemOptions, StreamSegment};
use super::sim::{Engine, Metric, Problem};
use crate::ppa::liberty::Library;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn library() -> Library {
    Library::from_str(
        crate::ppa::DEFAULT_LIBERTY,
        std::path::Path::new("default.lib"),
    )
    .unwrap()
}

fn stream(rng: &mut ChaCha8Rng) -> Vec<StreamSegment> {
    [("l0", 150, 0.25), ("l1", 64, 0.75)]
        .iter()
        .map(|&(name, n, share)| StreamSegment {
            name: name.into(),
            pairs: (0..n).map(|_| (rng.random(), rng.random())).collect(),
            psums: (0..n).map(|_| rng.random::<u32>() as u64 >> 9).collect(),
            share,
        })
        .collect()
}

fn problem(metric: Metric, bound: f64, pe: bool, weights: Option<Vec<f64>>) -> Problem {
    let lib = library();
    let gates = GateSet::from_library(&lib, None).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let w = weights.unwrap_or_else(|| vec![1.0; 1 << 16]);
    problem::build(
        8,
        gates,
        &w,
        &stream(&mut rng),
        &ProblemOptions {
            metric,
            bound,
            wce_bound: None,
            output_load_pf: 0.004,
            period_ns: 10.0,
        },
        pe.then_some((&lib, 32)),
    )
    .unwrap()
}

#[test]
fn incremental_measurement_equals_a_full_one() {
    for (metric, pe) in [
        (Metric::Mre, true),
        (Metric::Mae, false),
        (Metric::Mse, true),
    ] {
        let p = problem(metric, f64::INFINITY, pe, None);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut parent = Genome::random(8, 120, &p.gates, &mut rng);
        let mut engine = Engine::new(&p);
        let mut pe_eval = engine.evaluate(&parent);
        for step in 0..300 {
            let mut child = parent.clone();
            let m = child.mutate(&p.gates, &pe_eval.active, 3, &mut rng);
            let inc = engine.evaluate_child(&parent, &pe_eval, &child, &m);
            let mut other = Engine::new(&p);
            let full = other.evaluate(&child);
            assert_eq!(inc.error.to_bits(), full.error.to_bits(), "{step}");
            assert_eq!(inc.wce, full.wce);
            assert_eq!(inc.energy.to_bits(), full.energy.to_bits(), "{step}");
            assert_eq!(inc.mult_energy.to_bits(), full.mult_energy.to_bits());
            assert_eq!(
                (inc.area.to_bits(), inc.cells),
                (full.area.to_bits(), full.cells)
            );
            assert_eq!(engine.table(&child, &inc), other.table(&child, &full));
            if step % 3 == 0 {
                let old = std::mem::replace(&mut pe_eval, inc);
                engine.replace_parent(old, &pe_eval);
                parent = child;
            } else {
                engine.discard(inc);
            }
        }
        let live = engine.slots_in_use();
        engine.release(pe_eval);
        assert_eq!(engine.slots_in_use(), 0, "{live} slots leaked");
    }
}

#[test]
fn bit_parallel_tables_equal_gate_by_gate_evaluation() {
    let p = problem(Metric::Mre, f64::INFINITY, false, None);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..3 {
        let g = Genome::random(8, 80, &p.gates, &mut rng);
        let mut e = Engine::new(&p);
        let m = e.evaluate(&g);
        let t = e.table(&g, &m);
        for _ in 0..3000 {
            let (a, b) = (rng.random_range(0..256u32), rng.random_range(0..256u32));
            assert_eq!(t[(a << 8 | b) as usize] as u32, g.eval(&p.gates, a, b));
        }
        // the metric is the characterization's, up to summation order
        let lut = crate::characterize::Lut::new(8, t);
        let want = lut.metrics().mre_pct;
        assert!(
            (m.error - want).abs() <= 1e-9 * want.max(1.0),
            "{} vs {want}",
            m.error
        );
        assert_eq!(m.wce, lut.metrics().wce);
    }
}

#[test]
fn weighted_error_counts_only_weighted_pairs() {
    // weight only on pairs with a = 3: the metric is that row's mean relative error
    let mut w = vec![0.0; 1 << 16];
    for b in 0..256 {
        w[3 << 8 | b] = 1.0;
    }
    let p = problem(Metric::Mre, f64::INFINITY, false, Some(w.clone()));
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let g = Genome::random(8, 60, &p.gates, &mut rng);
    let mut e = Engine::new(&p);
    let m = e.evaluate(&g);
    let t = e.table(&g, &m);
    let want: f64 = (1..256u32)
        .map(|b| (t[(3 << 8 | b) as usize] as f64 - 3.0 * b as f64).abs() / (3.0 * b as f64))
        .sum::<f64>()
        / 255.0
        * 100.0;
    assert!(
        (m.error - want).abs() < 1e-9 * want.max(1.0),
        "{} vs {want}",
        m.error
    );
    let wm = super::WeightedMetrics::of(&crate::characterize::Lut::new(8, t), &w);
    assert!((wm.mre_pct - want).abs() < 1e-9 * want.max(1.0));
}

#[test]
fn every_instruction_set_gives_the_same_error_bits() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..200 {
        let x: Vec<u64> = (0..16).map(|_| rng.random()).collect();
        let exact: Vec<u16> = (0..64).map(|_| rng.random()).collect();
        let coef: Vec<f64> = (0..64).map(|_| rng.random::<f64>() * 1e-3).collect();
        for squared in [false, true] {
            let g = super::sim::word_error_all_isas(&x, &exact, &coef, squared);
            for r in &g[1..] {
                assert_eq!((r.0.to_bits(), r.1), (g[0].0.to_bits(), g[0].1));
            }
        }
    }
}

#[test]
fn a_run_is_deterministic_and_resumes_exactly() {
    let p = problem(Metric::Mre, 2.0, true, None);
    // a start that meets the bound: the exact multiplier, built from gates
    let start = exact_array(&p.gates);
    let o = EsOptions {
        generations: 400,
        lambda: 4,
        max_mutations: 4,
        objective: Objective::Energy,
    };
    let run = |state: RunState, until: u64| {
        let mut e = Engine::new(&p);
        let (s, ev) = es::run(&mut e, state, &o, 77, until, 50, &mut |_, _| true);
        let cost = ev.energy;
        e.release(ev);
        (s, cost)
    };
    let (a, ca) = run(RunState::start(start.clone()), 400);
    let (b, cb) = run(RunState::start(start.clone()), 400);
    assert_eq!((&a, ca.to_bits()), (&b, cb.to_bits()));
    let (half, _) = run(RunState::start(start.clone()), 150);
    let json = serde_json::to_string(&half).unwrap();
    let (c, cc) = run(serde_json::from_str(&json).unwrap(), 400);
    assert_eq!((&a, ca.to_bits()), (&c, cc.to_bits()));
    assert!(a.improvements > 0, "no improvement in 400 generations");
}

/// The exact 8x8 array multiplier from the library's AND/XOR/MAJ cells (no Yosys needed).
pub(super) fn exact_array(gates: &GateSet) -> Genome {
    let and2 = gates.cheapest(2, 0x8).unwrap() as u16;
    let xor2 = gates.cheapest(2, 0x6).unwrap() as u16;
    let maj3 = gates.cheapest(3, 0xE8).unwrap() as u16;
    let mut g = Genome {
        bits: 8,
        levels_back: usize::MAX / 2,
        nodes: Vec::new(),
        outputs: Vec::new(),
    };
    let zero = 16u32;
    let add = |g: &mut Genome, gate: u16, ins: &[u32]| {
        let mut a = [zero; super::gates::MAX_ARITY];
        a[..ins.len()].copy_from_slice(ins);
        g.nodes.push(super::genome::Node { gate, ins: a });
        (18 + g.nodes.len() - 1) as u32
    };
    // columns of partial products, reduced with full/half adders until one bit each
    let mut cols: Vec<Vec<u32>> = vec![Vec::new(); 17];
    for i in 0..8u32 {
        for j in 0..8u32 {
            let pp = add(&mut g, and2, &[i, 8 + j]);
            cols[(i + j) as usize].push(pp);
        }
    }
    for c in 0..16 {
        while cols[c].len() > 1 {
            if cols[c].len() >= 3 {
                let (x, y, z) = (cols[c].remove(0), cols[c].remove(0), cols[c].remove(0));
                let t = add(&mut g, xor2, &[x, y]);
                let s = add(&mut g, xor2, &[t, z]);
                let k = add(&mut g, maj3, &[x, y, z]);
                cols[c].push(s);
                cols[c + 1].push(k);
            } else {
                let (x, y) = (cols[c].remove(0), cols[c].remove(0));
                let s = add(&mut g, xor2, &[x, y]);
                let k = add(&mut g, and2, &[x, y]);
                cols[c].push(s);
                cols[c + 1].push(k);
            }
        }
    }
    g.outputs = (0..16)
        .map(|c| cols[c].first().copied().unwrap_or(zero))
        .collect();
    g.levels_back = g.nodes.len();
    g
}

#[test]
fn the_gate_built_array_multiplier_is_exact() {
    let p = problem(Metric::Mre, 0.0, false, None);
    let g = exact_array(&p.gates);
    let mut e = Engine::new(&p);
    let m = e.evaluate(&g);
    assert!(m.feasible && m.error == 0.0 && m.wce == 0);
    let c = g.circuit(&p.gates);
    let back = Genome::from_circuit(&c, &p.gates).unwrap();
    assert_eq!(back.circuit(&p.gates), c);
    let v = c.verilog(&p.gates, "mul8u_t", &["header".into()]).unwrap();
    assert!(v.starts_with("// header\nmodule mul8u_t (A, B, O);"));
    assert!(v.contains("input [7:0] A;") && v.contains("output [15:0] O;"));
}
