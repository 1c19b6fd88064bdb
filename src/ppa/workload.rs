//! Real operand streams for power: what one PE of a weight-stationary array sees when a layer of
//! a benchmark network runs on it.
//!
//! A layer is a GEMM `out[n][p] = sum_k A[k][p] W[n][k]` (im2col for convolutions, `p` over
//! output positions of several test images). Tiled onto a rows x cols array, PE (r, c) of tile
//! (kt, nt) holds the weight `W[nt*cols + c][kt*rows + r]`, sees the activations
//! `A[kt*rows + r][p]` stream by, and receives the partial sum of the rows above it. We sample
//! `slots` such PE positions at random (seeded) and stream `len` consecutive positions through
//! each; the first cycle of a slot loads its weight.

use crate::error::{Error, Result};
use crate::nn::{eval::Benchmark, graph::im2col, onnx, quant::QParams, quant::QWeights};
use rand::{Rng, SeedableRng};
use std::path::Path;

/// One clock cycle of a PE's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    pub a: u8,
    pub w_in: u8,
    pub w_load: bool,
    /// the weight register's value during this cycle (the multiplier's B)
    pub weight: u8,
    pub psum_in: u64,
}

#[derive(Debug, Clone)]
pub struct LayerStream {
    pub layer: usize,
    pub name: String,
    /// MACs per image in the network
    pub macs: u64,
    pub cycles: Vec<Cycle>,
}

#[derive(Debug, Clone)]
pub struct WorkloadOptions {
    pub images: usize,
    pub slots: usize,
    pub len: usize,
    pub seed: u64,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        WorkloadOptions {
            images: 4,
            slots: 32,
            len: 32,
            seed: 1,
        }
    }
}

/// Per-layer operand streams of `bench` (the first `images` images of its `split`: the PPA
/// measures on `test`, the evolver, whose circuits are a choice, on `validation`) for an array
/// with `rows` PE rows (the column of a PE only selects which output channel it computes, so
/// output channels are sampled directly).
pub fn layer_streams(
    bench: &Path,
    split: &str,
    rows: usize,
    acc_bits: u32,
    o: &WorkloadOptions,
) -> Result<Vec<LayerStream>> {
    let b = Benchmark::load(bench)?;
    let graph = onnx::load(&b.model_path())?;
    let infos = graph.layers()?;
    let data = b.split(split)?;
    let n_img = o.images.clamp(1, data.len());
    let x = crate::nn::Tensor::images(&data, 0, n_img, b.scale);
    let captured = std::sync::Mutex::new(Vec::new());
    graph.run_with(x, &|l, x| {
        captured.lock().unwrap().push((l.clone(), x.clone()));
        Ok(crate::nn::graph::linear_float(l, x))
    })?;
    let mut captured = captured.into_inner().unwrap();
    captured.sort_by_key(|(l, _)| l.layer);
    let mask = if acc_bits >= 64 {
        u64::MAX
    } else {
        (1u64 << acc_bits) - 1
    };
    let mut out = Vec::new();
    for (l, x) in captured {
        let qw = QWeights::new(&l);
        let qa = QParams::of(&x.data);
        let codes: Vec<u8> = x.data.iter().map(|&v| qa.quantize(v)).collect();
        let k = l.k;
        // A as K x P (P = positions of all images), N = output channels of group 0
        let (a, p_total, n_out) = match &l.conv {
            Some(g) => {
                let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
                let (oh, ow) = g.out_hw(h, w);
                let pos = oh * ow;
                let p_total = pos * x.shape[0];
                let mut a = vec![0u8; k * p_total];
                for (i, img) in codes.chunks(c * h * w).enumerate() {
                    im2col(
                        img,
                        0..c / g.group,
                        h,
                        w,
                        g,
                        qa.zero,
                        &mut a,
                        p_total,
                        i * pos,
                    );
                }
                (a, p_total, l.out_ch / g.group)
            }
            None => {
                let n = x.shape[0];
                let mut a = vec![0u8; k * n];
                for (i, img) in codes.chunks(k).enumerate() {
                    for (kk, &c) in img.iter().enumerate() {
                        a[kk * n + i] = c;
                    }
                }
                (a, n, l.out_ch)
            }
        };
        if p_total == 0 || k == 0 || n_out == 0 {
            return Err(Error::Other(format!("layer {}: empty GEMM", l.name)));
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(o.seed ^ (l.layer as u64) << 32);
        let mut cycles = Vec::with_capacity(o.slots * o.len);
        let mut weight = 0u8;
        for _ in 0..o.slots {
            let kk = rng.random_range(0..k);
            let n = rng.random_range(0..n_out);
            let r = kk % rows;
            let k0 = kk - r;
            let c_w = qw.codes[n * k + kk];
            let p0 = rng.random_range(0..p_total);
            for t in 0..o.len {
                let p = (p0 + t) % p_total;
                let psum: u64 = (k0..kk)
                    .map(|j| a[j * p_total + p] as u64 * qw.codes[n * k + j] as u64)
                    .sum();
                cycles.push(Cycle {
                    a: a[kk * p_total + p],
                    w_in: c_w,
                    w_load: t == 0,
                    weight,
                    psum_in: psum & mask,
                });
                if t == 0 {
                    weight = c_w;
                }
            }
        }
        out.push(LayerStream {
            layer: l.layer,
            name: l.name.clone(),
            macs: infos.get(l.layer).map_or(0, |i| i.macs),
            cycles,
        });
    }
    Ok(out)
}

/// Makes the weight register continuous across consecutive segments (the hardware keeps it):
/// every cycle's `weight` is the last loaded `w_in` before it, starting from `initial`.
pub fn link_weights<'a>(segments: impl IntoIterator<Item = &'a mut [Cycle]>, initial: u8) {
    let mut w = initial;
    for s in segments {
        for c in s.iter_mut() {
            c.weight = w;
            if c.w_load {
                w = c.w_in;
            }
        }
    }
}
