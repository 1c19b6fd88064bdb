//! Technology mapping with Yosys onto a Liberty cell library.
//!
//! Flow: `synth` (flattened for netlists we simulate, hierarchical for the full array), flip-flops
//! legalized to plain positive-edge DFFs and mapped with `dfflibmap`, logic mapped with
//! `abc -liberty`. `extract_fa` is never used (Debian's Yosys 0.23 miscompiles it), and every
//! multiplier netlist is checked against its lookup table by simulation before it is used.

use super::liberty::Library;
use super::netlist::Netlist;
use crate::error::{Error, IoContext, Result};
use crate::util::require_tool;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const YOSYS_INSTALL: &str = "sudo apt-get install -y yosys   (or `make deps`)";

fn run_yosys(script: &str, work: &Path, what: &str) -> Result<String> {
    require_tool("yosys", YOSYS_INSTALL)?;
    std::fs::create_dir_all(work).at(work)?;
    let ys = work.join(format!("{what}.ys"));
    std::fs::write(&ys, script).at(&ys)?;
    let out = Command::new("yosys")
        .arg("-q")
        .arg("-l")
        .arg(work.join(format!("{what}.log")))
        .arg(&ys)
        .output()
        .at("yosys")?;
    let log = std::fs::read_to_string(work.join(format!("{what}.log"))).unwrap_or_default();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let errs = crate::rtl::lint::yosys_errors(&log, &stderr);
        return Err(Error::ToolFailed {
            tool: "yosys".into(),
            message: format!(
                "{what}: {} (script {}, log {})",
                if errs.is_empty() {
                    stderr.trim().to_string()
                } else {
                    errs.join("; ")
                },
                ys.display(),
                work.join(format!("{what}.log")).display()
            ),
        });
    }
    Ok(log)
}

fn map_script(files: &[PathBuf], top: &str, lib: &Path, flatten: bool) -> String {
    let mut s = String::new();
    for f in files {
        s.push_str(&format!("read_verilog {}\n", f.display()));
    }
    let lib = lib.display();
    s.push_str(&format!(
        "hierarchy -check -top {top}\nsynth -top {top}{flat}\n\
         dfflegalize -cell $_DFF_P_ 01\ndfflibmap -liberty {lib}\nabc -liberty {lib}\n\
         setundef -zero\nopt_clean -purge\n",
        flat = if flatten { " -flatten" } else { "" },
    ));
    s
}

/// Synthesizes `top` flat and returns its mapped netlist (also written to `work/<top>.json`).
pub fn synth_flat(files: &[PathBuf], top: &str, lib: &Library, work: &Path) -> Result<Netlist> {
    let json = work.join(format!("{top}.json"));
    let mut s = map_script(files, top, &lib.path, true);
    s.push_str(&format!("write_json {}\n", json.display()));
    run_yosys(&s, work, top)?;
    Netlist::from_yosys_json(&json, top, lib)
}

/// Area of a hierarchical design: each module mapped once, instances counted with their
/// multiplicity. Returns (area µm², cell count).
pub fn synth_hier_area(
    files: &[PathBuf],
    top: &str,
    lib: &Library,
    work: &Path,
) -> Result<(f64, u64)> {
    let mut s = map_script(files, top, &lib.path, false);
    s.push_str(&format!(
        "tee -o {}/{top}.stat stat -top {top} -liberty {}\n",
        work.display(),
        lib.path.display()
    ));
    run_yosys(&s, work, top)?;
    let stat_path = work.join(format!("{top}.stat"));
    let stat = std::fs::read_to_string(&stat_path).at(&stat_path)?;
    parse_hier_stat(&stat, top).ok_or_else(|| Error::ToolFailed {
        tool: "yosys".into(),
        message: format!("no hierarchy totals for `{top}` in {}", stat_path.display()),
    })
}

/// From `stat -top T -liberty L`: the "design hierarchy" section's cell total and the chip
/// area of the top module.
pub fn parse_hier_stat(stat: &str, top: &str) -> Option<(f64, u64)> {
    let area = stat.lines().rev().find_map(|l| {
        let l = l.trim();
        if l.starts_with("Chip area for top module")
            || (l.starts_with("Chip area for module") && l.contains(top))
        {
            l.rsplit(':').next()?.trim().parse::<f64>().ok()
        } else {
            None
        }
    })?;
    let hier = stat
        .find("design hierarchy")
        .map(|i| &stat[i..])
        .unwrap_or(stat);
    let cells = hier.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Number of cells:")
            .and_then(|v| v.trim().parse().ok())
    })?;
    Some((area, cells))
}
