//! Static timing and a power cross-check with OpenSTA (Debian `opensta`, the `sta` binary).

use super::liberty::Library;
use crate::error::{Error, IoContext, Result};
use std::path::Path;
use std::process::Command;

pub const STA_INSTALL: &str = "sudo apt-get install -y opensta   (or `make deps`)";

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct StaPower {
    /// W
    pub internal: f64,
    pub switching: f64,
    pub leakage: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Default)]
pub struct StaResult {
    /// Critical path (ns): for a clocked design the minimum period (arrival + setup), for a
    /// combinational one the input-to-output delay.
    pub delay_ns: f64,
    pub path: String,
    pub power: Option<StaPower>,
}

/// Times `verilog` (module `top`) with 0.1 ns input transitions and no output load. With
/// `clock` (a port name) the design is clocked by it, otherwise a virtual clock constrains
/// inputs to outputs. With `activity` (per input port bit: transitions per cycle), also runs
/// `report_power` at `period_ns`.
pub fn run(
    verilog: &Path,
    top: &str,
    lib: &Library,
    clock: Option<&str>,
    period_ns: f64,
    activity: Option<&[(String, f64)]>,
    work: &Path,
) -> Result<StaResult> {
    require_tool_sta()?;
    let mut s = format!(
        "read_liberty {}\nread_verilog {}\nlink_design {top}\n",
        lib.path.display(),
        verilog.display()
    );
    match clock {
        Some(c) => s.push_str(&format!(
            "create_clock -name clk -period {period_ns} [get_ports {c}]\n\
             set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {c}]]\n"
        )),
        None => s.push_str(&format!(
            "create_clock -name clk -period {period_ns}\nset_input_delay 0 -clock clk [all_inputs]\n"
        )),
    }
    s.push_str(
        "set_output_delay 0 -clock clk [all_outputs]\nset_input_transition 0.1 [all_inputs]\n\
         report_checks -path_delay max -digits 4\n",
    );
    if let Some(act) = activity {
        s.push_str("set_power_activity -input -activity 0\n");
        for (port, a) in act {
            s.push_str(&format!(
                "set_power_activity -input_ports [get_ports {{{port}}}] -activity {a} -duty 0.5\n"
            ));
        }
        s.push_str("report_power -digits 6\n");
    }
    std::fs::create_dir_all(work).at(work)?;
    let tcl = work.join(format!("{top}.sta.tcl"));
    std::fs::write(&tcl, &s).at(&tcl)?;
    let out = Command::new("sta")
        .args(["-no_splash", "-exit"])
        .arg(&tcl)
        .output()
        .at("sta")?;
    let log =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    std::fs::write(work.join(format!("{top}.sta.log")), &log).at(work)?;
    if !out.status.success() || log.contains("Error") {
        let errs: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Error"))
            .take(5)
            .collect();
        return Err(Error::ToolFailed {
            tool: "sta (OpenSTA)".into(),
            message: format!("{}: {}", tcl.display(), errs.join("; ")),
        });
    }
    let mut r = parse(&log).ok_or_else(|| Error::ToolFailed {
        tool: "sta (OpenSTA)".into(),
        message: format!(
            "no timing path in {}",
            work.join(format!("{top}.sta.log")).display()
        ),
    })?;
    if clock.is_some() {
        r.delay_ns = period_ns - slack(&log).unwrap_or(0.0);
    }
    Ok(r)
}

fn require_tool_sta() -> Result<()> {
    // the Debian build has no --version flag; only its absence matters here
    match Command::new("sta").arg("-version").output() {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::ToolMissing {
            tool: "sta".into(),
            install: STA_INSTALL.into(),
        }),
    }
}

fn slack(log: &str) -> Option<f64> {
    log.lines()
        .find(|l| l.contains("slack ("))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
}

/// Parses `report_checks` (arrival time, path) and `report_power` (the Total row).
pub fn parse(log: &str) -> Option<StaResult> {
    let arrival = log
        .lines()
        .find(|l| l.trim_end().ends_with("data arrival time"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())?;
    let start = log
        .lines()
        .find_map(|l| l.strip_prefix("Startpoint: "))
        .unwrap_or("")
        .to_string();
    let end = log
        .lines()
        .find_map(|l| l.strip_prefix("Endpoint: "))
        .unwrap_or("")
        .to_string();
    let power = log.lines().find(|l| l.starts_with("Total ")).and_then(|l| {
        let v: Vec<f64> = l
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        (v.len() >= 4).then(|| StaPower {
            internal: v[0],
            switching: v[1],
            leakage: v[2],
            total: v[3],
        })
    });
    Some(StaResult {
        delay_ns: arrival,
        path: format!("{start} -> {end}"),
        power,
    })
}
