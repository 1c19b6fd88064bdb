//! Small shared helpers: atomic file writes, CSV text, tool discovery, hashing.

use crate::error::{Error, IoContext, Result};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::process::Command;

pub const VERILATOR_INSTALL: &str = "sudo apt-get install -y verilator   (or `make deps`)";

thread_local! {
    /// Whether this thread is inside [`catch_quiet`].
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into None without printing it: for third-party code that panics
/// on inputs it cannot handle (egobox when it cannot fit a surrogate). The process's panic hook
/// is wrapped once, never swapped around a call, and stays silent only for the thread inside
/// this call; every other panic is reported as before.
pub fn catch_quiet<T>(f: impl FnOnce() -> T) -> Option<T> {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info)
            }
        }));
    });
    let outer = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    QUIET.with(|q| q.set(outer));
    r
}

/// CSV text through the `csv` crate: a field holding a comma, a quote or a line break is
/// quoted (RFC 4180), every other field is written as is, records end in `\n`.
pub struct CsvText {
    w: csv::Writer<Vec<u8>>,
}

impl CsvText {
    /// A CSV with these column names.
    pub fn new(header: &[&str]) -> CsvText {
        let mut t = CsvText {
            w: csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(Vec::new()),
        };
        t.row(header);
        t
    }

    /// Appends one record.
    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) {
        self.w
            .write_record(fields.iter().map(|f| f.as_ref()))
            .expect("a flexible CSV writer into memory cannot fail");
    }

    pub fn finish(self) -> String {
        let bytes = self
            .w
            .into_inner()
            .expect("flushing a CSV writer into memory cannot fail");
        String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).at(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).at(dir)?;
    tmp.write_all(bytes).at(path)?;
    tmp.as_file().sync_all().at(path)?;
    // NamedTempFile creates 0600; results are meant to be shared like any other output.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| Error::Io {
        path: path.into(),
        source: e.error,
    })?;
    Ok(())
}

/// Fails with the install command when `tool` is not on PATH.
pub fn require_tool(tool: &str, install: &str) -> Result<()> {
    match Command::new(tool).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(Error::ToolMissing {
            tool: tool.into(),
            install: install.into(),
        }),
    }
}

/// `verilator --version`, e.g. "Verilator 5.006 2023-01-22 rev (Debian 5.006-3)".
pub fn verilator_version() -> Result<String> {
    let o = Command::new("verilator").arg("--version").output();
    match o {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ => Err(Error::ToolMissing {
            tool: "verilator".into(),
            install: VERILATOR_INSTALL.into(),
        }),
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds a Verilator C++ model (`--cc --exe --build`) of `top` from `sources` (Verilog and the
/// C++ test bench) into `obj_dir`, producing the executable `obj_dir/<exe>`. `cxx_opt` is the
/// optimization of the generated C++ (e.g. "-O2"; Verilator's default -Os is slower to run).
/// The test benches run where they are built, so `-march=native` is safe. Warnings in user
/// designs are not fatal here (linting is `autoapprox lint`'s job). `extra` goes to Verilator
/// (e.g. `-O3` for its own optimizations).
pub fn verilator_build(
    top: &str,
    sources: &[std::path::PathBuf],
    obj_dir: &Path,
    exe: &str,
    cxx_opt: &str,
    extra: &[&str],
) -> Result<std::process::Output> {
    Command::new("verilator")
        .args([
            "--cc",
            "--exe",
            "--build",
            "-j",
            "2",
            "--x-assign",
            "fast",
            "--x-initial",
            "fast",
        ])
        .args(extra)
        .args([
            "--noassert",
            "-Wno-fatal",
            "-Wno-lint",
            "-Wno-style",
            "--top-module",
            top,
        ])
        .args(["-CFLAGS", "-march=native", "-MAKEFLAGS"])
        .arg(format!(
            "OPT_FAST={cxx_opt} OPT_SLOW=-O1 OPT_GLOBAL={cxx_opt}"
        ))
        .args(["-o", exe, "--Mdir"])
        .arg(obj_dir)
        .args(sources)
        .output()
        .at("verilator")
}

/// Pretty JSON of `v` (the form every JSON file autoapprox writes has).
pub fn json_pretty<T: serde::Serialize>(v: &T) -> crate::error::Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| crate::error::Error::Other(e.to_string()))
}

#[cfg(test)]
mod csv_tests {
    use super::{catch_quiet, CsvText};

    #[test]
    fn catch_quiet_turns_a_panic_into_none_and_passes_values_through() {
        assert_eq!(catch_quiet(|| 3), Some(3));
        let r: Option<u8> = catch_quiet(|| panic!("egobox could not fit"));
        assert_eq!(r, None);
        // nested scopes restore the outer state
        assert_eq!(
            catch_quiet(|| catch_quiet(|| -> u8 { panic!("inner") })),
            Some(None)
        );
    }

    #[test]
    fn csv_quotes_only_the_fields_that_need_it() {
        let mut t = CsvText::new(&["layer", "route", "multiplier"]);
        t.row(&["/features/conv,1", "2", "mul8u_exact"]);
        t.row(&["fc", "", "say \"hi\""]);
        t.row(&["0.1", "3", "a b"]);
        assert_eq!(
            t.finish(),
            "layer,route,multiplier\n\"/features/conv,1\",2,mul8u_exact\nfc,,\"say \"\"hi\"\"\"\n0.1,3,a b\n"
        );
    }
}
