//! ONNX import (protobuf via `onnx-protobuf`) into the [`Graph`] IR.
//!
//! Supported: Conv (groups, strides, pads, dilations), Gemm, MatMul with a constant matrix,
//! Relu, Clip, BatchNormalization (folded into the preceding Conv when it is that Conv's only
//! user), MaxPool, AveragePool, GlobalAveragePool, Add (residual, or a constant bias),
//! Sub/Mul/Div by constants, Flatten, Reshape to (N, -1), Softmax, Identity, Dropout, Constant.

use super::graph::{ConvGeom, Graph, Linear, Node, Op};
use crate::error::{Error, Result};
use onnx_protobuf::{Message, ModelProto, NodeProto, TensorProto};
use std::collections::HashMap;
use std::path::Path;

/// A constant tensor from an initializer or a Constant node.
#[derive(Clone, Debug)]
struct Const {
    dims: Vec<usize>,
    f: Vec<f32>,
    i: Vec<i64>,
}

fn tensor(t: &TensorProto) -> std::result::Result<Const, String> {
    let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let n: usize = dims.iter().product();
    let raw = &t.raw_data;
    let (f, i) = match t.data_type {
        1 => {
            let f = if !raw.is_empty() {
                raw.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            } else {
                t.float_data.clone()
            };
            (f, vec![])
        }
        7 => {
            let i: Vec<i64> = if !raw.is_empty() {
                raw.chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                    .collect()
            } else {
                t.int64_data.clone()
            };
            (i.iter().map(|&x| x as f32).collect(), i)
        }
        11 => {
            let f: Vec<f32> = if !raw.is_empty() {
                raw.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
                    .collect()
            } else {
                t.double_data.iter().map(|&x| x as f32).collect()
            };
            (f, vec![])
        }
        other => {
            return Err(format!(
                "tensor `{}` has data type {other}; only float, double and int64 are supported",
                t.name
            ))
        }
    };
    if f.len() != n {
        return Err(format!(
            "tensor `{}` holds {} values for dims {:?}",
            t.name,
            f.len(),
            dims
        ));
    }
    Ok(Const { dims, f, i })
}

struct Attrs<'a>(&'a NodeProto);

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&onnx_protobuf::AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }
    fn ints(&self, name: &str) -> Option<Vec<usize>> {
        self.get(name)
            .map(|a| a.ints.iter().map(|&x| x.max(0) as usize).collect())
    }
    fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name).map(|a| a.i).unwrap_or(default)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.get(name).map(|a| a.f).unwrap_or(default)
    }
    fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
}

/// Reads an ONNX file into the IR.
pub fn load(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })?;
    let bad = |m: String| Error::Input {
        file: path.to_path_buf(),
        message: m,
    };
    let model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| bad(format!("not a readable ONNX model: {e}")))?;
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| bad("the model has no graph".into()))?;

    let mut consts: HashMap<String, Const> = HashMap::new();
    for t in &g.initializer {
        consts.insert(t.name.clone(), tensor(t).map_err(bad)?);
    }
    let input = g
        .input
        .iter()
        .find(|i| !consts.contains_key(&i.name))
        .ok_or_else(|| bad("the graph has no non-constant input".into()))?;
    let dims: Vec<i64> = input
        .type_
        .as_ref()
        .and_then(|t| {
            t.tensor_type()
                .shape
                .as_ref()
                .map(|s| s.dim.iter().map(|d| d.dim_value()).collect())
        })
        .unwrap_or_default();
    if dims.len() < 2 || dims[1..].iter().any(|&d| d <= 0) {
        return Err(bad(format!(
            "input `{}` needs a known shape (N, C, H, W) or (N, F); found {dims:?}",
            input.name
        )));
    }
    let input_shape: Vec<usize> = dims[1..].iter().map(|&d| d as usize).collect();

    let mut ids: HashMap<String, usize> = HashMap::from([(input.name.clone(), 0)]);
    let mut values = 1;
    let mut nodes: Vec<Node> = Vec::new();
    let mut users: HashMap<String, usize> = HashMap::new();
    for n in &g.node {
        for i in &n.input {
            *users.entry(i.clone()).or_default() += 1;
        }
    }
    for o in &g.output {
        *users.entry(o.name.clone()).or_default() += 1;
    }
    let mut layer = 0;

    for n in &g.node {
        let name = if n.name.is_empty() {
            format!("{}_{}", n.op_type, nodes.len())
        } else {
            n.name.clone()
        };
        let err = |m: String| bad(format!("node `{name}` ({}): {m}", n.op_type));
        let a = Attrs(n);
        let konst = |i: usize| n.input.get(i).and_then(|x| consts.get(x));
        let var = |i: usize| -> Result<usize> {
            let x = n
                .input
                .get(i)
                .ok_or_else(|| err(format!("missing input {i}")))?;
            ids.get(x)
                .copied()
                .ok_or_else(|| err(format!("input `{x}` is not produced by any earlier node")))
        };
        let out_name = n
            .output
            .first()
            .cloned()
            .ok_or_else(|| err("no output".into()))?;
        let mut push = |op: Op,
                        inputs: Vec<usize>,
                        nodes: &mut Vec<Node>,
                        ids: &mut HashMap<String, usize>| {
            nodes.push(Node {
                op,
                inputs,
                output: values,
                name: name.clone(),
            });
            ids.insert(out_name.clone(), values);
            values += 1;
        };
        match n.op_type.as_str() {
            "Constant" => {
                let t = a
                    .get("value")
                    .and_then(|v| v.t.as_ref())
                    .ok_or_else(|| err("only tensor-valued Constant is supported".into()))?;
                consts.insert(out_name.clone(), tensor(t).map_err(err)?);
            }
            "Identity" | "Dropout" => {
                if let Some(c) = konst(0).cloned() {
                    consts.insert(out_name.clone(), c);
                } else {
                    let x = var(0)?;
                    ids.insert(out_name.clone(), x);
                }
            }
            "Conv" => {
                let w = konst(1).ok_or_else(|| err("the weight must be a constant".into()))?;
                if w.dims.len() != 4 {
                    return Err(err(format!(
                        "weight of shape {:?}: only 2-D convolution is supported",
                        w.dims
                    )));
                }
                if let Some(p) = a.string("auto_pad").filter(|p| p != "NOTSET") {
                    return Err(err(format!(
                        "auto_pad = {p} is not supported; export with explicit pads"
                    )));
                }
                let (o, cg, kh, kw) = (w.dims[0], w.dims[1], w.dims[2], w.dims[3]);
                let pads = a.ints("pads").unwrap_or(vec![0; 4]);
                let geom = ConvGeom {
                    kernel: [kh, kw],
                    stride: a.ints("strides").map(|s| [s[0], s[1]]).unwrap_or([1, 1]),
                    pads: [pads[0], pads[1], pads[2], pads[3]],
                    dilation: a.ints("dilations").map(|s| [s[0], s[1]]).unwrap_or([1, 1]),
                    group: a.int("group", 1).max(1) as usize,
                };
                let bias = konst(2).map(|b| b.f.clone()).unwrap_or(vec![0.0; o]);
                let l = Linear {
                    out_ch: o,
                    k: cg * kh * kw,
                    weight: w.f.clone(),
                    bias,
                    conv: Some(geom),
                    layer,
                    name: name.clone(),
                };
                layer += 1;
                let x = var(0)?;
                push(Op::Linear(Box::new(l)), vec![x], &mut nodes, &mut ids);
            }
            "Gemm" | "MatMul" => {
                let gemm = n.op_type == "Gemm";
                if gemm && a.int("transA", 0) != 0 {
                    return Err(err("transA = 1 is not supported".into()));
                }
                let w = konst(1)
                    .ok_or_else(|| err("the weight (input B) must be a constant".into()))?;
                if w.dims.len() != 2 {
                    return Err(err(format!(
                        "weight of shape {:?}: expected a matrix",
                        w.dims
                    )));
                }
                let trans_b = gemm && a.int("transB", 0) != 0;
                let (out, k) = if trans_b {
                    (w.dims[0], w.dims[1])
                } else {
                    (w.dims[1], w.dims[0])
                };
                let alpha = if gemm { a.float("alpha", 1.0) } else { 1.0 };
                let beta = if gemm { a.float("beta", 1.0) } else { 1.0 };
                let mut weight = vec![0f32; out * k];
                for o in 0..out {
                    for j in 0..k {
                        weight[o * k + j] = alpha
                            * if trans_b {
                                w.f[o * k + j]
                            } else {
                                w.f[j * out + o]
                            };
                    }
                }
                let bias = match konst(2) {
                    Some(c) if c.f.len() == out => c.f.iter().map(|b| b * beta).collect(),
                    Some(c) if c.f.len() == 1 => vec![c.f[0] * beta; out],
                    Some(c) => {
                        return Err(err(format!("bias of shape {:?} for {out} outputs", c.dims)))
                    }
                    None => vec![0.0; out],
                };
                let l = Linear {
                    out_ch: out,
                    k,
                    weight,
                    bias,
                    conv: None,
                    layer,
                    name: name.clone(),
                };
                layer += 1;
                let x = var(0)?;
                push(Op::Linear(Box::new(l)), vec![x], &mut nodes, &mut ids);
            }
            "BatchNormalization" => {
                let p: Vec<&Const> = (1..5)
                    .map(|i| konst(i).ok_or_else(|| err("parameters must be constants".into())))
                    .collect::<Result<_>>()?;
                let eps = a.float("epsilon", 1e-5);
                let c = p[0].f.len();
                let scale: Vec<f32> = (0..c)
                    .map(|i| p[0].f[i] / (p[3].f[i] + eps).sqrt())
                    .collect();
                let shift: Vec<f32> = (0..c).map(|i| p[1].f[i] - p[2].f[i] * scale[i]).collect();
                let x = var(0)?;
                let producer = nodes.iter_mut().rev().find(|nd| nd.output == x);
                let single_user = users.get(&n.input[0]).copied() == Some(1);
                match producer {
                    Some(Node {
                        op: Op::Linear(l), ..
                    }) if l.conv.is_some() && single_user && l.out_ch == c => {
                        for o in 0..c {
                            l.weight[o * l.k..(o + 1) * l.k]
                                .iter_mut()
                                .for_each(|w| *w *= scale[o]);
                            l.bias[o] = l.bias[o] * scale[o] + shift[o];
                        }
                        ids.insert(out_name.clone(), x);
                    }
                    _ => push(Op::Affine { scale, shift }, vec![x], &mut nodes, &mut ids),
                }
            }
            "Relu" => {
                let x = var(0)?;
                push(Op::Relu, vec![x], &mut nodes, &mut ids)
            }
            "Clip" => {
                let min = konst(1)
                    .map(|c| c.f[0])
                    .unwrap_or(a.float("min", f32::NEG_INFINITY));
                let max = konst(2)
                    .map(|c| c.f[0])
                    .unwrap_or(a.float("max", f32::INFINITY));
                let x = var(0)?;
                push(Op::Clip { min, max }, vec![x], &mut nodes, &mut ids)
            }
            "MaxPool" | "AveragePool" => {
                if a.int("ceil_mode", 0) != 0 {
                    return Err(err("ceil_mode = 1 is not supported".into()));
                }
                let k = a
                    .ints("kernel_shape")
                    .ok_or_else(|| err("kernel_shape missing".into()))?;
                let kernel = [k[0], k[1]];
                let stride = a.ints("strides").map(|s| [s[0], s[1]]).unwrap_or([1, 1]);
                let p = a.ints("pads").unwrap_or(vec![0; 4]);
                let pads = [p[0], p[1], p[2], p[3]];
                let op = if n.op_type == "MaxPool" {
                    Op::MaxPool {
                        kernel,
                        stride,
                        pads,
                    }
                } else {
                    Op::AvgPool {
                        kernel,
                        stride,
                        pads,
                        count_include_pad: a.int("count_include_pad", 0) != 0,
                    }
                };
                let x = var(0)?;
                push(op, vec![x], &mut nodes, &mut ids)
            }
            "GlobalAveragePool" => {
                let x = var(0)?;
                push(Op::GlobalAvgPool, vec![x], &mut nodes, &mut ids)
            }
            "Flatten" => {
                if a.int("axis", 1) != 1 {
                    return Err(err("only axis = 1 is supported".into()));
                }
                let x = var(0)?;
                push(Op::Flatten, vec![x], &mut nodes, &mut ids)
            }
            "Reshape" => {
                let shape =
                    konst(1).ok_or_else(|| err("the target shape must be a constant".into()))?;
                let s = &shape.i;
                if !(s.len() == 2
                    && (s[0] == 0 || s[0] == -1 || s[0] == 1)
                    && (s[1] == -1 || s[1] > 0))
                {
                    return Err(err(format!(
                        "reshape to {s:?}: only (N, -1) flattening is supported"
                    )));
                }
                let x = var(0)?;
                push(Op::Flatten, vec![x], &mut nodes, &mut ids)
            }
            "Softmax" => {
                let x = var(0)?;
                push(Op::Softmax, vec![x], &mut nodes, &mut ids)
            }
            "Add" | "Sub" | "Mul" | "Div" => {
                let (c0, c1) = (konst(0), konst(1));
                match (c0, c1) {
                    (None, None) if n.op_type == "Add" => {
                        let (x, y) = (var(0)?, var(1)?);
                        push(Op::Add, vec![x, y], &mut nodes, &mut ids)
                    }
                    (None, Some(c)) => {
                        let v = &c.f;
                        let (scale, shift) = match n.op_type.as_str() {
                            "Add" => (vec![1.0], v.clone()),
                            "Sub" => (vec![1.0], v.iter().map(|x| -x).collect()),
                            "Mul" => (v.clone(), vec![0.0]),
                            _ => (v.iter().map(|x| 1.0 / x).collect(), vec![0.0]),
                        };
                        let x = var(0)?;
                        push(Op::Affine { scale, shift }, vec![x], &mut nodes, &mut ids)
                    }
                    (Some(c), None) if matches!(n.op_type.as_str(), "Add" | "Mul") => {
                        let (scale, shift) = if n.op_type == "Add" { (vec![1.0], c.f.clone()) } else { (c.f.clone(), vec![0.0]) };
                        let x = var(1)?;
                        push(Op::Affine { scale, shift }, vec![x], &mut nodes, &mut ids)
                    }
                    _ => return Err(err("only a variable combined with a constant, or Add of two variables, is supported".into())),
                }
            }
            other => return Err(err(format!("unsupported operator `{other}`"))),
        }
    }
    let out = g
        .output
        .first()
        .ok_or_else(|| bad("the graph has no output".into()))?;
    let output = *ids
        .get(&out.name)
        .ok_or_else(|| bad(format!("output `{}` is never produced", out.name)))?;
    // Per-channel constants must broadcast along axis 1 (a (1, C, 1, 1) or (C,) shape) or be scalars.
    Ok(Graph {
        name: g.name.clone(),
        input_shape,
        nodes,
        values,
        output,
    })
}
