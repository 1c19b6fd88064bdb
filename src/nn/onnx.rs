//! ONNX import (protobuf via `onnx-protobuf`) into the [`Graph`] IR.
//!
//! Supported: Conv (groups, strides, pads, dilations), Gemm, MatMul with a constant matrix,
//! Relu, Clip, BatchNormalization (folded into the preceding Conv when it is that Conv's only
//! user), MaxPool, AveragePool, GlobalAveragePool, Add (residual, or a constant bias),
//! Sub/Mul/Div by constants, Flatten, Reshape to (N, -1), Softmax, Identity, Dropout, Constant.
//!
//! Each operator is one import function, listed in the `OPS` table; [`load`] looks the node's
//! operator up there, so a new operator is one function and one row.

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

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<&'a onnx_protobuf::AttributeProto> {
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

/// The graph being built: constants, the value each ONNX name refers to, the nodes so far.
struct Builder<'p> {
    path: &'p Path,
    consts: HashMap<String, Const>,
    ids: HashMap<String, usize>,
    /// How many nodes read each ONNX name (graph outputs count as readers).
    users: HashMap<String, usize>,
    nodes: Vec<Node>,
    values: usize,
    /// Index of the next mappable layer (Conv, Gemm, MatMul), in graph order.
    layer: usize,
}

/// One ONNX node being imported into a [`Builder`].
struct Ctx<'a, 'p> {
    b: &'a mut Builder<'p>,
    n: &'a NodeProto,
    name: String,
    out: String,
}

impl<'a> Ctx<'a, '_> {
    fn err(&self, m: impl Into<String>) -> Error {
        Error::Input {
            file: self.b.path.to_path_buf(),
            message: format!("node `{}` ({}): {}", self.name, self.n.op_type, m.into()),
        }
    }
    fn attrs(&self) -> Attrs<'a> {
        Attrs(self.n)
    }
    fn op(&self) -> &str {
        &self.n.op_type
    }
    /// Input `i` when it is a constant.
    fn konst(&self, i: usize) -> Option<&Const> {
        self.n.input.get(i).and_then(|x| self.b.consts.get(x))
    }
    /// Input `i` as a value of the graph.
    fn var(&self, i: usize) -> Result<usize> {
        let x = self
            .n
            .input
            .get(i)
            .ok_or_else(|| self.err(format!("missing input {i}")))?;
        self.b
            .ids
            .get(x)
            .copied()
            .ok_or_else(|| self.err(format!("input `{x}` is not produced by any earlier node")))
    }
    /// Appends a node computing `op` of `inputs`; the ONNX output names its value.
    fn push(&mut self, op: Op, inputs: Vec<usize>) {
        self.b.nodes.push(Node {
            op,
            inputs,
            output: self.b.values,
            name: self.name.clone(),
        });
        self.b.ids.insert(self.out.clone(), self.b.values);
        self.b.values += 1;
    }
    /// Appends a node of one input, input 0.
    fn unary(&mut self, op: Op) -> Result<()> {
        let x = self.var(0)?;
        self.push(op, vec![x]);
        Ok(())
    }
    /// The ONNX output names value `x` (no node of its own).
    fn alias(&mut self, x: usize) {
        self.b.ids.insert(self.out.clone(), x);
    }
    /// The ONNX output is the constant `c`.
    fn constant(&mut self, c: Const) {
        self.b.consts.insert(self.out.clone(), c);
    }
    /// Appends a mappable layer of input 0.
    fn linear(&mut self, mut l: Linear) -> Result<()> {
        l.layer = self.b.layer;
        l.name = self.name.clone();
        self.b.layer += 1;
        self.unary(Op::Linear(Box::new(l)))
    }
}

/// How one ONNX operator becomes IR: one function per operator (a new operator is one
/// function and one row of [`OPS`]).
type Import = fn(&mut Ctx) -> Result<()>;

/// Every supported operator. An operator missing here is refused with a clear message.
const OPS: &[(&str, Import)] = &[
    ("Constant", constant),
    ("Identity", identity),
    ("Dropout", identity),
    ("Conv", conv),
    ("Gemm", gemm),
    ("MatMul", gemm),
    ("BatchNormalization", batch_norm),
    ("Relu", |c| c.unary(Op::Relu)),
    ("Clip", clip),
    ("MaxPool", pool),
    ("AveragePool", pool),
    ("GlobalAveragePool", |c| c.unary(Op::GlobalAvgPool)),
    ("Flatten", flatten),
    ("Reshape", reshape),
    ("Softmax", |c| c.unary(Op::Softmax)),
    ("Add", arithmetic),
    ("Sub", arithmetic),
    ("Mul", arithmetic),
    ("Div", arithmetic),
];

fn constant(c: &mut Ctx) -> Result<()> {
    let t = c
        .attrs()
        .get("value")
        .and_then(|v| v.t.as_ref())
        .ok_or_else(|| c.err("only tensor-valued Constant is supported"))?;
    let k = tensor(t).map_err(|m| c.err(m))?;
    c.constant(k);
    Ok(())
}

fn identity(c: &mut Ctx) -> Result<()> {
    if let Some(k) = c.konst(0).cloned() {
        c.constant(k);
    } else {
        let x = c.var(0)?;
        c.alias(x);
    }
    Ok(())
}

fn conv(c: &mut Ctx) -> Result<()> {
    let a = c.attrs();
    let w = c
        .konst(1)
        .ok_or_else(|| c.err("the weight must be a constant"))?;
    if w.dims.len() != 4 {
        return Err(c.err(format!(
            "weight of shape {:?}: only 2-D convolution is supported",
            w.dims
        )));
    }
    if let Some(p) = a.string("auto_pad").filter(|p| p != "NOTSET") {
        return Err(c.err(format!(
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
    let bias = c.konst(2).map(|b| b.f.clone()).unwrap_or(vec![0.0; o]);
    let l = Linear {
        out_ch: o,
        k: cg * kh * kw,
        weight: w.f.clone(),
        bias,
        conv: Some(geom),
        layer: 0,
        name: String::new(),
    };
    c.linear(l)
}

fn gemm(c: &mut Ctx) -> Result<()> {
    let a = c.attrs();
    let gemm = c.op() == "Gemm";
    if gemm && a.int("transA", 0) != 0 {
        return Err(c.err("transA = 1 is not supported"));
    }
    let w = c
        .konst(1)
        .ok_or_else(|| c.err("the weight (input B) must be a constant"))?;
    if w.dims.len() != 2 {
        return Err(c.err(format!("weight of shape {:?}: expected a matrix", w.dims)));
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
    let bias = match c.konst(2) {
        Some(b) if b.f.len() == out => b.f.iter().map(|b| b * beta).collect(),
        Some(b) if b.f.len() == 1 => vec![b.f[0] * beta; out],
        Some(b) => return Err(c.err(format!("bias of shape {:?} for {out} outputs", b.dims))),
        None => vec![0.0; out],
    };
    let l = Linear {
        out_ch: out,
        k,
        weight,
        bias,
        conv: None,
        layer: 0,
        name: String::new(),
    };
    c.linear(l)
}

/// Folded into the preceding Conv when it is that Conv's only user; an affine node otherwise.
fn batch_norm(c: &mut Ctx) -> Result<()> {
    let p: Vec<&Const> = (1..5)
        .map(|i| {
            c.konst(i)
                .ok_or_else(|| c.err("parameters must be constants"))
        })
        .collect::<Result<_>>()?;
    let eps = c.attrs().float("epsilon", 1e-5);
    let ch = p[0].f.len();
    let scale: Vec<f32> = (0..ch)
        .map(|i| p[0].f[i] / (p[3].f[i] + eps).sqrt())
        .collect();
    let shift: Vec<f32> = (0..ch).map(|i| p[1].f[i] - p[2].f[i] * scale[i]).collect();
    let x = c.var(0)?;
    let single_user = c.b.users.get(&c.n.input[0]).copied() == Some(1);
    let producer = c.b.nodes.iter_mut().rev().find(|nd| nd.output == x);
    match producer {
        Some(Node {
            op: Op::Linear(l), ..
        }) if l.conv.is_some() && single_user && l.out_ch == ch => {
            for o in 0..ch {
                l.weight[o * l.k..(o + 1) * l.k]
                    .iter_mut()
                    .for_each(|w| *w *= scale[o]);
                l.bias[o] = l.bias[o] * scale[o] + shift[o];
            }
            c.alias(x);
        }
        _ => c.push(Op::Affine { scale, shift }, vec![x]),
    }
    Ok(())
}

fn clip(c: &mut Ctx) -> Result<()> {
    let a = c.attrs();
    let min = c
        .konst(1)
        .map(|k| k.f[0])
        .unwrap_or(a.float("min", f32::NEG_INFINITY));
    let max = c
        .konst(2)
        .map(|k| k.f[0])
        .unwrap_or(a.float("max", f32::INFINITY));
    c.unary(Op::Clip { min, max })
}

fn pool(c: &mut Ctx) -> Result<()> {
    let a = c.attrs();
    if a.int("ceil_mode", 0) != 0 {
        return Err(c.err("ceil_mode = 1 is not supported"));
    }
    let k = a
        .ints("kernel_shape")
        .ok_or_else(|| c.err("kernel_shape missing"))?;
    let kernel = [k[0], k[1]];
    let stride = a.ints("strides").map(|s| [s[0], s[1]]).unwrap_or([1, 1]);
    let p = a.ints("pads").unwrap_or(vec![0; 4]);
    let pads = [p[0], p[1], p[2], p[3]];
    let op = if c.op() == "MaxPool" {
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
    c.unary(op)
}

fn flatten(c: &mut Ctx) -> Result<()> {
    if c.attrs().int("axis", 1) != 1 {
        return Err(c.err("only axis = 1 is supported"));
    }
    c.unary(Op::Flatten)
}

fn reshape(c: &mut Ctx) -> Result<()> {
    let shape = c
        .konst(1)
        .ok_or_else(|| c.err("the target shape must be a constant"))?;
    let s = &shape.i;
    if !(s.len() == 2 && (s[0] == 0 || s[0] == -1 || s[0] == 1) && (s[1] == -1 || s[1] > 0)) {
        return Err(c.err(format!(
            "reshape to {s:?}: only (N, -1) flattening is supported"
        )));
    }
    c.unary(Op::Flatten)
}

/// Add of two values (a residual); Add, Sub, Mul or Div of a value and a constant (an
/// affine node; a constant on the left only for the commutative two).
fn arithmetic(c: &mut Ctx) -> Result<()> {
    let op = c.op().to_string();
    match (c.konst(0), c.konst(1)) {
        (None, None) if op == "Add" => {
            let (x, y) = (c.var(0)?, c.var(1)?);
            c.push(Op::Add, vec![x, y]);
        }
        (None, Some(k)) => {
            let v = &k.f;
            let (scale, shift) = match op.as_str() {
                "Add" => (vec![1.0], v.clone()),
                "Sub" => (vec![1.0], v.iter().map(|x| -x).collect()),
                "Mul" => (v.clone(), vec![0.0]),
                _ => (v.iter().map(|x| 1.0 / x).collect(), vec![0.0]),
            };
            let x = c.var(0)?;
            c.push(Op::Affine { scale, shift }, vec![x]);
        }
        (Some(k), None) if matches!(op.as_str(), "Add" | "Mul") => {
            let (scale, shift) = if op == "Add" {
                (vec![1.0], k.f.clone())
            } else {
                (k.f.clone(), vec![0.0])
            };
            let x = c.var(1)?;
            c.push(Op::Affine { scale, shift }, vec![x]);
        }
        _ => {
            return Err(c.err(
                "only a variable combined with a constant, or Add of two variables, is supported",
            ))
        }
    }
    Ok(())
}

/// The input's shape without the batch dimension; it must be known.
fn input_shape(
    input: &onnx_protobuf::ValueInfoProto,
    bad: impl Fn(String) -> Error,
) -> Result<Vec<usize>> {
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
    Ok(dims[1..].iter().map(|&d| d as usize).collect())
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
    let input_shape = input_shape(input, bad)?;
    let mut users: HashMap<String, usize> = HashMap::new();
    for i in g.node.iter().flat_map(|n| &n.input) {
        *users.entry(i.clone()).or_default() += 1;
    }
    for o in &g.output {
        *users.entry(o.name.clone()).or_default() += 1;
    }
    let mut b = Builder {
        path,
        consts,
        ids: HashMap::from([(input.name.clone(), 0)]),
        users,
        nodes: Vec::new(),
        values: 1,
        layer: 0,
    };
    for n in &g.node {
        let name = if n.name.is_empty() {
            format!("{}_{}", n.op_type, b.nodes.len())
        } else {
            n.name.clone()
        };
        let mut c = Ctx {
            b: &mut b,
            n,
            name,
            out: String::new(),
        };
        c.out = n
            .output
            .first()
            .cloned()
            .ok_or_else(|| c.err("no output"))?;
        let import = OPS
            .iter()
            .find(|(op, _)| *op == n.op_type)
            .map(|(_, f)| *f)
            .ok_or_else(|| c.err(format!("unsupported operator `{}`", n.op_type)))?;
        import(&mut c)?;
    }
    let out = g
        .output
        .first()
        .ok_or_else(|| bad("the graph has no output".into()))?;
    let output = *b
        .ids
        .get(&out.name)
        .ok_or_else(|| bad(format!("output `{}` is never produced", out.name)))?;
    Ok(Graph {
        name: g.name.clone(),
        input_shape,
        nodes: b.nodes,
        values: b.values,
        output,
    })
}
