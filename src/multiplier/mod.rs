//! Multipliers: the descriptor every later stage uses, the built-in library, and reading
//! third-party Verilog.

pub mod builtin;
pub mod import;
pub mod logic;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

pub use builtin::{Design, LIBRARY};

/// Where a multiplier's Verilog comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in library (the text is generated; `mac_verilog/` holds the same files).
    Builtin(Design),
    /// A user's Verilog file.
    File(PathBuf),
}

/// An unsigned `bits` x `bits` combinational multiplier with ports (A, B, O).
#[derive(Clone, Debug)]
pub struct Multiplier {
    /// Name used in reports and mappings: the Verilog module name.
    pub name: String,
    /// Module name in the Verilog text.
    pub module: String,
    pub family: String,
    pub bits: u32,
    pub source: Source,
    /// The Verilog source text (the whole file).
    pub verilog: String,
    /// Port names in the text, in (activation, weight, product) order.
    pub ports: [String; 3],
    /// Names of all modules the file defines (the multiplier and its submodules).
    pub defines: Vec<String>,
}

impl Multiplier {
    pub fn builtin(d: Design) -> Multiplier {
        Multiplier {
            name: d.name(),
            module: d.name(),
            family: d.family().to_string(),
            bits: 8,
            source: Source::Builtin(d),
            verilog: d.verilog(),
            ports: ["A".into(), "B".into(), "O".into()],
            defines: vec![d.name()],
        }
    }

    /// `builtin:NAME` or the file path, for reports.
    pub fn source_label(&self) -> String {
        match &self.source {
            Source::Builtin(_) => "builtin".to_string(),
            Source::File(p) => p.display().to_string(),
        }
    }

    /// The design, for built-in multipliers.
    pub fn design(&self) -> Option<Design> {
        match self.source {
            Source::Builtin(d) => Some(d),
            Source::File(_) => None,
        }
    }
}

/// The whole built-in library.
pub fn library() -> Vec<Multiplier> {
    LIBRARY.iter().map(|&d| Multiplier::builtin(d)).collect()
}

/// Resolves a command-line argument: a built-in name, or a path to a Verilog file (`top`
/// selects the module when the file holds several candidates).
pub fn resolve(arg: &str, top: Option<&str>) -> Result<Multiplier> {
    if let Some(d) = Design::by_name(arg) {
        return Ok(Multiplier::builtin(d));
    }
    let path = Path::new(arg);
    if path.is_file() {
        return import::read_verilog(path, top);
    }
    if arg.ends_with(".v") || arg.ends_with(".sv") || arg.contains('/') {
        return Err(Error::Input {
            file: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    Err(Error::UnknownMultiplier(arg.to_string()))
}

/// The built-in library as `autoapprox mult list` prints it: name, family, parameters and the
/// work each design follows.
pub fn library_table() -> String {
    let mut s = format!(
        "{:<22} {:<13} {:<22} follows\n",
        "name", "family", "parameters"
    );
    for d in LIBRARY {
        let cite = d.citation();
        let short = cite.split(", \"").next().unwrap_or(cite);
        s += &format!(
            "{:<22} {:<13} {:<22} {}\n",
            d.name(),
            d.family(),
            d.params(),
            short
        );
    }
    s
}

/// The files in `dir` that differ from (or are missing against) the built-in library's
/// generated Verilog.
pub fn stale_library_files(dir: &Path) -> Vec<PathBuf> {
    LIBRARY
        .iter()
        .map(|d| (dir.join(format!("{}.v", d.name())), d))
        .filter(|(p, d)| std::fs::read_to_string(p).ok().as_deref() != Some(d.verilog().as_str()))
        .map(|(p, _)| p)
        .collect()
}

/// Writes the built-in library's Verilog files into `dir` (one module per file), returning
/// the paths written.
pub fn write_library(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.into(),
        source: e,
    })?;
    let mut written = Vec::new();
    for d in LIBRARY {
        let path = dir.join(format!("{}.v", d.name()));
        crate::util::write_atomic(&path, d.verilog().as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
