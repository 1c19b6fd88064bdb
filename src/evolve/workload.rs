//! What a network feeds its multipliers, for workload-aware evolution: the joint distribution of
//! (activation code, weight code) pairs its GEMMs multiply, and the operand streams one PE of a
//! weight-stationary array sees (the PPA stage's streams, [`crate::ppa::workload`]).
//!
//! Both come from the benchmark's **validation** split: an evolved circuit is a design choice,
//! and the test split never takes part in one.

use crate::error::{Error, Result};
use crate::nn::{eval::Benchmark, onnx, quant::QuantNet};
use crate::ppa::workload::{self, LayerStream, WorkloadOptions};
use std::path::Path;
use std::sync::Mutex;

/// Per mappable layer: how often each pair `(a << 8) | b` is multiplied.
#[derive(Clone, Debug)]
pub struct LayerPairs {
    pub name: String,
    pub counts: Vec<u64>,
}

/// The pair counts of every mappable layer of `bench` over the first `images` validation images,
/// with the activations quantized exactly as the int8 simulator quantizes them (per image).
/// Counting is exact: for each reduction index k, the histogram of the activation codes of row
/// k of A times the histogram of the weight codes of column k of W.
pub fn operand_pairs(bench: &Path, images: usize) -> Result<Vec<LayerPairs>> {
    let b = Benchmark::load(bench)?;
    let graph = onnx::load(&b.model_path())?;
    let infos = graph.layers()?;
    let data = b.split("validation")?;
    if data.is_empty() {
        return Err(Error::Input {
            file: bench.join("benchmark.json"),
            message: "the validation split is empty".into(),
        });
    }
    let n = images.clamp(1, data.len());
    let net = QuantNet::new(&graph);
    let counts = Mutex::new(vec![vec![0u64; 1 << 16]; infos.len()]);
    let observe = |l: &crate::nn::graph::Linear, a: &[u8], w: &[u8], k: usize, m: usize| {
        let rows = w.len() / k.max(1);
        let mut local = vec![0u64; 1 << 16];
        let mut ha = [0u64; 256];
        let mut hw = [0u64; 256];
        for kk in 0..k {
            ha.fill(0);
            hw.fill(0);
            for &x in &a[kk * m..(kk + 1) * m] {
                ha[x as usize] += 1;
            }
            for r in 0..rows {
                hw[w[r * k + kk] as usize] += 1;
            }
            let nz: Vec<(usize, u64)> = hw
                .iter()
                .enumerate()
                .filter(|x| *x.1 > 0)
                .map(|(i, &c)| (i, c))
                .collect();
            for (av, &ca) in ha.iter().enumerate() {
                if ca == 0 {
                    continue;
                }
                let row = &mut local[av << 8..(av << 8) + 256];
                for &(wv, cw) in &nz {
                    row[wv] += ca * cw;
                }
            }
        }
        let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
        for (t, x) in c[l.layer].iter_mut().zip(&local) {
            *t += x;
        }
    };
    // a few images at a time: the observer's histograms are per call
    let step = 16;
    let mut i = 0;
    while i < n {
        let hi = (i + step).min(n);
        net.run_observed(crate::nn::Tensor::images(&data, i, hi, b.scale), &observe)?;
        i = hi;
    }
    let counts = counts.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(infos
        .iter()
        .zip(counts)
        .map(|(info, counts)| LayerPairs {
            name: info.name.clone(),
            counts,
        })
        .collect())
}

/// The PE operand streams of `bench`'s layers on its validation split (see
/// [`workload::layer_streams`]), with the weight register continuous across layers.
pub fn streams(bench: &Path, rows: usize, o: &WorkloadOptions) -> Result<Vec<LayerStream>> {
    let mut s = workload::layer_streams(bench, "validation", rows, 32, o)?;
    workload::link_weights(s.iter_mut().map(|l| l.cycles.as_mut_slice()), 0);
    Ok(s)
}
