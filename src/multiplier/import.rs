//! Reading third-party multiplier Verilog (e.g. EvoApproxLib's `mul8u_*.v`).
//!
//! The file is elaborated by Verilator itself (`--xml-only`), so ANSI and non-ANSI headers,
//! parameters and submodules are understood exactly as the harness will see them. The XML
//! gives every module's ports with their widths and source lines, the instance hierarchy, and
//! any edge-triggered process.

use super::{Multiplier, Source};
use crate::error::{Error, IoContext, Result};
use crate::util::{require_tool, VERILATOR_INSTALL};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A port as Verilator elaborated it.
#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    pub dir: String,
    pub width: u32,
    pub line: u32,
}

/// A module of the parsed file.
#[derive(Clone, Debug)]
pub struct ModuleInfo {
    pub name: String,
    pub line: u32,
    pub ports: Vec<Port>,
    /// Names of the modules it instantiates directly.
    pub children: Vec<String>,
    /// Line of the first edge-triggered process, if any.
    pub sequential_at: Option<u32>,
}

/// Elaborates `path` with Verilator and returns its modules.
pub fn parse_modules(path: &Path) -> Result<Vec<ModuleInfo>> {
    require_tool("verilator", VERILATOR_INSTALL)?;
    let tmp = tempfile::tempdir().at(std::env::temp_dir())?;
    let xml_path = tmp.path().join("design.xml");
    let out = Command::new("verilator")
        .args([
            "--xml-only",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--Mdir",
        ])
        .arg(tmp.path())
        .arg("--xml-output")
        .arg(&xml_path)
        .arg(path)
        .output()
        .at("verilator")?;
    if !out.status.success() {
        return Err(verilator_error(path, &String::from_utf8_lossy(&out.stderr)));
    }
    let xml = std::fs::read_to_string(&xml_path).at(&xml_path)?;
    parse_xml(path, &xml)
}

/// Turns Verilator's first `%Error` line into an error naming the file and line.
pub fn verilator_error(path: &Path, stderr: &str) -> Error {
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("%Error") else {
            continue;
        };
        // "%Error: file.v:2:18: message" or "%Error-CODE: file.v:2:18: message"
        let rest = rest.split_once(": ").map(|x| x.1).unwrap_or(rest);
        let mut parts = rest.splitn(4, ':');
        if let (Some(file), Some(l), Some(_col), Some(msg)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            if let Ok(line_no) = l.trim().parse::<u32>() {
                return Error::Located {
                    file: PathBuf::from(file),
                    line: line_no,
                    message: msg.trim().to_string(),
                };
            }
        }
        return Error::Input {
            file: path.to_path_buf(),
            message: rest.trim().to_string(),
        };
    }
    Error::Input {
        file: path.to_path_buf(),
        message: format!("Verilator could not read this file:\n{}", stderr.trim()),
    }
}

fn line_of(loc: Option<&str>) -> u32 {
    loc.and_then(|l| l.split(',').nth(1))
        .and_then(|l| l.parse().ok())
        .unwrap_or(1)
}

fn parse_xml(path: &Path, xml: &str) -> Result<Vec<ModuleInfo>> {
    let bad = |m: String| Error::Input {
        file: path.to_path_buf(),
        message: m,
    };
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| bad(format!("unreadable Verilator XML: {e}")))?;
    let netlist = doc
        .descendants()
        .find(|n| n.has_tag_name("netlist"))
        .ok_or_else(|| bad("Verilator XML has no netlist".into()))?;
    let mut widths: HashMap<&str, u32> = HashMap::new();
    for t in netlist
        .descendants()
        .filter(|n| n.has_tag_name("typetable"))
    {
        for d in t.children().filter(|n| n.is_element()) {
            let (Some(id), l, r) = (d.attribute("id"), d.attribute("left"), d.attribute("right"))
            else {
                continue;
            };
            let w = match (
                l.and_then(|x| x.parse::<i64>().ok()),
                r.and_then(|x| x.parse::<i64>().ok()),
            ) {
                (Some(l), Some(r)) => (l - r).unsigned_abs() as u32 + 1,
                _ if d.has_tag_name("basicdtype") => 1,
                _ => 0,
            };
            widths.insert(id, w);
        }
    }
    let mut modules = Vec::new();
    for m in netlist.children().filter(|n| n.has_tag_name("module")) {
        let name = m
            .attribute("origName")
            .or(m.attribute("name"))
            .unwrap_or("")
            .to_string();
        let mut ports = Vec::new();
        for v in m.children().filter(|n| n.has_tag_name("var")) {
            let Some(dir) = v.attribute("dir") else {
                continue;
            };
            let width = v
                .attribute("dtype_id")
                .and_then(|id| widths.get(id))
                .copied()
                .unwrap_or(0);
            ports.push(Port {
                name: v
                    .attribute("origName")
                    .or(v.attribute("name"))
                    .unwrap_or("")
                    .to_string(),
                dir: dir.to_string(),
                width,
                line: line_of(v.attribute("loc")),
            });
        }
        let children = m
            .descendants()
            .filter(|n| n.has_tag_name("instance") || n.has_tag_name("cell"))
            .filter_map(|n| {
                n.attribute("defName")
                    .or(n.attribute("submodname"))
                    .map(str::to_string)
            })
            .collect();
        let sequential_at = m
            .descendants()
            .find(|n| {
                n.has_tag_name("senitem")
                    && matches!(n.attribute("edgeType"), Some("POS" | "NEG" | "BOTH"))
            })
            .map(|n| line_of(n.attribute("loc")));
        modules.push(ModuleInfo {
            name,
            line: line_of(m.attribute("loc")),
            ports,
            children,
            sequential_at,
        });
    }
    // Verilator lists the hierarchy separately under <cells>; merge it into `children`.
    for top in doc.descendants().filter(|n| n.has_tag_name("cells")) {
        for cell in top.descendants().filter(|n| n.has_tag_name("cell")) {
            let Some(parent) = cell.parent_element().filter(|p| p.has_tag_name("cell")) else {
                continue;
            };
            let (Some(p), Some(c)) = (parent.attribute("submodname"), cell.attribute("submodname"))
            else {
                continue;
            };
            if let Some(m) = modules.iter_mut().find(|m| m.name == p) {
                if !m.children.iter().any(|x| x == c) {
                    m.children.push(c.to_string());
                }
            }
        }
    }
    Ok(modules)
}

/// "`name` (input A[8], input B[8], output O[16])".
fn describe(m: &ModuleInfo) -> String {
    let ports: Vec<String> = m
        .ports
        .iter()
        .map(|p| format!("{} {}[{}]", p.dir, p.name, p.width))
        .collect();
    format!("`{}` ({})", m.name, ports.join(", "))
}

fn is_candidate(m: &ModuleInfo) -> bool {
    m.ports.iter().filter(|p| p.dir == "input").count() == 2
        && m.ports.iter().filter(|p| p.dir == "output").count() == 1
        && m.ports.len() == 3
}

/// All modules reachable from `top` (itself included).
fn hierarchy<'a>(modules: &'a [ModuleInfo], top: &str) -> Vec<&'a ModuleInfo> {
    let mut seen = HashSet::new();
    let mut stack = vec![top.to_string()];
    let mut out = Vec::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Some(m) = modules.iter().find(|m| m.name == n) {
            stack.extend(m.children.iter().cloned());
            out.push(m);
        }
    }
    out
}

/// Reads a multiplier from a Verilog file: finds the module (or checks `top`), its port order
/// and widths, and rejects sequential logic.
pub fn read_verilog(path: &Path, top: Option<&str>) -> Result<Multiplier> {
    let text = std::fs::read_to_string(path).at(path)?;
    let modules = parse_modules(path)?;
    let err = |line: u32, message: String| Error::Located {
        file: path.to_path_buf(),
        line,
        message,
    };
    if modules.is_empty() {
        return Err(err(1, "no module in this file".into()));
    }
    let chosen = match top {
        Some(t) => modules.iter().find(|m| m.name == t).ok_or_else(|| {
            let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
            err(
                1,
                format!("no module `{t}` (the file defines: {})", names.join(", ")),
            )
        })?,
        None => {
            let mut cands: Vec<&ModuleInfo> = modules.iter().filter(|m| is_candidate(m)).collect();
            if cands.len() > 1 {
                // Prefer modules nobody instantiates (a wrapper over a core multiplier).
                let used: HashSet<&str> = modules
                    .iter()
                    .flat_map(|m| m.children.iter().map(String::as_str))
                    .collect();
                cands.retain(|m| !used.contains(m.name.as_str()));
            }
            match cands.as_slice() {
                [one] => *one,
                [] => {
                    let found: Vec<String> = modules.iter().map(describe).collect();
                    return Err(err(
                        modules[0].line,
                        format!(
                            "no multiplier module (two inputs, one output, as in `module X(A, B, O); \
                             input [7:0] A; input [7:0] B; output [15:0] O;`); found {}",
                            found.join("; ")
                        ),
                    ));
                }
                many => {
                    let mut many = many.to_vec();
                    many.sort_by_key(|m| m.line);
                    let list: Vec<String> = many
                        .iter()
                        .map(|m| format!("`{}` (line {})", m.name, m.line))
                        .collect();
                    return Err(err(
                        many[1].line,
                        format!(
                            "{} candidate multiplier modules: {}; choose one with --top NAME",
                            many.len(),
                            list.join(", ")
                        ),
                    ));
                }
            }
        }
    };
    if !is_candidate(chosen) {
        return Err(err(
            chosen.line,
            format!(
                "a multiplier needs two inputs and one output; found {}",
                describe(chosen)
            ),
        ));
    }
    let inputs: Vec<&Port> = chosen.ports.iter().filter(|p| p.dir == "input").collect();
    let output = chosen
        .ports
        .iter()
        .find(|p| p.dir == "output")
        .expect("candidate has an output");
    // A = activation, B = weight: by name when the file uses A/B, else in declaration order.
    let (pa, pb) = match (
        inputs.iter().find(|p| p.name == "A"),
        inputs.iter().find(|p| p.name == "B"),
    ) {
        (Some(a), Some(b)) => (*a, *b),
        _ => (inputs[0], inputs[1]),
    };
    let n = pa.width;
    if pb.width != n {
        return Err(err(
            pb.line,
            format!(
                "input `{}` is {} bits but `{}` is {} bits; both operands must have the same width",
                pb.name, pb.width, pa.name, n
            ),
        ));
    }
    if output.width != 2 * n {
        return Err(err(
            output.line,
            format!(
                "output `{}` is {} bits; {n}x{n}-bit multipliers need {} output bits",
                output.name,
                output.width,
                2 * n
            ),
        ));
    }
    if !(1..=8).contains(&n) {
        return Err(err(
            pa.line,
            format!(
                "{n}-bit operands: only 1..8-bit multipliers can be characterized exhaustively"
            ),
        ));
    }
    for m in hierarchy(&modules, &chosen.name) {
        if let Some(line) = m.sequential_at {
            return Err(err(line, format!("module `{}` has edge-triggered (sequential) logic; only combinational multipliers can be characterized", m.name)));
        }
    }
    let file_defines: Vec<String> = modules.iter().map(|m| m.name.clone()).collect();
    Ok(Multiplier {
        name: chosen.name.clone(),
        module: chosen.name.clone(),
        family: "third-party".into(),
        bits: n,
        source: Source::File(path.to_path_buf()),
        verilog: text,
        ports: [pa.name.clone(), pb.name.clone(), output.name.clone()],
        defines: file_defines,
    })
}
