#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the built `autoapprox` binary.
pub fn autoapprox(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_autoapprox"))
        .args(args)
        .current_dir(cwd)
        .env_remove("AUTOAPPROX_CACHE")
        .output()
        .expect("run autoapprox")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Number of entries (directories) in a cache root, 0 when it does not exist.
pub fn cache_entries(root: &Path) -> usize {
    std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0)
}

/// An accelerator spec named `t<rows>x<cols>` with these approximate multipliers.
pub fn spec(
    rows: u32,
    cols: u32,
    fallback: bool,
    mults: &[&str],
) -> autoapprox::rtl::AcceleratorSpec {
    autoapprox::rtl::AcceleratorSpec {
        name: format!("t{rows}x{cols}"),
        rows,
        cols,
        exact_fallback: fallback,
        mxu: mults
            .iter()
            .map(|m| autoapprox::rtl::MxuSpec {
                multiplier: m.to_string(),
                top: None,
            })
            .collect(),
        ..autoapprox::rtl::AcceleratorSpec::default()
    }
}
