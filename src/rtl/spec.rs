//! The accelerator description (`AcceleratorSpec`, TOML) and its validation.

use crate::error::{Error, Result};
use crate::multiplier::{self, Design, Multiplier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How operands move through the systolic array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataflow {
    /// Weights stay in the PEs (TPU): activations flow right, partial sums flow down.
    WeightStationary,
    /// Accepted by the parser so that the error can say it is not generated yet.
    OutputStationary,
}

/// One approximate MXU: the multiplier every PE of its array uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MxuSpec {
    /// A built-in name (`autoapprox mult list`) or a path to a Verilog file (relative paths are
    /// relative to the spec file).
    pub multiplier: String,
    /// Module to use when the file holds several candidates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<String>,
}

/// An accelerator: an R x C systolic array per MXU, a bank of approximate MXUs and, usually,
/// the exact fallback MXU, with a router selecting one MXU per layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceleratorSpec {
    /// Prefix of every generated module and file (a Verilog identifier).
    #[serde(default = "default_name")]
    pub name: String,
    /// PE rows = input features consumed per activation vector.
    #[serde(default = "default_dim")]
    pub rows: u32,
    /// PE columns = outputs produced per activation vector.
    #[serde(default = "default_dim")]
    pub cols: u32,
    #[serde(default = "default_bits")]
    pub act_bits: u32,
    #[serde(default = "default_bits")]
    pub weight_bits: u32,
    /// Partial-sum width; must hold `rows` full products.
    #[serde(default = "default_acc")]
    pub acc_bits: u32,
    #[serde(default = "default_dataflow")]
    pub dataflow: Dataflow,
    /// Keep the exact MXU (route 0) beside the approximate ones.
    #[serde(default = "default_true")]
    pub exact_fallback: bool,
    /// Target clock period for the timing constraints (ns).
    #[serde(default = "default_clock")]
    pub clock_ns: f64,
    /// The approximate MXUs, routes 1.. (0.. without the exact fallback).
    #[serde(default)]
    pub mxu: Vec<MxuSpec>,
    /// The layer -> MXU route table a search chose (layer name -> route; 0 is the exact
    /// fallback when there is one). Optional; `generate` checks it and writes `routes.csv`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, usize>,
}

fn default_name() -> String {
    "aa".into()
}
fn default_dim() -> u32 {
    16
}
fn default_bits() -> u32 {
    8
}
fn default_acc() -> u32 {
    32
}
fn default_dataflow() -> Dataflow {
    Dataflow::WeightStationary
}
fn default_clock() -> f64 {
    10.0
}
fn default_true() -> bool {
    true
}

impl Default for AcceleratorSpec {
    fn default() -> Self {
        AcceleratorSpec {
            name: default_name(),
            rows: 16,
            cols: 16,
            act_bits: 8,
            weight_bits: 8,
            acc_bits: 32,
            dataflow: Dataflow::WeightStationary,
            exact_fallback: true,
            clock_ns: 10.0,
            mxu: vec![],
            routes: BTreeMap::new(),
        }
    }
}

/// What an MXU is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ExactFallback,
    Approximate,
}

/// A resolved MXU: its route index and multiplier.
#[derive(Clone, Debug)]
pub struct Mxu {
    pub route: usize,
    pub role: Role,
    pub mult: Multiplier,
}

/// A validated spec with its multipliers resolved.
#[derive(Clone, Debug)]
pub struct Accelerator {
    pub spec: AcceleratorSpec,
    pub mxus: Vec<Mxu>,
}

impl Accelerator {
    /// Width of the ROUTE register.
    pub fn route_bits(&self) -> u32 {
        clog2(self.mxus.len().max(2) as u32)
    }

    /// Bits of the weight-row address.
    pub fn row_addr_bits(&self) -> u32 {
        clog2(self.spec.rows.max(2))
    }

    /// Cycles from an activation vector entering to its result leaving an MXU.
    pub fn latency(&self) -> u32 {
        self.spec.rows + self.spec.cols - 1
    }

    /// Distinct multipliers, in route order.
    pub fn multipliers(&self) -> Vec<&Multiplier> {
        let mut out: Vec<&Multiplier> = Vec::new();
        for m in &self.mxus {
            if !out.iter().any(|x| x.module == m.mult.module) {
                out.push(&m.mult);
            }
        }
        out
    }
}

/// Bits to count 0..n-1 (ceil(log2 n)); 0 for n <= 1.
fn clog2(n: u32) -> u32 {
    32 - n.saturating_sub(1).leading_zeros()
}

fn bad(file: &Path, message: String) -> Error {
    Error::Input {
        file: file.to_path_buf(),
        message,
    }
}

impl AcceleratorSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Accelerator> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        let spec: AcceleratorSpec = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start].lines().count().max(1))
                .unwrap_or(1);
            Error::Located {
                file: path.into(),
                line: line as u32,
                message: e.message().to_string(),
            }
        })?;
        spec.resolve(path.parent().unwrap_or(Path::new(".")), path)
    }

    /// Validates the spec and resolves its multipliers; `base` anchors relative paths and
    /// `origin` names the spec in errors.
    pub fn resolve(self, base: &Path, origin: &Path) -> Result<Accelerator> {
        let s = &self;
        let ident = |x: &str| {
            !x.is_empty()
                && x.len() <= 40
                && x.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && x.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !ident(&s.name) {
            return Err(bad(
                origin,
                format!(
                    "name = \"{}\" must be a Verilog identifier of at most 40 characters",
                    s.name
                ),
            ));
        }
        for (k, v) in [("rows", s.rows), ("cols", s.cols)] {
            if !(1..=256).contains(&v) {
                return Err(bad(origin, format!("{k} = {v}: must be between 1 and 256")));
            }
        }
        if s.dataflow != Dataflow::WeightStationary {
            return Err(bad(
                origin,
                "dataflow = \"output-stationary\" is not generated yet; use \"weight-stationary\""
                    .into(),
            ));
        }
        if s.act_bits != s.weight_bits {
            return Err(bad(
                origin,
                format!(
                    "act_bits = {} and weight_bits = {} differ; the multipliers are square",
                    s.act_bits, s.weight_bits
                ),
            ));
        }
        let bits = s.act_bits;
        let need = 2 * bits + clog2(s.rows);
        if s.acc_bits < need || s.acc_bits > 64 {
            return Err(bad(
                origin,
                format!("acc_bits = {}: must be {need}..64 to hold the sum of {} products of {bits}-bit operands", s.acc_bits, s.rows),
            ));
        }
        if !(s.clock_ns > 0.0 && s.clock_ns.is_finite()) {
            return Err(bad(
                origin,
                format!("clock_ns = {}: must be a positive period in ns", s.clock_ns),
            ));
        }
        if !s.exact_fallback && s.mxu.is_empty() {
            return Err(bad(
                origin,
                "no MXU: list at least one [[mxu]] or keep exact_fallback = true".into(),
            ));
        }
        let mut mxus = Vec::new();
        if s.exact_fallback {
            mxus.push(Mxu {
                route: 0,
                role: Role::ExactFallback,
                mult: Multiplier::builtin(Design::Exact),
            });
        }
        for m in &s.mxu {
            let looks_like_path = m.multiplier.contains('/')
                || m.multiplier.ends_with(".v")
                || m.multiplier.ends_with(".sv");
            let arg = if Design::by_name(&m.multiplier).is_some() {
                m.multiplier.clone()
            } else if looks_like_path {
                let p = PathBuf::from(&m.multiplier);
                let p = if p.is_absolute() { p } else { base.join(p) };
                if !p.is_file() {
                    return Err(bad(
                        origin,
                        format!(
                            "[[mxu]] multiplier = \"{}\": no such file ({})",
                            m.multiplier,
                            p.display()
                        ),
                    ));
                }
                p.display().to_string()
            } else {
                return Err(bad(
                    origin,
                    format!(
                        "[[mxu]] multiplier = \"{}\": not a built-in name (see `autoapprox mult list`) and not a .v file",
                        m.multiplier
                    ),
                ));
            };
            let mult = multiplier::resolve(&arg, m.top.as_deref())?;
            if mult.bits != bits {
                return Err(bad(
                    origin,
                    format!(
                        "multiplier {} is {}-bit but act_bits = {bits}",
                        mult.name, mult.bits
                    ),
                ));
            }
            if mxus.iter().any(|x: &Mxu| x.mult.module == mult.module) {
                return Err(bad(
                    origin,
                    format!(
                        "multiplier {} is used by two MXUs (the exact fallback is mul8u_exact)",
                        mult.name
                    ),
                ));
            }
            mxus.push(Mxu {
                route: mxus.len(),
                role: Role::Approximate,
                mult,
            });
        }
        if let Some((layer, r)) = s.routes.iter().find(|(_, r)| **r >= mxus.len()) {
            return Err(bad(
                origin,
                format!(
                    "[routes] \"{layer}\" = {r}: there are only {} MXUs (routes 0..{})",
                    mxus.len(),
                    mxus.len() - 1
                ),
            ));
        }
        Ok(Accelerator { spec: self, mxus })
    }
}
