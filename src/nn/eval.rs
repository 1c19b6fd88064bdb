//! Evaluation (top-1/top-5, throughput), layer -> multiplier mappings, benchmark directories.

use super::graph::Tensor;
use crate::data::Dataset;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct EvalResult {
    pub images: usize,
    pub top1: f64,
    pub top5: f64,
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Runs `net` over the dataset in batches and scores its outputs (argmax = class).
pub fn evaluate(
    net: &dyn Fn(Tensor) -> Result<Tensor>,
    ds: &Dataset,
    scale: f32,
    batch: usize,
) -> Result<EvalResult> {
    let t0 = Instant::now();
    let (mut c1, mut c5) = (0usize, 0usize);
    let batch = batch.max(1);
    for lo in (0..ds.len()).step_by(batch) {
        let hi = (lo + batch).min(ds.len());
        let out = net(ds.batch_f32(lo, hi, scale))?;
        let classes = out.item_len();
        for (i, row) in out.data.chunks(classes).enumerate() {
            let label = ds.labels[lo + i] as usize;
            let mine = row[label.min(classes - 1)];
            // Rank = number of classes scoring strictly higher (ties resolved in favour of lower index).
            let rank = row
                .iter()
                .enumerate()
                .filter(|&(j, &v)| v > mine || (v == mine && j < label))
                .count();
            c1 += (rank == 0 && label < classes) as usize;
            c5 += (rank < 5 && label < classes) as usize;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    let n = ds.len().max(1) as f64;
    Ok(EvalResult {
        images: ds.len(),
        top1: c1 as f64 / n,
        top5: c5 as f64 / n,
        seconds,
        images_per_second: ds.len() as f64 / seconds.max(1e-9),
    })
}

/// Subtracts `mean[c]` and divides by `std[c]` per channel (axis 1); empty slices do nothing,
/// a single value applies to every channel.
pub fn normalize(x: &mut Tensor, mean: &[f32], std: &[f32]) {
    if mean.is_empty() && std.is_empty() {
        return;
    }
    let c = x.shape.get(1).copied().unwrap_or(1);
    let inner: usize = x.shape.get(2..).map(|s| s.iter().product()).unwrap_or(1);
    let pick = |v: &[f32], ch: usize, d: f32| {
        if v.is_empty() {
            d
        } else {
            v[ch.min(v.len() - 1)]
        }
    };
    for (i, v) in x.data.iter_mut().enumerate() {
        let ch = (i / inner) % c;
        *v = (*v - pick(mean, ch, 0.0)) / pick(std, ch, 1.0);
    }
}

/// Layer -> multiplier assignment (TOML or JSON): keys are layer names or indices; layers not
/// listed use `default` (the exact multiplier when absent).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub layers: BTreeMap<String, String>,
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        let bad = |m: String| Error::Input {
            file: path.into(),
            message: m,
        };
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))
        } else {
            toml::from_str(&text).map_err(|e| bad(e.message().to_string()))
        }
    }

    /// The multiplier name of each layer, checking that every key names a layer.
    pub fn resolve(&self, layers: &[super::LayerInfo]) -> Result<Vec<Option<String>>> {
        let mut out = vec![self.default.clone(); layers.len()];
        for (key, mult) in &self.layers {
            let idx = layers
                .iter()
                .position(|l| l.name == *key || l.index.to_string() == *key)
                .ok_or_else(|| {
                    Error::Other(format!(
                        "mapping names layer `{key}`, which the network does not have (layers: {})",
                        layers
                            .iter()
                            .map(|l| l.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            out[idx] = Some(mult.clone());
        }
        Ok(out)
    }
}

/// A benchmark directory written by `scripts/bench_*.py` (`benchmark.json`).
#[derive(Clone, Debug, Deserialize)]
pub struct Benchmark {
    #[serde(skip)]
    pub dir: PathBuf,
    pub name: String,
    pub model: String,
    pub train_images: String,
    pub train_labels: String,
    pub test_images: String,
    pub test_labels: String,
    pub validation: ValidationSplit,
    pub scale: f32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ValidationSplit {
    pub start: usize,
    pub count: usize,
}

impl Benchmark {
    pub fn load(dir: &Path) -> Result<Benchmark> {
        let p = dir.join("benchmark.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::Input {
            file: p.clone(),
            message: format!("{e}; install the benchmark first (`make benchmarks`)"),
        })?;
        let mut b: Benchmark = serde_json::from_str(&text).map_err(|e| Error::Input {
            file: p,
            message: e.to_string(),
        })?;
        b.dir = dir.to_path_buf();
        Ok(b)
    }

    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.model)
    }

    /// `test` (held out), `validation` (the search's split, disjoint from test) or `train`.
    pub fn split(&self, which: &str) -> Result<Dataset> {
        match which {
            "test" => Dataset::from_idx(
                &self.dir.join(&self.test_images),
                &self.dir.join(&self.test_labels),
            ),
            "train" | "validation" => {
                let all = Dataset::from_idx(
                    &self.dir.join(&self.train_images),
                    &self.dir.join(&self.train_labels),
                )?;
                Ok(if which == "train" {
                    all
                } else {
                    all.range(self.validation.start, self.validation.count)
                })
            }
            other => Err(Error::Other(format!(
                "unknown split `{other}` (test, validation, train)"
            ))),
        }
    }
}

/// How the integer products of approximated layers are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelKind {
    /// Every layer exact, whatever the mapping says.
    Exact,
    Lut,
    Gather,
    LowRank,
}

impl std::str::FromStr for KernelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<KernelKind> {
        match s {
            "exact" => Ok(KernelKind::Exact),
            "lut" => Ok(KernelKind::Lut),
            "gather" => Ok(KernelKind::Gather),
            "lowrank" => Ok(KernelKind::LowRank),
            other => Err(Error::Other(format!(
                "unknown kernel `{other}` (float, exact, lut, gather, lowrank)"
            ))),
        }
    }
}

/// A characterized multiplier's tables for `kind` (`Exact` ignores the multiplier).
pub fn layer_mul(
    c: &crate::characterize::Characterization,
    kind: KernelKind,
) -> super::quant::LayerMul {
    use super::kernels::{LowRankTables, LutTables};
    use super::quant::LayerMul;
    match kind {
        KernelKind::Exact => LayerMul::Exact,
        KernelKind::Lut => LayerMul::Lut(LutTables::new(&c.lut)),
        KernelKind::Gather => LayerMul::Gather(LutTables::new(&c.lut)),
        KernelKind::LowRank => LayerMul::LowRank(LowRankTables::new(&c.lowrank)),
    }
}

/// The product of each layer for the multiplier `names` (None: exact), characterizing the named
/// multipliers (built-in names or .v files) through the cache; each distinct multiplier's tables
/// are built once.
pub fn layer_muls(
    names: &[Option<String>],
    kind: KernelKind,
    opts: &crate::characterize::Options,
) -> Result<Vec<super::quant::LayerMul>> {
    use super::quant::LayerMul;
    if kind == KernelKind::Exact {
        return Ok(vec![LayerMul::Exact; names.len()]);
    }
    let wanted: Vec<&String> = names
        .iter()
        .flatten()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mults = wanted
        .iter()
        .map(|n| crate::multiplier::resolve(n, None))
        .collect::<Result<Vec<_>>>()?;
    let chars = if mults.is_empty() {
        vec![]
    } else {
        crate::characterize::characterize(&mults, opts)?.0
    };
    let tables: Vec<LayerMul> = chars.iter().map(|c| layer_mul(c, kind)).collect();
    Ok(names
        .iter()
        .map(|n| match n {
            Some(n) => tables[wanted
                .iter()
                .position(|w| *w == n)
                .expect("every name was characterized")]
            .clone(),
            None => LayerMul::Exact,
        })
        .collect())
}
