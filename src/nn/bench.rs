//! `autoapprox bench nn`: one run per benchmark model, reporting images/s of the float
//! reference, exact int8, the LUT kernel, the plain gather loop and the low-rank kernel (all
//! layers on one approximate multiplier), their ratios, and the speedup over simulating the same
//! products in Verilator (the characterization harness's ns per product, measured in the same run).

use super::eval::{evaluate, Benchmark};
use super::kernels::{gemm, Kernel, LowRankTables, LutTables};
use super::quant::{LayerMul, QuantNet};
use crate::characterize::{self, Options};
use crate::error::Result;
use crate::multiplier::{Design, Multiplier};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

pub struct NnBench {
    pub text: String,
}

fn time_best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Runs the benchmark on each benchmark directory; `images` per measurement.
pub fn run(benches: &[&Path], mult: Design, images: usize) -> Result<NnBench> {
    let mut s = String::new();
    let cache = tempfile::tempdir().map_err(|e| crate::Error::Io {
        path: std::env::temp_dir(),
        source: e,
    })?;
    let opts = Options {
        cache_dir: cache.path().to_path_buf(),
        progress: false,
        ..Options::default()
    };
    let (chars, _) = characterize::characterize(&[Multiplier::builtin(mult)], &opts)?;
    let c = &chars[0];
    let ch = characterize::bench::run()?;
    let verilator_ns = ch.ns_per_product();
    let lut = LutTables::new(&c.lut);
    let lr = LowRankTables::new(&c.lowrank);
    let _ = writeln!(
        s,
        "nn benchmark: approximate multiplier {} (SVD rank {}), Verilator harness {:.2} ns/product (measured now)",
        c.mult.name, c.lowrank.rank, verilator_ns
    );

    // Kernel only: a conv-shaped GEMM, K = 288, N = 64, M = 19,600 (100 images of 14x14).
    let (k, n, m) = (288usize, 64usize, 19_600usize);
    let a: Vec<u8> = (0..k * m)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let w: Vec<u8> = (0..n * k)
        .map(|i| (i.wrapping_mul(40503) >> 5) as u8)
        .collect();
    let macs = (k * n * m) as f64;
    let kt = |kern: Kernel| time_best(3, || drop(gemm(kern, &a, &w, k, m, n)));
    let (te, tl, tg, tr) = (
        kt(Kernel::Exact),
        kt(Kernel::Lut(&lut)),
        kt(Kernel::Gather(&lut)),
        kt(Kernel::LowRank(&lr)),
    );
    let _ = writeln!(s, "\nGEMM kernel alone (K {k}, N {n}, M {m}; best of 3):");
    for (name, t) in [
        ("exact int8", te),
        ("LUT", tl),
        ("plain gather", tg),
        ("low-rank", tr),
    ] {
        let _ = writeln!(
            s,
            "  {name:<13} {:>8.2} ms  {:>7.2} GMAC/s",
            t * 1e3,
            macs / t / 1e9
        );
    }
    let _ = writeln!(
        s,
        "  LUT / exact time {:.2}x; gather / LUT time {:.2}x; low-rank / exact time {:.2}x",
        tl / te,
        tg / tl,
        tr / te
    );

    for dir in benches {
        let b = Benchmark::load(dir)?;
        let graph = super::onnx::load(&b.model_path())?;
        let macs_img: u64 = graph.layers()?.iter().map(|l| l.macs).sum();
        let test = b.split("test")?;
        let ds = test.range(0, images);
        let mut q = QuantNet::new(&graph);
        let layers = q.layers();
        let mut rate = |muls: Option<LayerMul>| -> Result<(f64, f64)> {
            let r = match muls {
                None => evaluate(&|x| graph.run_float(x), &ds, b.scale, 100)?,
                Some(m) => {
                    q.muls = vec![m; layers];
                    evaluate(&|x| q.run(x), &ds, b.scale, 100)?
                }
            };
            Ok((r.images_per_second, r.top1))
        };
        let float = rate(None)?;
        let exact = rate(Some(LayerMul::Exact))?;
        let lutr = rate(Some(LayerMul::Lut(lut.clone())))?;
        let gather = rate(Some(LayerMul::Gather(lut.clone())))?;
        let low = rate(Some(LayerMul::LowRank(lr.clone())))?;
        let _ = writeln!(
            s,
            "\n{} ({:.2} M MACs/image, {} test images, batch 100):",
            b.name,
            macs_img as f64 / 1e6,
            ds.len()
        );
        let _ = writeln!(s, "  {:<22} {:>10} {:>8}", "path", "images/s", "top-1");
        for (name, (ips, top1)) in [
            ("float reference", float),
            ("exact int8", exact),
            ("LUT (approximate)", lutr),
            ("plain gather (approx)", gather),
            ("low-rank (approx)", low),
        ] {
            let _ = writeln!(s, "  {name:<22} {ips:>10.1} {:>7.2}%", top1 * 100.0);
        }
        let verilator_ips = 1e9 / (verilator_ns * macs_img as f64);
        let _ = writeln!(
            s,
            "  LUT/exact throughput {:.2} (exact is {:.2}x faster); low-rank/exact {:.2}; LUT/gather {:.2}x\n  \
             approximate MACs/s (LUT) {:.2} G; Verilator at {:.2} ns/product would do {:.3} images/s: LUT kernel {:.0}x faster",
            lutr.0 / exact.0,
            exact.0 / lutr.0,
            low.0 / exact.0,
            lutr.0 / gather.0,
            lutr.0 * macs_img as f64 / 1e9,
            verilator_ns,
            verilator_ips,
            lutr.0 / verilator_ips
        );
    }
    Ok(NnBench { text: s })
}
