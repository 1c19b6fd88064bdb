//! The cell-library view of a parsed Liberty file: units, table templates, cells with their
//! area, leakage, pins (capacitance, function, internal-power tables) and flip-flops.

use super::syntax::{parse, Group};
use crate::error::{Error, IoContext, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A lookup table normalized to (input transition ns, output load pF); 1-D tables have one of
/// the axes empty; scalar tables both.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub slew: Vec<f64>,
    pub load: Vec<f64>,
    /// values[slew][load]
    pub values: Vec<Vec<f64>>,
}

fn interp(xs: &[f64], x: f64) -> (usize, usize, f64) {
    if xs.len() < 2 {
        return (0, 0, 0.0);
    }
    let mut i = 0;
    while i + 2 < xs.len() && x > xs[i + 1] {
        i += 1;
    }
    let t = (x - xs[i]) / (xs[i + 1] - xs[i]);
    (i, i + 1, t)
}

impl Table {
    /// Bilinear interpolation (linear extrapolation outside the index range).
    pub fn at(&self, slew: f64, load: f64) -> f64 {
        let (s0, s1, ts) = interp(&self.slew, slew);
        let (l0, l1, tl) = interp(&self.load, load);
        let v = |s: usize, l: usize| self.values[s][l];
        let a = v(s0, l0) + (v(s0, l1) - v(s0, l0)) * tl;
        let b = v(s1, l0) + (v(s1, l1) - v(s1, l0)) * tl;
        a + (b - a) * ts
    }
    pub fn min(&self) -> f64 {
        self.values
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
    Inout,
    Internal,
}

/// `internal_power` of a pin: energy per transition (pJ).
#[derive(Debug, Clone)]
pub struct InternalPower {
    pub related_pin: Option<String>,
    pub rise: Option<Table>,
    pub fall: Option<Table>,
}

impl InternalPower {
    /// Mean of rise and fall energy at (slew, load).
    pub fn energy(&self, slew: f64, load: f64) -> f64 {
        let v: Vec<f64> = [&self.rise, &self.fall]
            .iter()
            .filter_map(|t| t.as_ref().map(|t| t.at(slew, load)))
            .collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pin {
    pub name: String,
    pub direction: Direction,
    /// pF
    pub capacitance: f64,
    pub function: Option<String>,
    pub clock: bool,
    pub internal_power: Vec<InternalPower>,
}

/// A flip-flop (`ff` group).
#[derive(Debug, Clone)]
pub struct Ff {
    pub iq: String,
    pub iqn: String,
    pub clocked_on: String,
    pub next_state: String,
    pub clear: Option<String>,
    pub preset: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Cell {
    pub name: String,
    /// µm² (the library's area unit)
    pub area: f64,
    /// nW
    pub leakage: f64,
    pub pins: Vec<Pin>,
    pub ff: Option<Ff>,
    /// latches, state tables, or anything else we cannot model functionally
    pub unsupported: Option<String>,
    pub dont_use: bool,
}

impl Cell {
    pub fn pin(&self, name: &str) -> Option<&Pin> {
        self.pins.iter().find(|p| p.name == name)
    }
    pub fn inputs(&self) -> impl Iterator<Item = &Pin> {
        self.pins.iter().filter(|p| p.direction == Direction::Input)
    }
    pub fn outputs(&self) -> impl Iterator<Item = &Pin> {
        self.pins
            .iter()
            .filter(|p| p.direction == Direction::Output)
    }
}

/// The cell library PPA uses.
#[derive(Debug, Clone)]
pub struct Library {
    pub name: String,
    pub path: PathBuf,
    /// nominal supply, V
    pub voltage: f64,
    pub cells: BTreeMap<String, Cell>,
    /// the text's SHA-256 (cache keys)
    pub hash: String,
}

/// A unit attribute such as "1ns", "10ps" or "1nW" of group `g` (default `default` when
/// absent) in the base unit, from the table of (suffix, factor) `scales`.
fn unit_scale(
    g: &Group,
    name: &str,
    default: &str,
    scales: &[(&str, f64)],
    file: &Path,
) -> Result<f64> {
    let s = g.attr(name).unwrap_or(default).trim().trim_matches('"');
    let located = |message: String| Error::Located {
        file: file.into(),
        line: g.line_of(name),
        message,
    };
    let digits: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    // a bare unit ("ns") means one of it
    let num: f64 = if digits.is_empty() {
        1.0
    } else {
        digits
            .parse()
            .map_err(|_| located(format!("`{name}` is `{s}`: `{digits}` is not a number")))?
    };
    let unit = s[digits.len()..].trim().to_ascii_lowercase();
    for (u, f) in scales {
        if unit == *u {
            return Ok(num * f);
        }
    }
    Err(located(format!("unsupported `{name}` `{s}`")))
}

/// The numbers of a comma- or space-separated list (a table's index or values), each one
/// checked: `what` and `line` name the attribute in the error.
fn numbers(s: &str, what: &str, file: &Path, line: u32) -> Result<Vec<f64>> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| Error::Located {
                    file: file.into(),
                    line,
                    message: format!("`{what}` holds `{t}`, not a number"),
                })
        })
        .collect()
}

struct Template {
    vars: Vec<String>,
    index: Vec<Vec<f64>>,
}

struct Ctx<'a> {
    file: &'a Path,
    templates: BTreeMap<String, Template>,
    time: f64,   // library time unit in ns
    cap: f64,    // library capacitance unit in pF
    energy: f64, // library energy unit in pJ
}

impl Ctx<'_> {
    fn table(&self, g: &Group) -> Result<Table> {
        let err = |m: String| Error::Located {
            file: self.file.into(),
            line: g.line,
            message: m,
        };
        let tname = g.args.first().map(|s| s.as_str()).unwrap_or("scalar");
        let (vars, mut index) = match self.templates.get(tname) {
            Some(t) => (t.vars.clone(), t.index.clone()),
            None if tname == "scalar" => (vec![], vec![]),
            None => return Err(err(format!("unknown table template `{tname}`"))),
        };
        for (k, name) in ["index_1", "index_2", "index_3"].iter().enumerate() {
            if let Some(v) = g.complex(name) {
                while index.len() <= k {
                    index.push(vec![]);
                }
                index[k] = numbers(&v.join(","), name, self.file, g.line_of(name))?;
            }
        }
        let rows: Vec<Vec<f64>> = g
            .complex("values")
            .ok_or_else(|| err(format!("table `{}` has no values", g.kind)))?
            .iter()
            .map(|r| numbers(r, "values", self.file, g.line_of("values")))
            .collect::<Result<_>>()?;
        let mut t = Table::default();
        let mut slew_axis = None;
        let mut load_axis = None;
        for (k, v) in vars.iter().enumerate() {
            match v.as_str() {
                "input_net_transition"
                | "input_transition_time"
                | "related_pin_transition"
                | "constrained_pin_transition" => slew_axis = Some(k),
                "total_output_net_capacitance" => load_axis = Some(k),
                _ => {}
            }
        }
        let idx = |k: Option<usize>, scale: f64| -> Vec<f64> {
            k.and_then(|k| index.get(k))
                .map(|v| v.iter().map(|x| x * scale).collect())
                .unwrap_or_default()
        };
        t.slew = idx(slew_axis, self.time);
        t.load = idx(load_axis, self.cap);
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let (ns, nl) = (t.slew.len().max(1), t.load.len().max(1));
        if flat.len() != ns * nl {
            return Err(err(format!(
                "table `{}` has {} values, its template `{tname}` needs {}",
                g.kind,
                flat.len(),
                ns * nl
            )));
        }
        // row-major over (variable_1, variable_2)
        let load_first = load_axis == Some(0) && slew_axis == Some(1);
        t.values = (0..ns)
            .map(|s| {
                (0..nl)
                    .map(|l| {
                        if load_first {
                            flat[l * ns + s]
                        } else {
                            flat[s * nl + l]
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(t)
    }
}

impl Library {
    pub fn load(path: &Path) -> Result<Library> {
        let text = std::fs::read_to_string(path).at(path)?;
        Self::from_str(&text, path)
    }

    pub fn from_str(text: &str, path: &Path) -> Result<Library> {
        let groups = parse(text, path)?;
        let lib = groups
            .iter()
            .find(|g| g.kind == "library")
            .ok_or_else(|| Error::Input {
                file: path.into(),
                message: "no `library (...) { }` group: not a Liberty file".into(),
            })?;
        let time = unit_scale(
            lib,
            "time_unit",
            "1ns",
            &[("ns", 1.0), ("ps", 1e-3), ("us", 1e3)],
            path,
        )?;
        let voltage_unit =
            unit_scale(lib, "voltage_unit", "1V", &[("v", 1.0), ("mv", 1e-3)], path)?;
        let cap_unit_err = |m: String| Error::Located {
            file: path.into(),
            line: lib.line_of("capacitive_load_unit"),
            message: m,
        };
        let cap = match lib.complex("capacitive_load_unit") {
            Some([n, u]) => {
                let n: f64 = n.trim().parse().map_err(|_| {
                    cap_unit_err(format!("capacitive_load_unit's `{n}` is not a number"))
                })?;
                match u.trim().to_ascii_lowercase().as_str() {
                    "pf" => n,
                    "ff" => n * 1e-3,
                    other => {
                        return Err(cap_unit_err(format!(
                            "unsupported capacitive_load_unit `{other}`"
                        )))
                    }
                }
            }
            Some(other) => {
                return Err(cap_unit_err(format!(
                    "capacitive_load_unit needs (number, unit), found {other:?}"
                )))
            }
            None => 1.0,
        };
        let leak = unit_scale(
            lib,
            "leakage_power_unit",
            "1nW",
            &[
                ("nw", 1.0),
                ("pw", 1e-3),
                ("uw", 1e3),
                ("mw", 1e6),
                ("w", 1e9),
            ],
            path,
        )?;
        let voltage = lib
            .number("nom_voltage", path)?
            .ok_or_else(|| Error::Input {
                file: path.into(),
                message: "the library has no `nom_voltage`".into(),
            })?
            * voltage_unit;
        let mut ctx = Ctx {
            file: path,
            templates: BTreeMap::new(),
            time,
            cap,
            energy: cap * voltage_unit * voltage_unit,
        };
        for kind in ["lu_table_template", "power_lut_template"] {
            for t in lib.children(kind) {
                let vars = (1..=3)
                    .filter_map(|k| t.attr(&format!("variable_{k}")).map(|s| s.to_string()))
                    .collect();
                let index = (1..=3)
                    .filter_map(|k| {
                        let name = format!("index_{k}");
                        t.complex(&name)
                            .map(|v| numbers(&v.join(","), &name, path, t.line_of(&name)))
                    })
                    .collect::<Result<_>>()?;
                if let Some(name) = t.args.first() {
                    ctx.templates.insert(name.clone(), Template { vars, index });
                }
            }
        }
        let mut cells = BTreeMap::new();
        for c in lib.children("cell") {
            let cell = Self::cell(&mut ctx, c, leak)?;
            cells.insert(cell.name.clone(), cell);
        }
        Ok(Library {
            name: lib.args.first().cloned().unwrap_or_default(),
            path: path.to_path_buf(),
            voltage,
            cells,
            hash: crate::util::sha256_hex(text.as_bytes()),
        })
    }

    fn cell(ctx: &mut Ctx, c: &Group, leak_scale: f64) -> Result<Cell> {
        let name = c.args.first().cloned().unwrap_or_default();
        // a cell without `area` (a pseudo cell) has none; a malformed one is an error
        let area = c.number("area", ctx.file)?.unwrap_or(0.0);
        let leakage = match c.number("cell_leakage_power", ctx.file)? {
            Some(v) => v,
            None => {
                let v: Vec<f64> = c
                    .children("leakage_power")
                    .filter_map(|g| g.number("value", ctx.file).transpose())
                    .collect::<Result<_>>()?;
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            }
        } * leak_scale;
        let mut pins = Vec::new();
        let mut pin_groups: Vec<&Group> = c.children("pin").collect();
        // bus pins are flattened into their member pins
        let bus_pins: Vec<&Group> = c
            .children("bus")
            .chain(c.children("bundle"))
            .flat_map(|b| b.children("pin"))
            .collect();
        pin_groups.extend(bus_pins);
        for p in pin_groups {
            let direction = match p.attr("direction") {
                Some("input") => Direction::Input,
                Some("output") => Direction::Output,
                Some("inout") => Direction::Inout,
                _ => Direction::Internal,
            };
            let mut internal_power = Vec::new();
            for ip in p.children("internal_power") {
                let rise = ip
                    .children("rise_power")
                    .next()
                    .map(|g| ctx.table(g))
                    .transpose()?;
                let fall = ip
                    .children("fall_power")
                    .next()
                    .map(|g| ctx.table(g))
                    .transpose()?;
                let scale = |t: Option<Table>| {
                    t.map(|mut t| {
                        t.values.iter_mut().flatten().for_each(|v| *v *= ctx.energy);
                        t
                    })
                };
                internal_power.push(InternalPower {
                    related_pin: ip.attr("related_pin").map(|s| s.to_string()),
                    rise: scale(rise),
                    fall: scale(fall),
                });
            }
            // a pin group may name several pins: pin (A, B)
            for pname in &p.args {
                pins.push(Pin {
                    name: pname.trim().to_string(),
                    direction,
                    capacitance: p.number("capacitance", ctx.file)?.unwrap_or(0.0) * ctx.cap,
                    function: p.attr("function").map(|s| s.to_string()),
                    clock: p.attr("clock") == Some("true"),
                    internal_power: internal_power.clone(),
                });
            }
        }
        let ff = c.children("ff").next().map(|g| Ff {
            iq: g.args.first().cloned().unwrap_or_default(),
            iqn: g.args.get(1).cloned().unwrap_or_default(),
            clocked_on: g.attr("clocked_on").unwrap_or("").to_string(),
            next_state: g.attr("next_state").unwrap_or("").to_string(),
            clear: g.attr("clear").map(|s| s.to_string()),
            preset: g.attr("preset").map(|s| s.to_string()),
        });
        let unsupported = ["latch", "statetable", "ff_bank", "latch_bank"]
            .iter()
            .find(|k| c.children(k).next().is_some())
            .map(|k| format!("has a `{k}` group"));
        Ok(Cell {
            name,
            area,
            leakage,
            pins,
            ff,
            unsupported,
            dont_use: c.attr("dont_use") == Some("true"),
        })
    }
}
