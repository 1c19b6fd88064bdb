//! Search, step 1: the calibration table is computed over a validation sample, cached, and
//! resumes after an interrupt (a torn last line included) with the same result.

use autoapprox::characterize::Options;
use autoapprox::nn::eval::KernelKind;
use autoapprox::search::calibrate::{calibrate, CalibrateOptions};
use std::path::Path;

mod common;

#[test]
fn calibration_is_cached_and_resumes_after_an_interrupt() {
    let d = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // the characterization cache is shared; the calibration entries go to a fresh directory
    let cache = d.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let o = CalibrateOptions {
        bench: root.join("data/benchmarks/mnist-cnn"),
        candidates: vec![
            "mul8u_exact".into(),
            "mul8u_drum_k4".into(),
            "mul8u_mitchell_w2".into(),
        ],
        sample: Some(200),
        seed: 7,
        kernel: KernelKind::Lut,
        characterize: Options {
            cache_dir: cache.clone(),
            progress: false,
            ..Options::default()
        },
        progress: false,
    };
    let (t, st) = calibrate(&o).unwrap();
    // exact is the baseline, not a column; 4 layers x 2 multipliers
    assert_eq!(t.multipliers, vec!["mul8u_drum_k4", "mul8u_mitchell_w2"]);
    assert_eq!(t.layers.len(), 4);
    assert_eq!((st.evaluated, st.reused), (8, 0));
    assert_eq!(t.sample, 200);
    // Mitchell with w = 2 (MRE 17.6 %) hurts some layer far more than DRUM k = 4 (MRE 5.9 %)
    let worst = |m: usize| t.top1.iter().map(|r| r[m]).fold(1.0, f64::min);
    assert!(worst(1) < worst(0) - 0.05, "{:?}", t.top1);
    assert!(t.mre_pct[0] < t.mre_pct[1]);
    // the continuous measure: every cell strays from exact int8 (KL > 0, with a noise
    // estimate), Mitchell more than DRUM on every layer; the discordant pairs give top-1
    for l in 0..4 {
        assert!(t.kl[l][0] > 0.0 && t.kl_se[l][0] > 0.0, "{:?}", t.kl);
        assert!(t.kl[l][1] > t.kl[l][0], "{:?}", t.kl);
        for m in 0..2 {
            let delta = (t.gain[l][m] as f64 - t.loss[l][m] as f64) / 200.0;
            assert!((t.top1[l][m] - t.exact_top1 - delta).abs() < 1e-9);
        }
    }
    // answered from the cache
    let (t2, st2) = calibrate(&o).unwrap();
    assert_eq!((st2.evaluated, st2.reused), (0, 8));
    assert_eq!(t2, t);
    // interrupted: no table, three finished cells and a torn fourth line
    let dir = cache.join("calib").join(&t.key);
    std::fs::remove_file(dir.join("table.json")).unwrap();
    let text = std::fs::read_to_string(dir.join("cells.jsonl")).unwrap();
    let mut kept: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    kept.push_str("{\"layer\": 2, \"mult\": \"mul8u_dr");
    std::fs::write(dir.join("cells.jsonl"), kept).unwrap();
    let (t3, st3) = calibrate(&o).unwrap();
    assert_eq!((st3.evaluated, st3.reused), (5, 3));
    assert_eq!(t3, t);
    // another sample is another table
    let (t4, _) = calibrate(&CalibrateOptions {
        seed: 8,
        ..o.clone()
    })
    .unwrap();
    assert_ne!(t4.key, t.key);
    t.write(d.path()).unwrap();
    let svg = std::fs::read_to_string(d.path().join("sensitivity.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("mitchell_w2"));
}

/// The whole search on mnist-cnn with a real PPA model of a 4x4 chip: every method stays within
/// its budget of distinct mappings and shares one evaluation cache, a second run with the same
/// seed writes the same evaluation logs without simulating anything, the chosen designs are
/// re-measured on the test split, and each exported design is an accelerator spec (with its
/// layer -> MXU route table) that `generate` accepts.
#[test]
fn search_runs_every_method_reproducibly_and_exports_generatable_designs() {
    use autoapprox::search::methods::Method;
    use autoapprox::search::{problem::Params, search, SearchOptions};
    let d = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = d.path().join("cache");
    let spec = d.path().join("chip.toml");
    std::fs::write(
        &spec,
        "name = \"t4\"\nrows = 4\ncols = 4\nacc_bits = 20\n\
         [[mxu]]\nmultiplier = \"mul8u_drum_k4\"\n[[mxu]]\nmultiplier = \"mul8u_mitchell_w2\"\n\
         [[mxu]]\nmultiplier = \"mul8u_perf_s0k2\"\n",
    )
    .unwrap();
    let bench = root.join("data/benchmarks/mnist-cnn");
    let ppa_out = d.path().join("ppa");
    let o = common::autoapprox(
        &[
            "ppa",
            spec.to_str().unwrap(),
            "--out",
            ppa_out.to_str().unwrap(),
            "--bench",
            bench.to_str().unwrap(),
            "--images",
            "2",
            "--slots",
            "8",
            "--len",
            "8",
            "--no-sta-power",
            "--cache",
            cache.to_str().unwrap(),
        ],
        root,
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let opts = |out: &str| SearchOptions {
        calibrate: CalibrateOptions {
            bench: bench.clone(),
            candidates: vec![],
            sample: Some(300),
            seed: 1,
            kernel: KernelKind::Lut,
            characterize: Options {
                cache_dir: cache.clone(),
                progress: false,
                ..Options::default()
            },
            progress: false,
        },
        ppa: ppa_out.join("ppa.json"),
        methods: Method::ALL.to_vec(),
        budget: 10,
        seeds: vec![4],
        params: Params {
            tau_rel: -1.0,
            // aggressive candidates flip images: a lenient hold keeps confirmed designs
            hold: 0.55,
            ..Params::default()
        },
        hv_span: 2.0,
        test: true,
        confirm: 2,
        out: d.path().join(out),
    };
    let r = search(&opts("a")).expect("search");
    let p = &r.problem;
    assert_eq!(p.names[0], "mul8u_exact");
    assert_eq!(p.names.len(), 4);
    assert!((p.energy_of(&vec![0; p.n_layers()]) - 100.0).abs() < 1e-9);
    assert!(p.area.iter().skip(1).all(|&a| a > 0.0 && a < 100.0));
    assert_eq!(r.runs.len(), Method::ALL.len());
    assert!(r.simulated > 0);
    for run in &r.runs {
        let log = autoapprox::search::driver::read_log(&d.path().join("a").join(&run.log)).unwrap();
        assert!(
            !log.is_empty() && log.len() <= 10,
            "{}: {}",
            run.log,
            log.len()
        );
        let distinct: std::collections::BTreeSet<_> = log.iter().map(|e| &e.mapping).collect();
        assert_eq!(distinct.len(), log.len(), "{} repeats a mapping", run.log);
        for e in &log {
            let c: Vec<usize> = e
                .mapping
                .iter()
                .map(|m| p.names.iter().position(|n| n == m).unwrap())
                .collect();
            assert!((e.energy - p.energy_of(&c)).abs() < 1e-9);
            // feasibility and the barrier judge the paired bound, not the raw sample top-1
            let bounded = p.exact_top1 + e.lcb;
            assert!(e.lcb <= e.delta + 1e-12, "{e:?}");
            assert!((e.delta - (e.top1 - p.exact_top1)).abs() < 1e-9, "{e:?}");
            assert!((e.objective - p.objective(&c, bounded)).abs() < 1e-6 * e.objective.max(1.0));
            assert_eq!(e.feasible, p.feasible(&c, bounded));
        }
    }
    // the exact chip heads Table II, re-measured on the 5,000-image test split (the half of
    // t10k that is not validation)
    let exact = &r.designs[0];
    assert!(exact.test_top1 > 95.0 && r.zero_loss(exact), "{exact:?}");
    assert_eq!(r.test_images, 5_000);
    assert_eq!(r.confirm_images, 5_000 - 300);
    assert!(r.designs.iter().all(|d| d.test_top1.is_finite()));
    // the test split's paired counts agree with its top-1
    for d in &r.designs {
        let t = d.test_paired.expect("measured on test");
        assert_eq!(t.n, 5_000);
        assert!(
            (d.test_top1 - exact.test_top1 - t.delta()).abs() < 1e-9,
            "{d:?}"
        );
        assert!(t.flips >= t.loss + t.gain);
    }
    assert!(r.designs.len() > 5);
    assert!(r.text().contains("honesty"));
    // confirmed designs: sample-feasible, and the paired bound holds on the validation images
    // outside the sample
    assert_eq!(exact.confirm_lcb, Some(0.0));
    assert_eq!(exact.confirm_hold, Some(1.0));
    let confirmed: Vec<_> = r
        .designs
        .iter()
        .filter(|x| x.kind == autoapprox::search::results::Kind::Confirmed)
        .collect();
    assert!(!confirmed.is_empty());
    for c in confirmed {
        let choice: Vec<usize> = c
            .mapping
            .iter()
            .map(|m| p.names.iter().position(|n| n == m).unwrap())
            .collect();
        assert!(p.feasible(&choice, p.exact_top1 + c.sample_lcb), "{c:?}");
        assert!(c.confirm_lcb.unwrap() >= p.params.tau_rel - 1e-9, "{c:?}");
        assert!(c.confirm_hold.unwrap() >= p.params.hold - 1e-12, "{c:?}");
    }
    // the same seed: the same logs, all from the cache
    let r2 = search(&opts("b")).expect("search again");
    assert_eq!(
        (r2.simulated, r2.simulated_confirm, r2.simulated_test),
        (0, 0, 0)
    );
    for run in &r.runs {
        let a = std::fs::read(d.path().join("a").join(&run.log)).unwrap();
        let b = std::fs::read(d.path().join("b").join(&run.log)).unwrap();
        assert!(
            a == b,
            "{} differs between two runs with the same seed",
            run.log
        );
    }
    for f in [
        "fronts.svg",
        "hypervolume.svg",
        "table.md",
        "designs.csv",
        "fronts.json",
    ] {
        assert!(d.path().join("a").join(f).is_file(), "{f}");
    }
    // every chosen design: an accelerator spec that generate accepts, routes = its mapping
    for des in r
        .designs
        .iter()
        .filter(|x| x.mapping.iter().any(|m| m != "mul8u_exact"))
    {
        let path = d.path().join("a/designs").join(format!("{}.toml", des.id));
        let acc = autoapprox::rtl::AcceleratorSpec::load(&path).expect("spec loads");
        let gen = d.path().join("gen").join(&des.id);
        let m = autoapprox::rtl::generate(&acc, &gen, &Default::default()).expect("generate");
        assert_eq!(m.routes.len(), p.n_layers());
        for (layer, mult) in p.layers.iter().zip(&des.mapping) {
            let route = m
                .routes
                .iter()
                .find(|x| &x.layer == layer)
                .expect("layer routed");
            assert_eq!(&route.multiplier, mult);
            assert_eq!(&m.mxus[route.route].multiplier, mult);
        }
        assert!(gen.join("routes.csv").is_file());
    }
}
