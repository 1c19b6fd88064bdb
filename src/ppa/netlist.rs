//! Gate-level netlists: read from Yosys `write_json`, written back as plain structural Verilog
//! with one scalar wire per net (`n<id>`), so every net's toggles can be counted by name and
//! the same text is simulated (Verilator) and timed (OpenSTA). Cell behaviour models for the
//! simulation are generated from the Liberty functions.

use super::liberty::{Direction, Expr, Library};
use crate::error::{Error, IoContext, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// One bit of a port or pin connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bit {
    Net(usize),
    Const(bool),
}

#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub input: bool,
    /// LSB first
    pub bits: Vec<Bit>,
}

#[derive(Debug, Clone)]
pub struct Inst {
    pub name: String,
    pub cell: String,
    /// (pin, bit, is_output)
    pub pins: Vec<(String, Bit, bool)>,
}

/// A flat, technology-mapped module.
#[derive(Debug, Clone)]
pub struct Netlist {
    pub module: String,
    pub ports: Vec<Port>,
    pub insts: Vec<Inst>,
}

/// Where a net gets its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Driver {
    /// instance index, output pin
    Cell(usize, String),
    /// primary input (port name, bit)
    Input(String, usize),
}

fn bit(v: &Value) -> Option<Bit> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| Bit::Net(n as usize)),
        Value::String(s) if s == "0" => Some(Bit::Const(false)),
        Value::String(s) if s == "1" => Some(Bit::Const(true)),
        // x/z: undriven; treat as 0 (Yosys leaves these only on unused outputs)
        Value::String(_) => Some(Bit::Const(false)),
        _ => None,
    }
}

impl Netlist {
    /// Reads module `top` from a Yosys JSON netlist; every cell must be a library cell.
    pub fn from_yosys_json(path: &Path, top: &str, lib: &Library) -> Result<Netlist> {
        let text = std::fs::read_to_string(path).at(path)?;
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::Input {
            file: path.into(),
            message: format!("not a Yosys JSON netlist: {e}"),
        })?;
        let bad = |m: String| Error::Input {
            file: path.into(),
            message: m,
        };
        let m = v
            .get("modules")
            .and_then(|m| m.get(top))
            .ok_or_else(|| bad(format!("no module `{top}`")))?;
        let mut ports = Vec::new();
        if let Some(ps) = m.get("ports").and_then(|p| p.as_object()) {
            for (name, p) in ps {
                let bits = p["bits"]
                    .as_array()
                    .map(|a| a.iter().filter_map(bit).collect())
                    .unwrap_or_default();
                ports.push(Port {
                    name: name.clone(),
                    input: p["direction"] == "input",
                    bits,
                });
            }
        }
        let mut insts = Vec::new();
        if let Some(cs) = m.get("cells").and_then(|c| c.as_object()) {
            for (name, c) in cs {
                let cell = c["type"].as_str().unwrap_or("").to_string();
                let lc = lib.cells.get(&cell).ok_or_else(|| {
                    bad(format!(
                        "cell `{name}` has type `{cell}`, which is not in the liberty file {}",
                        lib.path.display()
                    ))
                })?;
                let mut pins = Vec::new();
                if let Some(conns) = c["connections"].as_object() {
                    for (pin, bits) in conns {
                        let Some(b) = bits.as_array().and_then(|a| a.first()).and_then(bit) else {
                            continue;
                        };
                        let out = lc
                            .pin(pin)
                            .map(|p| p.direction == Direction::Output)
                            .unwrap_or(false);
                        pins.push((pin.clone(), b, out));
                    }
                }
                insts.push(Inst {
                    name: name.clone(),
                    cell,
                    pins,
                });
            }
        }
        Ok(Netlist {
            module: top.to_string(),
            ports,
            insts,
        })
    }

    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|p| p.name == name)
    }

    /// All nets that appear anywhere.
    pub fn nets(&self) -> BTreeSet<usize> {
        let mut s = BTreeSet::new();
        for p in &self.ports {
            for b in &p.bits {
                if let Bit::Net(n) = b {
                    s.insert(*n);
                }
            }
        }
        for i in &self.insts {
            for (_, b, _) in &i.pins {
                if let Bit::Net(n) = b {
                    s.insert(*n);
                }
            }
        }
        s
    }

    pub fn drivers(&self) -> BTreeMap<usize, Driver> {
        let mut d = BTreeMap::new();
        for p in self.ports.iter().filter(|p| p.input) {
            for (k, b) in p.bits.iter().enumerate() {
                if let Bit::Net(n) = b {
                    d.insert(*n, Driver::Input(p.name.clone(), k));
                }
            }
        }
        for (i, inst) in self.insts.iter().enumerate() {
            for (pin, b, out) in &inst.pins {
                if let (Bit::Net(n), true) = (b, out) {
                    d.insert(*n, Driver::Cell(i, pin.clone()));
                }
            }
        }
        d
    }

    /// Capacitive load of every net: the sum of the input pin capacitances it drives (pF).
    /// No wire load model: the numbers are pre-layout, pin loads only.
    pub fn loads(&self, lib: &Library) -> BTreeMap<usize, f64> {
        let mut l = BTreeMap::new();
        for inst in &self.insts {
            let cell = &lib.cells[&inst.cell];
            for (pin, b, out) in &inst.pins {
                if let (Bit::Net(n), false) = (b, out) {
                    *l.entry(*n).or_insert(0.0) += cell.pin(pin).map_or(0.0, |p| p.capacitance);
                }
            }
        }
        l
    }

    /// Cell count and area (µm²) from the library.
    pub fn area(&self, lib: &Library) -> f64 {
        self.insts.iter().map(|i| lib.cells[&i.cell].area).sum()
    }

    pub fn cell_counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for i in &self.insts {
            *m.entry(i.cell.clone()).or_insert(0) += 1;
        }
        m
    }

    /// Structural Verilog: ports as declared, one wire `n<id>` per net.
    pub fn verilog(&self) -> String {
        let net = |b: &Bit| match b {
            Bit::Net(n) => format!("n{n}"),
            Bit::Const(true) => "1'b1".into(),
            Bit::Const(false) => "1'b0".into(),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "// Technology-mapped netlist written by autoapprox (one wire per net).\nmodule {} ({});",
            self.module,
            self.ports
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for p in &self.ports {
            let dir = if p.input { "input" } else { "output" };
            if p.bits.len() == 1 {
                let _ = writeln!(s, "  {dir} {};", p.name);
            } else {
                let _ = writeln!(s, "  {dir} [{}:0] {};", p.bits.len() - 1, p.name);
            }
        }
        for n in self.nets() {
            let _ = writeln!(s, "  wire n{n};");
        }
        let idx = |p: &Port, k: usize| {
            if p.bits.len() == 1 {
                p.name.clone()
            } else {
                format!("{}[{k}]", p.name)
            }
        };
        for p in self.ports.iter().filter(|p| p.input) {
            for (k, b) in p.bits.iter().enumerate() {
                if let Bit::Net(n) = b {
                    let _ = writeln!(s, "  assign n{n} = {};", idx(p, k));
                }
            }
        }
        for p in self.ports.iter().filter(|p| !p.input) {
            for (k, b) in p.bits.iter().enumerate() {
                let _ = writeln!(s, "  assign {} = {};", idx(p, k), net(b));
            }
        }
        for inst in &self.insts {
            let conns: Vec<String> = inst
                .pins
                .iter()
                .map(|(pin, b, _)| format!(".{pin}({})", net(b)))
                .collect();
            let _ = writeln!(
                s,
                "  {} u{} ({});",
                inst.cell,
                sanitize(&inst.name),
                conns.join(", ")
            );
        }
        s.push_str("endmodule\n");
        s
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Verilog behaviour models of `cells` from their Liberty functions (combinational outputs as
/// `assign`, `ff` groups as a positive- or negative-edge register). Toggle coverage is switched
/// off inside the models: nets are counted in the netlist, where they have one name each.
pub fn cell_models(lib: &Library, cells: &BTreeSet<String>) -> Result<String> {
    let mut s =
        String::from("// Cell models generated by autoapprox from the liberty functions.\n");
    let bad = |cell: &str, m: String| Error::Input {
        file: lib.path.clone(),
        message: format!("cell `{cell}`: {m}"),
    };
    for name in cells {
        let c = &lib.cells[name];
        if let Some(u) = &c.unsupported {
            return Err(bad(
                name,
                format!("{u}; only combinational cells and flip-flops are modelled"),
            ));
        }
        let pins: Vec<_> = c
            .pins
            .iter()
            .filter(|p| matches!(p.direction, Direction::Input | Direction::Output))
            .collect();
        let _ = writeln!(
            s,
            "module {name} ({});\n  /*verilator coverage_off*/",
            pins.iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for p in &pins {
            let dir = if p.direction == Direction::Input {
                "input"
            } else {
                "output"
            };
            let _ = writeln!(s, "  {dir} {};", p.name);
        }
        let rename = |v: &str| v.to_string();
        if let Some(ff) = &c.ff {
            let clk = Expr::parse(&ff.clocked_on).map_err(|e| bad(name, e))?;
            let (edge, clk_sig) = match &clk {
                Expr::Var(v) => ("posedge", v.clone()),
                Expr::Not(b) => match b.as_ref() {
                    Expr::Var(v) => ("negedge", v.clone()),
                    _ => return Err(bad(name, "unsupported clocked_on".into())),
                },
                _ => return Err(bad(name, "unsupported clocked_on".into())),
            };
            if ff.clear.is_some() || ff.preset.is_some() {
                return Err(bad(
                    name,
                    "flip-flops with clear/preset are not modelled (synthesis maps to plain DFFs)"
                        .into(),
                ));
            }
            let next = Expr::parse(&ff.next_state).map_err(|e| bad(name, e))?;
            let _ = writeln!(
                s,
                "  reg {iq};\n  wire {iqn} = ~{iq};\n  always @({edge} {clk_sig}) {iq} <= {};",
                next.verilog(&rename),
                iq = ff.iq,
                iqn = if ff.iqn.is_empty() {
                    "IQN_unused"
                } else {
                    &ff.iqn
                },
            );
        }
        for p in pins.iter().filter(|p| p.direction == Direction::Output) {
            let f = p
                .function
                .as_ref()
                .ok_or_else(|| bad(name, format!("output `{}` has no function", p.name)))?;
            let e = Expr::parse(f).map_err(|e| bad(name, e))?;
            let _ = writeln!(s, "  assign {} = {};", p.name, e.verilog(&rename));
        }
        s.push_str("  /*verilator coverage_on*/\nendmodule\n");
    }
    Ok(s)
}
