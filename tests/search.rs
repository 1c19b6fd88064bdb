//! Search, step 1: the calibration table is computed over a validation sample, cached, and
//! resumes after an interrupt (a torn last line included) with the same result.

use autoapprox::characterize::Options;
use autoapprox::nn::eval::KernelKind;
use autoapprox::search::calibrate::{calibrate, CalibrateOptions};
use std::path::Path;

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
