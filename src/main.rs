//! `autoapprox` command line: a thin layer over the library.

use anyhow::{bail, Context, Result};
use autoapprox::characterize::{self, Options};
use autoapprox::multiplier::{self, LIBRARY};
use autoapprox::report;
use autoapprox::rtl;
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
    /// The multiplier library.
    #[command(subcommand)]
    Mult(MultCmd),
    /// Characterize multipliers exhaustively with Verilator (default: the whole built-in library).
    Characterize(CharArgs),
    /// Generate an accelerator's RTL, filelist, FuseSoC core, Yosys script and ORFS config.
    Generate {
        /// Accelerator spec (TOML).
        spec: PathBuf,
        /// Output directory.
        #[arg(long, default_value = "out/rtl")]
        out: PathBuf,
    },
    /// Lint a generated design: Verilator -Wall (zero warnings) and Yosys synthesis.
    Lint {
        /// Directory written by `autoapprox generate`.
        dir: PathBuf,
    },
    /// Co-simulate a generated accelerator in Verilator against the Rust golden model.
    Cosim {
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
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
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
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Mult(MultCmd::List) => {
            println!(
                "{:<22} {:<13} {:<22} follows",
                "name", "family", "parameters"
            );
            for d in LIBRARY {
                let cite = d.citation();
                let short = cite.split(", \"").next().unwrap_or(cite);
                println!(
                    "{:<22} {:<13} {:<22} {}",
                    d.name(),
                    d.family(),
                    d.params(),
                    short
                );
            }
            Ok(())
        }
        Cmd::Mult(MultCmd::Generate { out, check }) => {
            if check {
                let mut stale = Vec::new();
                for d in LIBRARY {
                    let p = out.join(format!("{}.v", d.name()));
                    if std::fs::read_to_string(&p).ok().as_deref() != Some(d.verilog().as_str()) {
                        stale.push(p.display().to_string());
                    }
                }
                if !stale.is_empty() {
                    bail!(
                        "{} file(s) differ from the generator: {}; run `autoapprox mult generate`",
                        stale.len(),
                        stale.join(", ")
                    );
                }
                println!(
                    "{} files in {} match the generator",
                    LIBRARY.len(),
                    out.display()
                );
            } else {
                let files = multiplier::write_library(&out)?;
                println!("wrote {} files to {}", files.len(), out.display());
            }
            Ok(())
        }
        Cmd::Characterize(a) => characterize_cmd(a),
        Cmd::Generate { spec, out } => {
            let acc = rtl::AcceleratorSpec::load(&spec)?;
            let m = rtl::generate(&acc, &out, &rtl::GenerateOptions::default())?;
            println!(
                "{}: {}x{} array, {} MXU(s), {} Verilog files in {}",
                m.top,
                m.rows,
                m.cols,
                m.mxus.len(),
                m.files.len(),
                out.join("rtl").display()
            );
            for x in &m.mxus {
                println!(
                    "  route {}: {} ({}, {})",
                    x.route, x.mxu, x.role, x.multiplier
                );
            }
            println!(
                "  filelist {}, FuseSoC core {}.core, Yosys synth.ys, ORFS orfs/config.mk + orfs/constraint.sdc",
                out.join(&m.filelist).display(),
                m.name
            );
            Ok(())
        }
        Cmd::Cosim {
            spec,
            out,
            vectors,
            rounds,
            seed,
            cache,
        } => {
            let acc = rtl::AcceleratorSpec::load(&spec)?;
            let opts = autoapprox::cosim::CosimOptions {
                vectors,
                rounds,
                seed,
                characterize: Options {
                    cache_dir: cache.cache,
                    progress: false,
                    ..Options::default()
                },
            };
            let r = autoapprox::cosim::run_spec(&acc, &out, &opts)?;
            println!(
                "co-simulation of {}: {} MACs in {} result words over {} routes, {} mismatches",
                acc.spec.name,
                r.macs_checked,
                r.words_checked,
                acc.mxus.len(),
                r.mismatches
            );
            println!(
                "  {} cycles in {:.2} s = {:.0} cycles/s ({:.2} M MAC/s); model build {:.1} s",
                r.cycles,
                r.sim_time.as_secs_f64(),
                r.cycles_per_second(),
                r.macs_checked as f64 / r.sim_time.as_secs_f64() / 1e6,
                r.build_time.as_secs_f64()
            );
            if let Some(m) = &r.first {
                bail!(
                    "co-simulation FAILED: {} mismatching words; first at {m}",
                    r.mismatches
                );
            }
            Ok(())
        }
        Cmd::Lint { dir } => {
            let r = rtl::lint::lint(&dir)?;
            println!(
                "verilator --lint-only -Wall: {} warning(s) ({:.1} s)",
                r.verilator.len(),
                r.verilator_seconds
            );
            for w in &r.verilator {
                println!("  {w}");
            }
            println!(
                "yosys hierarchy -check; synth: ok, {} cells ({:.1} s)",
                r.yosys_cells, r.yosys_seconds
            );
            for (m, n) in &r.module_cells {
                println!("  {m:<48} {n:>8} cells");
            }
            if !r.clean() {
                bail!("{}: {} lint warning(s)", r.top, r.verilator.len());
            }
            Ok(())
        }
        Cmd::Bench(BenchCmd::Characterize) => {
            let r = characterize::bench::run()?;
            print!("{}", r.text());
            Ok(())
        }
    }
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
