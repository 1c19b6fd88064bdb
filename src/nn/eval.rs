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

/// Whether `label` ranks within the first `k` of the scores `row`: its rank is the number of
/// classes scoring strictly higher, ties resolved in favour of the lower index.
pub fn in_top(row: &[f32], label: usize, k: usize) -> bool {
    if label >= row.len() {
        return false;
    }
    let mine = row[label];
    let rank = row
        .iter()
        .enumerate()
        .filter(|&(j, &v)| v > mine || (v == mine && j < label))
        .count();
    rank < k
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
        let out = net(crate::nn::Tensor::images(ds, lo, hi, scale))?;
        let classes = out.item_len();
        for (i, row) in out.data.chunks(classes).enumerate() {
            let label = ds.labels[lo + i] as usize;
            c1 += in_top(row, label, 1) as usize;
            c5 += in_top(row, label, 5) as usize;
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

/// The network's outputs on every image of `ds`: `classes` values per image, image-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Logits {
    pub classes: usize,
    pub data: Vec<f32>,
}

impl Logits {
    /// The rows `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Logits {
        Logits {
            classes: self.classes,
            data: idx
                .iter()
                .flat_map(|&i| self.row(i).iter().copied())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.classes.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.classes..(i + 1) * self.classes]
    }

    /// The predicted class of image `i`: the arg max (ties: the lowest index, as `evaluate`).
    pub fn argmax(&self, i: usize) -> usize {
        let r = self.row(i);
        let mut best = 0;
        for (j, &v) in r.iter().enumerate() {
            if v > r[best] {
                best = j;
            }
        }
        best
    }
}

/// Runs `net` over the dataset in batches and keeps its outputs.
pub fn logits(
    net: &dyn Fn(Tensor) -> Result<Tensor>,
    ds: &Dataset,
    scale: f32,
    batch: usize,
) -> Result<Logits> {
    let batch = batch.max(1);
    let mut data = Vec::new();
    let mut classes = 0;
    for lo in (0..ds.len()).step_by(batch) {
        let hi = (lo + batch).min(ds.len());
        let out = net(crate::nn::Tensor::images(ds, lo, hi, scale))?;
        classes = out.item_len();
        data.extend_from_slice(&out.data);
    }
    Ok(Logits { classes, data })
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

/// Where the validation split comes from: a range of the training file (a model trained on the
/// rest) or of the test file (the test split is then the test file minus that range). Either
/// way it must be data the model never trained on; `held_out` says how that is known.
#[derive(Clone, Debug, Deserialize)]
pub struct ValidationSplit {
    /// `train` (default) or `test`: the file the range is taken from
    #[serde(default = "default_from")]
    pub from: String,
    pub start: usize,
    pub count: usize,
    /// every `step`-th image from `start` (default 1: a contiguous range); MNIST's test file,
    /// for one, is ordered easy half first, so halving it takes every second image
    #[serde(default = "one")]
    pub step: usize,
    /// how it is known that the model never trained on these images (the report quotes it)
    #[serde(default)]
    pub held_out: Option<String>,
}

fn default_from() -> String {
    "train".into()
}

fn one() -> usize {
    1
}

impl ValidationSplit {
    /// The indices (into its file) of the validation images.
    pub fn indices(&self) -> Vec<usize> {
        (0..self.count)
            .map(|k| self.start + k * self.step)
            .collect()
    }

    fn end(&self) -> usize {
        if self.count == 0 {
            self.start
        } else {
            self.start + (self.count - 1) * self.step + 1
        }
    }
}

impl Benchmark {
    pub fn load(dir: &Path) -> Result<Benchmark> {
        let p = dir.join("benchmark.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::Input {
            file: p.clone(),
            message: format!("{e}; install the benchmark first (`make benchmarks`)"),
        })?;
        let mut b: Benchmark = serde_json::from_str(&text).map_err(|e| Error::Input {
            file: p.clone(),
            message: e.to_string(),
        })?;
        if b.validation.step == 0 {
            return Err(Error::Input {
                file: p,
                message: "validation.step must be at least 1".into(),
            });
        }
        if b.validation.from != "train" && b.validation.from != "test" {
            return Err(Error::Input {
                file: p,
                message: format!(
                    "validation.from is `{}`; it must be `train` or `test`",
                    b.validation.from
                ),
            });
        }
        b.dir = dir.to_path_buf();
        Ok(b)
    }

    pub fn model_path(&self) -> PathBuf {
        self.dir.join(&self.model)
    }

    fn train_file(&self) -> Result<Dataset> {
        Dataset::from_idx(
            &self.dir.join(&self.train_images),
            &self.dir.join(&self.train_labels),
        )
    }

    fn test_file(&self) -> Result<Dataset> {
        Dataset::from_idx(
            &self.dir.join(&self.test_images),
            &self.dir.join(&self.test_labels),
        )
    }

    /// `test` (held out: the test file, minus the validation range when the validation split
    /// is taken from it), `validation` (the search's split, disjoint from test), `train` (the
    /// training file) or `test-file` (the whole test file, which published accuracies refer
    /// to; it overlaps the validation split when that comes from the test file).
    pub fn split(&self, which: &str) -> Result<Dataset> {
        let v = &self.validation;
        let check = |len: usize| -> Result<()> {
            if v.end() > len {
                return Err(Error::Input {
                    file: self.dir.join("benchmark.json"),
                    message: format!(
                        "validation images {}..{} (step {}) are outside the {} file's {} images",
                        v.start,
                        v.end(),
                        v.step,
                        v.from,
                        len
                    ),
                });
            }
            Ok(())
        };
        let range = |d: Dataset| -> Result<Dataset> {
            check(d.len())?;
            Ok(d.subset(&v.indices()))
        };
        match which {
            "test-file" => self.test_file(),
            "train" => self.train_file(),
            "test" if v.from == "test" => {
                let all = self.test_file()?;
                check(all.len())?;
                let val: std::collections::HashSet<usize> = v.indices().into_iter().collect();
                let keep: Vec<usize> = (0..all.len()).filter(|i| !val.contains(i)).collect();
                Ok(all.subset(&keep))
            }
            "test" => self.test_file(),
            "validation" if v.from == "test" => range(self.test_file()?),
            "validation" => range(self.train_file()?),
            other => Err(Error::Other(format!(
                "unknown split `{other}` (test, validation, train, test-file)"
            ))),
        }
    }

    /// One line on the validation split's provenance, for reports.
    pub fn validation_provenance(&self) -> String {
        let v = &self.validation;
        format!(
            "validation: {} images {}..{}{} of the {} file{}",
            v.count,
            v.start,
            v.end(),
            if v.step > 1 {
                format!(" (every {})", v.step)
            } else {
                String::new()
            },
            v.from,
            v.held_out
                .as_ref()
                .map_or(String::new(), |h| format!(" ({h})"))
        )
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
