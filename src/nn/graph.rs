//! The network IR and its float executor (NCHW, f32).

use crate::error::{Error, Result};

/// A dense f32 tensor, row-major; activations are NCHW or (N, features).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }

    /// Images `lo..hi` of a dataset as floats `pixel * scale`, NCHW.
    pub fn images(ds: &crate::data::Dataset, lo: usize, hi: usize, scale: f32) -> Tensor {
        let l = ds.item_len();
        let data = ds.pixels[lo * l..hi * l]
            .iter()
            .map(|&p| p as f32 * scale)
            .collect();
        Tensor::new(vec![hi - lo, ds.shape[0], ds.shape[1], ds.shape[2]], data)
    }

    pub fn zeros(shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }

    pub fn batch(&self) -> usize {
        self.shape[0]
    }

    /// Elements per batch item.
    pub fn item_len(&self) -> usize {
        self.shape[1..].iter().product()
    }
}

/// Convolution geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvGeom {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// top, left, bottom, right
    pub pads: [usize; 4],
    pub dilation: [usize; 2],
    pub group: usize,
}

impl ConvGeom {
    pub fn out_hw(&self, h: usize, w: usize) -> (usize, usize) {
        let eff = |k: usize, d: usize| (k - 1) * d + 1;
        let oh = (h + self.pads[0] + self.pads[2] - eff(self.kernel[0], self.dilation[0]))
            / self.stride[0]
            + 1;
        let ow = (w + self.pads[1] + self.pads[3] - eff(self.kernel[1], self.dilation[1]))
            / self.stride[1]
            + 1;
        (oh, ow)
    }
}

/// A mappable layer's parameters: `weight` is (out, in_per_group * kh * kw) row-major, i.e. one
/// row per output channel in im2col order (c, ky, kx); for Gemm it is (out, in).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub out_ch: usize,
    /// Reduction length per output (K).
    pub k: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// None for a fully connected layer.
    pub conv: Option<ConvGeom>,
    /// Index among the mappable layers and the ONNX node name.
    pub layer: usize,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Conv or Gemm (mappable).
    Linear(Box<Linear>),
    Relu,
    Clip {
        min: f32,
        max: f32,
    },
    MaxPool {
        kernel: [usize; 2],
        stride: [usize; 2],
        pads: [usize; 4],
    },
    AvgPool {
        kernel: [usize; 2],
        stride: [usize; 2],
        pads: [usize; 4],
        count_include_pad: bool,
    },
    GlobalAvgPool,
    /// Elementwise sum of two values of the same shape (residual connections).
    Add,
    /// x * scale[c] + shift[c] per channel (axis 1), from constant Sub/Div/Mul/Add or a
    /// BatchNormalization that could not be folded.
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// To (N, rest).
    Flatten,
    Softmax,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    /// Value indices.
    pub inputs: Vec<usize>,
    pub output: usize,
    pub name: String,
}

/// A network: nodes in execution order over numbered values (0 is the input).
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub name: String,
    /// Input shape without the batch dimension (C, H, W) or (features).
    pub input_shape: Vec<usize>,
    pub nodes: Vec<Node>,
    pub values: usize,
    pub output: usize,
}

/// A mappable layer as seen from outside: stable index, name, shape and MACs per image.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerInfo {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub out_ch: usize,
    pub k: usize,
    /// Output positions per image (H_out * W_out, or 1).
    pub positions: usize,
    pub macs: u64,
}

impl Graph {
    /// The mappable layers in index order, with MACs per image (from a shape pass).
    pub fn layers(&self) -> Result<Vec<LayerInfo>> {
        let mut shapes: Vec<Option<Vec<usize>>> = vec![None; self.values];
        let mut s0 = vec![1];
        s0.extend(&self.input_shape);
        shapes[0] = Some(s0);
        let mut out = Vec::new();
        for n in &self.nodes {
            let ins: Vec<&Vec<usize>> = n
                .inputs
                .iter()
                .map(|&i| shapes[i].as_ref().expect("topological order"))
                .collect();
            let x = ins[0];
            let shape = match &n.op {
                Op::Linear(l) => match &l.conv {
                    Some(g) => {
                        let (oh, ow) = g.out_hw(x[2], x[3]);
                        out.push(LayerInfo {
                            index: l.layer,
                            name: l.name.clone(),
                            kind: "conv",
                            out_ch: l.out_ch,
                            k: l.k,
                            positions: oh * ow,
                            macs: (oh * ow * l.out_ch * l.k) as u64,
                        });
                        vec![1, l.out_ch, oh, ow]
                    }
                    None => {
                        out.push(LayerInfo {
                            index: l.layer,
                            name: l.name.clone(),
                            kind: "fc",
                            out_ch: l.out_ch,
                            k: l.k,
                            positions: 1,
                            macs: (l.out_ch * l.k) as u64,
                        });
                        vec![1, l.out_ch]
                    }
                },
                Op::MaxPool {
                    kernel,
                    stride,
                    pads,
                }
                | Op::AvgPool {
                    kernel,
                    stride,
                    pads,
                    ..
                } => {
                    let g = ConvGeom {
                        kernel: *kernel,
                        stride: *stride,
                        pads: *pads,
                        dilation: [1, 1],
                        group: 1,
                    };
                    let (oh, ow) = g.out_hw(x[2], x[3]);
                    vec![1, x[1], oh, ow]
                }
                Op::GlobalAvgPool => vec![1, x[1], 1, 1],
                Op::Flatten => vec![1, x[1..].iter().product()],
                _ => x.clone(),
            };
            shapes[n.output] = Some(shape);
        }
        out.sort_by_key(|l| l.index);
        Ok(out)
    }

    /// Runs the float network on a batch; `linear` computes each mappable layer (float here,
    /// quantized in `quant`).
    pub fn run_with(
        &self,
        input: Tensor,
        linear: &(dyn Fn(&Linear, &Tensor) -> Result<Tensor> + Sync),
    ) -> Result<Tensor> {
        let mut last_use = vec![0usize; self.values];
        for (i, n) in self.nodes.iter().enumerate() {
            for &v in &n.inputs {
                last_use[v] = i;
            }
        }
        last_use[self.output] = usize::MAX;
        let mut vals: Vec<Option<Tensor>> = vec![None; self.values];
        vals[0] = Some(input);
        for (i, n) in self.nodes.iter().enumerate() {
            let get = |k: usize| {
                vals[n.inputs[k]]
                    .as_ref()
                    .ok_or_else(|| Error::Other(format!("node {}: missing input", n.name)))
            };
            let y = match &n.op {
                Op::Linear(l) => linear(l, get(0)?)?,
                Op::Relu => map(get(0)?, |x| x.max(0.0)),
                Op::Clip { min, max } => map(get(0)?, |x| x.clamp(*min, *max)),
                Op::MaxPool {
                    kernel,
                    stride,
                    pads,
                } => pool(get(0)?, *kernel, *stride, *pads, PoolKind::Max),
                Op::AvgPool {
                    kernel,
                    stride,
                    pads,
                    count_include_pad,
                } => pool(
                    get(0)?,
                    *kernel,
                    *stride,
                    *pads,
                    PoolKind::Avg(*count_include_pad),
                ),
                Op::GlobalAvgPool => {
                    let x = get(0)?;
                    let (n_, c) = (x.shape[0], x.shape[1]);
                    let hw: usize = x.shape[2..].iter().product();
                    let data = x
                        .data
                        .chunks(hw)
                        .map(|ch| ch.iter().sum::<f32>() / hw as f32)
                        .collect();
                    Tensor::new(vec![n_, c, 1, 1], data)
                }
                Op::Add => {
                    let (a, b) = (get(0)?, get(1)?);
                    if a.shape != b.shape {
                        return Err(Error::Other(format!(
                            "node {}: Add of shapes {:?} and {:?}",
                            n.name, a.shape, b.shape
                        )));
                    }
                    Tensor::new(
                        a.shape.clone(),
                        a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect(),
                    )
                }
                Op::Affine { scale, shift } => {
                    let x = get(0)?;
                    let c = x.shape.get(1).copied().unwrap_or(1);
                    let inner: usize = x.shape.get(2..).map(|s| s.iter().product()).unwrap_or(1);
                    let mut y = x.clone();
                    for (i, v) in y.data.iter_mut().enumerate() {
                        let ch = if scale.len() == 1 { 0 } else { (i / inner) % c };
                        *v = *v * scale[ch] + shift[if shift.len() == 1 { 0 } else { ch }];
                    }
                    y
                }
                Op::Flatten => {
                    let x = get(0)?;
                    Tensor::new(vec![x.shape[0], x.item_len()], x.data.clone())
                }
                Op::Softmax => {
                    let x = get(0)?;
                    let f = x.item_len();
                    let mut y = x.clone();
                    for row in y.data.chunks_mut(f) {
                        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                        let s: f32 = row.iter().map(|v| (v - m).exp()).sum();
                        row.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
                    }
                    y
                }
            };
            vals[n.output] = Some(y);
            for &v in &n.inputs {
                if last_use[v] == i {
                    vals[v] = None;
                }
            }
        }
        vals[self.output]
            .take()
            .ok_or_else(|| Error::Other("graph produced no output".into()))
    }

    /// Runs the float reference network.
    pub fn run_float(&self, input: Tensor) -> Result<Tensor> {
        self.run_with(input, &|l, x| Ok(linear_float(l, x)))
    }
}

fn map(x: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor::new(x.shape.clone(), x.data.iter().map(|&v| f(v)).collect())
}

enum PoolKind {
    Max,
    Avg(bool),
}

fn pool(x: &Tensor, k: [usize; 2], s: [usize; 2], p: [usize; 4], kind: PoolKind) -> Tensor {
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    let g = ConvGeom {
        kernel: k,
        stride: s,
        pads: p,
        dilation: [1, 1],
        group: 1,
    };
    let (oh, ow) = g.out_hw(h, w);
    let mut out = vec![0f32; n * c * oh * ow];
    for (plane, o) in x.data.chunks(h * w).zip(out.chunks_mut(oh * ow)) {
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut acc, mut cnt) = (
                    if matches!(kind, PoolKind::Max) {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    },
                    0,
                );
                for ky in 0..k[0] {
                    for kx in 0..k[1] {
                        let iy = (oy * s[0] + ky) as isize - p[0] as isize;
                        let ix = (ox * s[1] + kx) as isize - p[1] as isize;
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let v = plane[iy as usize * w + ix as usize];
                        match kind {
                            PoolKind::Max => acc = acc.max(v),
                            PoolKind::Avg(_) => acc += v,
                        }
                        cnt += 1;
                    }
                }
                o[oy * ow + ox] = match kind {
                    PoolKind::Max => acc,
                    PoolKind::Avg(true) => acc / (k[0] * k[1]) as f32,
                    PoolKind::Avg(false) => acc / cnt.max(1) as f32,
                };
            }
        }
    }
    Tensor::new(vec![n, c, oh, ow], out)
}

/// im2col of one image for one group: rows k = (c, ky, kx), columns m = output position;
/// out-of-image taps get `pad`. Works on any element type (f32 for the float path, u8 codes
/// for the quantized path).
#[allow(clippy::too_many_arguments)]
pub fn im2col<T: Copy>(
    img: &[T],
    c_range: std::ops::Range<usize>,
    h: usize,
    w: usize,
    g: &ConvGeom,
    pad: T,
    out: &mut [T],
    m_stride: usize,
    m_offset: usize,
) {
    let (oh, ow) = g.out_hw(h, w);
    let mut row = 0;
    for c in c_range {
        let plane = &img[c * h * w..(c + 1) * h * w];
        for ky in 0..g.kernel[0] {
            for kx in 0..g.kernel[1] {
                let dst = &mut out[row * m_stride + m_offset..row * m_stride + m_offset + oh * ow];
                for oy in 0..oh {
                    let iy = (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.pads[0] as isize;
                    let drow = &mut dst[oy * ow..(oy + 1) * ow];
                    if iy < 0 || iy >= h as isize {
                        drow.fill(pad);
                        continue;
                    }
                    let src = &plane[iy as usize * w..(iy as usize + 1) * w];
                    for (ox, d) in drow.iter_mut().enumerate() {
                        let ix =
                            (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.pads[1] as isize;
                        *d = if ix < 0 || ix >= w as isize {
                            pad
                        } else {
                            src[ix as usize]
                        };
                    }
                }
                row += 1;
            }
        }
    }
}

/// Float Conv/Gemm: im2col + matrix product (faer), parallel over the batch.
pub fn linear_float(l: &Linear, x: &Tensor) -> Tensor {
    use faer::{linalg::matmul::matmul, Accum, MatMut, MatRef, Par};
    use rayon::prelude::*;
    let n = x.batch();
    match &l.conv {
        None => {
            let k = l.k;
            let mut out = vec![0f32; n * l.out_ch];
            let a = MatRef::from_row_major_slice(&x.data, n, k);
            let w = MatRef::from_row_major_slice(&l.weight, l.out_ch, k);
            let mut c = MatMut::from_row_major_slice_mut(&mut out, n, l.out_ch);
            matmul(
                c.as_mut(),
                Accum::Replace,
                a,
                w.transpose(),
                1.0,
                Par::rayon(0),
            );
            for row in out.chunks_mut(l.out_ch) {
                row.iter_mut().zip(&l.bias).for_each(|(v, b)| *v += b);
            }
            Tensor::new(vec![n, l.out_ch], out)
        }
        Some(g) => {
            let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
            let (oh, ow) = g.out_hw(h, w);
            let m = oh * ow;
            let cg = c / g.group;
            let og = l.out_ch / g.group;
            let mut out = vec![0f32; n * l.out_ch * m];
            out.par_chunks_mut(l.out_ch * m)
                .zip(x.data.par_chunks(c * h * w))
                .for_each(|(o, img)| {
                    let mut cols = vec![0f32; l.k * m];
                    for gi in 0..g.group {
                        im2col(img, gi * cg..(gi + 1) * cg, h, w, g, 0.0, &mut cols, m, 0);
                        let wm = MatRef::from_row_major_slice(
                            &l.weight[gi * og * l.k..(gi + 1) * og * l.k],
                            og,
                            l.k,
                        );
                        let cm = MatRef::from_row_major_slice(&cols, l.k, m);
                        let mut dst = MatMut::from_row_major_slice_mut(
                            &mut o[gi * og * m..(gi + 1) * og * m],
                            og,
                            m,
                        );
                        matmul(dst.as_mut(), Accum::Replace, wm, cm, 1.0, Par::Seq);
                    }
                    for (ch, plane) in o.chunks_mut(m).enumerate() {
                        plane.iter_mut().for_each(|v| *v += l.bias[ch]);
                    }
                });
            Tensor::new(vec![n, l.out_ch, oh, ow], out)
        }
    }
}
