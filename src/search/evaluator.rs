//! The one evaluation cache every search method shares: a mapping is simulated at most once per
//! (model, sample, kernel, candidates) key and split. Results live in
//! `<cache>/search/<key>/<split>.v3.jsonl`, one line per mapping (its top-1/top-5, predicted
//! class per image and KL to exact int8: `oracle::Outcome`), appended as soon as it is known, so
//! a killed search loses at most the evaluations in flight (a torn last line is dropped). Every
//! score is paired with exact int8's outcome on the same images (`oracle::Paired`).

use super::calibrate::Setup;
use super::oracle::{Outcome, Paired, Rates};
use crate::error::{Error, IoContext, Result};
use crate::nn::eval::Logits;
use crate::nn::quant::LayerMul;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A mapping's score on a set of images, paired with exact int8's on the same images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// % top-1 and top-5
    pub top1: f64,
    pub top5: f64,
    /// mean KL(exact int8 ‖ mapping) over the images, nats, and its standard error
    pub kl: f64,
    pub kl_se: f64,
    /// the discordant pairs against exact int8
    pub paired: Paired,
    /// the margin model's expected loss and gain rates against exact int8
    pub rates: Rates,
}

#[derive(Serialize, Deserialize)]
struct Line {
    mapping: Vec<String>,
    #[serde(flatten)]
    outcome: Outcome,
}

struct Store {
    path: PathBuf,
    known: HashMap<Vec<String>, Outcome>,
}

impl Store {
    fn open(path: PathBuf) -> Result<Store> {
        let mut known = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(&path) {
            let mut clean = String::new();
            let mut torn = false;
            for line in text.lines() {
                match serde_json::from_str::<Line>(line) {
                    Ok(l) => {
                        clean.push_str(line);
                        clean.push('\n');
                        known.insert(l.mapping, l.outcome);
                    }
                    Err(_) => torn = true,
                }
            }
            if torn || !text.ends_with('\n') && !text.is_empty() {
                crate::util::write_atomic(&path, clean.as_bytes())?;
            }
        }
        Ok(Store { path, known })
    }

    fn append(&mut self, mapping: &[String], o: Outcome) -> Result<()> {
        let line = serde_json::to_string(&Line {
            mapping: mapping.to_vec(),
            outcome: o.clone(),
        })
        .map_err(|e| Error::Other(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .at(&self.path)?;
        writeln!(f, "{line}").at(&self.path)?;
        self.known.insert(mapping.to_vec(), o);
        Ok(())
    }
}

/// The image sets a mapping is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// the search sample of the validation split
    Sample,
    /// the rest of the validation split, which confirms a design before it is chosen
    Confirm,
    /// the full test split, which the search never sees
    Test,
}

impl Split {
    const ALL: [Split; 3] = [Split::Sample, Split::Confirm, Split::Test];
    /// The cache file (v3: per-image predictions, KL to exact int8 and the margin model's
    /// rates on every line).
    fn file(self) -> &'static str {
        match self {
            Split::Sample => "sample.v3.jsonl",
            Split::Confirm => "confirm.v3.jsonl",
            Split::Test => "test.v3.jsonl",
        }
    }
}

/// Simulates mappings (multiplier name per layer) on the search sample, the confirmation set
/// or the test split.
pub struct Evaluator<'s> {
    setup: &'s Setup,
    stores: Vec<Store>,
    /// the confirmation set and the test split, loaded on first use
    confirm_ds: Option<crate::data::Dataset>,
    test_ds: Option<crate::data::Dataset>,
    /// exact int8's outputs per split (the reference of every KL), computed on first need
    exact_logits: [Option<Logits>; 3],
    /// simulations run by this evaluator (cache misses), per split
    pub simulated: usize,
    pub simulated_confirm: usize,
    pub simulated_test: usize,
}

impl<'s> Evaluator<'s> {
    pub fn new(setup: &'s Setup, cache_dir: &Path) -> Result<Evaluator<'s>> {
        let dir = cache_dir.join("search").join(&setup.key);
        std::fs::create_dir_all(&dir).at(&dir)?;
        Ok(Evaluator {
            setup,
            stores: Split::ALL
                .iter()
                .map(|s| Store::open(dir.join(s.file())))
                .collect::<Result<_>>()?,
            confirm_ds: None,
            test_ds: None,
            exact_logits: [None, None, None],
            simulated: 0,
            simulated_confirm: 0,
            simulated_test: 0,
        })
    }

    /// Scores on the search sample, simulating (in parallel) only the mappings not cached.
    pub fn sample_batch(&mut self, mappings: &[Vec<String>]) -> Result<Vec<Score>> {
        self.batch(mappings, Split::Sample)
    }

    /// Scores on the full test split (which the search never sees).
    pub fn test_batch(&mut self, mappings: &[Vec<String>]) -> Result<Vec<Score>> {
        self.batch(mappings, Split::Test)
    }

    /// Images in the confirmation set (the validation split minus the search sample).
    pub fn confirm_len(&self) -> usize {
        self.setup.confirm_indices().len()
    }

    /// Images in the test split (loads it when not yet loaded).
    pub fn test_len(&mut self) -> usize {
        if self.test_ds.is_none() {
            self.test_ds = self.setup.bench.split("test").ok();
        }
        self.test_ds.as_ref().map_or(0, |d| d.len())
    }

    /// Scores on the confirmation set.
    pub fn confirm_batch(&mut self, mappings: &[Vec<String>]) -> Result<Vec<Score>> {
        self.batch(mappings, Split::Confirm)
    }

    /// The all-exact mapping.
    pub fn exact_mapping(&self) -> Vec<String> {
        vec![crate::multiplier::Design::Exact.name(); self.setup.infos.len()]
    }

    pub fn batch(&mut self, mappings: &[Vec<String>], split: Split) -> Result<Vec<Score>> {
        let si = split as usize;
        let setup = self.setup;
        match split {
            Split::Test if self.test_ds.is_none() => {
                self.test_ds = Some(setup.bench.split("test")?)
            }
            Split::Confirm if self.confirm_ds.is_none() => {
                let val = setup.bench.split("validation")?;
                self.confirm_ds = Some(val.subset(&setup.confirm_indices()))
            }
            _ => {}
        }
        let ds = match split {
            Split::Sample => &setup.ds,
            Split::Confirm => self.confirm_ds.as_ref().unwrap_or(&setup.ds),
            Split::Test => self.test_ds.as_ref().unwrap_or(&setup.ds),
        };
        let exact = self.exact_mapping();
        let mut todo: Vec<&Vec<String>> = mappings
            .iter()
            .filter(|m| !self.stores[si].known.contains_key(*m))
            .collect();
        todo.sort();
        todo.dedup();
        todo.retain(|m| **m != exact);
        let mut n_sim = 0;
        let exact_known = self.stores[si].known.contains_key(&exact);
        if (!todo.is_empty() || !exact_known) && self.exact_logits[si].is_none() {
            self.exact_logits[si] = Some(setup.logits(vec![LayerMul::Exact; exact.len()], ds)?);
            n_sim += 1;
        }
        if !exact_known {
            let el = self.exact_logits[si].as_ref().expect("computed above");
            let o = Outcome::new(el, el, &ds.labels);
            self.stores[si].append(&exact, o)?;
        }
        if !todo.is_empty() {
            let el = self.exact_logits[si].as_ref().expect("computed above");
            let store_m = Mutex::new(&mut self.stores[si]);
            todo.par_iter()
                .map(|m| {
                    let out = setup.logits(setup.layer_muls(m)?, ds)?;
                    let o = Outcome::new(&out, el, &ds.labels);
                    store_m.lock().unwrap().append(m, o)
                })
                .collect::<Result<Vec<()>>>()?;
            n_sim += todo.len();
        }
        match split {
            Split::Sample => self.simulated += n_sim,
            Split::Confirm => self.simulated_confirm += n_sim,
            Split::Test => self.simulated_test += n_sim,
        }
        let store = &self.stores[si];
        let n = ds.len();
        let corrupt = || {
            Error::Input {
            file: store.path.clone(),
            message: format!(
                "a line's predictions do not cover the split's {n} images; delete the file and rerun"
            ),
        }
        };
        let exact_pred = store.known[&exact].classes_n(n).ok_or_else(corrupt)?;
        mappings
            .iter()
            .map(|m| {
                let o = &store.known[m];
                let pred = o.classes_n(n).ok_or_else(corrupt)?;
                Ok(Score {
                    top1: o.top1,
                    top5: o.top5,
                    kl: o.kl_mean,
                    kl_se: o.kl_se(n),
                    paired: Paired::new(&exact_pred, &pred, &ds.labels),
                    rates: o.rates,
                })
            })
            .collect()
    }
}
