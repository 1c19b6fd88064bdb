//! The one evaluation cache every search method shares: a mapping is simulated at most once per
//! (model, sample, kernel, candidates) key and split. Results live in
//! `<cache>/search/<key>/<split>.jsonl`, one line per mapping, appended as soon as it is known,
//! so a killed search loses at most the evaluations in flight (a torn last line is dropped).

use super::calibrate::Setup;
use crate::error::{Error, IoContext, Result};
use crate::nn::quant::LayerMul;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// % top-1 and top-5
    pub top1: f64,
    pub top5: f64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    mapping: Vec<String>,
    top1: f64,
    top5: f64,
}

struct Store {
    path: PathBuf,
    known: HashMap<Vec<String>, Score>,
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
                        known.insert(
                            l.mapping,
                            Score {
                                top1: l.top1,
                                top5: l.top5,
                            },
                        );
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

    fn append(&mut self, mapping: &[String], s: Score) -> Result<()> {
        let line = serde_json::to_string(&Line {
            mapping: mapping.to_vec(),
            top1: s.top1,
            top5: s.top5,
        })
        .map_err(|e| Error::Other(e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .at(&self.path)?;
        writeln!(f, "{line}").at(&self.path)?;
        self.known.insert(mapping.to_vec(), s);
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
    fn file(self) -> &'static str {
        match self {
            Split::Sample => "sample.jsonl",
            Split::Confirm => "confirm.jsonl",
            Split::Test => "test.jsonl",
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
            simulated: 0,
            simulated_confirm: 0,
            simulated_test: 0,
        })
    }

    fn muls(setup: &Setup, mapping: &[String]) -> Result<Vec<LayerMul>> {
        mapping
            .iter()
            .map(|n| {
                if *n == crate::multiplier::Design::Exact.name() {
                    return Ok(LayerMul::Exact);
                }
                setup
                    .chars
                    .iter()
                    .position(|c| &c.mult.name == n)
                    .map(|i| setup.tables[i].clone())
                    .ok_or_else(|| Error::Other(format!("`{n}` is not a search candidate")))
            })
            .collect()
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

    /// Scores on the confirmation set.
    pub fn confirm_batch(&mut self, mappings: &[Vec<String>]) -> Result<Vec<Score>> {
        self.batch(mappings, Split::Confirm)
    }

    pub fn batch(&mut self, mappings: &[Vec<String>], split: Split) -> Result<Vec<Score>> {
        let si = split as usize;
        let mut todo: Vec<&Vec<String>> = mappings
            .iter()
            .filter(|m| !self.stores[si].known.contains_key(*m))
            .collect();
        todo.sort();
        todo.dedup();
        let setup = self.setup;
        if !todo.is_empty() {
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
        }
        let ds = match split {
            Split::Sample => &setup.ds,
            Split::Confirm => self.confirm_ds.as_ref().unwrap_or(&setup.ds),
            Split::Test => self.test_ds.as_ref().unwrap_or(&setup.ds),
        };
        let store_m = Mutex::new(&mut self.stores[si]);
        todo.par_iter()
            .map(|m| {
                let r = setup.run(Self::muls(setup, m)?, ds)?;
                let s = Score {
                    top1: r.top1 * 100.0,
                    top5: r.top5 * 100.0,
                };
                store_m.lock().unwrap().append(m, s)
            })
            .collect::<Result<Vec<()>>>()?;
        let n = todo.len();
        match split {
            Split::Sample => self.simulated += n,
            Split::Confirm => self.simulated_confirm += n,
            Split::Test => self.simulated_test += n,
        }
        let store = &self.stores[si];
        Ok(mappings.iter().map(|m| store.known[m]).collect())
    }
}
