//! `autoapprox run`: the whole flow from a project file to a chip and its report.
//!
//! characterize → PPA per MXU variant → calibrate + search (every method, every seed) → the
//! designs, re-measured on the full test split → the chosen chip: generate, lint, co-simulate →
//! `report.md` / `report.html`.
//!
//! Every stage is cached: characterizations by content hash, calibration cells and search
//! evaluations per mapping (`sim_cache/`), and the PPA and chip stages by a key over their
//! inputs (`DIR/.flow/<stage>.key`). A run killed at any point and started again redoes only
//! the work that was in flight; with the same project it writes the same report.

pub mod project;
pub mod report;

use crate::characterize::{self, Options};
use crate::error::{Error, IoContext, Result};
use crate::search::results::{Design, Kind};
use crate::search::{SearchOptions, SearchReport};
use crate::util::write_atomic;
use project::Project;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct RunOptions {
    pub out: PathBuf,
    pub cache_dir: PathBuf,
    /// progress bars and stage lines on stderr
    pub progress: bool,
}

/// How long a stage took, and whether its result came from the cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTime {
    pub stage: String,
    pub seconds: f64,
    pub cached: bool,
}

impl StageTime {
    fn since(stage: &str, t: Instant, cached: bool) -> StageTime {
        StageTime {
            stage: stage.into(),
            seconds: t.elapsed().as_secs_f64(),
            cached,
        }
    }
}

/// What the chip stage measured (`DIR/chip/chip.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChipResult {
    /// the design it builds (`search/designs/<id>.toml`)
    pub design: String,
    pub kind: Kind,
    /// why this design (the rule that picked it)
    pub reason: String,
    /// the run it was chosen from
    pub method: crate::search::methods::Method,
    pub seed: u64,
    pub top: String,
    pub rtl_files: Vec<String>,
    pub filelist: String,
    pub core: String,
    pub orfs_config: String,
    pub routes_csv: String,
    pub verilator_warnings: Vec<String>,
    pub yosys_cells: u64,
    pub cosim_macs: u64,
    pub cosim_words: usize,
    pub cosim_mismatches: usize,
    pub cosim_vectors: usize,
}

/// The flow's summary: stage times, the chosen design, the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlowSummary {
    pub stages: Vec<StageTime>,
    pub chip: ChipResult,
    pub zero_loss_found: bool,
    pub report: PathBuf,
    pub text: String,
}

fn sha(parts: &[&[u8]]) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(&(p.len() as u64).to_le_bytes());
        all.extend_from_slice(p);
    }
    crate::util::sha256_hex(&all)
}

/// A stage's cache stamp: the key of the inputs its outputs were made from.
struct Stamp {
    path: PathBuf,
    key: String,
}

impl Stamp {
    fn new(out: &Path, stage: &str, key: String) -> Stamp {
        Stamp {
            path: out.join(".flow").join(format!("{stage}.key")),
            key,
        }
    }
    fn fresh(&self, outputs: &[PathBuf]) -> bool {
        std::fs::read_to_string(&self.path).is_ok_and(|k| k.trim() == self.key)
            && outputs.iter().all(|p| p.is_file())
    }
    fn set(&self) -> Result<()> {
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d).at(d)?;
        }
        write_atomic(&self.path, format!("{}\n", self.key).as_bytes())
    }
}

fn say(o: &RunOptions, msg: &str) {
    if o.progress {
        eprintln!("{msg}");
    }
}

/// Runs the whole flow of `project_path` into `o.out`.
pub fn run(project_path: &Path, o: &RunOptions) -> Result<FlowSummary> {
    let p = Project::load(project_path)?;
    let out = &o.out;
    std::fs::create_dir_all(out).at(out)?;
    let mut stages: Vec<StageTime> = Vec::new();
    let copt = Options {
        cache_dir: o.cache_dir.clone(),
        progress: o.progress,
        ..Options::default()
    };
    // the stages below characterization only look multipliers up (no bars of their own)
    let quiet = Options {
        progress: false,
        ..copt.clone()
    };
    write_atomic(
        &out.join("project.toml"),
        toml::to_string(&p)
            .map_err(|e| Error::Other(e.to_string()))?
            .as_bytes(),
    )?;

    // 0. evolve the circuits the project asks for; they become candidates like any file
    let mut candidates = p.candidates()?;
    if let Some(cfg) = p.evolve_config(project_path)? {
        let t = Instant::now();
        say(
            o,
            &format!(
                "[0/5] evolve: {} circuit(s) by CGP ({} generations each, cached per target)",
                cfg.targets.len(),
                cfg.generations
            ),
        );
        let r = crate::evolve::evolve(
            &cfg,
            &crate::evolve::EvolveOptions {
                liberty: p.accelerator.liberty.clone(),
                cache_dir: o.cache_dir.clone(),
                out: out.join("evolve"),
                progress: o.progress,
            },
        )?;
        candidates.extend(r.files.iter().map(|f| f.to_string_lossy().into_owned()));
        stages.push(StageTime::since(
            "evolve",
            t,
            r.run_seconds.iter().all(|s| s.is_none()),
        ));
    }

    // 1. characterize every candidate (and the exact multiplier)
    let t = Instant::now();
    say(
        o,
        "[1/5] characterize: every candidate multiplier, all 65,536 input pairs",
    );
    let mut mults = vec![crate::multiplier::Multiplier::builtin(
        crate::multiplier::Design::Exact,
    )];
    for c in &candidates {
        mults.push(crate::multiplier::resolve(c, None)?);
    }
    let (chars, stats) = characterize::characterize(&mults, &copt)?;
    crate::report::write_characterization_report(&out.join("characterize"), &chars, &stats)?;
    // multiplier name -> what the specs say (a built-in name or the absolute Verilog path)
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    for (m, c) in mults
        .iter()
        .zip(std::iter::once(&String::new()).chain(&candidates))
    {
        let src = if c.is_empty() || crate::multiplier::Design::by_name(c).is_some() {
            m.name.clone()
        } else {
            std::fs::canonicalize(c)
                .at(Path::new(c))?
                .to_string_lossy()
                .into_owned()
        };
        if let Some(prev) = sources.insert(m.name.clone(), src) {
            return Err(Error::Other(format!(
                "two candidates are both named `{}` ({prev} and another); rename one module",
                m.name
            )));
        }
    }
    stages.push(StageTime::since("characterize", t, stats.simulated == 0));

    // 2. PPA of every MXU variant
    let t = Instant::now();
    let ppa_dir = out.join("ppa");
    std::fs::create_dir_all(&ppa_dir).at(&ppa_dir)?;
    let a = &p.accelerator;
    let mut spec = format!(
        "# every candidate as an MXU variant (written by autoapprox run)\nname = \"{}\"\nrows = {}\ncols = {}\nclock_ns = {}\nexact_fallback = true\n",
        a.name, a.rows, a.cols, a.clock_ns
    );
    for m in &mults[1..] {
        spec.push_str(&format!("\n[[mxu]]\nmultiplier = {:?}\n", sources[&m.name]));
    }
    let spec_path = ppa_dir.join("accelerator.toml");
    write_atomic(&spec_path, spec.as_bytes())?;
    let lib_bytes = match &a.liberty {
        Some(l) => std::fs::read(l).at(l)?,
        None => b"default".to_vec(),
    };
    let bench_json = p.network.bench.join("benchmark.json");
    let bench_bytes = std::fs::read(&bench_json).at(&bench_json)?;
    let char_keys: String = chars.iter().map(|c| c.key.clone() + "\n").collect();
    let w = &p.ppa;
    let ppa_stamp = Stamp::new(
        out,
        "ppa",
        sha(&[
            b"ppa v1",
            spec.as_bytes(),
            &lib_bytes,
            &bench_bytes,
            format!("{} {} {} {}", w.images, w.slots, w.len, w.seed).as_bytes(),
            char_keys.as_bytes(),
        ]),
    );
    let ppa_json = ppa_dir.join("ppa.json");
    let ppa_cached = ppa_stamp.fresh(std::slice::from_ref(&ppa_json));
    if ppa_cached {
        say(o, "[2/5] ppa: from the cache");
    } else {
        say(
            o,
            &format!(
                "[2/5] ppa: {} MXU variants of {}x{}: synthesis, gate-level simulation, timing",
                mults.len(),
                a.rows,
                a.cols
            ),
        );
        let acc = crate::rtl::AcceleratorSpec::load(&spec_path)?;
        let opts = crate::ppa::PpaOptions {
            liberty: a.liberty.clone(),
            bench: p.network.bench.clone(),
            workload: crate::ppa::workload::WorkloadOptions {
                images: w.images,
                slots: w.slots,
                len: w.len,
                seed: w.seed,
            },
            out: ppa_dir.clone(),
            characterize: quiet.clone(),
            no_sta_power: false,
        };
        let r = crate::ppa::run(&acc, &spec_path, &opts)?;
        r.write(&ppa_dir)?;
        ppa_stamp.set()?;
    }
    stages.push(StageTime::since("ppa", t, ppa_cached));

    // 3. calibrate + search (cached per calibration cell and per evaluated mapping)
    let t = Instant::now();
    say(o, "[3/5] calibrate and search");
    let s = &p.search;
    let so = SearchOptions {
        calibrate: crate::search::calibrate::CalibrateOptions {
            bench: p.network.bench.clone(),
            candidates: candidates.clone(),
            sample: p.network.sample,
            seed: p.network.sample_seed,
            kernel: p.network.kernel.parse()?,
            characterize: quiet.clone(),
            progress: o.progress,
        },
        ppa: ppa_json.clone(),
        methods: p.methods(),
        budget: s.budget,
        seeds: s.seeds.clone(),
        params: crate::search::problem::Params {
            alpha1: s.alpha1,
            alpha2: s.alpha2,
            tau_rel: s.tau,
            phi: s.phi,
            tie: s.tie,
            confidence: s.confidence,
            hold: s.hold,
        },
        hv_span: 1.0,
        test: true,
        confirm: s.confirm,
        out: out.join("search"),
    };
    let rep = crate::search::search(&so)?;
    stages.push(StageTime::since(
        "calibrate + search",
        t,
        rep.simulated == 0 && rep.simulated_test == 0 && rep.simulated_confirm == 0,
    ));

    // 4. the chosen chip: generate, lint, co-simulate
    let t = Instant::now();
    let method: crate::search::methods::Method = p.chip.method.parse()?;
    let (design, reason) = choose_chip(&rep, method, s.seeds[0]);
    say(
        o,
        &format!(
            "[4/5] chip `{}` ({reason}): generate, lint, co-simulate",
            design.id
        ),
    );
    let chip_dir = out.join("chip");
    std::fs::create_dir_all(&chip_dir).at(&chip_dir)?;
    let base = crate::rtl::AcceleratorSpec {
        name: a.name.clone(),
        rows: a.rows,
        cols: a.cols,
        clock_ns: a.clock_ns,
        ..Default::default()
    };
    let mut chip_spec = design.spec(&base, &rep.problem.layers, &rep.problem.names[0]);
    for m in &mut chip_spec.mxu {
        if let Some(src) = sources.get(&m.multiplier) {
            m.multiplier = src.clone();
        }
    }
    let chip_text = format!(
        "# design {} ({}) chosen by autoapprox run\n{}",
        design.id,
        reason,
        toml::to_string(&chip_spec).map_err(|e| Error::Other(e.to_string()))?
    );
    let chip_spec_path = chip_dir.join("accelerator.toml");
    write_atomic(&chip_spec_path, chip_text.as_bytes())?;
    let chip_stamp = Stamp::new(
        out,
        "chip",
        sha(&[
            b"chip v2",
            chip_text.as_bytes(),
            &bench_bytes,
            p.chip.cosim_vectors.to_string().as_bytes(),
        ]),
    );
    let chip_json = chip_dir.join("chip.json");
    let chip_cached = chip_stamp.fresh(std::slice::from_ref(&chip_json));
    let chip: ChipResult = if chip_cached {
        let text = std::fs::read_to_string(&chip_json).at(&chip_json)?;
        serde_json::from_str(&text).map_err(|e| Error::Input {
            file: chip_json.clone(),
            message: format!("{e}; delete it and rerun"),
        })?
    } else {
        let acc = crate::rtl::AcceleratorSpec::load(&chip_spec_path)?;
        let m = crate::rtl::generate(&acc, &chip_dir, &Default::default())?;
        let lint = crate::rtl::lint::lint(&chip_dir)?;
        let cos = crate::cosim::run_spec(
            &acc,
            &chip_dir,
            &crate::cosim::CosimOptions {
                vectors: p.chip.cosim_vectors,
                rounds: 1,
                seed: 1,
                bench: Some(p.network.bench.clone()),
                characterize: quiet.clone(),
            },
        )?;
        let c = ChipResult {
            design: design.id.clone(),
            kind: design.kind,
            reason: reason.clone(),
            method,
            seed: s.seeds[0],
            top: m.top.clone(),
            rtl_files: m.files.clone(),
            filelist: m.filelist.clone(),
            core: format!("{}.core", m.name),
            orfs_config: "orfs/config.mk".into(),
            routes_csv: "routes.csv".into(),
            verilator_warnings: lint.verilator.clone(),
            yosys_cells: lint.yosys_cells,
            cosim_macs: cos.macs_checked,
            cosim_words: cos.words_checked,
            cosim_mismatches: cos.mismatches,
            cosim_vectors: p.chip.cosim_vectors,
        };
        write_atomic(&chip_json, crate::util::json_pretty(&c)?.as_bytes())?;
        if !lint.clean() {
            return Err(Error::Other(format!(
                "{}: Verilator reports {} lint warning(s); see `autoapprox lint {}`",
                chip_dir.display(),
                lint.verilator.len(),
                chip_dir.display()
            )));
        }
        if let Some(f) = &cos.first {
            return Err(Error::Other(format!(
                "{}: co-simulation found {} mismatching words (first at {f}); the RTL and the \
                 model disagree",
                chip_dir.display(),
                cos.mismatches
            )));
        }
        chip_stamp.set()?;
        c
    };
    stages.push(StageTime::since(
        "chip (generate, lint, co-simulate)",
        t,
        chip_cached,
    ));

    // 5. the report, from the files in DIR only
    let t = Instant::now();
    say(o, "[5/5] report");
    let r = report::write(out)?;
    stages.push(StageTime::since("report", t, false));
    write_atomic(
        &out.join("timings.json"),
        crate::util::json_pretty(&stages)?.as_bytes(),
    )?;
    let mut text = r.summary.clone();
    text.push_str("\nstage times:\n");
    for s in &stages {
        text.push_str(&format!(
            "  {:<36} {:>8.1} s{}\n",
            s.stage,
            s.seconds,
            if s.cached { " (cached)" } else { "" }
        ));
    }
    text.push_str(&format!(
        "report: {}, {}\n",
        out.join("report.md").display(),
        out.join("report.html").display()
    ));
    Ok(FlowSummary {
        stages,
        chip,
        zero_loss_found: r.zero_loss_found,
        report: out.join("report.md"),
        text,
    })
}

/// The design that becomes the chip: the chip method's run with the first seed offers it. Its
/// confirmed design if it has one (feasible on the sample and holding τ on the validation images
/// outside the sample); else the exact chip: a design that failed the confirmation (or was never
/// feasible) is not built. The test split never takes part in the choice.
pub fn choose_chip(
    rep: &SearchReport,
    method: crate::search::methods::Method,
    seed: u64,
) -> (Design, String) {
    let confirmed = rep.designs.iter().find(|d| {
        d.kind == Kind::Confirmed
            && d.method == Some(method)
            && (d.seed == Some(seed) || !method.seeded())
    });
    match confirmed {
        Some(d) => (
            d.clone(),
            format!(
                "{} seed {seed}: lowest-energy design confirmed on the validation images outside the sample",
                method.name()
            ),
        ),
        None => (
            rep.designs[0].clone(),
            format!(
                "{} seed {seed}: no feasible design held τ on the validation images outside the \
                 sample, so the exact chip",
                method.name()
            ),
        ),
    }
}
