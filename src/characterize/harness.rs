//! The Verilator harness: one model instantiating every multiplier being characterized,
//! swept over all input pairs (templates in `testbench/`).

use super::lut::Lut;
use crate::error::{Error, IoContext, Result};
use crate::multiplier::{import, Multiplier};
use crate::util::{require_tool, VERILATOR_INSTALL};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bump when the harness changes in a way that could change tables: it is part of cache keys.
pub const HARNESS_VERSION: u32 = 1;

const TOP_TEMPLATE: &str = include_str!("../../testbench/harness_top.v.tera");
const MAIN_TEMPLATE: &str = include_str!("../../testbench/harness_main.cpp.tera");

/// Tables from one harness run, in the order of the multipliers given.
pub struct HarnessRun {
    pub luts: Vec<Lut>,
    /// Verilator + C++ compile + link.
    pub build: Duration,
    /// The sweep alone, as timed inside the harness.
    pub sweep: Duration,
}

/// Checks that no two multipliers define the same module with different text.
fn check_module_clashes(mults: &[&Multiplier]) -> Result<()> {
    let mut owner: HashMap<&str, &Multiplier> = HashMap::new();
    for m in mults {
        for d in &m.defines {
            if let Some(prev) = owner.insert(d, m) {
                if prev.verilog != m.verilog {
                    return Err(Error::Input {
                        file: PathBuf::from(m.source_label()),
                        message: format!(
                            "module `{d}` is also defined, differently, by {}; characterize them in separate runs",
                            prev.source_label()
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Renders the harness sources into `dir` and returns the Verilog files to compile.
fn render(dir: &Path, mults: &[&Multiplier], bits: u32) -> Result<Vec<PathBuf>> {
    let mut ctx = tera::Context::new();
    ctx.insert("version", &HARNESS_VERSION);
    ctx.insert("bits", &bits);
    ctx.insert("pairs", &(1u64 << (2 * bits)));
    let list: Vec<HashMap<&str, &str>> = mults
        .iter()
        .map(|m| {
            HashMap::from([
                ("module", m.module.as_str()),
                ("a", m.ports[0].as_str()),
                ("b", m.ports[1].as_str()),
                ("o", m.ports[2].as_str()),
            ])
        })
        .collect();
    ctx.insert("mults", &list);
    let render = |tpl: &str| {
        tera::Tera::one_off(tpl, &ctx, false)
            .map_err(|e| Error::Other(format!("harness template: {e:?}")))
    };
    crate::util::write_atomic(&dir.join("aa_harness.v"), render(TOP_TEMPLATE)?.as_bytes())?;
    crate::util::write_atomic(
        &dir.join("aa_harness_main.cpp"),
        render(MAIN_TEMPLATE)?.as_bytes(),
    )?;
    // One file per distinct source text (several built-ins never share a file; a third-party
    // file holding several multipliers is compiled once).
    let mut files = vec![dir.join("aa_harness.v")];
    let mut seen = std::collections::HashSet::new();
    for (i, m) in mults.iter().enumerate() {
        if seen.insert(m.verilog.as_str()) {
            let p = dir.join(format!("src{i}_{}.v", m.module));
            crate::util::write_atomic(&p, m.verilog.as_bytes())?;
            files.push(p);
        }
    }
    Ok(files)
}

/// Builds one harness for `mults` (all of width `bits`) and sweeps all pairs `repeats` times
/// (at least once), keeping the fastest sweep time.
pub fn run(mults: &[&Multiplier], bits: u32, repeats: u32) -> Result<HarnessRun> {
    require_tool("verilator", VERILATOR_INSTALL)?;
    check_module_clashes(mults)?;
    let tmp = tempfile::Builder::new()
        .prefix("autoapprox-harness-")
        .tempdir()
        .at(std::env::temp_dir())?;
    let dir = tmp.path();
    let files = render(dir, mults, bits)?;
    let t0 = Instant::now();
    // -O2 beats Verilator's default -Os (and -march=native: 17 -> 11 ms for the built-in
    // library's sweep).
    let mut sources = files.clone();
    sources.push(dir.join("aa_harness_main.cpp"));
    let out = crate::util::verilator_build(
        "aa_harness",
        &sources,
        &dir.join("obj"),
        "aa_harness_sim",
        "-O2",
        &["-O3"],
    )?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Map errors in our temp copies back to the user's files.
        let err = import::verilator_error(&files[0], &stderr);
        return Err(match err {
            Error::Located {
                file,
                line,
                message,
            } => {
                let src = mults
                    .iter()
                    .find(|m| {
                        file.file_name().is_some_and(|f| {
                            f.to_string_lossy().ends_with(&format!("_{}.v", m.module))
                        })
                    })
                    .map(|m| PathBuf::from(m.source_label()))
                    .unwrap_or(file);
                Error::Located {
                    file: src,
                    line,
                    message,
                }
            }
            _ => Error::ToolFailed {
                tool: "verilator (harness build)".into(),
                message: stderr
                    .lines()
                    .filter(|l| l.contains("rror"))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n"),
            },
        });
    }
    let build = t0.elapsed();
    let bin = dir.join("obj").join("aa_harness_sim");
    let tables = dir.join("tables.bin");
    let out = Command::new(&bin)
        .arg(&tables)
        .arg(repeats.max(1).to_string())
        .output()
        .at(&bin)?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            tool: "characterization harness".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sweep_ns: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sweep_ns "))
        .and_then(|x| x.trim().parse().ok())
        .ok_or_else(|| Error::ToolFailed {
            tool: "characterization harness".into(),
            message: format!("unexpected output: {stdout}"),
        })?;
    let bytes = std::fs::read(&tables).at(&tables)?;
    let entries = 1usize << (2 * bits);
    if bytes.len() != 2 * entries * mults.len() {
        return Err(Error::ToolFailed {
            tool: "characterization harness".into(),
            message: format!(
                "wrote {} bytes, expected {}",
                bytes.len(),
                2 * entries * mults.len()
            ),
        });
    }
    let luts = bytes
        .chunks_exact(2 * entries)
        .map(|c| {
            Lut::new(
                bits,
                c.chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .collect(),
            )
        })
        .collect();
    Ok(HarnessRun {
        luts,
        build,
        sweep: Duration::from_nanos(sweep_ns),
    })
}
