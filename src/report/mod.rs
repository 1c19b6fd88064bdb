//! Outputs: readable tables, JSON/CSV records, markdown reports and SVG plots.

pub mod plots;

use crate::characterize::{Characterization, RunStats};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One multiplier's characterization as a flat record (JSON object / CSV row).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub name: String,
    pub family: String,
    pub source: String,
    pub bits: u32,
    pub mae: f64,
    pub mae_pct: f64,
    pub wce: u32,
    pub wce_pct: f64,
    pub wcre_pct: f64,
    pub ep_pct: f64,
    pub mre_pct: f64,
    pub mse: f64,
    pub bias: f64,
    pub svd_rank: usize,
    pub svd_max_err: f64,
    pub svd_bytes: usize,
    pub cache_key: String,
}

impl Record {
    pub fn of(c: &Characterization) -> Record {
        let m = &c.metrics;
        Record {
            name: c.mult.name.clone(),
            family: c.mult.family.clone(),
            source: c.mult.source_label(),
            bits: c.mult.bits,
            mae: m.mae,
            mae_pct: m.mae_pct,
            wce: m.wce,
            wce_pct: m.wce_pct,
            wcre_pct: m.wcre_pct,
            ep_pct: m.ep_pct,
            mre_pct: m.mre_pct,
            mse: m.mse,
            bias: m.bias,
            svd_rank: c.lowrank.rank,
            svd_max_err: c.lowrank.stats.max_err,
            svd_bytes: c.lowrank.stats.bytes,
            cache_key: c.key.clone(),
        }
    }
}

pub fn records(cs: &[Characterization]) -> Vec<Record> {
    cs.iter().map(Record::of).collect()
}

/// A fixed-width table for terminals.
pub fn table(rs: &[Record]) -> String {
    let w = rs.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<w$}  {:<12} {:>9} {:>8} {:>6} {:>8} {:>8} {:>9} {:>10} {:>5} {:>8}",
        "name", "family", "MRE%", "MAE%", "WCE", "WCE%", "EP%", "WCRE%", "bias", "rank", "SVD max"
    );
    for r in rs {
        let _ = writeln!(
            s,
            "{:<w$}  {:<12} {:>9.4} {:>8.4} {:>6} {:>8.4} {:>8.3} {:>9.2} {:>10.3} {:>5} {:>8.4}",
            r.name,
            r.family,
            r.mre_pct,
            r.mae_pct,
            r.wce,
            r.wce_pct,
            r.ep_pct,
            r.wcre_pct,
            r.bias,
            r.svd_rank,
            r.svd_max_err
        );
    }
    s
}

/// The same table in markdown.
pub fn markdown_table(rs: &[Record]) -> String {
    let mut s = String::from(
        "| name | family | MRE % | MAE % | WCE | WCE % | EP % | WCRE % | MSE | bias | SVD rank | SVD max err | SVD bytes |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rs {
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} | {} | {:.4} | {:.3} | {:.2} | {:.1} | {:.3} | {} | {:.4} | {} |",
            r.name, r.family, r.mre_pct, r.mae_pct, r.wce, r.wce_pct, r.ep_pct, r.wcre_pct, r.mse, r.bias, r.svd_rank,
            r.svd_max_err, r.svd_bytes
        );
    }
    s
}

fn out_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Other(format!("{}: {e}", path.display()))
}

pub fn json_string(rs: &[Record]) -> Result<String> {
    serde_json::to_string_pretty(rs).map_err(|e| Error::Other(format!("json: {e}")))
}

pub fn csv_string(rs: &[Record]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rs {
        w.serialize(r)
            .map_err(|e| Error::Other(format!("csv: {e}")))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Other(format!("csv: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Other(format!("csv: {e}")))
}

/// Writes `text` to `path`, or to standard output when `path` is `-`.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    if path == Path::new("-") {
        print!("{text}");
        return Ok(());
    }
    crate::util::write_atomic(path, text.as_bytes()).map_err(|e| out_err(path, e))
}

/// Writes the characterization report into `dir`: `report.md`, `characterization.json`,
/// `characterization.csv`, `library.svg` and `heatmaps/<name>.svg`. Returns the files written.
pub fn write_characterization_report(
    dir: &Path,
    cs: &[Characterization],
    stats: &RunStats,
) -> Result<Vec<PathBuf>> {
    let rs = records(cs);
    let mut written = Vec::new();
    let mut put = |name: &str, text: String| -> Result<()> {
        let p = dir.join(name);
        write_text(&p, &text)?;
        written.push(p);
        Ok(())
    };
    put("characterization.json", json_string(&rs)?)?;
    put("characterization.csv", csv_string(&rs)?)?;
    put("library.svg", plots::library_overview(&rs)?)?;
    for c in cs {
        put(
            &format!("heatmaps/{}.svg", c.mult.name),
            plots::error_heatmap(c)?,
        )?;
    }
    let mut md = String::new();
    let _ = writeln!(md, "# Multiplier characterization\n");
    let _ = writeln!(
        md,
        "{} multipliers, each swept over all {} input pairs in one Verilator model \
         ({} simulated in this run, {} from the cache). Harness build {:.2} s, sweep {:.1} ms, \
         metrics + SVD {:.2} s, total {:.2} s.\n",
        cs.len(),
        cs.first().map(|c| c.lut.data.len()).unwrap_or(0),
        stats.simulated,
        stats.cache_hits,
        stats.harness_build.as_secs_f64(),
        stats.sweep.as_secs_f64() * 1e3,
        stats.analysis.as_secs_f64(),
        stats.total.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "Metrics as in ARCHITECTURE.md (e = a*b, d = |m - e|; MAE% and WCE% relative to 2^16; MRE% and \
         WCRE% over pairs with e > 0). SVD rank: smallest rank whose f32 factors reconstruct the \
         error matrix to within 0.5 everywhere (so rounding gives back the exact table).\n"
    );
    md.push_str(&markdown_table(&rs));
    let _ = writeln!(
        md,
        "\n![library overview](library.svg)\n\n## Error heatmaps\n"
    );
    for c in cs {
        let _ = writeln!(md, "- [{}](heatmaps/{}.svg)", c.mult.name, c.mult.name);
    }
    put("report.md", md)?;
    Ok(written)
}
