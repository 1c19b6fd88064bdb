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

/// Simulates mappings (multiplier name per layer) on the search sample or the test split.
pub struct Evaluator<'s> {
    setup: &'s Setup,
    sample: Store,
    test: Store,
    test_ds: Option<crate::data::Dataset>,
    /// simulations run by this evaluator (cache misses), per split
    pub simulated: usize,
    pub simulated_test: usize,
}

impl<'s> Evaluator<'s> {
    pub fn new(setup: &'s Setup, cache_dir: &Path) -> Result<Evaluator<'s>> {
        let dir = cache_dir.join("search").join(&setup.key);
        std::fs::create_dir_all(&dir).at(&dir)?;
        Ok(Evaluator {
            setup,
            sample: Store::open(dir.join("sample.jsonl"))?,
            test: Store::open(dir.join("test.jsonl"))?,
            test_ds: None,
            simulated: 0,
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
        self.batch(mappings, false)
    }

    /// Scores on the full test split (which the search never sees).
    pub fn test_batch(&mut self, mappings: &[Vec<String>]) -> Result<Vec<Score>> {
        if self.test_ds.is_none() {
            self.test_ds = Some(self.setup.bench.split("test")?);
        }
        self.batch(mappings, true)
    }

    fn batch(&mut self, mappings: &[Vec<String>], test: bool) -> Result<Vec<Score>> {
        let store = if test { &self.test } else { &self.sample };
        let mut todo: Vec<&Vec<String>> = mappings
            .iter()
            .filter(|m| !store.known.contains_key(*m))
            .collect();
        todo.sort();
        todo.dedup();
        let setup = self.setup;
        let ds = if test {
            self.test_ds.as_ref().expect("loaded above")
        } else {
            &setup.ds
        };
        let store_m = Mutex::new(if test {
            &mut self.test
        } else {
            &mut self.sample
        });
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
        if test {
            self.simulated_test += n;
        } else {
            self.simulated += n;
        }
        let store = if test { &self.test } else { &self.sample };
        Ok(mappings.iter().map(|m| store.known[m]).collect())
    }
}
