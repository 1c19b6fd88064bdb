//! Calibration (ARCHITECTURE.md "The search problem", step 1): the top-1 accuracy of the int8 network
//! when only layer i uses multiplier j and every other layer is exact — an N x K table over a
//! fixed, class-balanced sample of the validation split (never the test split).
//!
//! The table is cached under `<cache>/calib/<key>/`, the key hashing the model file, the sample
//! (indices), the kernel, and each multiplier's characterization key. Every finished cell is
//! appended to `cells.jsonl` at once, so an interrupted run resumes where it stopped (a torn
//! last line is ignored and recomputed); `table.json` is written (atomically) when all are done.

use crate::characterize::{self, Options};
use crate::error::{Error, IoContext, Result};
use crate::nn::eval::{self, Benchmark, KernelKind};
use crate::nn::onnx;
use crate::nn::quant::{LayerMul, QuantNet};
use crate::search::oracle::{Outcome, Paired};
use crate::util::{sha256_hex, write_atomic};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const CALIB_VERSION: u32 = 2;

#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    pub bench: PathBuf,
    /// Candidate multipliers (built-in names or .v files); the exact one is the baseline.
    pub candidates: Vec<String>,
    /// Sample size (None: 10 % of the validation split and at least 1,000 images).
    pub sample: Option<usize>,
    pub seed: u64,
    pub kernel: KernelKind,
    pub characterize: Options,
    pub progress: bool,
}

/// The N x K table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalibrationTable {
    pub benchmark: String,
    pub key: String,
    pub layers: Vec<String>,
    pub macs: Vec<u64>,
    pub multipliers: Vec<String>,
    /// MRE % of each multiplier (ARCHITECTURE.md "Error metrics"), for ranking
    pub mre_pct: Vec<f64>,
    pub sample: usize,
    pub seed: u64,
    pub exact_top1: f64,
    pub exact_top5: f64,
    /// top1[layer][multiplier]
    pub top1: Vec<Vec<f64>>,
    pub top5: Vec<Vec<f64>>,
    /// kl[layer][multiplier]: mean KL(exact int8 ‖ network) over the sample, nats — the
    /// continuous fidelity measure the relaxation ranks by — and its standard error
    pub kl: Vec<Vec<f64>>,
    pub kl_se: Vec<Vec<f64>>,
    /// images exact int8 gets right and the network wrong, and the other way round
    pub loss: Vec<Vec<usize>>,
    pub gain: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CalibStats {
    pub evaluated: usize,
    pub reused: usize,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize, Clone)]
struct Cell {
    layer: usize,
    mult: String,
    top1: f64,
    top5: f64,
    kl: f64,
    kl_se: f64,
    loss: usize,
    gain: usize,
}

/// Default sample size for a validation split of `n` images.
pub fn default_sample(n: usize) -> usize {
    (n / 10).max(1000).min(n)
}

/// Everything a search evaluation needs, loaded once: the benchmark, the network, the sample of
/// the validation split, the characterized candidates (the exact one left out) and their tables,
/// and the key that names this (model, sample, kernel, candidates) combination in the cache.
pub struct Setup {
    pub bench: Benchmark,
    pub graph: crate::nn::graph::Graph,
    pub infos: Vec<crate::nn::graph::LayerInfo>,
    pub sample: Vec<usize>,
    /// images in the validation split the sample is drawn from
    pub val_len: usize,
    pub ds: crate::data::Dataset,
    pub chars: Vec<characterize::Characterization>,
    pub tables: Vec<LayerMul>,
    /// the network's int8 weights, quantized once
    pub weights: Vec<crate::nn::quant::QWeights>,
    pub kernel: KernelKind,
    pub key: String,
}

impl Setup {
    /// Indices (into the validation split) of the images not in the search sample: the set
    /// that confirms a design before it is chosen.
    pub fn confirm_indices(&self) -> Vec<usize> {
        let n = self.val_len;
        let in_sample: std::collections::HashSet<usize> = self.sample.iter().copied().collect();
        (0..n).filter(|i| !in_sample.contains(i)).collect()
    }

    pub fn load(o: &CalibrateOptions) -> Result<Setup> {
        if o.kernel == KernelKind::Exact {
            return Err(Error::Other(
                "calibration and search need an approximate kernel: lut, gather or lowrank".into(),
            ));
        }
        let b = Benchmark::load(&o.bench)?;
        let model_path = b.model_path();
        let model_bytes = std::fs::read(&model_path).at(&model_path)?;
        let graph = onnx::load(&model_path)?;
        let infos = graph.layers()?;
        let val = b.split("validation")?;
        let n = o
            .sample
            .unwrap_or_else(|| default_sample(val.len()))
            .min(val.len());
        let idx = val.balanced_sample(n, o.seed);
        let ds = val.subset(&idx);

        let mut names: Vec<String> = Vec::new();
        for c in &o.candidates {
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
        let mults = names
            .iter()
            .map(|n| crate::multiplier::resolve(n, None))
            .collect::<Result<Vec<_>>>()?;
        let exact = crate::multiplier::Design::Exact.name();
        let (chars, _) = characterize::characterize(&mults, &o.characterize)?;
        // the exact multiplier is the baseline, not a column
        let chars: Vec<_> = chars.into_iter().filter(|c| c.mult.name != exact).collect();
        let tables: Vec<LayerMul> = chars.iter().map(|c| eval::layer_mul(c, o.kernel)).collect();

        let mut key_src = format!(
            "calib v{CALIB_VERSION}\nmodel {}\nkernel {:?}\nsample {:?}\n",
            sha256_hex(&model_bytes),
            o.kernel,
            idx
        );
        for c in &chars {
            key_src.push_str(&format!("mult {} {}\n", c.mult.name, c.key));
        }
        let key = sha256_hex(key_src.as_bytes());
        let weights = QuantNet::new(&graph).weights;
        Ok(Setup {
            bench: b,
            graph,
            infos,
            sample: idx,
            val_len: val.len(),
            ds,
            chars,
            tables,
            weights,
            kernel: o.kernel,
            key,
        })
    }

    /// Each layer's product for a mapping (multiplier name per layer; the exact multiplier's
    /// name is exact int8), from this setup's candidates' tables.
    pub fn layer_muls(&self, mapping: &[String]) -> Result<Vec<LayerMul>> {
        let exact = crate::multiplier::Design::Exact.name();
        mapping
            .iter()
            .map(|n| {
                if *n == exact {
                    return Ok(LayerMul::Exact);
                }
                self.chars
                    .iter()
                    .position(|c| &c.mult.name == n)
                    .map(|i| self.tables[i].clone())
                    .ok_or_else(|| Error::Other(format!("`{n}` is not a search candidate")))
            })
            .collect()
    }

    /// The int8 network's outputs with these per-layer products on `ds`.
    pub fn logits(&self, muls: Vec<LayerMul>, ds: &crate::data::Dataset) -> Result<eval::Logits> {
        let q = QuantNet {
            graph: &self.graph,
            weights: self.weights.clone(),
            muls,
            calibration: None,
        };
        eval::logits(&|x| q.run(x), ds, self.bench.scale, 256)
    }
}

pub fn calibrate(o: &CalibrateOptions) -> Result<(CalibrationTable, CalibStats)> {
    let t0 = std::time::Instant::now();
    let setup = Setup::load(o)?;
    calibrate_with(&setup, o, t0)
}

/// Calibration on an already loaded setup.
pub fn calibrate_with(
    setup: &Setup,
    o: &CalibrateOptions,
    t0: std::time::Instant,
) -> Result<(CalibrationTable, CalibStats)> {
    let Setup {
        bench: b,
        infos,
        chars,
        tables,
        key,
        ds,
        ..
    } = setup;
    let n = ds.len();
    let dir = o.characterize.cache_dir.join("calib").join(key);
    let table_path = dir.join("table.json");
    if let Ok(text) = std::fs::read_to_string(&table_path) {
        if let Ok(t) = serde_json::from_str::<CalibrationTable>(&text) {
            let cells = t.layers.len() * t.multipliers.len();
            return Ok((
                t,
                CalibStats {
                    evaluated: 0,
                    reused: cells,
                    seconds: t0.elapsed().as_secs_f64(),
                },
            ));
        }
    }
    std::fs::create_dir_all(&dir).at(&dir)?;
    let jsonl = dir.join("cells.jsonl");
    let mut done: BTreeMap<(usize, String), Cell> = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&jsonl) {
        for line in text.lines() {
            if let Ok(c) = serde_json::from_str::<Cell>(line) {
                done.insert((c.layer, c.mult.clone()), c);
            }
        }
        // rewrite without a torn last line
        let mut clean = String::new();
        for c in done.values() {
            clean.push_str(&serde_json::to_string(c).map_err(|e| Error::Other(e.to_string()))?);
            clean.push('\n');
        }
        write_atomic(&jsonl, clean.as_bytes())?;
    }
    let reused = done.len();

    let exact_logits = setup.logits(vec![LayerMul::Exact; infos.len()], ds)?;
    let exact_o = Outcome::new(&exact_logits, &exact_logits, &ds.labels);
    let exact_pred = exact_o.classes_n(n).expect("written for n images");

    let todo: Vec<(usize, usize)> = (0..infos.len())
        .flat_map(|l| (0..chars.len()).map(move |m| (l, m)))
        .filter(|(l, m)| !done.contains_key(&(*l, chars[*m].mult.name.clone())))
        .collect();
    let bar = if o.progress && !todo.is_empty() {
        let pb = indicatif::ProgressBar::new(todo.len() as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "calibrate {bar:40} {pos}/{len} layer x multiplier ({eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };
    let file = std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&jsonl)
            .at(&jsonl)?,
    );
    let results: Vec<((usize, String), Cell)> = todo
        .par_iter()
        .map(|&(l, m)| {
            let mut muls = vec![LayerMul::Exact; infos.len()];
            muls[l] = tables[m].clone();
            let o = Outcome::new(&setup.logits(muls, ds)?, &exact_logits, &ds.labels);
            let pred = o.classes_n(n).expect("written for n images");
            let p = Paired::new(&exact_pred, &pred, &ds.labels);
            let cell = Cell {
                layer: l,
                mult: chars[m].mult.name.clone(),
                top1: o.top1 / 100.0,
                top5: o.top5 / 100.0,
                kl: o.kl_mean,
                kl_se: o.kl_se(n),
                loss: p.loss,
                gain: p.gain,
            };
            let line = serde_json::to_string(&cell).map_err(|e| Error::Other(e.to_string()))?;
            {
                let mut f = file.lock().unwrap();
                writeln!(f, "{line}").at(&jsonl)?;
                f.flush().at(&jsonl)?;
            }
            if let Some(pb) = &bar {
                pb.inc(1);
            }
            Ok(((l, cell.mult.clone()), cell))
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let evaluated = results.len();
    done.extend(results);
    let cell = |l: usize, m: &str| done.get(&(l, m.to_string()));
    let grid = |f: &dyn Fn(&Cell) -> f64| -> Vec<Vec<f64>> {
        (0..infos.len())
            .map(|l| {
                chars
                    .iter()
                    .map(|c| cell(l, &c.mult.name).map_or(f64::NAN, f))
                    .collect()
            })
            .collect()
    };
    let count = |f: &dyn Fn(&Cell) -> usize| -> Vec<Vec<usize>> {
        (0..infos.len())
            .map(|l| {
                chars
                    .iter()
                    .map(|c| cell(l, &c.mult.name).map_or(0, f))
                    .collect()
            })
            .collect()
    };
    let multipliers: Vec<String> = chars.iter().map(|c| c.mult.name.clone()).collect();
    let table = CalibrationTable {
        benchmark: b.name.clone(),
        key: key.clone(),
        layers: infos.iter().map(|l| l.name.clone()).collect(),
        macs: infos.iter().map(|l| l.macs).collect(),
        mre_pct: chars.iter().map(|c| c.metrics.mre_pct).collect(),
        sample: n,
        seed: o.seed,
        exact_top1: exact_o.top1 / 100.0,
        exact_top5: exact_o.top5 / 100.0,
        top1: grid(&|c| c.top1),
        top5: grid(&|c| c.top5),
        kl: grid(&|c| c.kl),
        kl_se: grid(&|c| c.kl_se),
        loss: count(&|c| c.loss),
        gain: count(&|c| c.gain),
        multipliers,
    };
    let json = serde_json::to_string_pretty(&table).map_err(|e| Error::Other(e.to_string()))?;
    write_atomic(&table_path, json.as_bytes())?;
    Ok((
        table,
        CalibStats {
            evaluated,
            reused,
            seconds: t0.elapsed().as_secs_f64(),
        },
    ))
}

impl CalibrationTable {
    /// Multiplier columns ordered by MRE (the heatmap's x axis).
    pub fn by_mre(&self) -> Vec<usize> {
        let mut o: Vec<usize> = (0..self.multipliers.len()).collect();
        o.sort_by(|&a, &b| self.mre_pct[a].total_cmp(&self.mre_pct[b]));
        o
    }

    /// One layer x multiplier grid (columns by MRE) with `cell` formatted per entry.
    fn grid_text(&self, order: &[usize], cell: &dyn Fn(usize, usize) -> String) -> String {
        let mut s = format!("{:<16}", "layer");
        for &m in order {
            let short = self.multipliers[m].trim_start_matches("mul8u_");
            s.push_str(&format!(" {:>12}", &short[..short.len().min(12)]));
        }
        s.push('\n');
        for (l, name) in self.layers.iter().enumerate() {
            s.push_str(&format!("{:<16}", &name[..name.len().min(16)]));
            for &m in order {
                s.push_str(&format!(" {:>12}", cell(l, m)));
            }
            s.push('\n');
        }
        s
    }

    /// Accuracy change (percentage points of top-1) and KL to exact int8 per layer and
    /// multiplier, by MRE.
    pub fn text(&self) -> String {
        let order = self.by_mre();
        format!(
            "exact int8 top-1 on the {}-image validation sample: {:.2}%\n\
             top-1 change (points) when only that layer uses the multiplier (columns by MRE):\n{}\
             mean KL(exact int8 ‖ network), nats, same cells:\n{}",
            self.sample,
            self.exact_top1 * 100.0,
            self.grid_text(&order, &|l, m| format!(
                "{:.2}",
                (self.top1[l][m] - self.exact_top1) * 100.0
            )),
            self.grid_text(&order, &|l, m| format!("{:.2e}", self.kl[l][m]))
        )
    }

    pub fn csv(&self) -> String {
        let mut t = crate::util::CsvText::new(&[
            "layer",
            "macs",
            "multiplier",
            "mre_pct",
            "top1",
            "top5",
            "exact_top1",
            "kl",
            "kl_se",
            "loss",
            "gain",
        ]);
        for (l, name) in self.layers.iter().enumerate() {
            for (m, mult) in self.multipliers.iter().enumerate() {
                t.row(&[
                    name.clone(),
                    self.macs[l].to_string(),
                    mult.clone(),
                    self.mre_pct[m].to_string(),
                    self.top1[l][m].to_string(),
                    self.top5[l][m].to_string(),
                    self.exact_top1.to_string(),
                    self.kl[l][m].to_string(),
                    self.kl_se[l][m].to_string(),
                    self.loss[l][m].to_string(),
                    self.gain[l][m].to_string(),
                ]);
            }
        }
        t.finish()
    }

    /// calibration.json, calibration.csv and sensitivity.svg into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&dir.join("calibration.json"), json.as_bytes())?;
        write_atomic(&dir.join("calibration.csv"), self.csv().as_bytes())?;
        let order = self.by_mre();
        let heat = crate::report::plots::Heatmap {
            title: format!(
                "{}: top-1 change when one layer is approximate (exact int8 {:.2}%, {} images)",
                self.benchmark,
                self.exact_top1 * 100.0,
                self.sample
            ),
            rows: self.layers.clone(),
            cols: order
                .iter()
                .map(|&m| self.multipliers[m].trim_start_matches("mul8u_").to_string())
                .collect(),
            delta: self
                .top1
                .iter()
                .map(|row| {
                    order
                        .iter()
                        .map(|&m| (row[m] - self.exact_top1) * 100.0)
                        .collect()
                })
                .collect(),
        };
        let svg = crate::report::plots::sensitivity_heatmap(&heat)?;
        write_atomic(&dir.join("sensitivity.svg"), svg.as_bytes())
    }
}
