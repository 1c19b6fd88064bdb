//! `autoapprox` command line: a thin layer over the library.

use anyhow::{bail, Context, Result};
use autoapprox::characterize::{self, Options};
use autoapprox::multiplier::{self, LIBRARY};
use autoapprox::report;
use autoapprox::rtl;
use autoapprox::search::problem::Params;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "autoapprox",
    version,
    about = "Low-power DNN accelerators with approximate multipliers"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole flow from a project file (autoapprox.toml): characterize, PPA, calibrate,
    /// search, the chosen chip's RTL (generated, linted, co-simulated), report.md/.html.
    Run(RunArgs),
    /// The multiplier library.
    #[command(subcommand)]
    Mult(MultCmd),
    /// Characterize multipliers exhaustively with Verilator (default: the whole built-in library).
    Characterize(CharArgs),
    /// Generate an accelerator's RTL, filelist, FuseSoC core, Yosys script and ORFS config.
    Generate(GenerateArgs),
    /// Lint a generated design: Verilator -Wall (zero warnings) and Yosys synthesis.
    Lint(LintArgs),
    /// Co-simulate a generated accelerator in Verilator against the Rust golden model.
    Cosim(CosimArgs),
    /// Area, timing and workload-driven energy of every MXU variant (Yosys + a Liberty library,
    /// Verilator gate-level toggles, OpenSTA), and the chip energy model (ppa.json).
    Ppa(PpaArgs),
    /// Per-layer sensitivity: top-1 on a class-balanced validation sample when only one layer
    /// uses a given multiplier (N layers x K multipliers; cached, resumable).
    Calibrate(CalibrateArgs),
    /// Search the layer -> multiplier mapping: calibrate, relax, run GP-BO and the baselines on
    /// the same budget, choose designs, re-measure them on the full test split.
    Search(SearchArgs),
    /// Read an OpenROAD-flow-scripts run's metrics (area, power, slack); with --ppa and
    /// --variant, replace that variant's MXU area in a ppa.json with the post-route one.
    Orfs(OrfsArgs),
    /// Evolve approximate multipliers (Cartesian genetic programming from the exact
    /// multiplier's mapped netlist, under an error bound, against the PPA energy model).
    Evolve(EvolveArgs),
    /// Evaluate a network (float, exact int8, or with approximate multipliers) on labelled data.
    Eval(EvalArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Args)]
struct RunArgs {
    /// Project file, e.g. examples/autoapprox.toml.
    project: PathBuf,
    /// Output directory (report.md, report.html, characterize/, ppa/, search/, chip/).
    #[arg(long, default_value = "out/run")]
    out: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct GenerateArgs {
    /// Accelerator spec (TOML).
    spec: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "out/rtl")]
    out: PathBuf,
}

#[derive(Args)]
struct LintArgs {
    /// Directory written by `autoapprox generate`.
    dir: PathBuf,
}

#[derive(Args)]
struct CosimArgs {
    /// Accelerator spec (TOML).
    spec: PathBuf,
    /// Where the RTL is generated.
    #[arg(long, default_value = "out/cosim")]
    out: PathBuf,
    /// Activation vectors per stream.
    #[arg(long, default_value_t = 64)]
    vectors: usize,
    /// Rounds through the route sequence (0, 1, .., n-1, .., 1, 0).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also stream a real layer tile of this benchmark (e.g. data/benchmarks/mnist-cnn).
    #[arg(long)]
    bench: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct PpaArgs {
    /// Accelerator spec (TOML); its MXUs are the variants.
    spec: PathBuf,
    /// Output directory: ppa.json, ppa.md, ppa.csv, mult_vs_pe.svg, netlists, logs.
    #[arg(long, default_value = "out/ppa")]
    out: PathBuf,
    /// Liberty file (default: the built-in sky130_fd_sc_hd tt library).
    #[arg(long)]
    liberty: Option<PathBuf>,
    /// Benchmark whose layers provide the operand streams.
    #[arg(long, default_value = "data/benchmarks/mnist-cnn")]
    bench: PathBuf,
    /// Also measure these multipliers (built-in names or .v files) as extra MXUs.
    #[arg(long = "with", num_args = 1..)]
    with: Vec<String>,
    /// Measure every built-in multiplier (for the search).
    #[arg(long)]
    all: bool,
    /// Test images whose activations feed the streams.
    #[arg(long, default_value_t = 4)]
    images: usize,
    /// Sampled PE positions per layer.
    #[arg(long, default_value_t = 32)]
    slots: usize,
    /// Cycles streamed through each sampled PE.
    #[arg(long, default_value_t = 32)]
    len: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Skip the OpenSTA report_power cross-check.
    #[arg(long)]
    no_sta_power: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct CalibrateArgs {
    /// Benchmark directory.
    #[arg(long, default_value = "data/benchmarks/mnist-cnn")]
    bench: PathBuf,
    /// Candidate multipliers (built-in names or .v files; default: the built-in library).
    #[arg(long = "mult", num_args = 1..)]
    mults: Vec<String>,
    /// Validation images (default: 10 % of the split, at least 1,000).
    #[arg(long)]
    sample: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// lut, gather or lowrank.
    #[arg(long, default_value = "lut")]
    kernel: String,
    /// Write calibration.json, calibration.csv and sensitivity.svg here.
    #[arg(long, default_value = "out/calibrate")]
    out: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct SearchArgs {
    /// Benchmark directory.
    #[arg(long, default_value = "data/benchmarks/mnist-cnn")]
    bench: PathBuf,
    /// ppa.json of `autoapprox ppa` covering every candidate (energy and area model).
    #[arg(long)]
    ppa: PathBuf,
    /// Candidate multipliers (default: every approximate variant in the PPA report).
    #[arg(long = "mult", num_args = 1..)]
    mults: Vec<String>,
    /// Search methods, or `all` (dbo: discrete BO; ego: textbook GP-BO, an ablation).
    #[arg(long, value_delimiter = ',', default_value = "all", value_parser = method_values())]
    method: Vec<String>,
    /// Distinct mappings each run may evaluate.
    #[arg(long, default_value_t = 200)]
    budget: usize,
    /// One run per seed and method (greedy is deterministic and runs once).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    seeds: Vec<u64>,
    /// Validation images in the search sample (default: 10 % of the split, at least 1,000).
    #[arg(long)]
    sample: Option<usize>,
    /// Seed of the class-balanced sample.
    #[arg(long, default_value_t = 1)]
    sample_seed: u64,
    /// Accuracy floor τ, points of top-1 relative to exact int8 on the sample.
    #[arg(long, default_value_t = Params::default().tau_rel, allow_hyphen_values = true)]
    tau: f64,
    /// Area cap φ, % of the exact MXU (the exact MXU included).
    #[arg(long, default_value_t = Params::default().phi)]
    phi: f64,
    #[arg(long, default_value_t = Params::default().alpha1)]
    alpha1: f64,
    #[arg(long, default_value_t = Params::default().alpha2)]
    alpha2: f64,
    /// Tie threshold, points of calibrated top-1 (a candidate more than this below τ on its
    /// own layer is pruned).
    #[arg(long, default_value_t = Params::default().tie)]
    tie: f64,
    /// One-sided confidence of the paired bound on Δ top-1 that feasibility uses.
    #[arg(long, default_value_t = Params::default().confidence)]
    confidence: f64,
    /// Probability of holding on a fresh validation-sized set (no worse than exact int8)
    /// that a confirmed design needs on the confirmation set.
    #[arg(long, default_value_t = Params::default().hold)]
    hold: f64,
    /// Hypervolume reference: this many points of top-1 below τ.
    #[arg(long, default_value_t = 1.0)]
    hv_span: f64,
    /// Skip re-measuring the chosen designs on the test split.
    #[arg(long)]
    no_test: bool,
    /// Per run, check this many of its feasible mappings (the energy-KL front, by energy)
    /// on the validation images outside the sample; the first that holds there (bound ≥ τ
    /// and --hold) is the `confirmed` design (0: no confirmation).
    #[arg(long, default_value_t = 8)]
    confirm: usize,
    /// lut, gather or lowrank.
    #[arg(long, default_value = "lut")]
    kernel: String,
    #[arg(long, default_value = "out/search")]
    out: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct OrfsArgs {
    /// Directory of the ORFS run (its logs/ or reports/ tree).
    dir: PathBuf,
    #[arg(long)]
    ppa: Option<PathBuf>,
    #[arg(long)]
    variant: Option<String>,
}

#[derive(Args)]
struct EvolveArgs {
    /// Settings file (TOML, the keys of `[multipliers] evolve` in a project file); the flags
    /// below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Error targets (the metric's unit; MRE in percent), one circuit each.
    #[arg(long, value_delimiter = ',')]
    targets: Vec<f64>,
    /// mre, mae or mse (weighted by --distribution).
    #[arg(long)]
    metric: Option<String>,
    /// uniform, or workload (the operand pairs --bench's layers multiply).
    #[arg(long)]
    distribution: Option<String>,
    /// Benchmark whose validation images give the stream and the workload distribution.
    #[arg(long)]
    bench: Option<PathBuf>,
    /// Workload distribution of one layer only.
    #[arg(long)]
    layer: Option<String>,
    /// Also bound the worst-case error (percent of the output range).
    #[arg(long)]
    wce_pct: Option<f64>,
    /// Generations per target.
    #[arg(long)]
    generations: Option<u64>,
    /// Offspring per generation.
    #[arg(long)]
    lambda: Option<usize>,
    /// energy (on the stream) or area.
    #[arg(long)]
    objective: Option<String>,
    /// Start circuits: built-in multipliers, Verilog files or `library` (default mul8u_exact;
    /// the first is the baseline).
    #[arg(long, value_delimiter = ',')]
    starts: Vec<String>,
    /// Module name prefix (default mul8u_evo; mul8u_evow for the workload distribution).
    #[arg(long)]
    prefix: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    /// Liberty file (default: the built-in sky130_fd_sc_hd tt library).
    #[arg(long)]
    liberty: Option<PathBuf>,
    /// Output directory: one .v per circuit, evolved.json, evolved.csv.
    #[arg(long, default_value = "out/evolve")]
    out: PathBuf,
    /// Only check that --out holds what this run writes (evolving in a temporary directory).
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct EvalArgs {
    /// ONNX model (default: the benchmark's).
    model: Option<PathBuf>,
    /// Benchmark directory (with benchmark.json), e.g. data/benchmarks/mnist-cnn.
    #[arg(long, required_unless_present = "images")]
    bench: Option<PathBuf>,
    /// ImageNet-style image folder (root/<class>/<image>.{png,jpg}) instead of a benchmark.
    #[arg(long, conflicts_with = "bench", requires = "model")]
    images: Option<PathBuf>,
    /// Label file for --images: lines of `relative/path class-index`.
    #[arg(long, requires = "images")]
    labels: Option<PathBuf>,
    /// --images: shorter side resized to this, then centre-cropped to --crop.
    #[arg(long, default_value_t = 256)]
    resize: u32,
    #[arg(long, default_value_t = 224)]
    crop: u32,
    /// Per-channel mean subtracted after scaling pixels to [0, 1], e.g. 0.485,0.456,0.406.
    #[arg(long, value_delimiter = ',')]
    mean: Vec<f32>,
    /// Per-channel standard deviation, e.g. 0.229,0.224,0.225.
    #[arg(long, value_delimiter = ',')]
    std: Vec<f32>,
    /// test (held out), validation (the search split), train or test-file (the whole test file).
    #[arg(long, default_value = "test")]
    split: String,
    /// float (reference), exact (int8), lut (bit-exact approximate), gather (naive LUT), lowrank.
    #[arg(long, default_value = "lut")]
    kernel: String,
    /// Layer -> multiplier mapping (TOML or JSON); unmapped layers use the exact multiplier.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Use this multiplier on every mappable layer.
    #[arg(long, conflicts_with = "mapping")]
    all: Option<String>,
    /// Evaluate a class-balanced sample of this many images (seeded).
    #[arg(long)]
    sample: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Images per batch.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Static activation ranges from this many validation images instead of dynamic ranges.
    #[arg(long)]
    calibrate: Option<usize>,
    /// JSON on standard output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Subcommand)]
enum MultCmd {
    /// List the built-in library.
    List,
    /// Write the built-in library's Verilog (one module per file).
    Generate {
        /// Output directory.
        #[arg(long, default_value = "mac_verilog")]
        out: PathBuf,
        /// Only check that the files in --out equal the generated ones.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Args)]
struct CacheArgs {
    /// Cache directory.
    #[arg(long, default_value = "sim_cache", env = "AUTOAPPROX_CACHE")]
    cache: PathBuf,
}

#[derive(Args)]
struct CharArgs {
    /// Built-in multiplier names or Verilog files (e.g. EvoApproxLib's mul8u_*.v).
    targets: Vec<String>,
    /// Module to use in the given Verilog files when one holds several candidates.
    #[arg(long)]
    top: Option<String>,
    /// Write the records as JSON to this file (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the records as CSV to this file (`-` for standard output).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the full report (markdown, JSON, CSV, SVG heatmaps, library plot) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep at most this many SVD components (default: the lossless rank).
    #[arg(long)]
    max_rank: Option<usize>,
    /// Neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// No table on standard output, no progress bars.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Cold characterization of the whole built-in library, then a warm-cache lookup.
    Characterize,
    /// Candidate evaluations per second of the evolver, next to the Verilator harness.
    Evolve {
        /// Generations per measured run.
        #[arg(long, default_value_t = 5000)]
        generations: u64,
        /// Error target (MRE %) of the measured runs.
        #[arg(long, default_value_t = 0.5)]
        target: f64,
    },
    /// How well the margin model predicts discordant images on held-out validation images,
    /// for the mappings a search confirmed (run the search first, with the same settings).
    Oracle {
        /// Benchmark directory the search ran on.
        #[arg(long, default_value = "data/benchmarks/mnist-cnn")]
        bench: PathBuf,
        /// Search-sample size and seed of that search (default: as `autoapprox search`).
        #[arg(long)]
        sample: Option<usize>,
        #[arg(long, default_value_t = 1)]
        sample_seed: u64,
        /// Candidate multipliers of that search (default: the whole built-in library).
        #[arg(long = "mult")]
        mults: Vec<String>,
        /// Images per margin bin to compare.
        #[arg(long = "bin", default_values_t = [400, 80, 25, 10])]
        bins: Vec<usize>,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Simulator throughput per kernel on benchmark models.
    Nn {
        /// Benchmark directories.
        #[arg(long = "bench", default_value = "data/benchmarks/mnist-cnn")]
        benches: Vec<PathBuf>,
        /// Approximate multiplier used on every layer.
        #[arg(long, default_value = "mul8u_drum_k4")]
        mult: String,
        /// Test images per measurement.
        #[arg(long, default_value_t = 2000)]
        images: usize,
    },
}

/// Calibration options from the command line: `mults` empty means the whole built-in library.
fn calibrate_options(
    bench: PathBuf,
    mults: Vec<String>,
    sample: Option<usize>,
    seed: u64,
    kernel: autoapprox::nn::eval::KernelKind,
    cache: CacheArgs,
    progress: bool,
) -> autoapprox::search::calibrate::CalibrateOptions {
    let candidates = if mults.is_empty() {
        LIBRARY.iter().map(|d| d.name()).collect()
    } else {
        mults
    };
    autoapprox::search::calibrate::CalibrateOptions {
        bench,
        candidates,
        sample,
        seed,
        kernel,
        characterize: characterize_options(cache),
        progress,
    }
}

/// `--method`'s accepted values, from the library's list of methods (so the help cannot drift).
fn method_values() -> clap::builder::PossibleValuesParser {
    let mut v: Vec<&'static str> = autoapprox::search::methods::Method::ALL
        .iter()
        .map(|m| m.name())
        .collect();
    v.push("all");
    clap::builder::PossibleValuesParser::new(v)
}

fn main() {
    // Die quietly like other Unix tools when the reader of our output goes away (`| head`),
    // instead of panicking on the failed write.
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to its default before any threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Run(a) => run_cmd(a),
        Cmd::Mult(MultCmd::List) => {
            print!("{}", multiplier::library_table());
            Ok(())
        }
        Cmd::Mult(MultCmd::Generate { out, check }) => mult_generate_cmd(&out, check),
        Cmd::Characterize(a) => characterize_cmd(a),
        Cmd::Generate(a) => generate_cmd(a),
        Cmd::Lint(a) => lint_cmd(a),
        Cmd::Cosim(a) => cosim_cmd(a),
        Cmd::Ppa(a) => ppa_cmd(a),
        Cmd::Calibrate(a) => calibrate_cmd(a),
        Cmd::Search(a) => search_cmd(a),
        Cmd::Orfs(a) => orfs_cmd(a),
        Cmd::Evolve(a) => evolve_cmd(a),
        Cmd::Eval(a) => eval_cmd(a),
        Cmd::Bench(b) => bench_cmd(b),
    }
}

/// Characterization options with the given cache and no progress bars.
fn characterize_options(cache: CacheArgs) -> Options {
    Options {
        cache_dir: cache.cache,
        progress: false,
        ..Options::default()
    }
}

fn run_cmd(a: RunArgs) -> Result<()> {
    let r = autoapprox::flow::run(
        &a.project,
        &autoapprox::flow::RunOptions {
            out: a.out,
            cache_dir: a.cache.cache,
            progress: true,
        },
    )?;
    print!("{}", r.text);
    Ok(())
}

fn mult_generate_cmd(out: &std::path::Path, check: bool) -> Result<()> {
    if check {
        let stale = multiplier::stale_library_files(out);
        if !stale.is_empty() {
            let names: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "{} file(s) differ from the generator: {}; run `autoapprox mult generate`",
                stale.len(),
                names.join(", ")
            );
        }
        println!(
            "{} files in {} match the generator",
            LIBRARY.len(),
            out.display()
        );
    } else {
        let files = multiplier::write_library(out)?;
        println!("wrote {} files to {}", files.len(), out.display());
    }
    Ok(())
}

fn generate_cmd(a: GenerateArgs) -> Result<()> {
    let acc = rtl::AcceleratorSpec::load(&a.spec)?;
    let m = rtl::generate(&acc, &a.out, &rtl::GenerateOptions::default())?;
    print!("{}", m.text(&a.out));
    Ok(())
}

fn lint_cmd(a: LintArgs) -> Result<()> {
    let r = rtl::lint::lint(&a.dir)?;
    print!("{}", r.text());
    if !r.clean() {
        bail!("{}: {} lint warning(s)", r.top, r.verilator.len());
    }
    Ok(())
}

fn cosim_cmd(a: CosimArgs) -> Result<()> {
    let acc = rtl::AcceleratorSpec::load(&a.spec)?;
    let opts = autoapprox::cosim::CosimOptions {
        vectors: a.vectors,
        rounds: a.rounds,
        seed: a.seed,
        bench: a.bench,
        characterize: characterize_options(a.cache),
    };
    let r = autoapprox::cosim::run_spec(&acc, &a.out, &opts)?;
    print!("{}", r.text(&acc.spec.name, acc.mxus.len()));
    if let Some(m) = &r.first {
        bail!(
            "co-simulation FAILED: {} mismatching words; first at {m}",
            r.mismatches
        );
    }
    Ok(())
}

fn ppa_cmd(a: PpaArgs) -> Result<()> {
    let mut extra = a.with;
    if a.all {
        extra.extend(LIBRARY.iter().map(|d| d.name()));
    }
    let acc = autoapprox::ppa::spec_with(&a.spec, &extra)?;
    let opts = autoapprox::ppa::PpaOptions {
        liberty: a.liberty,
        bench: a.bench,
        workload: autoapprox::ppa::workload::WorkloadOptions {
            images: a.images,
            slots: a.slots,
            len: a.len,
            seed: a.seed,
        },
        out: a.out.clone(),
        characterize: characterize_options(a.cache),
        no_sta_power: a.no_sta_power,
    };
    eprintln!(
        "ppa: {} variant(s) of {}x{} MXUs: synthesis, netlist checks, gate-level simulation, timing",
        acc.mxus.len(),
        acc.spec.rows,
        acc.spec.cols
    );
    let r = autoapprox::ppa::run(&acc, &a.spec, &opts)?;
    r.write(&a.out)?;
    print!("{}", r.text(&a.spec, &a.out));
    Ok(())
}

fn calibrate_cmd(a: CalibrateArgs) -> Result<()> {
    let o = calibrate_options(
        a.bench,
        a.mults,
        a.sample,
        a.seed,
        a.kernel.parse()?,
        a.cache,
        true,
    );
    let (t, st) = autoapprox::search::calibrate::calibrate(&o)?;
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    t.write(&a.out)?;
    print!("{}", t.text());
    println!(
        "{} cells evaluated, {} from the cache, {:.1} s; wrote {}/calibration.json, calibration.csv, sensitivity.svg",
        st.evaluated,
        st.reused,
        st.seconds,
        a.out.display()
    );
    Ok(())
}

fn search_cmd(a: SearchArgs) -> Result<()> {
    use autoapprox::search::methods::Method;
    let methods: Vec<Method> = if a.method.iter().any(|m| m == "all") {
        Method::ALL.to_vec()
    } else {
        a.method
            .iter()
            .map(|m| m.parse())
            .collect::<Result<_, _>>()?
    };
    let candidates = if a.mults.is_empty() {
        autoapprox::ppa::energy::ChipModel::load(&a.ppa)?.approximate_variants()
    } else {
        a.mults
    };
    let o = autoapprox::search::SearchOptions {
        calibrate: autoapprox::search::calibrate::CalibrateOptions {
            bench: a.bench,
            candidates,
            sample: a.sample,
            seed: a.sample_seed,
            kernel: a.kernel.parse()?,
            characterize: characterize_options(a.cache),
            progress: true,
        },
        ppa: a.ppa,
        methods,
        budget: a.budget,
        seeds: a.seeds,
        params: Params {
            alpha1: a.alpha1,
            alpha2: a.alpha2,
            tau_rel: a.tau,
            phi: a.phi,
            tie: a.tie,
            confidence: a.confidence,
            hold: a.hold,
        },
        hv_span: a.hv_span,
        test: !a.no_test,
        confirm: a.confirm,
        out: a.out.clone(),
    };
    let r = autoapprox::search::search(&o)?;
    print!("{}", r.text());
    println!(
        "wrote {0}/table.md, search.json, designs.csv, fronts.svg, fronts.json, hypervolume.svg, hypervolume.csv, evals/*.jsonl, designs/*.toml",
        a.out.display()
    );
    Ok(())
}

fn orfs_cmd(a: OrfsArgs) -> Result<()> {
    let r = autoapprox::ppa::orfs::read(&a.dir)?;
    let show = |x: Option<f64>, unit: &str| x.map_or("-".to_string(), |v| format!("{v} {unit}"));
    println!(
        "ORFS run {}: area {}, power {}, worst setup slack {}, instances {}",
        a.dir.display(),
        show(r.area_um2, "um2"),
        show(r.power_w, "W"),
        show(r.setup_ws_ns, "ns"),
        show(r.instances, "")
    );
    match (a.ppa, a.variant) {
        (Some(p), Some(v)) => {
            let area = r.area_um2.context("the ORFS run reports no area")?;
            autoapprox::ppa::replace_mxu_area(&p, &v, area)?;
            println!(
                "{}: MXU area of {v} set to {area} um2 (post-route)",
                p.display()
            );
        }
        (None, None) => {}
        _ => bail!("--ppa and --variant go together"),
    }
    Ok(())
}

fn bench_cmd(b: BenchCmd) -> Result<()> {
    let text = match b {
        BenchCmd::Nn {
            benches,
            mult,
            images,
        } => {
            let d = multiplier::Design::by_name(&mult)
                .ok_or_else(|| anyhow::anyhow!("`{mult}` is not a built-in multiplier"))?;
            let refs: Vec<&std::path::Path> = benches.iter().map(|b| b.as_path()).collect();
            autoapprox::nn::bench::run(&refs, d, images)?.text
        }
        BenchCmd::Evolve {
            generations,
            target,
        } => autoapprox::evolve::bench::run(generations, target)?.text,
        BenchCmd::Oracle {
            bench,
            sample,
            sample_seed,
            mults,
            bins,
            cache,
        } => {
            let o = calibrate_options(
                bench,
                mults,
                sample,
                sample_seed,
                autoapprox::nn::eval::KernelKind::Lut,
                cache,
                false,
            );
            autoapprox::search::bench::run(&o, &bins)?.text()
        }
        BenchCmd::Characterize => characterize::bench::run()?.text(),
    };
    print!("{text}");
    Ok(())
}

fn characterize_cmd(a: CharArgs) -> Result<()> {
    let mults = if a.targets.is_empty() {
        multiplier::library()
    } else {
        a.targets
            .iter()
            .map(|t| multiplier::resolve(t, a.top.as_deref()))
            .collect::<Result<Vec<_>, _>>()?
    };
    let opts = Options {
        cache_dir: a.cache.cache,
        use_cache: !a.no_cache,
        max_rank: a.max_rank,
        progress: !a.quiet,
        ..Options::default()
    };
    let (cs, stats) = characterize::characterize(&mults, &opts)?;
    for (name, reason) in &stats.corrupt {
        eprintln!("warning: cache entry for {name} was corrupt ({reason}); recomputed");
    }
    let rs = report::records(&cs);
    let stdout_used =
        a.json.as_deref() == Some("-".as_ref()) || a.csv.as_deref() == Some("-".as_ref());
    if !a.quiet && !stdout_used {
        print!("{}", report::table(&rs));
        println!(
            "{} multiplier(s): {} simulated, {} from cache; harness build {:.2} s, sweep {:.1} ms, total {:.2} s",
            cs.len(),
            stats.simulated,
            stats.cache_hits,
            stats.harness_build.as_secs_f64(),
            stats.sweep.as_secs_f64() * 1e3,
            stats.total.as_secs_f64()
        );
    }
    if let Some(p) = &a.json {
        report::write_text(p, &report::json_string(&rs)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.csv {
        report::write_text(p, &report::csv_string(&rs)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(dir) = &a.out {
        let files = report::write_characterization_report(dir, &cs, &stats)?;
        if !a.quiet && !stdout_used {
            println!(
                "report: {} ({} files)",
                dir.join("report.md").display(),
                files.len()
            );
        }
    }
    Ok(())
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    if a.kernel != "float" {
        a.kernel.parse::<autoapprox::nn::eval::KernelKind>()?;
    }
    use autoapprox::nn::{eval, onnx, quant};
    let (model, mut ds, scale, calib) = match (&a.bench, &a.images) {
        (_, Some(dir)) => {
            let o = autoapprox::data::images::FolderOptions {
                resize: a.resize,
                crop: a.crop,
            };
            let ds = autoapprox::data::Dataset::from_image_folder(dir, a.labels.as_deref(), o)?;
            let calib = a.calibrate.map(|_| ds.clone());
            (
                a.model.clone().expect("clap requires the model"),
                ds,
                1.0 / 255.0,
                calib,
            )
        }
        (Some(b), None) => {
            let bench = eval::Benchmark::load(b)?;
            let model = a.model.clone().unwrap_or_else(|| bench.model_path());
            let calib = if a.calibrate.is_some() {
                Some(bench.split("validation")?)
            } else {
                None
            };
            (model, bench.split(&a.split)?, bench.scale, calib)
        }
        (None, None) => bail!("give --bench DIR or --images DIR"),
    };
    let norm = |mut x: autoapprox::nn::Tensor| -> autoapprox::nn::Tensor {
        eval::normalize(&mut x, &a.mean, &a.std);
        x
    };
    let graph = onnx::load(&model)?;
    let layers = graph.layers()?;
    if let Some(n) = a.sample {
        ds = ds.subset(&ds.balanced_sample(n, a.seed));
    }
    let mapping = match (&a.mapping, &a.all) {
        (Some(p), _) => eval::Mapping::load(p)?,
        (None, Some(m)) => eval::Mapping {
            default: Some(m.clone()),
            ..Default::default()
        },
        _ => eval::Mapping::default(),
    };
    let names = mapping.resolve(&layers).with_context(|| match &a.mapping {
        Some(p) => p.display().to_string(),
        None => "--all".to_string(),
    })?;
    let result = if a.kernel == "float" {
        eval::evaluate(&|x| graph.run_float(norm(x)), &ds, scale, a.batch)?
    } else {
        let mut q = quant::QuantNet::new(&graph);
        if let (Some(n), Some(calib)) = (a.calibrate, &calib) {
            let cal = calib.subset(&calib.balanced_sample(n, a.seed));
            q.calibrate(norm(autoapprox::nn::Tensor::images(
                &cal,
                0,
                cal.len(),
                scale,
            )))?;
        }
        let opts = Options {
            cache_dir: a.cache.cache.clone(),
            progress: false,
            ..Options::default()
        };
        q.muls = eval::layer_muls(&names, a.kernel.parse()?, &opts)?;
        eval::evaluate(&|x| q.run(norm(x)), &ds, scale, a.batch)?
    };
    if a.json {
        let out = serde_json::json!({
            "model": model.display().to_string(), "split": a.split, "kernel": a.kernel,
            "mapping": names, "result": result, "layers": layers,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} on {} {} images, kernel {}: top-1 {:.2}%  top-5 {:.2}%  ({:.1} images/s, {:.2} s)",
            model.display(),
            result.images,
            a.split,
            a.kernel,
            result.top1 * 100.0,
            result.top5 * 100.0,
            result.images_per_second,
            result.seconds
        );
        println!(
            "{:>5}  {:<24} {:>5} {:>8} {:>6} {:>12}  multiplier",
            "layer", "name", "kind", "out", "K", "MACs/image"
        );
        for (l, n) in layers.iter().zip(&names) {
            println!(
                "{:>5}  {:<24} {:>5} {:>8} {:>6} {:>12}  {}",
                l.index,
                l.name,
                l.kind,
                l.out_ch,
                l.k,
                l.macs,
                n.as_deref().unwrap_or("mul8u_exact")
            );
        }
    }
    Ok(())
}

fn evolve_cmd(a: EvolveArgs) -> Result<()> {
    use autoapprox::evolve::{self, EvolveConfig};
    let mut cfg = match &a.config {
        Some(p) => EvolveConfig::load(p)?,
        None => EvolveConfig::default(),
    };
    if !a.targets.is_empty() {
        cfg.targets = a.targets.clone();
    }
    if let Some(m) = &a.metric {
        cfg.metric = m.parse()?;
    }
    if let Some(d) = &a.distribution {
        cfg.distribution = d.parse()?;
    }
    if let Some(o) = &a.objective {
        cfg.objective = o.parse()?;
    }
    cfg.bench = a.bench.clone().unwrap_or(cfg.bench);
    cfg.layer = a.layer.clone().or(cfg.layer);
    cfg.wce_pct = a.wce_pct.or(cfg.wce_pct);
    cfg.generations = a.generations.unwrap_or(cfg.generations);
    cfg.lambda = a.lambda.unwrap_or(cfg.lambda);
    if !a.starts.is_empty() {
        cfg.starts = a.starts.clone();
    }
    cfg.prefix = a.prefix.clone().or(cfg.prefix);
    cfg.seed = a.seed.unwrap_or(cfg.seed);
    let check_dir = tempfile::tempdir()?;
    let o = evolve::EvolveOptions {
        liberty: a.liberty.clone(),
        cache_dir: a.cache.cache.clone(),
        out: if a.check {
            check_dir.path().to_path_buf()
        } else {
            a.out.clone()
        },
        progress: true,
    };
    let r = evolve::evolve(&cfg, &o)?;
    if a.check {
        let stale = evolve::compare_outputs(&o.out, &a.out)?;
        if !stale.is_empty() {
            bail!(
                "{} file(s) in {} differ from what `autoapprox evolve` writes: {}; regenerate them",
                stale.len(),
                a.out.display(),
                stale.join(", ")
            );
        }
        println!(
            "{} evolved circuit(s) in {} match a fresh run",
            r.circuits.len(),
            a.out.display()
        );
        return Ok(());
    }
    print!("{}", evolve::table(&r));
    println!(
        "wrote {} circuit(s), evolved.json and evolved.csv to {} in {:.1} s",
        r.files.len(),
        a.out.display(),
        r.seconds
    );
    Ok(())
}
