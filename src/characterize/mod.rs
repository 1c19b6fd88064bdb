//! Characterization: exhaustive Verilator sweeps into lookup tables, error metrics and
//! low-rank tables, cached by content hash.

pub mod bench;
pub mod cache;
pub mod harness;
pub mod lowrank;
pub mod lut;

use crate::error::Result;
use crate::multiplier::Multiplier;
use cache::{Cache, Entry, Lookup, Meta};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use lowrank::{LowRank, LowRankStats};
pub use lut::{ErrorMetrics, Lut};

/// How to characterize.
#[derive(Clone, Debug)]
pub struct Options {
    pub cache_dir: PathBuf,
    /// Use and fill the cache (false: always simulate, store nothing).
    pub use_cache: bool,
    /// Upper bound on the SVD rank kept (None: the lossless rank).
    pub max_rank: Option<usize>,
    /// Show progress bars on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Sweeps per harness run; the fastest is reported (benchmarks use several).
    pub sweep_repeats: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_dir: PathBuf::from("sim_cache"),
            use_cache: true,
            max_rank: None,
            progress: true,
            sweep_repeats: 1,
        }
    }
}

/// One characterized multiplier.
#[derive(Clone, Debug)]
pub struct Characterization {
    pub mult: Multiplier,
    pub key: String,
    pub lut: Lut,
    pub metrics: ErrorMetrics,
    /// The low-rank table, with `Options::max_rank` applied.
    pub lowrank: LowRank,
    /// Answered from the cache.
    pub cached: bool,
}

/// What a run did, for reports and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    pub harness_build: Duration,
    pub sweep: Duration,
    pub analysis: Duration,
    pub total: Duration,
    /// Multipliers simulated in this run.
    pub simulated: usize,
    pub cache_hits: usize,
    /// (name, reason) of cache entries that failed verification and were recomputed.
    pub corrupt: Vec<(String, String)>,
}

fn spinner(show: bool, msg: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner().with_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

fn bar(show: bool, len: usize, msg: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64).with_message(msg.to_string());
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap()
            .progress_chars("=> "),
    );
    pb
}

/// Characterizes `mults` (duplicates allowed; each result is in the input order).
pub fn characterize(
    mults: &[Multiplier],
    opts: &Options,
) -> Result<(Vec<Characterization>, RunStats)> {
    let t0 = Instant::now();
    let verilator = crate::util::verilator_version()?;
    let cache = Cache::new(&opts.cache_dir);
    let keys: Vec<String> = mults
        .iter()
        .map(|m| cache::key(m, harness::HARNESS_VERSION, &verilator))
        .collect();
    let mut stats = RunStats::default();

    // Look up each distinct key once.
    let mut entries: BTreeMap<&str, Entry> = BTreeMap::new();
    let mut todo: Vec<usize> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        if entries.contains_key(key.as_str()) || todo.iter().any(|&j| keys[j] == *key) {
            continue;
        }
        match if opts.use_cache {
            cache.lookup(key)
        } else {
            Lookup::Miss
        } {
            Lookup::Hit(e) => {
                stats.cache_hits += 1;
                entries.insert(key, *e);
            }
            Lookup::Corrupt(reason) => {
                stats.corrupt.push((mults[i].name.clone(), reason));
                todo.push(i);
            }
            Lookup::Miss => todo.push(i),
        }
    }

    // Simulate the misses: one harness per operand width.
    let mut widths: Vec<u32> = todo.iter().map(|&i| mults[i].bits).collect();
    widths.sort_unstable();
    widths.dedup();
    let mut fresh: Vec<(usize, Lut)> = Vec::new();
    for bits in widths {
        let group: Vec<usize> = todo
            .iter()
            .copied()
            .filter(|&i| mults[i].bits == bits)
            .collect();
        let refs: Vec<&Multiplier> = group.iter().map(|&i| &mults[i]).collect();
        let sp = spinner(
            opts.progress,
            format!(
                "building the Verilator harness for {} multiplier(s)",
                refs.len()
            ),
        );
        let run = harness::run(&refs, bits, opts.sweep_repeats);
        sp.finish_and_clear();
        let run = run?;
        stats.harness_build += run.build;
        stats.sweep += run.sweep;
        stats.simulated += refs.len();
        fresh.extend(group.into_iter().zip(run.luts));
    }

    // Metrics and SVD in parallel, then store.
    let t_an = Instant::now();
    let pb = bar(opts.progress, fresh.len(), "analyzing");
    let analyzed: Vec<Result<(usize, Entry)>> = fresh
        .into_par_iter()
        .map(|(i, lut)| {
            let m = &mults[i];
            let metrics = lut.metrics();
            let lowrank = LowRank::from_lut(&lut, None)?;
            let meta = Meta {
                format: cache::FORMAT_VERSION,
                key: keys[i].clone(),
                name: m.name.clone(),
                module: m.module.clone(),
                family: m.family.clone(),
                bits: m.bits,
                source: m.source_label(),
                source_sha256: crate::util::sha256_hex(m.verilog.as_bytes()),
                harness_version: harness::HARNESS_VERSION,
                verilator_version: verilator.clone(),
                tool: format!("autoapprox {}", env!("CARGO_PKG_VERSION")),
            };
            let e = Entry {
                meta,
                lut,
                metrics,
                lowrank,
            };
            if opts.use_cache {
                cache.store(&e)?;
            }
            pb.inc(1);
            Ok((i, e))
        })
        .collect();
    pb.finish_and_clear();
    for r in analyzed {
        let (i, e) = r?;
        entries.insert(keys[i].as_str(), e);
    }
    stats.analysis = t_an.elapsed();

    let results = mults
        .iter()
        .zip(&keys)
        .map(|(m, key)| {
            let e = &entries[key.as_str()];
            let lowrank = match opts.max_rank {
                Some(k) if k < e.lowrank.rank => e.lowrank.truncated(k, &e.lut),
                _ => e.lowrank.clone(),
            };
            Characterization {
                mult: m.clone(),
                key: key.clone(),
                lut: e.lut.clone(),
                metrics: e.metrics.clone(),
                lowrank,
                cached: !todo.iter().any(|&j| keys[j] == *key),
            }
        })
        .collect();
    stats.total = t0.elapsed();
    Ok((results, stats))
}
