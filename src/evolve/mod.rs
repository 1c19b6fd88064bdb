//! `autoapprox evolve`: approximate multipliers evolved with Cartesian genetic programming from
//! the exact multiplier's own technology-mapped netlist, under a bound on a (workload-weighted)
//! error metric, against the PPA stage's switching-energy model.
//!
//! The flow of [`evolve`]:
//! 1. the cell library's combinational cells become the node functions ([`gates`]);
//! 2. the start multipliers (default `mul8u_exact`; `library` adds every built-in one) are
//!    mapped by Yosys onto the same library, exactly as the PPA stage maps them, and read as
//!    genomes ([`genome`]); each target starts from the cheapest start that meets its bound,
//!    so evolution starts from the baseline it must beat;
//! 3. the operand distribution p(a, b) (uniform, or the pairs a benchmark's layers multiply,
//!    [`workload`]) gives each pair's error weight; the PPA's PE operand streams of the same
//!    benchmark (validation images) give the toggles the energy is counted on ([`problem`]);
//! 4. for each error target, a (1 + λ) evolution strategy ([`es`]) minimizes the energy per
//!    multiplication (or the area) of candidates that meet the bound, each measured
//!    bit-parallel over all 65,536 pairs and the stream ([`sim`]); targets run in parallel,
//!    each checkpointed and resumable, each cached by a hash of all its inputs;
//! 5. every circuit is written as plain Verilog in EvoApproxLib's convention
//!    (`module X(A, B, O)`, A = activation, B = weight) with a header, plus `evolved.json` /
//!    `evolved.csv`. The files go through the normal stages untouched.

pub mod bench;
pub mod context;
pub mod es;
pub mod gates;
pub mod genome;
pub mod problem;
pub mod sim;
#[cfg(test)]
mod tests;
pub mod workload;

use crate::characterize::{ErrorMetrics, Lut};
use crate::error::{Error, IoContext, Result};
use crate::multiplier::{self, Multiplier};
use crate::ppa::{self, liberty::Library};
use crate::util::{sha256_hex, write_atomic};
use es::{EsOptions, Objective, RunState};
use gates::GateSet;
use genome::{Circuit, Genome};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sim::{Engine, Metric, Problem};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bump when anything that changes which circuit a run finds changes: part of every cache key.
pub const EVOLVE_VERSION: u32 = 1;

/// Which operand pairs the error is weighted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Every pair counts the same (the metrics of characterization and EvoApproxLib).
    #[default]
    Uniform,
    /// The pairs the benchmark's layers multiply, as the int8 simulator quantizes them.
    Workload,
}

/// What the energy objective counts around the multiplier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Context {
    /// The multiplier and the PE's accumulate adder and register around it
    /// ([`context::PeContext`]): what the PPA's PE energy sees.
    #[default]
    Pe,
    /// The multiplier alone (its product bits loaded by `output_load_pf`).
    Multiplier,
}

impl std::str::FromStr for Context {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pe" => Ok(Context::Pe),
            "multiplier" => Ok(Context::Multiplier),
            _ => Err(Error::Other(format!(
                "unknown context `{s}` (pe, multiplier)"
            ))),
        }
    }
}

/// Everything an evolution run depends on besides the cell library (one `Default`; the
/// project file's `[multipliers] evolve` table and the command line fill it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvolveConfig {
    /// Error targets, in the metric's unit (MRE in percent); one circuit each.
    pub targets: Vec<f64>,
    pub metric: Metric,
    /// Optional bound on the worst-case error, in percent of the output range (WCE%).
    pub wce_pct: Option<f64>,
    pub distribution: Distribution,
    /// With the workload distribution: only this layer's pairs (default: the whole network).
    pub layer: Option<String>,
    /// With the workload distribution: the share of the uniform distribution mixed in, so
    /// that pairs the sample never shows keep some weight.
    pub uniform_mix: f64,
    /// Benchmark whose validation images give the stream (and the workload distribution).
    pub bench: PathBuf,
    /// Validation images whose pairs make the workload distribution.
    pub images: usize,
    /// The PE operand streams (the PPA's `[ppa]` settings, on validation images).
    pub stream_images: usize,
    pub stream_slots: usize,
    pub stream_len: usize,
    pub stream_seed: u64,
    /// PE rows of the array the stream is sampled for.
    pub rows: usize,
    /// Clock period for leakage (ns).
    pub clock_ns: f64,
    /// Generations per target.
    pub generations: u64,
    /// Offspring per generation.
    pub lambda: usize,
    /// Targets evolved at once (tightest first); each wave also starts from the circuits of
    /// the waves before it. Part of the result, not a thread count.
    pub wave: usize,
    /// Synthesis steps per target: at evenly spaced generations the parent is mapped by
    /// Yosys and ABC exactly as the PPA stage maps the written file and measured by the same
    /// model; it continues as that netlist when that is cheaper, and the circuit written is
    /// the snapshot whose mapping was cheapest (so the estimate is of what the PPA maps).
    pub syntheses: u64,
    /// At most this many genes are mutated per offspring (at least one active).
    pub max_mutations: usize,
    /// Nodes in the genome (default: the start netlist's cells + 25 %, at least + 32).
    pub columns: Option<usize>,
    /// How far back a node may read (default: unlimited).
    pub levels_back: Option<usize>,
    pub objective: Objective,
    /// What the energy counts around the multiplier.
    pub context: Context,
    /// Width of the PE's accumulator (the PE context).
    pub acc_bits: usize,
    /// Restrict the node functions to these cells (default: every usable cell).
    pub cells: Option<Vec<String>>,
    /// Load on each product bit (pF; default: two median cell inputs, what the accumulator's
    /// adder presents).
    pub output_load_pf: Option<f64>,
    /// Start circuits: built-in multipliers, Verilog files, or `library` (every built-in
    /// multiplier except evolved ones). The first is the baseline the ratios refer to; each
    /// target starts from the cheapest one that meets its bound.
    pub starts: Vec<String>,
    /// Module names are `<prefix>_<metric><target>` (default `mul8u_evo` for the uniform
    /// distribution, `mul8u_evow` for the workload).
    pub prefix: Option<String>,
    pub seed: u64,
}

impl Default for EvolveConfig {
    fn default() -> Self {
        EvolveConfig {
            targets: vec![0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0],
            metric: Metric::Mre,
            wce_pct: None,
            distribution: Distribution::Uniform,
            layer: None,
            uniform_mix: 0.05,
            bench: PathBuf::from("data/benchmarks/mnist-cnn"),
            images: 64,
            stream_images: 4,
            stream_slots: 32,
            stream_len: 32,
            stream_seed: 1,
            rows: 16,
            clock_ns: 10.0,
            generations: 100_000,
            lambda: 4,
            wave: 2,
            syntheses: 8,
            max_mutations: 4,
            columns: None,
            levels_back: None,
            objective: Objective::Energy,
            context: Context::Pe,
            acc_bits: 32,
            cells: None,
            output_load_pf: None,
            starts: vec!["mul8u_exact".into()],
            prefix: None,
            seed: 1,
        }
    }
}

impl std::str::FromStr for Distribution {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "uniform" => Ok(Distribution::Uniform),
            "workload" => Ok(Distribution::Workload),
            _ => Err(Error::Other(format!(
                "unknown distribution `{s}` (uniform, workload)"
            ))),
        }
    }
}

impl EvolveConfig {
    /// Reads a settings file (TOML; unknown keys are errors, relative paths are relative to
    /// the file).
    pub fn load(path: &Path) -> Result<EvolveConfig> {
        let text = std::fs::read_to_string(path).at(path)?;
        let mut c: EvolveConfig = toml::from_str(&text).map_err(|e| Error::Input {
            file: path.to_path_buf(),
            message: e.to_string(),
        })?;
        c.rebase(path.parent().unwrap_or(Path::new("")));
        c.check(path)?;
        Ok(c)
    }

    /// Makes the relative paths of the settings relative to `dir`.
    pub fn rebase(&mut self, dir: &Path) {
        if self.bench.is_relative() && !dir.as_os_str().is_empty() {
            self.bench = dir.join(&self.bench);
        }
        for s in &mut self.starts {
            if s.ends_with(".v") && Path::new(s.as_str()).is_relative() {
                *s = dir.join(&*s).display().to_string();
            }
        }
    }

    pub fn prefix(&self) -> String {
        self.prefix.clone().unwrap_or_else(|| {
            match self.distribution {
                Distribution::Uniform => "mul8u_evo",
                Distribution::Workload => "mul8u_evow",
            }
            .to_string()
        })
    }

    /// The module name of the circuit for `target`: `0.05` → `<prefix>_mre0p05`
    /// (at most 4 decimals: `0.5640907` → `_mre0p5641`).
    pub fn name(&self, target: f64) -> String {
        let t = format!("{target:.4}");
        let t = t.trim_end_matches('0').trim_end_matches('.');
        let t = t.replace('.', "p").replace('-', "m");
        format!("{}_{}{t}", self.prefix(), self.metric.name())
    }

    /// Checks the values a user could get wrong; `file` names where they came from.
    pub fn check(&self, file: &Path) -> Result<()> {
        let bad = |m: String| Error::Input {
            file: file.to_path_buf(),
            message: m,
        };
        if self.targets.is_empty() {
            return Err(bad("evolve: `targets` is empty".into()));
        }
        if let Some(t) = self.targets.iter().find(|t| !(t.is_finite() && **t >= 0.0)) {
            return Err(bad(format!(
                "evolve: target {t} is not a non-negative number"
            )));
        }
        let mut names: Vec<String> = self.targets.iter().map(|&t| self.name(t)).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("evolve: two targets give the same circuit name".into()));
        }
        if !(0.0..=1.0).contains(&self.uniform_mix) {
            return Err(bad("evolve: `uniform_mix` must be in [0, 1]".into()));
        }
        if self.starts.is_empty() {
            return Err(bad("evolve: `starts` is empty".into()));
        }
        if [self.lambda, self.max_mutations, self.wave].contains(&0)
            || self.generations == 0
            || self.syntheses == 0
        {
            return Err(bad(
                "evolve: `lambda`, `max_mutations`, `wave`, `generations` and `syntheses` must \
                 be at least 1"
                    .into(),
            ));
        }
        if self.layer.is_some() && self.distribution != Distribution::Workload {
            return Err(bad(
                "evolve: `layer` needs `distribution = \"workload\"`".into()
            ));
        }
        Ok(())
    }

    /// A mapped netlist as a genome of this configuration's size.
    pub fn genome_of(
        &self,
        net: &ppa::netlist::Netlist,
        ports: [&str; 3],
        gates: &GateSet,
        rng: &mut impl rand::Rng,
    ) -> Result<Genome> {
        let n = net.insts.len();
        let columns = self.columns.unwrap_or((n + n / 4).max(n + 32));
        Genome::from_netlist(net, ports, gates, columns, self.levels_back, rng)
    }

    /// A label of the distribution for headers and reports.
    pub fn distribution_label(&self) -> String {
        match self.distribution {
            Distribution::Uniform => "uniform over all operand pairs".into(),
            Distribution::Workload => format!(
                "workload: the (activation, weight) code pairs of {} ({}, {} validation images){}",
                self.bench.display(),
                self.layer
                    .as_deref()
                    .map_or("all mappable layers".to_string(), |l| format!("layer {l}")),
                self.images,
                if self.uniform_mix > 0.0 {
                    format!(", mixed with {} uniform", self.uniform_mix)
                } else {
                    String::new()
                }
            ),
        }
    }
}

/// Error metrics under the evolution's operand distribution.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WeightedMetrics {
    pub mre_pct: f64,
    pub mae: f64,
    pub mse: f64,
    pub ep_pct: f64,
    pub bias: f64,
}

impl WeightedMetrics {
    /// Metrics of `lut` weighted by `w` (the MRE over pairs with a nonzero exact product).
    pub fn of(lut: &Lut, w: &[f64]) -> WeightedMetrics {
        let n = lut.side();
        let (mut sw, mut swnz) = (0f64, 0f64);
        let (mut rel, mut abs, mut sq, mut ep, mut bias) = (0f64, 0f64, 0f64, 0f64, 0f64);
        for a in 0..n {
            for b in 0..n {
                let p = (a << lut.bits) | b;
                let (e, m) = ((a * b) as f64, lut.data[p] as f64);
                let d = (m - e).abs();
                sw += w[p];
                abs += w[p] * d;
                sq += w[p] * d * d;
                ep += w[p] * (d > 0.0) as u8 as f64;
                bias += w[p] * (m - e);
                if e > 0.0 {
                    swnz += w[p];
                    rel += w[p] * d / e;
                }
            }
        }
        let sw = sw.max(f64::MIN_POSITIVE);
        WeightedMetrics {
            mre_pct: 100.0 * rel / swnz.max(f64::MIN_POSITIVE),
            mae: abs / sw,
            mse: sq / sw,
            ep_pct: 100.0 * ep / sw,
            bias: bias / sw,
        }
    }
}

/// One evolved circuit and how it was found.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Evolved {
    pub name: String,
    pub target: f64,
    pub metric: Metric,
    pub distribution: String,
    pub seed: u64,
    pub generations: u64,
    pub evaluations: u64,
    pub improvements: u64,
    /// The constrained metric as the evolver measured it (weighted).
    pub error: f64,
    /// The start circuit this one evolved from.
    pub from: String,
    /// How it was evolved (starts, cells, objective, stream), for the file header.
    pub run: String,
    /// Estimated energy per multiplication on the stream (pJ; with the PE context, the
    /// multiplier plus the PE's adder and register) of the netlist Yosys + ABC make of the
    /// written file, as the PPA stage maps it.
    pub energy_pj: f64,
    /// The multiplier's part of `energy_pj`.
    pub mult_energy_pj: f64,
    /// Σ cell areas and cells of that mapped netlist.
    pub area_um2: f64,
    pub cells: usize,
    /// The written netlist itself (before mapping): energy, cells, depth.
    pub netlist_energy_pj: f64,
    pub netlist_cells: usize,
    pub depth: usize,
    /// The baseline (the first start) measured by the same model.
    pub baseline: StartInfo,
    /// Uniform metrics of the circuit's table (what characterization reports).
    pub metrics: ErrorMetrics,
    /// Metrics under the evolution's distribution.
    pub weighted: WeightedMetrics,
    pub circuit: Circuit,
    /// Cache key of the run (hash of every input).
    pub key: String,
}

impl Evolved {
    /// The Verilog file (header + module).
    pub fn verilog(&self, gates: &GateSet) -> Result<String> {
        let m = &self.metrics;
        let header = vec![
            format!(
                "{}: {}x{} unsigned multiplier evolved by autoapprox (Cartesian genetic programming)",
                self.name, self.circuit.bits, self.circuit.bits
            ),
            format!(
                "Target:       weighted {} <= {} (reached {:.6})",
                self.metric.name().to_uppercase(),
                self.target,
                self.error
            ),
            format!("Distribution: {}", self.distribution),
            format!("Run:          {}", self.run),
            format!(
                "Search:       from {}, seed {}, {} generations, {} candidate evaluations, {} \
                 improvements",
                self.from, self.seed, self.generations, self.evaluations, self.improvements
            ),
            format!(
                "Estimate:     as Yosys + ABC map it: {:.2} fJ per multiplication with the PE's \
                 adder ({:.3} x {}), multiplier alone {:.2} fJ ({:.3} x), {:.1} um2 ({:.3} x), {} \
                 cells; this netlist depth {}",
                self.energy_pj * 1e3,
                self.energy_pj / self.baseline.energy_pj,
                self.baseline.name,
                self.mult_energy_pj * 1e3,
                self.mult_energy_pj / self.baseline.mult_energy_pj,
                self.area_um2,
                self.area_um2 / self.baseline.area_um2,
                self.cells,
                self.depth
            ),
            format!(
                "Uniform:      MRE {:.4}%, MAE {:.4}, WCE {} ({:.4}%), EP {:.3}%, MSE {:.3}, bias {:.4}",
                m.mre_pct, m.mae, m.wce, m.wce_pct, m.ep_pct, m.mse, m.bias
            ),
            "Ports follow EvoApproxLib: A = activation, B = weight, O = product. Each assign is \
             one library cell (named in its comment)."
                .into(),
            "Generated by `autoapprox evolve`; do not edit (the netlist is also in evolved.json)."
                .into(),
        ];
        self.circuit.verilog(gates, &self.name, &header)
    }
}

/// What [`evolve`] returns.
pub struct EvolveResult {
    pub circuits: Vec<Evolved>,
    /// Seconds each circuit's run took in this call (None: from the cache).
    pub run_seconds: Vec<Option<f64>>,
    /// Where each circuit's Verilog was written (same order).
    pub files: Vec<PathBuf>,
    /// The start circuits measured by the same model (the first is the baseline).
    pub starts: Vec<StartInfo>,
    pub seconds: f64,
}

/// A start circuit measured by the evolver's model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StartInfo {
    pub name: String,
    pub energy_pj: f64,
    pub mult_energy_pj: f64,
    pub area_um2: f64,
    pub cells: usize,
    pub depth: usize,
}

/// The Verilog of every circuit, `evolved.json` and `evolved.csv`.
#[derive(Serialize, Deserialize)]
pub struct Summary {
    pub version: u32,
    pub config: EvolveConfig,
    pub liberty: String,
    pub liberty_sha256: String,
    pub starts: Vec<StartInfo>,
    pub circuits: Vec<Evolved>,
}

/// A start circuit as a genome.
pub struct Start {
    pub name: String,
    pub genome: Genome,
}

/// Everything a set of runs shares: the gate set, the problem's data, the start genomes.
pub struct Setup {
    pub lib: Library,
    pub gates: GateSet,
    pub lib_hash: String,
    pub lib_name: String,
    pub weights: Vec<f64>,
    pub stream: Vec<problem::StreamSegment>,
    /// The first is the baseline.
    pub starts: Vec<Start>,
    pub output_load_pf: f64,
}

/// Maps `m` onto `lib` with Yosys exactly as the PPA stage maps a multiplier (flat, `abc
/// -liberty`), in `work`.
pub fn map_multiplier(m: &Multiplier, lib: &Library, work: &Path) -> Result<ppa::netlist::Netlist> {
    let src = work.join(format!("{}.v", m.module));
    write_atomic(&src, m.verilog.as_bytes())?;
    ppa::synth::synth_flat(&[src], &m.module, lib, work)
}

/// Loads the library, maps the start circuit and reads the benchmark (Yosys runs here).
pub fn setup(cfg: &EvolveConfig, liberty: Option<&Path>, work: &Path) -> Result<Setup> {
    std::fs::create_dir_all(work).at(work)?;
    let lib = ppa::load_library(liberty, work)?;
    let gates = GateSet::from_library(&lib, cfg.cells.as_deref())?;
    let mut mults = Vec::new();
    for name in &cfg.starts {
        if name == "library" {
            mults.extend(
                multiplier::library()
                    .into_iter()
                    .filter(|m| m.family != multiplier::builtin::EVOLVED_FAMILY),
            );
        } else {
            mults.push(multiplier::resolve(name, None)?);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    mults.retain(|m| seen.insert(m.name.clone()));
    if let Some(m) = mults.iter().find(|m| m.bits != 8) {
        return Err(Error::Input {
            file: PathBuf::from(m.source_label()),
            message: "the evolver takes 8x8 multipliers".into(),
        });
    }
    let nets: Vec<ppa::netlist::Netlist> = mults
        .par_iter()
        .map(|m| map_multiplier(m, &lib, &work.join("start").join(&m.name)))
        .collect::<Result<_>>()?;
    // the padding nodes are random: their own stream, derived from the run seed
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_9e77);
    let mut starts = Vec::new();
    for (m, net) in mults.iter().zip(&nets) {
        let ports = [
            m.ports[0].as_str(),
            m.ports[1].as_str(),
            m.ports[2].as_str(),
        ];
        starts.push(Start {
            name: m.name.clone(),
            genome: cfg.genome_of(net, ports, &gates, &mut rng)?,
        });
    }
    // the operand stream and the distribution
    let wo = ppa::workload::WorkloadOptions {
        images: cfg.stream_images,
        slots: cfg.stream_slots,
        len: cfg.stream_len,
        seed: cfg.stream_seed,
    };
    let layers = workload::streams(&cfg.bench, cfg.rows, &wo)?;
    let total_macs: f64 = layers.iter().map(|l| l.macs as f64).sum::<f64>().max(1.0);
    let stream = layers
        .iter()
        .map(|l| problem::StreamSegment {
            name: l.name.clone(),
            pairs: l.cycles.iter().map(|c| (c.a, c.weight)).collect(),
            psums: l.cycles.iter().map(|c| c.psum_in).collect(),
            share: l.macs as f64 / total_macs,
        })
        .collect();
    let pairs = 1usize << 16;
    let weights = match cfg.distribution {
        Distribution::Uniform => vec![1.0; pairs],
        Distribution::Workload => {
            let per_layer = workload::operand_pairs(&cfg.bench, cfg.images)?;
            let chosen: Vec<&workload::LayerPairs> = match &cfg.layer {
                None => per_layer.iter().collect(),
                Some(l) => {
                    let v: Vec<_> = per_layer.iter().filter(|x| &x.name == l).collect();
                    if v.is_empty() {
                        return Err(Error::Input {
                            file: cfg.bench.clone(),
                            message: format!(
                                "no mappable layer `{l}` (layers: {})",
                                per_layer
                                    .iter()
                                    .map(|x| x.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                    }
                    v
                }
            };
            let mut c = vec![0f64; pairs];
            for l in chosen {
                for (x, &n) in c.iter_mut().zip(&l.counts) {
                    *x += n as f64;
                }
            }
            let total: f64 = c.iter().sum::<f64>().max(1.0);
            c.iter()
                .map(|&x| (1.0 - cfg.uniform_mix) * x / total + cfg.uniform_mix / pairs as f64)
                .collect()
        }
    };
    let output_load_pf = cfg.output_load_pf.unwrap_or_else(|| {
        let mut caps: Vec<f64> = gates
            .gates
            .iter()
            .flat_map(|g| g.input_cap.clone())
            .collect();
        caps.sort_by(f64::total_cmp);
        2.0 * caps.get(caps.len() / 2).copied().unwrap_or(0.0)
    });
    Ok(Setup {
        gates,
        lib_hash: lib.hash.clone(),
        lib_name: lib.name.clone(),
        weights,
        stream,
        starts,
        output_load_pf,
        lib,
    })
}

impl Setup {
    /// Every start circuit measured by the evolver's model (no bound).
    pub fn measure_starts(&self, cfg: &EvolveConfig) -> Result<Vec<StartInfo>> {
        let p = self.problem(cfg, f64::INFINITY)?;
        let mut e = Engine::new(&p);
        Ok(self
            .starts
            .iter()
            .map(|st| {
                let m = e.evaluate(&st.genome);
                let info = StartInfo {
                    name: st.name.clone(),
                    energy_pj: m.energy,
                    mult_energy_pj: m.mult_energy,
                    area_um2: m.area,
                    cells: m.cells,
                    depth: st.genome.depth(&self.gates),
                };
                e.release(m);
                info
            })
            .collect())
    }

    /// The problem of one target.
    pub fn problem(&self, cfg: &EvolveConfig, target: f64) -> Result<Problem> {
        problem::build(
            8,
            self.gates.clone(),
            &self.weights,
            &self.stream,
            &problem::ProblemOptions {
                metric: cfg.metric,
                bound: target,
                wce_bound: cfg.wce_pct.map(|p| (p / 100.0 * 65536.0).floor() as u32),
                output_load_pf: self.output_load_pf,
                period_ns: cfg.clock_ns,
            },
            (cfg.context == Context::Pe).then_some((&self.lib, cfg.acc_bits)),
        )
    }

    /// The hash of everything a target's run depends on.
    pub fn key(&self, cfg: &EvolveConfig, target: f64) -> String {
        #[derive(Serialize)]
        struct KeyInputs<'a> {
            version: u32,
            liberty: &'a str,
            cells: Vec<&'a str>,
            starts: Vec<Circuit>,
            weights: String,
            stream: String,
            output_load_pf: f64,
            config: EvolveConfig,
            target: f64,
        }
        let mut c = cfg.clone();
        // what does not change the search
        c.targets.clear();
        c.prefix = None;
        let mut wbytes = Vec::with_capacity(self.weights.len() * 8);
        for w in &self.weights {
            wbytes.extend(w.to_le_bytes());
        }
        let mut sbytes = Vec::new();
        for s in &self.stream {
            sbytes.extend(s.name.as_bytes());
            sbytes.extend(s.share.to_le_bytes());
            for &(a, b) in &s.pairs {
                sbytes.extend([a, b]);
            }
        }
        let k = KeyInputs {
            version: EVOLVE_VERSION,
            liberty: &self.lib_hash,
            cells: self.gates.gates.iter().map(|g| g.cell.as_str()).collect(),
            starts: self
                .starts
                .iter()
                .map(|s| s.genome.circuit(&self.gates))
                .collect(),
            weights: sha256_hex(&wbytes),
            stream: sha256_hex(&sbytes),
            output_load_pf: self.output_load_pf,
            config: c,
            target,
        };
        sha256_hex(serde_json::to_string(&k).unwrap_or_default().as_bytes())
    }
}

/// Runs one target (from its checkpoint in `dir` if there is one), checkpointing every 5 s.
#[allow(clippy::too_many_arguments)]
fn run_target(
    setup: &Setup,
    starts: &[&Start],
    baseline: &StartInfo,
    cfg: &EvolveConfig,
    target: f64,
    key: &str,
    dir: &Path,
    pb: &ProgressBar,
) -> Result<(Evolved, f64)> {
    let t0 = Instant::now();
    let p = setup.problem(cfg, target)?;
    let mut engine = Engine::new(&p);
    // the cheapest start that meets the bound (the first on ties)
    let mut from: Option<(usize, f64)> = None;
    for (i, st) in starts.iter().enumerate() {
        let e = engine.evaluate(&st.genome);
        let c = cfg.objective.cost(&e);
        if e.feasible && from.is_none_or(|(_, b)| c < b) {
            from = Some((i, c));
        }
        engine.release(e);
    }
    let Some((from, _)) = from else {
        return Err(Error::Other(format!(
            "no start circuit ({}) meets the target {} {}; start from an exact multiplier or \
             loosen the target",
            starts
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            cfg.metric.name(),
            target
        )));
    };
    let start = starts[from];
    let ckpt = dir.join(format!("{key}.state.json"));
    let mut state = std::fs::read_to_string(&ckpt)
        .ok()
        .and_then(|t| serde_json::from_str::<RunState>(&t).ok())
        .filter(|s| s.generation <= cfg.generations)
        .unwrap_or_else(|| RunState::start(start.genome.clone()));
    pb.inc(state.generation);
    let o = EsOptions {
        generations: cfg.generations,
        lambda: cfg.lambda,
        max_mutations: cfg.max_mutations,
        objective: cfg.objective,
    };
    let name = cfg.name(target);
    let seed = cfg.seed ^ target.to_bits().rotate_left(17);
    let save =
        |s: &RunState| crate::util::json_pretty(s).and_then(|j| write_atomic(&ckpt, j.as_bytes()));
    let work = tempfile::tempdir().at(std::env::temp_dir())?;
    let steps = cfg.syntheses.min(cfg.generations);
    for step in 1..=steps {
        let at = cfg.generations * step / steps;
        if state.mapped_at >= at {
            continue;
        }
        let mut last_save = Instant::now();
        let mut last_gen = state.generation;
        let mut save_err = None;
        let (end, parent) = es::run(&mut engine, state, &o, seed, at, 256, &mut |s, _| {
            pb.inc(s.generation - last_gen);
            last_gen = s.generation;
            if last_save.elapsed() > Duration::from_secs(5) {
                last_save = Instant::now();
                if let Err(e) = save(s) {
                    save_err = Some(e);
                    return false;
                }
            }
            true
        });
        state = end;
        if let Some(e) = save_err {
            return Err(e);
        }
        // the synthesis step: the parent as the PPA stage will map the file written for it
        let circuit = state.genome.circuit(&setup.gates);
        let src = work.path().join(format!("{name}.v"));
        write_atomic(&src, circuit.verilog(&setup.gates, &name, &[])?.as_bytes())?;
        let net = ppa::synth::synth_flat(&[src], &name, &setup.lib, work.path())?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ at);
        let mapped = cfg.genome_of(&net, ["A", "B", "O"], &setup.gates, &mut rng)?;
        let me = engine.evaluate(&mapped);
        if engine.table(&mapped, &me) != engine.table(&state.genome, &parent) {
            return Err(Error::Other(format!(
                "Yosys changed the function of {name} while mapping it (in {}): synthesis or \
                 the cell library is wrong",
                work.path().display()
            )));
        }
        let cost = cfg.objective.cost(&me);
        if state.best.as_ref().is_none_or(|b| cost < b.cost) {
            state.best = Some(es::Mapped {
                genome: state.genome.clone(),
                cost,
                cells: me.cells,
            });
        }
        if cost < cfg.objective.cost(&parent) {
            state.genome = mapped;
        }
        engine.release(me);
        engine.release(parent);
        state.mapped_at = at;
        save(&state)?;
    }
    let Some(best) = state.best.clone() else {
        return Err(Error::Other(format!("{name}: no synthesis step ran")));
    };
    // the written netlist, and (again) its mapping, measured
    let written = engine.evaluate(&best.genome);
    let lut = Lut::new(8, engine.table(&best.genome, &written));
    let circuit = best.genome.circuit(&setup.gates);
    let src = work.path().join(format!("{name}.v"));
    write_atomic(&src, circuit.verilog(&setup.gates, &name, &[])?.as_bytes())?;
    let net = ppa::synth::synth_flat(&[src], &name, &setup.lib, work.path())?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mapped = engine.evaluate(&cfg.genome_of(&net, ["A", "B", "O"], &setup.gates, &mut rng)?);
    let evolved = Evolved {
        name,
        target,
        metric: cfg.metric,
        distribution: cfg.distribution_label(),
        seed: cfg.seed,
        generations: state.generation,
        evaluations: state.evaluations,
        improvements: state.improvements,
        error: written.error,
        from: start.name.clone(),
        run: run_label(cfg, setup),
        energy_pj: mapped.energy,
        mult_energy_pj: mapped.mult_energy,
        area_um2: mapped.area,
        cells: mapped.cells,
        netlist_energy_pj: written.energy,
        netlist_cells: written.cells,
        depth: best.genome.depth(&setup.gates),
        baseline: baseline.clone(),
        metrics: lut.metrics(),
        weighted: WeightedMetrics::of(&lut, &setup.weights),
        circuit,
        key: key.to_string(),
    };
    engine.release(written);
    engine.release(mapped);
    let _ = std::fs::remove_file(&ckpt);
    Ok((evolved, t0.elapsed().as_secs_f64()))
}

/// Options of [`evolve`] that are not part of what a circuit depends on.
#[derive(Clone, Debug)]
pub struct EvolveOptions {
    pub liberty: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub out: PathBuf,
    pub progress: bool,
}

/// Evolves one circuit per target (see the module docs) and writes them into `o.out`.
pub fn evolve(cfg: &EvolveConfig, o: &EvolveOptions) -> Result<EvolveResult> {
    let t0 = Instant::now();
    cfg.check(Path::new("evolve"))?;
    let work = tempfile::tempdir().at(std::env::temp_dir())?;
    let setup = setup(cfg, o.liberty.as_deref(), work.path())?;
    let dir = o.cache_dir.join("evolve");
    std::fs::create_dir_all(&dir).at(&dir)?;
    // the ladder runs in waves of `wave` targets, tightest first; the circuits of earlier
    // waves are further starts of later ones (so a looser target never ends above a tighter
    // one's circuit), and a target's key chains the keys of every earlier wave
    let mut order: Vec<usize> = (0..cfg.targets.len()).collect();
    order.sort_by(|&a, &b| cfg.targets[a].total_cmp(&cfg.targets[b]));
    let waves: Vec<Vec<usize>> = order.chunks(cfg.wave).map(|w| w.to_vec()).collect();
    let mut keys = vec![String::new(); cfg.targets.len()];
    let mut chain = String::new();
    for w in &waves {
        for &i in w {
            keys[i] = sha256_hex(format!("{}{chain}", setup.key(cfg, cfg.targets[i])).as_bytes());
        }
        chain = sha256_hex(
            format!(
                "{chain}{}",
                w.iter().map(|&i| keys[i].as_str()).collect::<String>()
            )
            .as_bytes(),
        );
    }
    let starts = setup.measure_starts(cfg)?;
    let cached: Vec<Option<Evolved>> = keys
        .iter()
        .map(|k| {
            std::fs::read_to_string(dir.join(format!("{k}.json")))
                .ok()
                .and_then(|t| serde_json::from_str::<Evolved>(&t).ok())
                .filter(|e| &e.key == k)
        })
        .collect();
    let todo = cached.iter().filter(|c| c.is_none()).count() as u64;
    let pb = if o.progress && todo > 0 {
        let pb = ProgressBar::new(todo * cfg.generations);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:30}] {percent}% of {len} generations, eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message("evolving");
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut cached: Vec<Option<Evolved>> = cached;
    let mut results: Vec<Option<(Evolved, Option<f64>)>> = vec![None; cfg.targets.len()];
    for w in &waves {
        // earlier waves' circuits as further starts
        let mut wave_starts: Vec<Start> = Vec::new();
        for (i, r) in results.iter().enumerate() {
            if let Some((e, _)) = r {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ i as u64);
                let g = Genome::from_circuit(&e.circuit, &setup.gates)?;
                let n = g.nodes.len();
                let columns = cfg.columns.unwrap_or((n + n / 4).max(n + 32));
                wave_starts.push(Start {
                    name: cfg.name(cfg.targets[i]),
                    genome: g
                        .spread(&setup.gates, columns, cfg.levels_back, &mut rng)
                        .map_err(Error::Other)?,
                });
            }
        }
        let all_starts: Vec<&Start> = setup.starts.iter().chain(&wave_starts).collect();
        let done: Vec<Result<(usize, Evolved, Option<f64>)>> = w
            .par_iter()
            .map(|&i| {
                let k = &keys[i];
                if let Some(c) = cached[i].clone() {
                    return Ok((i, c, None));
                }
                let (e, secs) = run_target(
                    &setup,
                    &all_starts,
                    &starts[0],
                    cfg,
                    cfg.targets[i],
                    k,
                    &dir,
                    &pb,
                )?;
                write_atomic(
                    &dir.join(format!("{k}.json")),
                    crate::util::json_pretty(&e)?.as_bytes(),
                )?;
                Ok((i, e, Some(secs)))
            })
            .collect();
        for d in done {
            let (i, e, secs) = d?;
            cached[i] = None;
            results[i] = Some((e, secs));
        }
    }
    let results: Vec<Result<(Evolved, Option<f64>)>> = results
        .into_iter()
        .map(|r| r.ok_or_else(|| Error::Other("a target was not run".into())))
        .collect();
    pb.finish_and_clear();
    let (mut circuits, run_seconds): (Vec<Evolved>, Vec<Option<f64>>) = results
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    // a cached entry names the circuit as it was first asked for
    for (c, &t) in circuits.iter_mut().zip(&cfg.targets) {
        c.name = cfg.name(t);
    }
    let files = write_outputs(&o.out, cfg, &setup, &starts, &circuits)?;
    Ok(EvolveResult {
        circuits,
        run_seconds,
        files,
        starts,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn run_label(cfg: &EvolveConfig, setup: &Setup) -> String {
    format!(
        "starts {}, cells of {}, objective {} ({} context), lambda {}, <= {} mutations, \
         stream of {} ({} x {} PE cycles per layer)",
        cfg.starts.join(" "),
        setup.lib_name,
        format!("{:?}", cfg.objective).to_lowercase(),
        format!("{:?}", cfg.context).to_lowercase(),
        cfg.lambda,
        cfg.max_mutations,
        cfg.bench.display(),
        cfg.stream_slots,
        cfg.stream_len
    )
}

fn write_outputs(
    out: &Path,
    cfg: &EvolveConfig,
    setup: &Setup,
    starts: &[StartInfo],
    circuits: &[Evolved],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).at(out)?;
    let mut files = Vec::new();
    for c in circuits {
        let p = out.join(format!("{}.v", c.name));
        write_atomic(&p, c.verilog(&setup.gates)?.as_bytes())?;
        files.push(p);
    }
    let summary = Summary {
        version: EVOLVE_VERSION,
        config: cfg.clone(),
        liberty: setup.lib_name.clone(),
        liberty_sha256: setup.lib_hash.clone(),
        starts: starts.to_vec(),
        circuits: circuits.to_vec(),
    };
    write_atomic(
        &out.join("evolved.json"),
        crate::util::json_pretty(&summary)?.as_bytes(),
    )?;
    write_atomic(&out.join("evolved.csv"), csv(circuits).as_bytes())?;
    Ok(files)
}

fn csv(circuits: &[Evolved]) -> String {
    let mut t = crate::util::CsvText::new(&[
        "name",
        "target",
        "metric",
        "error",
        "mre_pct",
        "mae",
        "wce",
        "ep_pct",
        "bias",
        "weighted_mre_pct",
        "from",
        "energy_fj",
        "energy_vs_baseline",
        "mult_energy_fj",
        "area_um2",
        "area_vs_baseline",
        "cells",
        "depth",
        "generations",
        "evaluations",
    ]);
    for c in circuits {
        t.row(&[
            c.name.clone(),
            c.target.to_string(),
            c.metric.name().to_string(),
            c.error.to_string(),
            c.metrics.mre_pct.to_string(),
            c.metrics.mae.to_string(),
            c.metrics.wce.to_string(),
            c.metrics.ep_pct.to_string(),
            c.metrics.bias.to_string(),
            c.weighted.mre_pct.to_string(),
            c.from.to_string(),
            (c.energy_pj * 1e3).to_string(),
            (c.energy_pj / c.baseline.energy_pj).to_string(),
            (c.mult_energy_pj * 1e3).to_string(),
            c.area_um2.to_string(),
            (c.area_um2 / c.baseline.area_um2).to_string(),
            c.cells.to_string(),
            c.depth.to_string(),
            c.generations.to_string(),
            c.evaluations.to_string(),
        ]);
    }
    t.finish()
}

/// A table for people.
pub fn table(r: &EvolveResult) -> String {
    let b = &r.starts[0];
    let mut s = format!(
        "baseline {}: {:.2} fJ/multiplication (multiplier alone {:.2}), {:.1} um2, {} cells, \
         depth {}\n\n\
         | circuit | target | reached | uniform MRE% | WCE | EP% | from | fJ/mult | vs baseline | \
         mult fJ | um2 | vs baseline | cells | depth | evals/s |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        b.name,
        b.energy_pj * 1e3,
        b.mult_energy_pj * 1e3,
        b.area_um2,
        b.cells,
        b.depth
    );
    for (c, secs) in r.circuits.iter().zip(&r.run_seconds) {
        let rate = secs.map_or("cached".to_string(), |t| {
            format!("{:.0}", c.evaluations as f64 / t.max(1e-9))
        });
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} | {} | {:.2} | {} | {:.2} | {:.3} | {:.2} | {:.1} | {:.3} | {} \
             | {} | {} |",
            c.name,
            c.target,
            c.error,
            c.metrics.mre_pct,
            c.metrics.wce,
            c.metrics.ep_pct,
            c.from,
            c.energy_pj * 1e3,
            c.energy_pj / b.energy_pj,
            c.mult_energy_pj * 1e3,
            c.area_um2,
            c.area_um2 / b.area_um2,
            c.cells,
            c.depth,
            rate
        );
    }
    s
}

/// The files of a fresh run (`fresh`) that are missing from or differ in `dir`.
pub fn compare_outputs(fresh: &Path, dir: &Path) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for e in std::fs::read_dir(fresh).at(fresh)? {
        let p = e.at(fresh)?.path();
        if !p.is_file() {
            continue;
        }
        let name = p.file_name().unwrap_or_default();
        let want = std::fs::read(&p).at(&p)?;
        if std::fs::read(dir.join(name)).ok().as_deref() != Some(want.as_slice()) {
            stale.push(dir.join(name).display().to_string());
        }
    }
    stale.sort();
    Ok(stale)
}
