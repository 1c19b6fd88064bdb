//! Liberty (.lib) reading: a small parser for the format's generic syntax (groups, simple and
//! complex attributes, comments, line continuations) and the cell-library view PPA needs (area,
//! leakage, pin capacitances, logic functions, flip-flops, internal energy tables).
//!
//! No maintained Rust Liberty crate fits: `liberty-parse` 0.1 (MIT, 2019, nom 5) fails on the
//! SkyWater and IHP files; `liberty-io` and `libertyparse` are AGPL, which this MIT crate cannot
//! link. The generic syntax is small, so it is parsed here.
//!
//! Units are normalized on load: time ns, capacitance pF, energy pJ, leakage nW, voltage V.

use crate::error::{Error, IoContext, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A Liberty group: `kind (args) { attributes and groups }`.
#[derive(Debug, Clone, Default)]
pub struct Group {
    pub kind: String,
    pub args: Vec<String>,
    /// simple attributes `name : value;` and complex ones `name (args);`, each with its line
    pub simple: Vec<(String, String, u32)>,
    pub complex: Vec<(String, Vec<String>, u32)>,
    pub groups: Vec<Group>,
    pub line: u32,
}

impl Group {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.simple
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, _)| v.as_str())
    }
    pub fn complex(&self, name: &str) -> Option<&[String]> {
        self.complex
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, _)| v.as_slice())
    }
    /// The line of attribute `name` (simple or complex; the group's own line when absent).
    pub fn line_of(&self, name: &str) -> u32 {
        self.simple
            .iter()
            .find(|(k, _, _)| k == name)
            .map(|a| a.2)
            .or_else(|| self.complex.iter().find(|(k, _, _)| k == name).map(|a| a.2))
            .unwrap_or(self.line)
    }
    /// Simple attribute `name` as a number: None when absent, an error naming the file and the
    /// line when it is present but not a number.
    pub fn number(&self, name: &str, file: &Path) -> Result<Option<f64>> {
        let Some(v) = self.attr(name) else {
            return Ok(None);
        };
        let t = v.trim().trim_matches('"').trim();
        t.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| Error::Located {
                file: file.into(),
                line: self.line_of(name),
                message: format!("`{name}` is `{v}`, not a number"),
            })
    }
    pub fn children<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Group> + 'a {
        self.groups.iter().filter(move |g| g.kind == kind)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

fn tokenize(src: &str, file: &Path) -> Result<Vec<(Tok, u32)>> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut line = 1u32;
    let mut out = Vec::new();
    let err = |line: u32, m: &str| Error::Located {
        file: file.to_path_buf(),
        line,
        message: m.to_string(),
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'\\' => {
                // line continuation
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let start = line;
                i += 2;
                loop {
                    if i + 1 >= b.len() {
                        return Err(err(start, "unterminated /* comment"));
                    }
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    if b[i] == b'*' && b[i + 1] == b'/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let start = line;
                i += 1;
                let mut s = String::new();
                loop {
                    if i >= b.len() {
                        return Err(err(start, "unterminated string"));
                    }
                    match b[i] {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' if b.get(i + 1) == Some(&b'\n') => {
                            line += 1;
                            i += 2;
                        }
                        b'\\' if b.get(i + 1) == Some(&b'\r') => i += 3,
                        b'\n' => {
                            line += 1;
                            s.push('\n');
                            i += 1;
                        }
                        _ => {
                            let ch = src[i..].chars().next().unwrap_or(' ');
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((Tok::Str(s), start));
            }
            b'(' | b')' | b'{' | b'}' | b':' | b';' | b',' => {
                out.push((Tok::Punct(c as char), line));
                i += 1;
            }
            _ => {
                let start = i;
                while i < b.len() && !b" \t\r\n(){}:;,\"\\".contains(&b[i]) {
                    i += 1;
                }
                if i == start {
                    return Err(err(line, &format!("unexpected character `{}`", c as char)));
                }
                out.push((Tok::Word(src[start..i].to_string()), line));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(Tok, u32)>,
    pos: usize,
    file: &'a Path,
}

impl Parser<'_> {
    fn err(&self, m: String) -> Error {
        let line = self
            .toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(0, |t| t.1);
        Error::Located {
            file: self.file.to_path_buf(),
            line,
            message: m,
        }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }
    fn expect(&mut self, c: char) -> Result<()> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => {
                self.pos -= 1;
                Err(self.err(format!("expected `{c}`, found {other:?}")))
            }
        }
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Parses statements until `}` (inside a group) or the end of input.
    fn body(&mut self, g: &mut Group) -> Result<()> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(Tok::Punct('}')) => return Ok(()),
                Some(Tok::Punct(';')) => {
                    self.pos += 1;
                }
                Some(Tok::Word(_)) => self.statement(g)?,
                Some(t) => return Err(self.err(format!("unexpected {t:?}"))),
            }
        }
    }

    fn statement(&mut self, g: &mut Group) -> Result<()> {
        let line = self.toks[self.pos].1;
        let Some(Tok::Word(name)) = self.next() else {
            return Err(self.err("expected a name".into()));
        };
        if self.eat(':') {
            // simple attribute: value tokens up to `;` (or the end of the line's statement)
            let mut parts = Vec::new();
            while let Some(t) = self.peek() {
                match t {
                    Tok::Punct(';') => {
                        self.pos += 1;
                        break;
                    }
                    Tok::Punct('}') => break,
                    Tok::Word(w) | Tok::Str(w) => {
                        // a value without `;` ends where the next statement starts
                        if !parts.is_empty() && self.toks[self.pos].1 != line {
                            break;
                        }
                        parts.push(w.clone());
                        self.pos += 1;
                    }
                    Tok::Punct(p) => {
                        return Err(self.err(format!("unexpected `{p}` in value of `{name}`")))
                    }
                }
            }
            g.simple.push((name, parts.join(" "), line));
            return Ok(());
        }
        self.expect('(')?;
        let mut args = Vec::new();
        let mut cur = String::new();
        loop {
            match self.next() {
                Some(Tok::Punct(')')) => break,
                Some(Tok::Punct(',')) => args.push(std::mem::take(&mut cur)),
                Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(&w);
                }
                Some(Tok::Punct(':')) => cur.push(':'),
                other => {
                    self.pos -= 1;
                    return Err(self.err(format!("unexpected {other:?} in arguments of `{name}`")));
                }
            }
        }
        if !cur.is_empty() || !args.is_empty() {
            args.push(cur);
        }
        if self.eat('{') {
            let mut child = Group {
                kind: name,
                args,
                line,
                ..Default::default()
            };
            self.body(&mut child)?;
            self.expect('}')?;
            g.groups.push(child);
        } else {
            self.eat(';');
            g.complex.push((name, args, line));
        }
        Ok(())
    }
}

/// Parses Liberty text into its top-level groups (normally one `library`).
pub fn parse(src: &str, file: &Path) -> Result<Vec<Group>> {
    let toks = tokenize(src, file)?;
    let mut p = Parser { toks, pos: 0, file };
    let mut root = Group::default();
    p.body(&mut root)?;
    if p.pos < p.toks.len() {
        return Err(p.err("unbalanced `}`".into()));
    }
    Ok(root.groups)
}

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

/// A Boolean function in Liberty syntax (`!A`, `A'`, `A&B`, `A*B`, `A B`, `A|B`, `A+B`, `A^B`,
/// parentheses, 0/1), parsed so it can be rendered as Verilog.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(bool),
    Var(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Xor(Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn parse(s: &str) -> std::result::Result<Expr, String> {
        let toks: Vec<char> = s.chars().collect();
        let mut p = ExprParser { t: toks, i: 0 };
        let e = p.or()?;
        p.ws();
        if p.i != p.t.len() {
            return Err(format!("unexpected `{}` in function \"{s}\"", p.t[p.i]));
        }
        Ok(e)
    }

    /// Verilog expression; `rename` maps Liberty pin names to Verilog identifiers.
    pub fn verilog(&self, rename: &dyn Fn(&str) -> String) -> String {
        match self {
            Expr::Const(b) => (if *b { "1'b1" } else { "1'b0" }).into(),
            Expr::Var(v) => rename(v),
            Expr::Not(a) => format!("~({})", a.verilog(rename)),
            Expr::And(a, b) => format!("({} & {})", a.verilog(rename), b.verilog(rename)),
            Expr::Or(a, b) => format!("({} | {})", a.verilog(rename), b.verilog(rename)),
            Expr::Xor(a, b) => format!("({} ^ {})", a.verilog(rename), b.verilog(rename)),
        }
    }

    pub fn eval(&self, v: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Var(n) => v(n),
            Expr::Not(a) => !a.eval(v),
            Expr::And(a, b) => a.eval(v) && b.eval(v),
            Expr::Or(a, b) => a.eval(v) || b.eval(v),
            Expr::Xor(a, b) => a.eval(v) ^ b.eval(v),
        }
    }
}

struct ExprParser {
    t: Vec<char>,
    i: usize,
}

impl ExprParser {
    fn ws(&mut self) {
        while self.i < self.t.len() && self.t[self.i].is_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<char> {
        self.ws();
        self.t.get(self.i).copied()
    }
    fn or(&mut self) -> std::result::Result<Expr, String> {
        let mut e = self.xor()?;
        while matches!(self.peek(), Some('|') | Some('+')) {
            self.i += 1;
            e = Expr::Or(Box::new(e), Box::new(self.xor()?));
        }
        Ok(e)
    }
    fn xor(&mut self) -> std::result::Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some('^') {
            self.i += 1;
            e = Expr::Xor(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> std::result::Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            match self.peek() {
                Some('&') | Some('*') => {
                    self.i += 1;
                    e = Expr::And(Box::new(e), Box::new(self.unary()?));
                }
                // juxtaposition is AND
                Some(c) if c == '(' || c == '!' || c.is_alphanumeric() || c == '_' => {
                    e = Expr::And(Box::new(e), Box::new(self.unary()?));
                }
                _ => return Ok(e),
            }
        }
    }
    fn unary(&mut self) -> std::result::Result<Expr, String> {
        let mut e = match self.peek() {
            Some('!') => {
                self.i += 1;
                Expr::Not(Box::new(self.unary()?))
            }
            Some('(') => {
                self.i += 1;
                let e = self.or()?;
                if self.peek() != Some(')') {
                    return Err("missing `)`".into());
                }
                self.i += 1;
                e
            }
            Some(c) if c.is_alphanumeric() || c == '_' => {
                let start = self.i;
                while self.i < self.t.len()
                    && (self.t[self.i].is_alphanumeric()
                        || matches!(self.t[self.i], '_' | '[' | ']' | '.'))
                {
                    self.i += 1;
                }
                let w: String = self.t[start..self.i].iter().collect();
                match w.as_str() {
                    "0" => Expr::Const(false),
                    "1" => Expr::Const(true),
                    _ => Expr::Var(w),
                }
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        while self.peek() == Some('\'') {
            self.i += 1;
            e = Expr::Not(Box::new(e));
        }
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_follow_liberty_precedence() {
        let e = Expr::parse("!A&B | C'^D").unwrap();
        for m in 0..16u32 {
            let v = |n: &str| m >> (n.as_bytes()[0] - b'A') & 1 == 1;
            let (a, b, c, d) = (v("A"), v("B"), v("C"), v("D"));
            assert_eq!(e.eval(&v), (!a && b) || (!c ^ d), "{m}");
        }
        let j = Expr::parse("A B + (A1 * !B1)").unwrap();
        let v = |n: &str| matches!(n, "A" | "B");
        assert!(j.eval(&v));
        assert!(Expr::parse("A & (B").is_err());
    }

    #[test]
    fn parses_groups_units_and_tables() {
        let src = r#"/* c */ library (t) { // comment
          time_unit : "1ps"; capacitive_load_unit (1, ff); nom_voltage : 1.2;
          leakage_power_unit : "1pW"; voltage_unit : "1V";
          lu_table_template (tm) { variable_1 : total_output_net_capacitance;
            variable_2 : input_net_transition; index_1 ("1, 2"); index_2 ("10, 20, 30"); }
          cell (X) { area : 2.5; cell_leakage_power : 1500;
            pin (A, B) { direction : input; capacitance : 2; }
            pin (Y) { direction : output; function : "(A*B)'";
              internal_power () { related_pin : "A";
                rise_power (tm) { values ("1, 2, 3", \
                   "4, 5, 6"); } } } }
        }"#;
        let lib = Library::from_str(src, Path::new("t.lib")).unwrap();
        let x = &lib.cells["X"];
        assert_eq!(x.area, 2.5);
        assert!((x.leakage - 1.5).abs() < 1e-12);
        assert_eq!(x.inputs().count(), 2);
        assert!((x.pin("B").unwrap().capacitance - 0.002).abs() < 1e-12);
        let t = x.pin("Y").unwrap().internal_power[0].rise.as_ref().unwrap();
        // transposed to [slew][load]; slew in ns, load in pF, energy fF*V^2 -> pJ
        assert_eq!(t.slew, vec![0.01, 0.02, 0.03]);
        assert_eq!(t.load, vec![0.001, 0.002]);
        assert!((t.at(0.02, 0.002) - 5e-3).abs() < 1e-12);
        assert!((t.at(0.015, 0.0015) - 3e-3).abs() < 1e-12);
        let bad = Library::from_str("library (t) { cell (X) { area : 1 ", Path::new("b.lib"));
        assert!(bad.is_err());
    }

    #[test]
    fn malformed_numbers_are_located_errors_never_defaults() {
        let lib = |cell: &str| {
            format!(
                "library (t) {{\n  nom_voltage : 1.8;\n  lu_table_template (tm) {{ variable_1 : total_output_net_capacitance; index_1 (\"1, 2\"); }}\n  cell (X) {{\n{cell}\n  }}\n}}\n"
            )
        };
        let ok = lib("    area : 2.5;\n    pin (A) { direction : input; capacitance : 0.002; }");
        assert!(Library::from_str(&ok, Path::new("ok.lib")).is_ok());
        for (body, line, what) in [
            ("    area : 2.5x;", 5, "area"),
            ("    area : 1;\n    cell_leakage_power : 1e;", 6, "cell_leakage_power"),
            (
                "    area : 1;\n    pin (A) { direction : input;\n      capacitance : 0,002; }",
                7,
                "capacitance",
            ),
            (
                "    area : 1;\n    pin (Y) { direction : output; internal_power () {\n      rise_power (tm) { values (\"1, 2q\"); } } }",
                7,
                "values",
            ),
        ] {
            let err = Library::from_str(&lib(body), Path::new("bad.lib"))
                .err()
                .unwrap_or_else(|| panic!("accepted {body}"))
                .to_string();
            assert!(
                err.contains("bad.lib") && err.contains(&format!(":{line}")) && err.contains(what),
                "{body}: {err}"
            );
        }
        let unit = "library (t) {\n  nom_voltage : 1.8;\n  time_unit : \"1.2.3ns\";\n}\n";
        let err = Library::from_str(unit, Path::new("u.lib"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("u.lib") && err.contains(":3") && err.contains("time_unit"),
            "{err}"
        );
    }
}
