//! Reading an OpenROAD-flow-scripts run's results, so users with OpenROAD can replace our
//! pre-layout estimates with post-route numbers.
//!
//! `autoapprox generate` writes `orfs/config.mk` + `constraint.sdc`; after `make` in ORFS the
//! run leaves metrics JSON files (`logs/.../*.json`, `reports/.../metrics.json`,
//! `6_report.json`) with keys like `finish__design__instance__area`. We scan a directory for
//! them and take the latest stage that reports each quantity.

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OrfsReport {
    /// µm² of standard cells
    pub area_um2: Option<f64>,
    /// W
    pub power_w: Option<f64>,
    /// worst setup slack, ns
    pub setup_ws_ns: Option<f64>,
    pub instances: Option<f64>,
    pub files: Vec<PathBuf>,
}

/// Stages from last to first: a later stage's number wins.
const STAGES: [&str; 6] = [
    "finish",
    "detailedroute",
    "globalroute",
    "cts",
    "detailedplace",
    "floorplan",
];

fn find(v: &serde_json::Value, suffix: &str) -> Option<f64> {
    let obj = v.as_object()?;
    for st in STAGES {
        let key = format!("{st}__{suffix}");
        if let Some(x) = obj.get(&key).and_then(|x| x.as_f64()) {
            return Some(x);
        }
    }
    None
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).at(dir)? {
        let p = e.at(dir)?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads the metrics of an ORFS run below `dir`.
pub fn read(dir: &Path) -> Result<OrfsReport> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    let mut r = OrfsReport::default();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let mut used = false;
        for (slot, key) in [
            (&mut r.area_um2, "design__instance__area"),
            (&mut r.power_w, "power__total"),
            (&mut r.setup_ws_ns, "timing__setup__ws"),
            (&mut r.instances, "design__instance__count"),
        ] {
            if let Some(x) = find(&v, key) {
                *slot = Some(x);
                used = true;
            }
        }
        if used {
            r.files.push(f.clone());
        }
    }
    if r.files.is_empty() {
        return Err(Error::Input {
            file: dir.into(),
            message: "no ORFS metrics (JSON with keys like `finish__design__instance__area`) \
                      below this directory; point at the run's logs/ or reports/ directory"
                .into(),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn later_stages_win_and_missing_metrics_are_reported() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("logs/sky130hd/aa")).unwrap();
        std::fs::write(
            d.path().join("logs/sky130hd/aa/6_report.json"),
            r#"{"finish__design__instance__area": 1234.5, "cts__design__instance__area": 1000,
                "finish__power__total": 0.0021, "finish__timing__setup__ws": -0.05}"#,
        )
        .unwrap();
        let r = super::read(d.path()).unwrap();
        assert_eq!(r.area_um2, Some(1234.5));
        assert_eq!(r.power_w, Some(0.0021));
        assert_eq!(r.setup_ws_ns, Some(-0.05));
        assert_eq!(r.instances, None);
        let empty = tempfile::tempdir().unwrap();
        assert!(super::read(empty.path()).is_err());
    }
}
