//! The built-in library, characterized by the real Verilator: every table equals the design's
//! independent Rust model, metrics match closed forms, SVD ranks are lossless and minimal.

use autoapprox::characterize::{characterize, Characterization, Options};
use autoapprox::multiplier::{self, Design, LIBRARY};
use std::sync::OnceLock;

fn library() -> &'static [Characterization] {
    static CELL: OnceLock<(tempfile::TempDir, Vec<Characterization>)> = OnceLock::new();
    &CELL
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let opts = Options {
                cache_dir: tmp.path().to_path_buf(),
                progress: false,
                ..Options::default()
            };
            let (cs, stats) =
                characterize(&multiplier::library(), &opts).expect("characterize the library");
            assert_eq!(stats.simulated, LIBRARY.len());
            (tmp, cs)
        })
        .1
}

fn find(d: Design) -> &'static Characterization {
    library()
        .iter()
        .find(|c| c.mult.design() == Some(d))
        .unwrap()
}

#[test]
fn exact_multiplier_table_is_a_times_b_on_all_pairs() {
    let c = find(Design::Exact);
    for a in 0..256u32 {
        for b in 0..256u32 {
            assert_eq!(c.lut.get(a, b), a * b, "{a} * {b}");
        }
    }
    assert_eq!(c.metrics.wce, 0);
    assert_eq!(c.lowrank.rank, 0);
}

#[test]
fn every_builtin_verilog_equals_its_rust_model_on_all_pairs() {
    assert_eq!(library().len(), LIBRARY.len());
    for c in library() {
        let d = c.mult.design().unwrap();
        let mut mismatches = 0;
        let mut first = None;
        for a in 0..256u32 {
            for b in 0..256u32 {
                if c.lut.get(a, b) != d.model(a, b) {
                    mismatches += 1;
                    first.get_or_insert((a, b));
                }
            }
        }
        assert_eq!(
            mismatches, 0,
            "{}: {mismatches} mismatches, first at {first:?}",
            c.mult.name
        );
    }
}

#[test]
fn approximate_designs_really_approximate_and_are_not_commutative_by_accident() {
    // Every approximate design differs from a*b somewhere; perforation (weight rows only) is
    // not commutative, and the table must reflect port order A = activation, B = weight.
    for c in library()
        .iter()
        .filter(|c| c.mult.design() != Some(Design::Exact))
    {
        assert!(c.metrics.wce > 0, "{} is exact", c.mult.name);
    }
    let p = find(Design::Perforation { start: 0, count: 1 });
    assert_eq!(p.lut.get(3, 1), 0); // b's row 0 perforated: 3 * (1 & !1) = 0
    assert_eq!(p.lut.get(1, 3), 2); // 1 * (3 & !1) = 2
}

/// Closed forms for the broken-array multiplier with vertical break level k (partial products
/// a_i b_j with i + j < k omitted): d = sum over omitted (i, j) of a_i b_j 2^(i+j) >= 0, so
/// MAE = sum 2^(i+j) / 4, WCE = sum 2^(i+j), bias = -MAE, and
/// MSE = sum over pairs of omitted products of 2^(i+j+i'+j') E[a_i a_i'] E[b_j b_j'].
#[test]
fn broken_array_metrics_equal_their_closed_form() {
    for vbl in [2u32, 4, 6, 8] {
        let c = find(Design::Bam { vbl, hbl: 0 });
        let omitted: Vec<(u32, u32)> = (0..8)
            .flat_map(|i| (0..8).map(move |j| (i, j)))
            .filter(|(i, j)| i + j < vbl)
            .collect();
        let w = |i: u32, j: u32| 2f64.powi((i + j) as i32);
        let mae: f64 = omitted.iter().map(|&(i, j)| w(i, j) / 4.0).sum();
        let wce: f64 = omitted.iter().map(|&(i, j)| w(i, j)).sum();
        let p = |x: u32, y: u32| if x == y { 0.5 } else { 0.25 };
        let mse: f64 = omitted
            .iter()
            .flat_map(|&(i, j)| {
                omitted
                    .iter()
                    .map(move |&(k, l)| w(i, j) * w(k, l) * p(i, k) * p(j, l))
            })
            .sum();
        let m = &c.metrics;
        assert!(
            (m.mae - mae).abs() < 1e-9,
            "vbl {vbl}: MAE {} vs {mae}",
            m.mae
        );
        assert!((m.mae_pct - mae / 65536.0 * 100.0).abs() < 1e-12);
        assert_eq!(m.wce as f64, wce, "vbl {vbl}");
        assert!((m.wce_pct - wce / 65536.0 * 100.0).abs() < 1e-12);
        assert!((m.bias + mae).abs() < 1e-9, "vbl {vbl}: bias {}", m.bias);
        assert!(
            (m.mse - mse).abs() < 1e-6 * mse,
            "vbl {vbl}: MSE {} vs {mse}",
            m.mse
        );
        assert_eq!(m.wcre_pct, 100.0); // a = b = 1 loses its only partial product
    }
    // vbl = 2: d = 0 iff a0 b0 = a0 b1 = a1 b0 = 0, which holds for 8 of the 16 values of
    // (a0, a1, b0, b1).
    assert_eq!(find(Design::Bam { vbl: 2, hbl: 0 }).metrics.ep_pct, 50.0);
}

/// Perforating weight row 0: d = a * b0, so d / e = b0 / b over a, b >= 1 and
/// MRE = (sum over odd b of 1/b) / 255.
#[test]
fn perforation_relative_error_equals_its_closed_form() {
    let m = &find(Design::Perforation { start: 0, count: 1 }).metrics;
    let mre: f64 = (1..256).step_by(2).map(|b| 1.0 / b as f64).sum::<f64>() / 255.0 * 100.0;
    assert!((m.mre_pct - mre).abs() < 1e-9, "{} vs {mre}", m.mre_pct);
    assert_eq!(m.ep_pct, 128.0 * 255.0 / 65536.0 * 100.0); // d > 0 iff b is odd and a > 0
}

#[test]
fn svd_rank_is_lossless_after_rounding_and_minimal() {
    for c in library() {
        let lr = &c.lowrank;
        assert!(
            lr.stats.lossless && lr.stats.max_err < 0.5,
            "{}: max err {}",
            c.mult.name,
            lr.stats.max_err
        );
        for a in 0..256 {
            for b in 0..256 {
                assert_eq!(
                    lr.product(a, b),
                    c.lut.get(a as u32, b as u32) as i64,
                    "{} at ({a},{b})",
                    c.mult.name
                );
            }
        }
        if lr.rank > 0 {
            let smaller = lr.truncated(lr.rank - 1, &c.lut);
            assert!(
                !smaller.stats.lossless,
                "{}: rank {} is not minimal",
                c.mult.name, lr.rank
            );
        }
        assert_eq!(lr.stats.bytes, lr.rank * (256 + 256 + 1) * 4);
    }
    // Structure the SVD must find: DRUM is separable (rank 2: f(a) f(b) - a b); perforation
    // and the all-approximate Kulkarni multiplier have rank-1 errors.
    assert_eq!(find(Design::Drum { k: 4 }).lowrank.rank, 2);
    assert_eq!(
        find(Design::Perforation { start: 1, count: 2 })
            .lowrank
            .rank,
        1
    );
    assert_eq!(find(Design::Kulkarni { t: 7 }).lowrank.rank, 1);
    assert_eq!(find(Design::Bam { vbl: 2, hbl: 0 }).lowrank.rank, 2);
}

#[test]
fn library_spans_the_required_error_range() {
    let approx: Vec<f64> = library()
        .iter()
        .filter(|c| c.mult.design() != Some(Design::Exact))
        .map(|c| c.metrics.mre_pct)
        .collect();
    assert!(approx.len() >= 16);
    let lo = approx.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = approx.iter().cloned().fold(0.0, f64::max);
    assert!(lo <= 0.015, "smallest MRE {lo}%");
    assert!(hi > 10.0, "largest MRE {hi}%");
}

#[test]
fn committed_mac_verilog_matches_the_generators() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mac_verilog");
    for d in LIBRARY {
        let path = dir.join(format!("{}.v", d.name()));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            text == d.verilog(),
            "{} is stale: run `autoapprox mult generate`",
            path.display()
        );
    }
    let mut others = Vec::new();
    let mut verilog = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".v") {
            verilog += 1;
        } else {
            others.push(name);
        }
    }
    assert_eq!(
        verilog,
        LIBRARY.len(),
        "mac_verilog/ holds files no generator makes"
    );
    // the evolved family's settings, netlists (the source of its files) and summary
    others.sort();
    assert_eq!(others, ["evolved.csv", "evolved.json", "evolved.toml"]);
}

#[test]
fn every_builtin_is_lint_clean_and_synthesizable() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mac_verilog");
    for d in LIBRARY {
        let f = dir.join(format!("{}.v", d.name()));
        let lint = std::process::Command::new("verilator")
            .args(["--lint-only", "-Wall"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            lint.status.success() && lint.stderr.is_empty(),
            "{}: {}",
            d.name(),
            String::from_utf8_lossy(&lint.stderr)
        );
    }
    let script: String = LIBRARY
        .iter()
        .map(|d| {
            format!(
                "design -reset; read_verilog {}/{}.v; synth -top {}; ",
                dir.display(),
                d.name(),
                d.name()
            )
        })
        .collect();
    let y = std::process::Command::new("yosys")
        .args(["-q", "-p", &script])
        .output()
        .expect("yosys");
    assert!(
        y.status.success(),
        "yosys: {}",
        String::from_utf8_lossy(&y.stderr)
    );
}

#[test]
fn the_evolvers_metrics_are_the_characterizations_for_every_evolved_circuit() {
    let family = multiplier::builtin::evolved_family();
    let evolved: Vec<&Design> = LIBRARY
        .iter()
        .filter(|d| matches!(d, Design::Evolved(_)))
        .collect();
    assert_eq!(
        evolved.len(),
        family.summary.circuits.len(),
        "LIBRARY must list every circuit of mac_verilog/evolved.json"
    );
    for (d, e) in evolved.into_iter().zip(&family.summary.circuits) {
        let c = find(*d);
        assert_eq!(c.mult.name, e.name);
        // exactly: the same table gives the same numbers
        assert_eq!(c.metrics, e.metrics, "{}", e.name);
        assert!(
            e.metrics.mre_pct <= e.target,
            "{} misses its target",
            e.name
        );
    }
}
