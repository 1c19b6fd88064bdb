//! The content-addressed characterization cache (`sim_cache/`; format in its README).
//!
//! An entry is a directory `<key>/` whose name is the SHA-256 of the Verilog source, module
//! name, bit width, harness version and Verilator version. It is written complete into a
//! temporary directory and renamed into place; `manifest.json`, written last, holds the SHA-256
//! of every other file, so a truncated or altered entry is detected on load and recomputed.

use super::lowrank::{LowRank, LowRankStats};
use super::lut::{ErrorMetrics, Lut};
use crate::error::{Error, IoContext, Result};
use crate::multiplier::Multiplier;
use crate::util::sha256_hex;
use ndarray::{Array1, Array2};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bump when the on-disk layout changes.
pub const FORMAT_VERSION: u32 = 1;

/// Descriptive metadata of an entry (`meta.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub format: u32,
    pub key: String,
    pub name: String,
    pub module: String,
    pub family: String,
    pub bits: u32,
    pub source: String,
    pub source_sha256: String,
    pub harness_version: u32,
    pub verilator_version: String,
    pub tool: String,
}

/// A complete cache entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub meta: Meta,
    pub lut: Lut,
    pub metrics: ErrorMetrics,
    pub lowrank: LowRank,
}

/// The result of a lookup.
pub enum Lookup {
    Hit(Box<Entry>),
    Miss,
    /// The entry existed but failed verification; it has been removed.
    Corrupt(String),
}

pub struct Cache {
    root: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: u32,
    files: BTreeMap<String, String>,
}

/// The cache key of a multiplier under a given harness and Verilator version.
pub fn key(m: &Multiplier, harness_version: u32, verilator_version: &str) -> String {
    let mut h = Vec::new();
    for part in [
        format!("autoapprox-cache-v{FORMAT_VERSION}"),
        format!("harness-v{harness_version}"),
        verilator_version.to_string(),
        m.module.clone(),
        format!("{}:{}:{}", m.ports[0], m.ports[1], m.ports[2]),
        m.bits.to_string(),
    ] {
        h.extend_from_slice(part.as_bytes());
        h.push(0);
    }
    h.extend_from_slice(m.verilog.as_bytes());
    sha256_hex(&h)
}

fn npy<T: WriteNpyExt + ?Sized>(a: &T) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    a.write_npy(&mut buf)
        .map_err(|e| Error::Other(format!("npy encoding: {e}")))?;
    Ok(buf)
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Other(format!("json encoding: {e}")))
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Loads and verifies an entry; a corrupt one is removed.
    pub fn lookup(&self, key: &str) -> Lookup {
        let dir = self.entry_dir(key);
        if !dir.exists() {
            return Lookup::Miss;
        }
        match self.load(&dir, key) {
            Ok(e) => Lookup::Hit(Box::new(e)),
            Err(reason) => {
                let _ = std::fs::remove_dir_all(&dir);
                Lookup::Corrupt(reason)
            }
        }
    }

    fn load(&self, dir: &Path, key: &str) -> std::result::Result<Entry, String> {
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
        let manifest: Manifest = serde_json::from_slice(&read("manifest.json")?)
            .map_err(|e| format!("manifest.json: {e}"))?;
        if manifest.format != FORMAT_VERSION {
            return Err(format!(
                "format {} (expected {FORMAT_VERSION})",
                manifest.format
            ));
        }
        let mut files = BTreeMap::new();
        for (name, sum) in &manifest.files {
            let bytes = read(name)?;
            if &sha256_hex(&bytes) != sum {
                return Err(format!("{name}: checksum mismatch"));
            }
            files.insert(name.as_str(), bytes);
        }
        let get = |name: &str| {
            files
                .get(name)
                .ok_or_else(|| format!("{name} missing from manifest"))
        };
        let meta: Meta =
            serde_json::from_slice(get("meta.json")?).map_err(|e| format!("meta.json: {e}"))?;
        if meta.key != key {
            return Err("meta.json names another key".into());
        }
        let metrics: ErrorMetrics = serde_json::from_slice(get("metrics.json")?)
            .map_err(|e| format!("metrics.json: {e}"))?;
        let stats: LowRankStats = serde_json::from_slice(get("lowrank.json")?)
            .map_err(|e| format!("lowrank.json: {e}"))?;
        let side = 1usize << meta.bits;
        let lut =
            Array2::<u16>::read_npy(&get("lut.npy")?[..]).map_err(|e| format!("lut.npy: {e}"))?;
        if lut.dim() != (side, side) {
            return Err(format!("lut.npy has shape {:?}", lut.dim()));
        }
        let u = Array2::<f32>::read_npy(&get("svd_u.npy")?[..])
            .map_err(|e| format!("svd_u.npy: {e}"))?;
        let s = Array1::<f32>::read_npy(&get("svd_s.npy")?[..])
            .map_err(|e| format!("svd_s.npy: {e}"))?;
        let v = Array2::<f32>::read_npy(&get("svd_v.npy")?[..])
            .map_err(|e| format!("svd_v.npy: {e}"))?;
        let k = stats.rank;
        if u.dim() != (side, k) || v.dim() != (side, k) || s.len() != k {
            return Err("factor shapes disagree with lowrank.json".into());
        }
        let flat = |a: Array2<f32>| a.as_standard_layout().iter().copied().collect::<Vec<_>>();
        Ok(Entry {
            lut: Lut::new(
                meta.bits,
                lut.as_standard_layout().iter().copied().collect(),
            ),
            lowrank: LowRank {
                side,
                rank: k,
                u: flat(u),
                s: s.to_vec(),
                v: flat(v),
                stats,
            },
            metrics,
            meta,
        })
    }

    /// Writes an entry atomically (complete directory, then rename).
    pub fn store(&self, e: &Entry) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.root).at(&self.root)?;
        let side = e.lut.side();
        let k = e.lowrank.rank;
        let shape_err = |_| Error::Other("internal: array shape".into());
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("meta.json", json(&e.meta)?),
            ("metrics.json", json(&e.metrics)?),
            ("lowrank.json", json(&e.lowrank.stats)?),
            (
                "lut.npy",
                npy(&Array2::from_shape_vec((side, side), e.lut.data.clone()).map_err(shape_err)?)?,
            ),
            (
                "svd_u.npy",
                npy(&Array2::from_shape_vec((side, k), e.lowrank.u.clone()).map_err(shape_err)?)?,
            ),
            ("svd_s.npy", npy(&Array1::from_vec(e.lowrank.s.clone()))?),
            (
                "svd_v.npy",
                npy(&Array2::from_shape_vec((side, k), e.lowrank.v.clone()).map_err(shape_err)?)?,
            ),
        ];
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&self.root)
            .at(&self.root)?;
        let mut manifest = Manifest {
            format: FORMAT_VERSION,
            files: BTreeMap::new(),
        };
        for (name, bytes) in &files {
            std::fs::write(tmp.path().join(name), bytes).at(tmp.path().join(name))?;
            manifest.files.insert(name.to_string(), sha256_hex(bytes));
        }
        let mpath = tmp.path().join("manifest.json");
        std::fs::write(&mpath, json(&manifest)?).at(&mpath)?;
        let dest = self.entry_dir(&e.meta.key);
        if dest.exists() {
            let _ = std::fs::remove_dir_all(&dest);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755));
        }
        let tmp_path = tmp.keep();
        if let Err(err) = std::fs::rename(&tmp_path, &dest) {
            let _ = std::fs::remove_dir_all(&tmp_path);
            if !dest.join("manifest.json").exists() {
                return Err(Error::Io {
                    path: dest,
                    source: err,
                });
            }
        }
        Ok(dest)
    }
}
