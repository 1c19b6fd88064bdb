//! `autoapprox bench characterize`: the whole built-in library from a cold cache, then warm.

use super::{characterize, Options, RunStats};
use crate::error::{IoContext, Result};
use crate::multiplier;
use std::fmt::Write as _;
use std::time::Instant;

/// The paper's cost of one product through Verilator: 3.75 us.
pub const PAPER_NS_PER_PRODUCT: f64 = 3750.0;

pub struct BenchResult {
    pub multipliers: usize,
    pub pairs: usize,
    pub cold: RunStats,
    pub warm_seconds: f64,
}

impl BenchResult {
    pub fn ns_per_product(&self) -> f64 {
        self.cold.sweep.as_nanos() as f64 / (self.multipliers * self.pairs) as f64
    }

    pub fn text(&self) -> String {
        let c = &self.cold;
        let per_mult_ms = c.sweep.as_secs_f64() * 1e3 / self.multipliers as f64;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "characterization benchmark: {} built-in multipliers x {} pairs, one harness (sweep: fastest of 5, one thread)",
            self.multipliers, self.pairs
        );
        let _ = writeln!(
            s,
            "  harness build (verilator + c++)   {:>9.2} s",
            c.harness_build.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  sweep, all multipliers            {:>9.2} ms",
            c.sweep.as_secs_f64() * 1e3
        );
        let _ = writeln!(
            s,
            "  sweep per multiplier              {:>9.3} ms",
            per_mult_ms
        );
        let _ = writeln!(
            s,
            "  ns per evaluated product          {:>9.3} ns",
            self.ns_per_product()
        );
        let _ = writeln!(
            s,
            "  speedup vs paper (3.75 us/product) {:>8.0}x",
            PAPER_NS_PER_PRODUCT / self.ns_per_product()
        );
        let _ = writeln!(
            s,
            "  metrics + SVD + cache write       {:>9.2} s",
            c.analysis.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  cold total                        {:>9.2} s",
            c.total.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "  warm cache total                  {:>9.3} s",
            self.warm_seconds
        );
        s
    }
}

/// Runs the benchmark in a fresh temporary cache.
pub fn run() -> Result<BenchResult> {
    let lib = multiplier::library();
    let tmp = tempfile::tempdir().at(std::env::temp_dir())?;
    let opts = Options {
        cache_dir: tmp.path().to_path_buf(),
        progress: false,
        sweep_repeats: 5,
        ..Options::default()
    };
    let (cs, cold) = characterize(&lib, &opts)?;
    let t = Instant::now();
    let (_, warm) = characterize(&lib, &opts)?;
    debug_assert_eq!(warm.cache_hits, lib.len());
    Ok(BenchResult {
        multipliers: lib.len(),
        pairs: cs[0].lut.data.len(),
        cold,
        warm_seconds: t.elapsed().as_secs_f64(),
    })
}
