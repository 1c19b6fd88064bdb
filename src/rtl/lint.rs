//! `autoapprox lint DIR`: Verilator `--lint-only -Wall` (zero warnings) and Yosys
//! `hierarchy -check; synth` on a generated design.

use super::{sources, Manifest};
use crate::error::{Error, IoContext, Result};
use crate::util::{require_tool, VERILATOR_INSTALL};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub const YOSYS_INSTALL: &str = "sudo apt-get install -y yosys   (or `make deps`)";

#[derive(Clone, Debug)]
pub struct LintReport {
    pub top: String,
    /// Every `%Warning`/`%Error` line Verilator printed (must be empty).
    pub verilator: Vec<String>,
    pub verilator_seconds: f64,
    /// Cells of the whole design after `synth` (hierarchy expanded: instances x cells).
    pub yosys_cells: u64,
    /// Cells per module, as Yosys `stat` lists them.
    pub module_cells: Vec<(String, u64)>,
    pub yosys_seconds: f64,
}

impl LintReport {
    pub fn clean(&self) -> bool {
        self.verilator.is_empty()
    }

    /// What `autoapprox lint` prints: Verilator's warnings, then Yosys' cells per module.
    pub fn text(&self) -> String {
        let mut s = format!(
            "verilator --lint-only -Wall: {} warning(s) ({:.1} s)\n",
            self.verilator.len(),
            self.verilator_seconds
        );
        for w in &self.verilator {
            s += &format!("  {w}\n");
        }
        s += &format!(
            "yosys hierarchy -check; synth: ok, {} cells ({:.1} s)\n",
            self.yosys_cells, self.yosys_seconds
        );
        for (m, n) in &self.module_cells {
            s += &format!("  {m:<48} {n:>8} cells\n");
        }
        s
    }
}

/// Parses Yosys `stat` output: per-module cell counts and the hierarchy total.
pub fn parse_stat(log: &str) -> (Vec<(String, u64)>, Option<u64>) {
    let mut modules = Vec::new();
    let mut current: Option<String> = None;
    let mut in_hierarchy = false;
    let mut total = None;
    for line in log.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("=== ").and_then(|r| r.strip_suffix(" ===")) {
            in_hierarchy = rest == "design hierarchy";
            current = if in_hierarchy {
                None
            } else {
                Some(rest.to_string())
            };
            continue;
        }
        if let Some(n) = l
            .strip_prefix("Number of cells:")
            .and_then(|x| x.trim().parse::<u64>().ok())
        {
            if in_hierarchy {
                total = Some(n);
            } else if let Some(m) = current.take() {
                // `synth` prints its own stat before ours: keep the last count per module.
                modules.retain(|(x, _): &(String, u64)| *x != m);
                modules.push((m, n));
            }
        }
    }
    (modules, total)
}

/// The `ERROR` lines of a failed Yosys run (its log, then its stderr).
pub fn yosys_errors<'a>(log: &'a str, stderr: &'a str) -> Vec<&'a str> {
    log.lines()
        .chain(stderr.lines())
        .filter(|l| l.contains("ERROR"))
        .collect()
}

pub fn lint(dir: &Path) -> Result<LintReport> {
    require_tool("verilator", VERILATOR_INSTALL)?;
    require_tool("yosys", YOSYS_INSTALL)?;
    let m = Manifest::load(dir)?;
    let files = sources(dir, &m);
    for f in &files {
        if !f.is_file() {
            return Err(Error::Input {
                file: f.clone(),
                message: "listed in manifest.json but missing".into(),
            });
        }
    }

    let t0 = Instant::now();
    let mut cmd = Command::new("verilator");
    cmd.args(["--lint-only", "-Wall", "--top-module", &m.top]);
    let vlt = dir.join("rtl/third_party.vlt");
    if vlt.is_file() {
        cmd.arg(&vlt);
    }
    let out = cmd.args(&files).output().at("verilator")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut verilator: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with("%Warning") || l.starts_with("%Error"))
        .map(str::to_string)
        .collect();
    if !out.status.success() && verilator.is_empty() {
        verilator.push(format!(
            "verilator exited with {}: {}",
            out.status,
            stderr.trim()
        ));
    }
    let verilator_seconds = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let mut script = String::new();
    for f in &m.files {
        script.push_str(&format!("read_verilog {f}; "));
    }
    script.push_str(&format!(
        "hierarchy -check -top {top}; synth -top {top}; stat",
        top = m.top
    ));
    let out = Command::new("yosys")
        .args(["-p", &script])
        .current_dir(dir)
        .output()
        .at("yosys")?;
    let log = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let err = yosys_errors(&log, &stderr);
        return Err(Error::ToolFailed {
            tool: "yosys".into(),
            message: format!("synthesis of {} failed: {}", m.top, err.join("; ")),
        });
    }
    let (module_cells, total) = parse_stat(&log);
    let yosys_cells = total
        .or_else(|| module_cells.last().map(|x| x.1))
        .unwrap_or(0);
    Ok(LintReport {
        top: m.top,
        verilator,
        verilator_seconds,
        yosys_cells,
        module_cells,
        yosys_seconds: t1.elapsed().as_secs_f64(),
    })
}
