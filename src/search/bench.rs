//! `autoapprox bench oracle`: how well the margin model (`oracle::Rates`) predicts discordant
//! images it has not seen, on validation images only. The mappings are the ones a search
//! confirmed (its `confirm.v3.jsonl` in the evaluation cache); each is simulated on the
//! confirmation set, whose images are split into alternate halves: the model's rates from one
//! half predict the losses + gains counted on the other, and the other way round. Printed per
//! model variant (bin size, with and without the near-tie term): predicted and counted totals,
//! their ratio and the Poisson log-likelihood of the counts (without its constant −Σ ln k!).

use super::calibrate::{CalibrateOptions, Setup};
use super::oracle::{Paired, Rates, MARGIN_BIN};
use crate::error::{Error, Result};
use crate::nn::eval::Logits;
use crate::nn::quant::LayerMul;
use rayon::prelude::*;

/// One model variant's totals over all mappings and both halves.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// images per margin bin (the number of images: one pooled bin)
    pub bin: usize,
    pub ties: bool,
    pub predicted: f64,
    pub counted: usize,
    pub log_likelihood: f64,
}

pub struct OracleBench {
    pub mappings: usize,
    pub images: usize,
    pub rows: Vec<Row>,
}

impl OracleBench {
    pub fn text(&self) -> String {
        let mut s = format!(
            "margin model, half of the {} confirmation images predicting the other half, {} mappings\n\n\
             | bin (images) | near-tie term | predicted losses + gains | counted | predicted / counted | Poisson log-likelihood |\n\
             |---:|:---:|---:|---:|---:|---:|\n",
            self.images, self.mappings
        );
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {:.1} | {} | {:.2} | {:.1} |\n",
                if r.bin >= self.images / 2 {
                    "all (pooled)".to_string()
                } else {
                    r.bin.to_string()
                },
                if r.ties { "yes" } else { "no" },
                r.predicted,
                r.counted,
                r.predicted / r.counted.max(1) as f64,
                r.log_likelihood
            ));
        }
        s.push_str(&format!(
            "\nthe default model: bins of {MARGIN_BIN} images with the near-tie term\n"
        ));
        s
    }
}

/// Runs the comparison for the search that `o` describes (the same options as its calibration)
/// over the bin sizes `bins`.
pub fn run(o: &CalibrateOptions, bins: &[usize]) -> Result<OracleBench> {
    let setup = Setup::load(o)?;
    let path = o
        .characterize
        .cache_dir
        .join("search")
        .join(&setup.key)
        .join("confirm.v3.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|_| Error::Input {
        file: path.clone(),
        message: "no confirmed mappings for this benchmark, sample and library: run `autoapprox search` (or `autoapprox run`) with the same settings first".into(),
    })?;
    let mut maps: Vec<Vec<String>> = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| Error::Input {
            file: path.clone(),
            message: format!("{e}; delete the file and rerun the search"),
        })?;
        let m: Vec<String> =
            serde_json::from_value(v["mapping"].clone()).map_err(|e| Error::Input {
                file: path.clone(),
                message: format!("{e}; delete the file and rerun the search"),
            })?;
        if !maps.contains(&m) {
            maps.push(m);
        }
    }
    maps.sort();
    // every mapping must be one of this setup's: a cache from other settings is refused
    for m in &maps {
        setup.layer_muls(m).map_err(|e| Error::Input {
            file: path.clone(),
            message: format!("{e}: the search that wrote this file used other candidates"),
        })?;
    }
    let val = setup.bench.split("validation")?;
    let ds = val.subset(&setup.confirm_indices());
    let exact = setup.logits(vec![LayerMul::Exact; setup.infos.len()], &ds)?;
    let outs: Vec<Logits> = maps
        .par_iter()
        .map(|m| setup.logits(setup.layer_muls(m)?, &ds))
        .collect::<Result<_>>()?;
    let n = ds.len();
    let halves: [Vec<usize>; 2] = [(0..n).step_by(2).collect(), (1..n).step_by(2).collect()];
    let labels = |h: &[usize]| -> Vec<u32> { h.iter().map(|&i| ds.labels[i]).collect() };
    let mut variants: Vec<(usize, bool)> = vec![(n, true)];
    for &b in bins {
        variants.push((b, true));
        variants.push((b, false));
    }
    let mut rows = Vec::new();
    for (bin, ties) in variants {
        let (mut predicted, mut counted, mut ll) = (0.0, 0usize, 0.0);
        for out in &outs {
            for (a, b) in [(0, 1), (1, 0)] {
                let (ha, hb) = (&halves[a], &halves[b]);
                let r = Rates::model(&out.subset(ha), &exact.subset(ha), &labels(ha), bin, ties);
                let lambda = (r.loss + r.gain) * hb.len() as f64;
                let pe: Vec<usize> = hb.iter().map(|&i| exact.argmax(i)).collect();
                let po: Vec<usize> = hb.iter().map(|&i| out.argmax(i)).collect();
                let p = Paired::new(&pe, &po, &labels(hb));
                let k = p.loss + p.gain;
                predicted += lambda;
                counted += k;
                ll += k as f64 * lambda.max(1e-3).ln() - lambda;
            }
        }
        rows.push(Row {
            bin,
            ties,
            predicted,
            counted,
            log_likelihood: ll,
        });
    }
    Ok(OracleBench {
        mappings: maps.len(),
        images: n,
        rows,
    })
}
