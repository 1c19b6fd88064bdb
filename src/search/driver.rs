//! `autoapprox search`: calibrate, build the relaxed problem, run each method for each seed on
//! the same budget through one evaluation cache, pick each run's designs, re-measure them on the
//! full test split, and write the logs, fronts, hypervolumes, Table II and the designs' specs.

use super::calibrate::{calibrate_with, CalibrateOptions, Setup};
use super::evaluator::Evaluator;
use super::methods::{self, Eval, Method, Run};
use super::problem::{Params, Problem};
use super::results::{self, Design, Kind};
use crate::error::{Error, IoContext, Result};
use crate::ppa::energy::ChipModel;
use crate::report::plots::{self, Series};
use crate::rtl::AcceleratorSpec;
use crate::util::{json_pretty, write_atomic};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// benchmark, sample, kernel, cache; `candidates` empty = every multiplier in the PPA report
    pub calibrate: CalibrateOptions,
    /// `ppa.json` of `autoapprox ppa` holding every candidate (the chip energy/area model)
    pub ppa: PathBuf,
    pub methods: Vec<Method>,
    pub budget: usize,
    pub seeds: Vec<u64>,
    pub params: Params,
    /// hypervolume reference: `hv_span` points of top-1 below τ, and the exact chip's energy
    pub hv_span: f64,
    /// re-measure the chosen designs on the full test split
    pub test: bool,
    /// per run, how many of its lowest-energy feasible mappings are checked on the
    /// confirmation set for the confirmed design (0: none)
    pub confirm: usize,
    pub out: PathBuf,
}

/// One method run's summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub method: Method,
    pub seed: u64,
    pub evaluations: usize,
    pub feasible: usize,
    pub seconds: f64,
    pub hypervolume: f64,
    /// BO suggestions egobox failed to produce (replaced by random points)
    pub gp_failures: usize,
    pub log: String,
}

impl RunSummary {
    /// File stem of a design this run offers.
    fn design_id(&self, kind: Kind) -> String {
        if self.method.seeded() {
            format!("{}-s{}-{}", self.method.name(), self.seed, kind.name())
        } else {
            format!("{}-{}", self.method.name(), kind.name())
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchReport {
    pub problem: Problem,
    pub budget: usize,
    pub seeds: Vec<u64>,
    pub runs: Vec<RunSummary>,
    /// the exact chip first, then each run's designs
    pub designs: Vec<Design>,
    /// exact int8 on the full test split (%)
    pub exact_test_top1: Option<f64>,
    pub hv_ref: (f64, f64),
    pub simulated: usize,
    #[serde(default)]
    pub simulated_confirm: usize,
    pub simulated_test: usize,
    pub calibration_seconds: f64,
    /// images in the search sample
    pub sample: usize,
    /// images in the confirmation set and the test split
    #[serde(default)]
    pub confirm_images: usize,
    #[serde(default)]
    pub test_images: usize,
    /// calibration cells simulated in this run (0 when the table came from the cache)
    #[serde(default)]
    pub calibration_cells: usize,
    /// where the validation split comes from and how it is known to be held out
    #[serde(default)]
    pub validation: String,
    /// the array geometry of the PPA model (the exported specs use it)
    pub rows: u32,
    pub cols: u32,
}

pub fn search(o: &SearchOptions) -> Result<SearchReport> {
    if o.budget == 0 {
        return Err(Error::Other("--budget must be at least 1".into()));
    }
    let chip = ChipModel::load(&o.ppa)?;
    let mut copt = o.calibrate.clone();
    if copt.candidates.is_empty() {
        copt.candidates = chip
            .variants
            .keys()
            .filter(|m| **m != chip.exact)
            .cloned()
            .collect();
    }
    for c in &copt.candidates {
        let name = crate::multiplier::resolve(c, None)?.name;
        if !chip.variants.contains_key(&name) {
            return Err(Error::Input {
                file: o.ppa.clone(),
                message: format!(
                    "no PPA for candidate `{name}`; run `autoapprox ppa SPEC --with {c}` (or --all) first"
                ),
            });
        }
    }
    if copt.candidates.is_empty() {
        return Err(Error::Other(
            "no approximate candidate: the PPA report has only the exact MXU".into(),
        ));
    }
    let t0 = std::time::Instant::now();
    let setup = Setup::load(&copt)?;
    let (table, cstats) = calibrate_with(&setup, &copt, t0)?;
    let calibration_seconds = t0.elapsed().as_secs_f64();
    let problem = Problem::new(&table, &setup.infos, &chip, o.params)?;

    std::fs::create_dir_all(o.out.join("evals")).at(&o.out)?;
    table.write(&o.out)?;
    write_atomic(
        &o.out.join("problem.json"),
        json_pretty(&problem)?.as_bytes(),
    )?;
    write_atomic(&o.out.join("relaxation.txt"), problem.text().as_bytes())?;

    let mut ev = Evaluator::new(&setup, &copt.characterize.cache_dir)?;
    let mut runs = Vec::new();
    let mut logs: Vec<Vec<Eval>> = Vec::new();
    let e_ref = 100.0;
    let a_ref = problem.tau - o.hv_span;
    for &method in &o.methods {
        let seeds: Vec<u64> = if method.seeded() {
            o.seeds.clone()
        } else {
            o.seeds.first().copied().into_iter().collect()
        };
        for seed in seeds {
            let t = std::time::Instant::now();
            let name = if method.seeded() {
                format!("{}-s{seed}", method.name())
            } else {
                method.name().to_string()
            };
            let log_path = o.out.join("evals").join(format!("{name}.jsonl"));
            let tmp = log_path.with_extension("jsonl.partial");
            let mut file = std::fs::File::create(&tmp).at(&tmp)?;
            let bar = copt.progress.then(|| {
                let pb = indicatif::ProgressBar::new(o.budget as u64);
                pb.set_style(
                    indicatif::ProgressStyle::with_template(&format!(
                        "{name:>12} {{bar:36}} {{pos}}/{{len}} evaluations {{msg}} ({{eta}} left)"
                    ))
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                pb
            });
            let mut best_e = f64::INFINITY;
            let tmp2 = tmp.clone();
            let bar2 = bar.clone();
            let on_eval = Box::new(move |e: &Eval| -> Result<()> {
                let line = serde_json::to_string(e).map_err(|x| Error::Other(x.to_string()))?;
                writeln!(file, "{line}").at(&tmp2)?;
                if let Some(pb) = &bar2 {
                    if e.feasible && e.energy < best_e {
                        best_e = e.energy;
                        pb.set_message(format!("best feasible {best_e:.2}% energy"));
                    }
                    pb.inc(1);
                }
                Ok(())
            });
            let mut r = Run::new(&problem, &mut ev, method, seed, o.budget, on_eval);
            methods::run(&mut r)?;
            let log = std::mem::take(&mut r.log);
            let gp_failures = r.gp_failures;
            drop(r);
            if let Some(pb) = bar {
                pb.finish_and_clear();
            }
            std::fs::rename(&tmp, &log_path).at(&log_path)?;
            let hv = results::hv_trace(&log, &problem, e_ref, a_ref)
                .last()
                .copied()
                .unwrap_or(0.0);
            runs.push(RunSummary {
                method,
                seed,
                evaluations: log.len(),
                feasible: log.iter().filter(|e| e.feasible).count(),
                seconds: t.elapsed().as_secs_f64(),
                hypervolume: hv,
                gp_failures,
                log: format!("evals/{name}.jsonl"),
            });
            logs.push(log);
        }
    }

    // the designs
    let exact_map = vec![chip.exact.clone(); problem.n_layers()];
    let exact_choice = vec![0usize; problem.n_layers()];
    let exact_sample = ev.sample_batch(std::slice::from_ref(&exact_map))?[0];
    let mut designs = vec![Design {
        method: None,
        seed: None,
        kind: Kind::Exact,
        step: 0,
        mapping: exact_map,
        energy: problem.energy_of(&exact_choice),
        area: problem.area_of(&exact_choice),
        sample_top1: exact_sample.top1,
        sample_lcb: 0.0,
        confirm_top1: None,
        confirm_lcb: None,
        confirm_hold: None,
        confirm_rates: None,
        test_paired: None,
        objective: problem.objective(&exact_choice, problem.bounded_top1(&exact_sample)),
        test_top1: f64::NAN,
        test_top5: f64::NAN,
        id: "exact".into(),
    }];
    for (run, log) in runs.iter().zip(&logs) {
        for (kind, i) in results::choose(log, problem.params.phi) {
            designs.push(Design::from_eval(
                run.method,
                run.seed,
                &log[i],
                kind,
                run.design_id(kind),
            ));
        }
    }
    // the confirmed designs: a run's lowest-energy feasible mapping whose paired bound also
    // holds on the validation images the search did not see
    if o.confirm > 0 && ev.confirm_len() > 0 {
        let mut maps = vec![designs[0].mapping.clone()];
        let cands: Vec<Vec<usize>> = logs
            .iter()
            .map(|log| results::confirm_candidates(log, o.confirm))
            .collect();
        for (log, c) in logs.iter().zip(&cands) {
            maps.extend(c.iter().map(|&i| log[i].mapping.clone()));
        }
        let scores = with_spinner(
            copt.progress,
            format!(
                "confirming designs on the {} validation images outside the sample",
                ev.confirm_len()
            ),
            || ev.confirm_batch(&maps),
        )?;
        designs[0].confirm_top1 = Some(scores[0].top1);
        designs[0].confirm_lcb = Some(0.0);
        designs[0].confirm_hold = Some(1.0);
        designs[0].confirm_rates = Some(scores[0].rates);
        let n_ref = setup.val_len;
        let holds = |s: &super::evaluator::Score| {
            s.paired.lcb(problem.z) >= problem.params.tau_rel - 1e-9
                && s.rates.p_hold(n_ref) >= problem.params.hold - 1e-12
        };
        let mut k = 1;
        for ((run, log), c) in runs.iter().zip(&logs).zip(&cands) {
            let ok = c
                .iter()
                .zip(&scores[k..k + c.len()])
                .find(|(_, s)| holds(s));
            k += c.len();
            if let Some((&i, s)) = ok {
                designs.push(Design {
                    confirm_top1: Some(s.top1),
                    confirm_lcb: Some(s.paired.lcb(problem.z)),
                    confirm_hold: Some(s.rates.p_hold(n_ref)),
                    confirm_rates: Some(s.rates),
                    ..Design::from_eval(
                        run.method,
                        run.seed,
                        &log[i],
                        Kind::Confirmed,
                        run.design_id(Kind::Confirmed),
                    )
                });
            }
        }
    }
    let mut exact_test_top1 = None;
    if o.test {
        let maps: Vec<Vec<String>> = designs.iter().map(|d| d.mapping.clone()).collect();
        let scores = with_spinner(
            copt.progress,
            format!("re-measuring {} designs on the full test split", maps.len()),
            || ev.test_batch(&maps),
        )?;
        for (d, s) in designs.iter_mut().zip(scores) {
            d.test_top1 = s.top1;
            d.test_top5 = s.top5;
            d.test_paired = Some(s.paired);
        }
        exact_test_top1 = Some(designs[0].test_top1);
    }
    let rep = SearchReport {
        problem,
        budget: o.budget,
        seeds: o.seeds.clone(),
        runs,
        designs,
        exact_test_top1,
        hv_ref: (e_ref, a_ref),
        simulated: ev.simulated,
        simulated_confirm: ev.simulated_confirm,
        simulated_test: ev.simulated_test,
        calibration_seconds,
        sample: setup.ds.len(),
        confirm_images: ev.confirm_len(),
        test_images: if o.test { ev.test_len() } else { 0 },
        calibration_cells: cstats.evaluated,
        validation: setup.bench.validation_provenance(),
        rows: chip.rows as u32,
        cols: chip.cols as u32,
    };
    rep.write(&o.out, &logs)?;
    Ok(rep)
}

/// Runs `f` under a spinner with `msg` (when `progress`).
fn with_spinner<T>(progress: bool, msg: String, f: impl FnOnce() -> T) -> T {
    let bar = progress.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message(msg);
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        pb
    });
    let r = f();
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    r
}

/// Reads a run's evaluation log (JSON lines).
pub fn read_log(path: &Path) -> Result<Vec<Eval>> {
    let text = std::fs::read_to_string(path).at(path)?;
    text.lines()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| Error::Input {
                file: path.into(),
                message: format!("not an evaluation log line: {e}"),
            })
        })
        .collect()
}

impl SearchReport {
    /// Zero loss: top-1 on the test split at least the exact int8 network's.
    pub fn zero_loss(&self, d: &Design) -> bool {
        self.exact_test_top1
            .is_some_and(|x| d.test_top1.is_finite() && d.test_top1 >= x - 1e-9)
    }

    /// The lowest-energy zero-loss design of a run (among its chosen designs).
    pub fn best_zero_loss(&self, method: Method, seed: u64) -> Option<&Design> {
        self.designs
            .iter()
            .filter(|d| d.method == Some(method) && d.seed == Some(seed) && self.zero_loss(d))
            .min_by(|a, b| a.energy.total_cmp(&b.energy))
    }

    /// Table II: energy and area relative to the exact chip; top-1 with the paired Δ vs exact
    /// int8 and its lower confidence bound on the sample and the confirmation set; top-1/top-5
    /// and the discordant pairs (losses/gains vs exact int8) on the test split.
    pub fn table(&self) -> String {
        let p = &self.problem;
        let mut s = String::from(
            "| design | kind | energy (% of exact) | area (% of exact) | MXUs | sample top-1 % | sample Δ LCB | confirm top-1 % | confirm Δ LCB | P(hold) | test top-1 % | test Δ (loss/gain) | expected loss/gain | test top-5 % | zero loss |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|\n"
        );
        for d in &self.designs {
            s.push_str(&format!(
                "| {} | {} | {:.2} | {:.1} | {} | {:.2} | {:+.2} | {} | {} | {} | {:.2} | {} | {} | {:.2} | {} |\n",
                d.label(),
                d.kind.name(),
                d.energy,
                d.area,
                1 + d.mxus(&p.names[0]).len(),
                d.sample_top1,
                d.sample_lcb,
                d.confirm_top1.map_or("-".into(), |c| format!("{c:.2}")),
                d.confirm_lcb.map_or("-".into(), |c| format!("{c:+.2}")),
                d.confirm_hold.map_or("-".into(), |c| format!("{c:.2}")),
                d.test_top1,
                d.test_paired.map_or("-".into(), |t| format!(
                    "{:+.2} ({}/{})",
                    t.delta(),
                    t.loss,
                    t.gain
                )),
                match (d.confirm_rates, d.test_paired) {
                    (Some(r), Some(t)) => {
                        let (l, g) = r.expected(t.n);
                        format!("{l:.1}/{g:.1}")
                    }
                    _ => "-".into(),
                },
                d.test_top5,
                if self.exact_test_top1.is_none() {
                    "-"
                } else if self.zero_loss(d) {
                    "yes"
                } else {
                    "no"
                }
            ));
        }
        s
    }

    /// Honesty: of the approximate designs (less energy than the exact chip) each method
    /// declares feasible (its power design: bound ≥ τ on the sample; its confirmed design: on
    /// the confirmation set too), the share that hold on the test split (top-1 at least exact
    /// int8's).
    pub fn honesty(&self) -> String {
        let mut methods: Vec<Method> = self.runs.iter().map(|r| r.method).collect();
        methods.dedup();
        let mut s = String::from(
            "| method | sample-feasible designs holding on test | confirmed designs holding on test |\n|---|---:|---:|\n",
        );
        let rate = |m: Method, k: Kind| {
            let ds: Vec<&Design> = self
                .designs
                .iter()
                .filter(|d| d.method == Some(m) && d.kind == k && d.energy < 100.0 - 1e-9)
                .collect();
            let held = ds.iter().filter(|d| self.zero_loss(d)).count();
            if ds.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "{held}/{} ({:.0} %)",
                    ds.len(),
                    100.0 * held as f64 / ds.len() as f64
                )
            }
        };
        for m in methods {
            s.push_str(&format!(
                "| {} | {} | {} |\n",
                m.name(),
                rate(m, Kind::Power),
                rate(m, Kind::Confirmed)
            ));
        }
        // the margin model's calibration: its losses and gains expected on the test split
        // (from the confirmation set) against those counted there, over the approximate designs
        let (mut el, mut eg, mut ol, mut og, mut k) = (0.0, 0.0, 0, 0, 0);
        for d in self.designs.iter().filter(|d| d.energy < 100.0 - 1e-9) {
            if let (Some(r), Some(t)) = (d.confirm_rates, d.test_paired) {
                let (l, g) = r.expected(t.n);
                (el, eg, ol, og, k) = (el + l, eg + g, ol + t.loss, og + t.gain, k + 1);
            }
        }
        if k > 0 {
            s.push_str(&format!(
                "\nmargin model on the test split, over {k} confirmed approximate design(s): {el:.1} losses and {eg:.1} gains expected (from the confirmation set), {ol} and {og} counted\n"
            ));
        }
        s
    }

    /// Per seed: each method's best zero-loss energy (the comparison).
    pub fn comparison(&self) -> String {
        let methods: Vec<Method> = {
            let mut m: Vec<Method> = self.runs.iter().map(|r| r.method).collect();
            m.dedup();
            m
        };
        let mut s = String::from("| seed |");
        for m in &methods {
            s.push_str(&format!(" {} |", m.name()));
        }
        s.push_str(" GP-BO lowest? |\n|---|");
        for _ in &methods {
            s.push_str("---:|");
        }
        s.push_str(":---:|\n");
        for &seed in &self.seeds {
            s.push_str(&format!("| {seed} |"));
            let mut best: Vec<(Method, Option<f64>)> = Vec::new();
            for &m in &methods {
                let run_seed = if m.seeded() {
                    seed
                } else {
                    self.seeds.first().copied().unwrap_or(seed)
                };
                let e = self.best_zero_loss(m, run_seed).map(|d| d.energy);
                best.push((m, e));
                s.push_str(&match e {
                    Some(e) => format!(" {e:.2} |"),
                    None => " none |".into(),
                });
            }
            let g = best
                .iter()
                .find(|(m, _)| *m == Method::Gpbo)
                .and_then(|x| x.1);
            // a win needs an approximate design: the exact chip (100 %) saves nothing
            let wins = match g {
                Some(g) if g < 100.0 - 1e-9 => best
                    .iter()
                    .filter(|(m, _)| *m != Method::Gpbo)
                    .all(|(_, e)| e.is_none_or(|e| g < e - 1e-9)),
                _ => false,
            };
            s.push_str(if methods.contains(&Method::Gpbo) {
                if wins {
                    " yes |\n"
                } else {
                    " no |\n"
                }
            } else {
                " - |\n"
            });
        }
        s
    }

    pub fn text(&self) -> String {
        let p = &self.problem;
        let mut s = format!(
            "{}: {} layers ({} with a choice), {} candidates; exact int8 top-1 {:.2}% on the {}-image sample{}; τ = {:.2}%, φ = {:.0}%\n\n",
            p.benchmark,
            p.n_layers(),
            p.free.len(),
            p.names.len(),
            p.exact_top1,
            self.sample,
            self.exact_test_top1
                .map_or(String::new(), |t| format!(", {t:.2}% on the test split")),
            p.tau,
            p.params.phi
        );
        s.push_str("| run | evaluations | images simulated | feasible | hypervolume | GP failures | seconds |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for r in &self.runs {
            s.push_str(&format!(
                "| {}{} | {} | {} | {} | {:.2} | {} | {:.0} |\n",
                r.method.name(),
                if r.method.seeded() {
                    format!(" s{}", r.seed)
                } else {
                    String::new()
                },
                r.evaluations,
                r.evaluations * self.sample,
                r.feasible,
                r.hypervolume,
                r.gp_failures,
                r.seconds
            ));
        }
        s.push_str(&format!(
            "\nhypervolume reference: energy {:.0}%, top-1 {:.2}% (τ - {:.2})\n\n",
            self.hv_ref.0,
            self.hv_ref.1,
            p.tau - self.hv_ref.1
        ));
        s.push_str(&self.table());
        s.push_str(&format!(
            "\nΔ: top-1 change vs exact int8 on the same images, points; LCB: its {:.0} % lower confidence bound (McNemar, conditional on the discordant images); a design is feasible when the LCB is at least τ - exact ({:+.2}); P(hold): the probability that it is no worse than exact int8 on a fresh set of {} images (the validation split's size), from the margin model on the confirmation set (losses and gains Poisson, their rates uncertain by their standard errors); a confirmed design needs {:.2}; expected loss/gain: the model's counts for the test split.\n",
            100.0 * p.params.confidence,
            p.params.tau_rel,
            self.confirm_images + self.sample,
            p.params.hold
        ));
        if self.exact_test_top1.is_some() {
            s.push_str("\nbest zero-loss design per run (energy, % of exact):\n\n");
            s.push_str(&self.comparison());
            s.push_str("\nhonesty (designs declared feasible that hold on the test split):\n\n");
            s.push_str(&self.honesty());
        }
        s.push_str(&format!(
            "\nsimulations: {} on the sample ({} images each), {} on the confirmation set ({} images), {} on the test split ({} images), {} calibration cells ({} images each); the rest came from the cache\n",
            self.simulated,
            self.sample,
            self.simulated_confirm,
            self.confirm_images,
            self.simulated_test,
            self.test_images,
            self.calibration_cells,
            self.sample
        ));
        s
    }

    fn write(&self, dir: &Path, logs: &[Vec<Eval>]) -> Result<()> {
        let p = &self.problem;
        write_atomic(&dir.join("search.json"), json_pretty(self)?.as_bytes())?;
        write_atomic(&dir.join("table.md"), self.text().as_bytes())?;
        // Table II as CSV
        let mut csv = crate::util::CsvText::new(&[
            "id",
            "method",
            "seed",
            "kind",
            "step",
            "energy_pct",
            "area_pct",
            "sample_top1",
            "confirm_top1",
            "test_top1",
            "test_top5",
            "mapping",
        ]);
        for d in &self.designs {
            csv.row(&[
                d.id.clone(),
                d.method.map_or("exact", |m| m.name()).to_string(),
                d.seed.map_or(String::new(), |s| s.to_string()),
                d.kind.name().to_string(),
                d.step.to_string(),
                d.energy.to_string(),
                d.area.to_string(),
                d.sample_top1.to_string(),
                d.confirm_top1.map_or(String::new(), |c| c.to_string()),
                d.test_top1.to_string(),
                d.test_top5.to_string(),
                d.mapping.join(" "),
            ]);
        }
        write_atomic(&dir.join("designs.csv"), csv.finish().as_bytes())?;

        // fronts: per method, all seeds pooled
        let mut series = Vec::new();
        let mut hv_series = Vec::new();
        let mut hv_csv = crate::util::CsvText::new(&["method", "seed", "step", "hypervolume"]);
        let mut methods: Vec<Method> = self.runs.iter().map(|r| r.method).collect();
        methods.dedup();
        let mut fronts_json = serde_json::Map::new();
        for m in methods {
            let mut cloud = Vec::new();
            let mut cloud3 = Vec::new();
            let mut maps = Vec::new();
            for (r, log) in self.runs.iter().zip(logs) {
                if r.method != m {
                    continue;
                }
                for e in log.iter().filter(|e| e.area <= p.params.phi) {
                    cloud.push((e.energy, e.top1));
                    cloud3.push((e.energy, e.top1, e.area));
                    maps.push(e.mapping.clone());
                }
                let trace = results::hv_trace(log, p, self.hv_ref.0, self.hv_ref.1);
                for (k, h) in trace.iter().enumerate() {
                    hv_csv.row(&[
                        m.name().to_string(),
                        r.seed.to_string(),
                        (k + 1).to_string(),
                        h.to_string(),
                    ]);
                }
                hv_series.push(Series {
                    name: if m.seeded() {
                        format!("{} s{}", m.name(), r.seed)
                    } else {
                        m.name().into()
                    },
                    cloud: vec![],
                    line: trace
                        .iter()
                        .enumerate()
                        .map(|(k, &h)| ((k + 1) as f64, h))
                        .collect(),
                });
            }
            let front = results::pareto(&cloud);
            let f3 = results::pareto3(&cloud3);
            fronts_json.insert(
                m.name().into(),
                serde_json::json!({
                    "energy_accuracy": front.iter().map(|&i| serde_json::json!({
                        "energy": cloud[i].0, "top1": cloud[i].1, "mapping": maps[i]})).collect::<Vec<_>>(),
                    "energy_accuracy_area": f3.iter().map(|&i| serde_json::json!({
                        "energy": cloud3[i].0, "top1": cloud3[i].1, "area": cloud3[i].2, "mapping": maps[i]})).collect::<Vec<_>>(),
                }),
            );
            // a stepped line through the front
            let mut line = Vec::new();
            for (k, &i) in front.iter().enumerate() {
                if k > 0 {
                    line.push((cloud[i].0, cloud[front[k - 1]].1));
                }
                line.push(cloud[i]);
            }
            series.push(Series {
                name: m.name().into(),
                cloud,
                line,
            });
        }
        write_atomic(
            &dir.join("fronts.json"),
            json_pretty(&serde_json::Value::Object(fronts_json))?.as_bytes(),
        )?;
        write_atomic(&dir.join("hypervolume.csv"), hv_csv.finish().as_bytes())?;
        let floor = p.tau - 3.0 * (p.tau - self.hv_ref.1).max(1.0);
        let svg = plots::lines(
            &format!(
                "{}: Pareto fronts, energy vs top-1 on the search sample (budget {}, {} seed(s))",
                p.benchmark,
                self.budget,
                self.seeds.len()
            ),
            "energy, % of the exact chip",
            "top-1 on the search sample, %",
            &series,
            &[
                (format!("exact int8 {:.2}%", p.exact_top1), p.exact_top1),
                (format!("τ {:.2}%", p.tau), p.tau),
            ],
            Some(floor),
        )?;
        write_atomic(&dir.join("fronts.svg"), svg.as_bytes())?;
        let svg = plots::lines(
            &format!(
                "{}: hypervolume over evaluations (ref: {:.0}% energy, {:.2}% top-1)",
                p.benchmark, self.hv_ref.0, self.hv_ref.1
            ),
            "evaluations",
            "hypervolume (% energy x points top-1)",
            &hv_series,
            &[],
            None,
        )?;
        write_atomic(&dir.join("hypervolume.svg"), svg.as_bytes())?;

        // each design as an accelerator spec with its route table, plus an eval mapping
        let ddir = dir.join("designs");
        std::fs::create_dir_all(&ddir).at(&ddir)?;
        let base = AcceleratorSpec {
            rows: self.rows,
            cols: self.cols,
            ..AcceleratorSpec::default()
        };
        for d in &self.designs {
            let spec = d.spec(&base, &p.layers, &p.names[0]);
            let head = format!(
                "# {} ({} design) from `autoapprox search`: energy {:.2}% and area {:.1}% of the exact chip,\n\
                 # top-1 {:.2}% on the search sample, {:.2}% on the test split.\n\
                 # `autoapprox generate` builds it; [routes] sends each layer to its MXU (0 = exact).\n",
                d.label(),
                d.kind.name(),
                d.energy,
                d.area,
                d.sample_top1,
                d.test_top1
            );
            let text = toml::to_string(&spec).map_err(|e| Error::Other(e.to_string()))?;
            write_atomic(
                &ddir.join(format!("{}.toml", d.id)),
                format!("{head}{text}").as_bytes(),
            )?;
            let mapping = crate::nn::eval::Mapping {
                default: None,
                layers: p.layers.iter().cloned().zip(d.mapping.clone()).collect(),
            };
            let text = toml::to_string(&mapping).map_err(|e| Error::Other(e.to_string()))?;
            write_atomic(
                &ddir.join(format!("{}.mapping.toml", d.id)),
                format!("# `autoapprox eval --mapping` re-measures it\n{text}").as_bytes(),
            )?;
        }
        Ok(())
    }
}
