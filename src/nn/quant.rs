//! Int8 post-training quantization (ARCHITECTURE.md "Quantization"): uint8 codes with zero points;
//! weights per output channel, offline; activations per tensor, per image, at run time (or from
//! a calibration pass). Only `sum_k q_a q_w` goes through the multiplier; the zero-point terms
//! `- Z_w sum q_a - Z_a sum q_w + K Z_a Z_w` are exact.

use super::graph::{im2col, Graph, Linear, Tensor};
use super::kernels::{gemm, Kernel, LowRankTables, LutTables};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Affine uint8 quantization of the range [min(lo, 0), max(hi, 0)] (0.0 is exact).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero: u8,
}

impl QParams {
    pub fn from_range(lo: f32, hi: f32) -> QParams {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        if hi - lo <= f32::MIN_POSITIVE {
            return QParams {
                scale: 1.0,
                zero: 0,
            };
        }
        let scale = (hi - lo) / 255.0;
        QParams {
            scale,
            zero: (-lo / scale).round().clamp(0.0, 255.0) as u8,
        }
    }

    /// Parameters covering all of `values` (and 0.0).
    pub fn of(values: &[f32]) -> QParams {
        let (lo, hi) = range(values);
        QParams::from_range(lo, hi)
    }

    #[inline]
    pub fn quantize(&self, x: f32) -> u8 {
        (x / self.scale + self.zero as f32)
            .round()
            .clamp(0.0, 255.0) as u8
    }
}

/// (min, max) of `values`, widened to include 0.0.
pub fn range(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)))
}

/// A layer's quantized weights: codes (out x K), per-channel parameters, code sums.
#[derive(Clone, Debug)]
pub struct QWeights {
    pub codes: Vec<u8>,
    pub params: Vec<QParams>,
    pub row_sums: Vec<u32>,
}

impl QWeights {
    pub fn new(l: &Linear) -> QWeights {
        let mut codes = Vec::with_capacity(l.weight.len());
        let mut params = Vec::with_capacity(l.out_ch);
        let mut row_sums = Vec::with_capacity(l.out_ch);
        for row in l.weight.chunks(l.k) {
            let q = QParams::of(row);
            let start = codes.len();
            codes.extend(row.iter().map(|&v| q.quantize(v)));
            row_sums.push(codes[start..].iter().map(|&c| c as u32).sum());
            params.push(q);
        }
        QWeights {
            codes,
            params,
            row_sums,
        }
    }
}

/// Which product each mappable layer uses.
#[derive(Clone)]
pub enum LayerMul {
    Exact,
    Lut(LutTables),
    Gather(LutTables),
    LowRank(LowRankTables),
}

impl std::fmt::Debug for LayerMul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LayerMul::Exact => "Exact",
            LayerMul::Lut(_) => "Lut",
            LayerMul::Gather(_) => "Gather",
            LayerMul::LowRank(_) => "LowRank",
        })
    }
}

impl LayerMul {
    fn kernel(&self) -> Kernel<'_> {
        match self {
            LayerMul::Exact => Kernel::Exact,
            LayerMul::Lut(t) => Kernel::Lut(t),
            LayerMul::Gather(t) => Kernel::Gather(t),
            LayerMul::LowRank(t) => Kernel::LowRank(t),
        }
    }
}

/// See [`QuantNet::run_observed`]: (layer, A codes K x M, W codes N x K, K, M).
pub type OperandObserver<'a> = dyn Fn(&Linear, &[u8], &[u8], usize, usize) + Sync + 'a;

/// Activation ranges per mappable layer from a calibration pass (static quantization).
pub type Calibration = Vec<(f32, f32)>;

/// A quantized network: the graph, its quantized weights and a product per layer.
pub struct QuantNet<'g> {
    pub graph: &'g Graph,
    pub weights: Vec<QWeights>,
    pub muls: Vec<LayerMul>,
    /// Static activation ranges (None: dynamic, per image).
    pub calibration: Option<Calibration>,
}

impl<'g> QuantNet<'g> {
    /// Quantizes every mappable layer's weights; all layers start exact.
    pub fn new(graph: &'g Graph) -> QuantNet<'g> {
        let mut linears: Vec<&Linear> = graph
            .nodes
            .iter()
            .filter_map(|n| {
                if let super::graph::Op::Linear(l) = &n.op {
                    Some(&**l)
                } else {
                    None
                }
            })
            .collect();
        linears.sort_by_key(|l| l.layer);
        let weights = linears.par_iter().map(|l| QWeights::new(l)).collect();
        QuantNet {
            graph,
            weights,
            muls: vec![LayerMul::Exact; linears.len()],
            calibration: None,
        }
    }

    pub fn layers(&self) -> usize {
        self.weights.len()
    }

    /// Records each layer's input range over `input` (run in float).
    pub fn calibrate(&mut self, input: Tensor) -> Result<()> {
        let ranges = std::sync::Mutex::new(vec![(0f32, 0f32); self.layers()]);
        self.graph.run_with(input, &|l, x| {
            let (lo, hi) = range(&x.data);
            let mut r = ranges.lock().unwrap();
            r[l.layer] = (r[l.layer].0.min(lo), r[l.layer].1.max(hi));
            Ok(super::graph::linear_float(l, x))
        })?;
        self.calibration = Some(ranges.into_inner().unwrap());
        Ok(())
    }

    /// Runs the quantized network on a batch.
    pub fn run(&self, input: Tensor) -> Result<Tensor> {
        self.graph.run_with(input, &|l, x| self.linear(l, x, None))
    }

    /// Runs the quantized network on a batch and shows `observe` the integer operands of every
    /// GEMM it computes, exactly as the multipliers see them: the layer, the activation codes
    /// `A` (K x M, row-major), the weight codes `W` (N x K, row-major), K and M.
    pub fn run_observed(&self, input: Tensor, observe: &OperandObserver<'_>) -> Result<Tensor> {
        self.graph
            .run_with(input, &|l, x| self.linear(l, x, Some(observe)))
    }

    fn linear(
        &self,
        l: &Linear,
        x: &Tensor,
        observe: Option<&OperandObserver<'_>>,
    ) -> Result<Tensor> {
        let qw = &self.weights[l.layer];
        let kernel = self
            .muls
            .get(l.layer)
            .ok_or_else(|| Error::Other(format!("no multiplier for layer {}", l.layer)))?
            .kernel();
        let n_img = x.batch();
        let per = x.item_len();
        // Activation parameters per image.
        let qa: Vec<QParams> = match &self.calibration {
            Some(c) => vec![QParams::from_range(c[l.layer].0, c[l.layer].1); n_img],
            None => x.data.chunks(per).map(QParams::of).collect(),
        };
        let codes: Vec<u8> = x
            .data
            .par_chunks(per)
            .zip(&qa)
            .flat_map_iter(|(img, q)| img.iter().map(move |&v| q.quantize(v)))
            .collect();
        match &l.conv {
            None => {
                // FC: m = image. A is K x batch.
                let k = l.k;
                let mut a = vec![0u8; k * n_img];
                for (i, img) in codes.chunks(k).enumerate() {
                    for (kk, &c) in img.iter().enumerate() {
                        a[kk * n_img + i] = c;
                    }
                }
                if let Some(f) = observe {
                    f(l, &a, &qw.codes, k, n_img);
                }
                let c = gemm(kernel, &a, &qw.codes, k, n_img, l.out_ch);
                let mut out = vec![0f32; n_img * l.out_ch];
                for i in 0..n_img {
                    let sa: u32 = codes[i * k..(i + 1) * k].iter().map(|&v| v as u32).sum();
                    for o in 0..l.out_ch {
                        out[i * l.out_ch + o] = dequant(
                            c[o * n_img + i],
                            sa,
                            qw.row_sums[o],
                            k,
                            qa[i],
                            qw.params[o],
                            l.bias[o],
                        );
                    }
                }
                Ok(Tensor::new(vec![n_img, l.out_ch], out))
            }
            Some(g) => {
                let (ch, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
                let (oh, ow) = g.out_hw(h, w);
                let pos = oh * ow;
                let m_len = n_img * pos;
                let cg = ch / g.group;
                let og = l.out_ch / g.group;
                let mut out = vec![0f32; n_img * l.out_ch * pos];
                for gi in 0..g.group {
                    // im2col of the whole batch straight into A (K x images*positions): image i
                    // fills columns i*pos.., padding with its zero point (the code of 0.0). Each
                    // input channel owns kh*kw consecutive rows of A, so channels run in parallel.
                    let mut a = vec![0u8; l.k * m_len];
                    let taps = g.kernel[0] * g.kernel[1];
                    a.par_chunks_mut(taps * m_len)
                        .enumerate()
                        .for_each(|(c, rows)| {
                            let ch = gi * cg + c;
                            for (i, q) in qa.iter().enumerate() {
                                let img = &codes[i * per..(i + 1) * per];
                                im2col(img, ch..ch + 1, h, w, g, q.zero, rows, m_len, i * pos);
                            }
                        });
                    // Column sums of A, row by row (contiguous), in parallel over column blocks.
                    let mut sums_a = vec![0u32; m_len];
                    sums_a
                        .par_chunks_mut(4096)
                        .enumerate()
                        .for_each(|(bi, blk)| {
                            let (m0, len) = (bi * 4096, blk.len());
                            for row in a.chunks_exact(m_len) {
                                for (s, &v) in blk.iter_mut().zip(&row[m0..m0 + len]) {
                                    *s += v as u32;
                                }
                            }
                        });
                    let wrows = &qw.codes[gi * og * l.k..(gi + 1) * og * l.k];
                    if let Some(f) = observe {
                        f(l, &a, wrows, l.k, m_len);
                    }
                    let c = gemm(kernel, &a, wrows, l.k, m_len, og);
                    out.par_chunks_mut(l.out_ch * pos)
                        .enumerate()
                        .for_each(|(i, o)| {
                            for oc in 0..og {
                                let o_abs = gi * og + oc;
                                let (wp, ws, b) =
                                    (qw.params[o_abs], qw.row_sums[o_abs], l.bias[o_abs]);
                                for p in 0..pos {
                                    let m = i * pos + p;
                                    o[o_abs * pos + p] = dequant(
                                        c[oc * m_len + m],
                                        sums_a[m],
                                        ws,
                                        l.k,
                                        qa[i],
                                        wp,
                                        b,
                                    );
                                }
                            }
                        });
                }
                Ok(Tensor::new(vec![n_img, l.out_ch, oh, ow], out))
            }
        }
    }
}

/// `s_a s_w (C - Z_w S_a - Z_a S_w + K Z_a Z_w) + bias`, the integer part exact in i64.
#[inline]
fn dequant(c: u32, sum_a: u32, sum_w: u32, k: usize, qa: QParams, qw: QParams, bias: f32) -> f32 {
    let (za, zw) = (qa.zero as i64, qw.zero as i64);
    let acc = c as i64 - zw * sum_a as i64 - za * sum_w as i64 + k as i64 * za * zw;
    qa.scale * qw.scale * acc as f32 + bias
}
