//! The characterization cache: warm hits, corruption detection and recomputation, rank caps.

use autoapprox::characterize::{characterize, Characterization, Options};
use autoapprox::multiplier::{Design, Multiplier};
use std::path::Path;

mod common;

fn subset() -> Vec<Multiplier> {
    [
        Design::Exact,
        Design::Bam { vbl: 4, hbl: 0 },
        Design::Drum { k: 4 },
        Design::Mitchell { w: 7 },
    ]
    .into_iter()
    .map(Multiplier::builtin)
    .collect()
}

fn opts(dir: &Path) -> Options {
    Options {
        cache_dir: dir.to_path_buf(),
        progress: false,
        ..Options::default()
    }
}

fn same(a: &[Characterization], b: &[Characterization]) {
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.key, y.key);
        assert_eq!(x.lut, y.lut, "{}", x.mult.name);
        assert_eq!(x.metrics, y.metrics, "{}", x.mult.name);
        assert_eq!(x.lowrank, y.lowrank, "{}", x.mult.name);
    }
}

#[test]
fn warm_cache_answers_and_corrupt_entries_are_recomputed() {
    let tmp = tempfile::tempdir().unwrap();
    let mults = subset();
    let (cold, s0) = characterize(&mults, &opts(tmp.path())).unwrap();
    assert_eq!((s0.simulated, s0.cache_hits), (4, 0));
    assert_eq!(common::cache_entries(tmp.path()), 4);

    let (warm, s1) = characterize(&mults, &opts(tmp.path())).unwrap();
    assert_eq!((s1.simulated, s1.cache_hits), (0, 4));
    assert!(warm.iter().all(|c| c.cached));
    same(&cold, &warm);

    // Damage every entry a different way.
    let dir = |i: usize| tmp.path().join(&cold[i].key);
    let lut = dir(0).join("lut.npy");
    let len = std::fs::metadata(&lut).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&lut)
        .unwrap()
        .set_len(len / 2)
        .unwrap(); // truncated
    let metrics = dir(1).join("metrics.json");
    let mut bytes = std::fs::read(&metrics).unwrap();
    let pos = bytes.iter().position(|b| b.is_ascii_digit()).unwrap();
    bytes[pos] = if bytes[pos] == b'9' {
        b'1'
    } else {
        bytes[pos] + 1
    }; // plausible but wrong
    std::fs::write(&metrics, bytes).unwrap();
    std::fs::remove_file(dir(2).join("manifest.json")).unwrap(); // interrupted write
    let u = dir(3).join("svd_u.npy");
    let mut bytes = std::fs::read(&u).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40; // one flipped bit in a factor
    std::fs::write(&u, bytes).unwrap();

    let (again, s2) = characterize(&mults, &opts(tmp.path())).unwrap();
    assert_eq!(s2.corrupt.len(), 4, "{:?}", s2.corrupt);
    assert_eq!(s2.simulated, 4);
    same(&cold, &again);

    let (_, s3) = characterize(&mults, &opts(tmp.path())).unwrap();
    assert_eq!((s3.simulated, s3.cache_hits, s3.corrupt.len()), (0, 4, 0));
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn keys_follow_the_source_text() {
    let a = Multiplier::builtin(Design::Exact);
    let mut b = a.clone();
    b.verilog.push_str("\n// a comment changes the key\n");
    let k = |m: &Multiplier| autoapprox::characterize::cache::key(m, 1, "Verilator 5.006");
    assert_ne!(k(&a), k(&b));
    assert_eq!(k(&a), k(&a.clone()));
    assert_ne!(
        k(&a),
        autoapprox::characterize::cache::key(&a, 1, "Verilator 5.020")
    );
    assert_ne!(
        k(&a),
        autoapprox::characterize::cache::key(&a, 2, "Verilator 5.006")
    );
}

#[test]
fn max_rank_caps_the_stored_factors() {
    let tmp = tempfile::tempdir().unwrap();
    let m = vec![Multiplier::builtin(Design::Mitchell { w: 7 })];
    let (full, _) = characterize(&m, &opts(tmp.path())).unwrap();
    assert!(full[0].lowrank.rank > 8);
    let capped_opts = Options {
        max_rank: Some(8),
        ..opts(tmp.path())
    };
    let (capped, s) = characterize(&m, &capped_opts).unwrap();
    assert_eq!(
        s.cache_hits, 1,
        "the cap is applied to cached factors, not a new key"
    );
    let lr = &capped[0].lowrank;
    assert_eq!(lr.rank, 8);
    assert!(!lr.stats.lossless && lr.stats.max_err >= 0.5);
    assert!(lr.stats.max_err > full[0].lowrank.stats.max_err);
    assert_eq!(lr.stats.bytes, 8 * 513 * 4);
}
