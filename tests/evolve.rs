//! `autoapprox evolve` end to end with the real Yosys (start mapping, synthesis steps) and
//! Verilator (the written files characterized as any third-party multiplier).

mod common;

use autoapprox::characterize::{characterize, Options};
use autoapprox::evolve::{self, Distribution, EvolveConfig, EvolveOptions, Summary};
use autoapprox::multiplier;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn small(distribution: Distribution) -> EvolveConfig {
    EvolveConfig {
        targets: vec![0.3, 3.0],
        distribution,
        bench: root().join("data/benchmarks/mnist-cnn"),
        images: 8,
        stream_slots: 8,
        stream_len: 16,
        generations: 3000,
        syntheses: 2,
        ..EvolveConfig::default()
    }
}

fn run(cfg: &EvolveConfig, out: &Path, cache: &Path) -> evolve::EvolveResult {
    evolve::evolve(
        cfg,
        &EvolveOptions {
            liberty: None,
            cache_dir: cache.to_path_buf(),
            out: out.to_path_buf(),
            progress: false,
        },
    )
    .expect("evolve")
}

#[test]
fn evolved_files_characterize_to_the_evolvers_metrics_and_runs_repeat() {
    let d = tempfile::tempdir().unwrap();
    let cfg = small(Distribution::Uniform);
    let r = run(&cfg, &d.path().join("a"), &d.path().join("cache-a"));
    assert_eq!(r.circuits.len(), 2);
    for c in &r.circuits {
        assert!(c.error <= c.target, "{} misses its target", c.name);
        // uniform MRE: the constrained metric is the characterization's
        assert!((c.metrics.mre_pct - c.error).abs() < 1e-9);
        assert!(
            c.energy_pj < c.baseline.energy_pj,
            "{}: no saving at all after 3000 generations",
            c.name
        );
    }
    // the looser target starts (at least) from the tighter one's circuit
    assert!(r.circuits[1].energy_pj <= r.circuits[0].energy_pj * 1.05);
    // the files go through characterization untouched, and give exactly the same numbers
    let mults: Vec<_> = r
        .files
        .iter()
        .map(|f| multiplier::resolve(f.to_str().unwrap(), None).unwrap())
        .collect();
    let (chars, _) = characterize(
        &mults,
        &Options {
            cache_dir: d.path().join("char"),
            progress: false,
            ..Options::default()
        },
    )
    .unwrap();
    for (ch, c) in chars.iter().zip(&r.circuits) {
        assert_eq!(ch.mult.name, c.name);
        assert_eq!(ch.metrics, c.metrics, "{}", c.name);
    }
    // the same inputs give the same files (fresh cache), and a cached run writes them again
    let again = run(&cfg, &d.path().join("b"), &d.path().join("cache-b"));
    assert_eq!(again.circuits, r.circuits);
    let stale = evolve::compare_outputs(&d.path().join("b"), &d.path().join("a")).unwrap();
    assert!(stale.is_empty(), "{stale:?}");
    let cached = run(&cfg, &d.path().join("c"), &d.path().join("cache-a"));
    assert!(cached.run_seconds.iter().all(|s| s.is_none()));
    assert!(
        evolve::compare_outputs(&d.path().join("c"), &d.path().join("a"))
            .unwrap()
            .is_empty()
    );
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("a/evolved.json")).unwrap())
            .unwrap();
    assert_eq!(summary.circuits, r.circuits);
}

#[test]
fn an_interrupted_run_resumes_to_the_same_circuit() {
    let d = tempfile::tempdir().unwrap();
    let bench = root().join("data/benchmarks/mnist-cnn");
    let cmd = |out: &str, cache: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_autoapprox"));
        c.args(["evolve", "--targets", "1", "--distribution", "workload"])
            .args(["--generations", "60000", "--out"])
            .arg(d.path().join(out))
            .arg("--cache")
            .arg(d.path().join(cache))
            .arg("--bench")
            .arg(&bench)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    assert!(cmd("whole", "c1").status().unwrap().success());
    // killed after its first checkpoint (every 5 s), then run again to the end
    let mut child = cmd("resumed", "c2").spawn().unwrap();
    let dir = d.path().join("c2/evolve");
    let t0 = std::time::Instant::now();
    let checkpointed = || {
        std::fs::read_dir(&dir).is_ok_and(|r| {
            r.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".state.json"))
        })
    };
    while !checkpointed() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert!(checkpointed(), "no checkpoint within 120 s");
    assert!(!d.path().join("resumed/evolved.json").exists());
    assert!(cmd("resumed", "c2").status().unwrap().success());
    let read = |o: &str| std::fs::read_to_string(d.path().join(o).join("evolved.json")).unwrap();
    assert_eq!(read("whole"), read("resumed"));
}

#[test]
fn workload_distribution_weights_the_networks_pairs() {
    let pairs =
        evolve::workload::operand_pairs(&root().join("data/benchmarks/mnist-cnn"), 2).unwrap();
    assert_eq!(pairs.len(), 4);
    // every MAC of every layer is one counted pair
    let bench =
        autoapprox::nn::eval::Benchmark::load(&root().join("data/benchmarks/mnist-cnn")).unwrap();
    let graph = autoapprox::nn::onnx::load(&bench.model_path()).unwrap();
    for (p, info) in pairs.iter().zip(graph.layers().unwrap()) {
        let total: u64 = p.counts.iter().sum();
        assert_eq!(total, 2 * info.macs, "{}", p.name);
    }
    // ReLU activations: code-0 pairs are frequent in the layers after the first
    let zero_a: u64 = pairs[1].counts[..256].iter().sum();
    assert!(zero_a > 0);
}

#[test]
fn bad_settings_name_the_file_and_the_key() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("e.toml");
    std::fs::write(&f, "targets = [0.5]\nlambdaa = 3\n").unwrap();
    let e = EvolveConfig::load(&f).unwrap_err().to_string();
    assert!(e.contains("e.toml") && e.contains("lambdaa"), "{e}");
    std::fs::write(&f, "targets = []\n").unwrap();
    let e = EvolveConfig::load(&f).unwrap_err().to_string();
    assert!(e.contains("targets"), "{e}");
    std::fs::write(&f, "targets = [1.0]\nlayer = \"fc1\"\n").unwrap();
    let e = EvolveConfig::load(&f).unwrap_err().to_string();
    assert!(e.contains("workload"), "{e}");
    // a start that cannot meet the target
    let mut cfg = small(Distribution::Uniform);
    cfg.targets = vec![0.01];
    cfg.starts = vec!["mul8u_drum_k4".into()];
    let err = evolve::evolve(
        &cfg,
        &EvolveOptions {
            liberty: None,
            cache_dir: d.path().join("c"),
            out: d.path().join("o"),
            progress: false,
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("mul8u_drum_k4") && err.contains("target"),
        "{err}"
    );
}
