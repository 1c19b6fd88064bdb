//! The project file (`autoapprox.toml`): everything `autoapprox run` needs, in one place. Every
//! section and key is optional except `[network] bench`; relative paths are relative to the
//! project file. `examples/autoapprox.toml` documents each key.

use crate::error::{Error, IoContext, Result};
use crate::multiplier::{Design, LIBRARY};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub network: Network,
    #[serde(default)]
    pub multipliers: Multipliers,
    #[serde(default)]
    pub accelerator: Accelerator,
    #[serde(default)]
    pub ppa: Ppa,
    #[serde(default)]
    pub search: Search,
    #[serde(default)]
    pub chip: Chip,
}

/// The network and its data: a benchmark directory (`benchmark.json`, the ONNX model, the
/// labelled splits; see README "Bring your own network").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub bench: PathBuf,
    /// Images in the search sample (default: 10 % of the validation split, at least 1,000).
    #[serde(default)]
    pub sample: Option<usize>,
    #[serde(default = "one")]
    pub sample_seed: u64,
    /// Simulator kernel for approximate layers: lut, gather or lowrank.
    #[serde(default = "lut")]
    pub kernel: String,
}

/// The candidate multipliers: built-in names (`["all"]` = the whole library), globs of
/// third-party Verilog files (EvoApproxLib's `mul8u_*.v` convention) and circuits to evolve
/// (`evolve`: the keys of [`crate::evolve::EvolveConfig`]; `bench`, `rows`, `clock_ns`,
/// `acc_bits` and the stream default to the project's network, accelerator and `[ppa]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Multipliers {
    #[serde(default = "all")]
    pub builtin: Vec<String>,
    #[serde(default)]
    pub verilog: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evolve: Option<toml::Table>,
}

impl Default for Multipliers {
    fn default() -> Self {
        Multipliers {
            builtin: all(),
            verilog: vec![],
            evolve: None,
        }
    }
}

/// The accelerator template every MXU variant shares.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Accelerator {
    #[serde(default = "aa")]
    pub name: String,
    #[serde(default = "sixteen")]
    pub rows: u32,
    #[serde(default = "sixteen")]
    pub cols: u32,
    #[serde(default = "ten")]
    pub clock_ns: f64,
    /// The exact MXU stays beside the approximate ones (route 0); the search relies on it.
    #[serde(default = "yes")]
    pub exact_fallback: bool,
    /// Liberty file (default: the built-in sky130_fd_sc_hd tt library).
    #[serde(default)]
    pub liberty: Option<PathBuf>,
}

impl Default for Accelerator {
    fn default() -> Self {
        Accelerator {
            name: aa(),
            rows: 16,
            cols: 16,
            clock_ns: 10.0,
            exact_fallback: true,
            liberty: None,
        }
    }
}

/// The PPA workload: operand streams of the network's own layers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ppa {
    #[serde(default = "four")]
    pub images: usize,
    #[serde(default = "thirty_two")]
    pub slots: usize,
    #[serde(default = "thirty_two")]
    pub len: usize,
    #[serde(default = "one")]
    pub seed: u64,
}

impl Default for Ppa {
    fn default() -> Self {
        Ppa {
            images: 4,
            slots: 32,
            len: 32,
            seed: 1,
        }
    }
}

/// The search (README "Searching a mapping"; defaults are the paper's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// gpbo, ego, greedy, random, dbo, nsga2, or "all".
    #[serde(default = "all")]
    pub methods: Vec<String>,
    #[serde(default = "forty")]
    pub budget: usize,
    #[serde(default = "seeds")]
    pub seeds: Vec<u64>,
    /// τ relative to the exact int8 top-1 on the sample, in points (0: no loss).
    #[serde(default)]
    pub tau: f64,
    /// Area cap, % of the exact MXU (exact MXU included).
    #[serde(default = "phi")]
    pub phi: f64,
    #[serde(default = "alpha1")]
    pub alpha1: f64,
    #[serde(default = "alpha2")]
    pub alpha2: f64,
    #[serde(default = "tie")]
    pub tie: f64,
    /// One-sided confidence of the paired bound on Δ top-1 that feasibility uses.
    #[serde(default = "confidence")]
    pub confidence: f64,
    /// Probability of holding on a fresh validation-sized set a confirmed design needs.
    #[serde(default = "hold")]
    pub hold: f64,
    /// Feasible mappings per run checked on the validation images outside the sample.
    #[serde(default = "eight")]
    pub confirm: usize,
}

impl Default for Search {
    fn default() -> Self {
        toml::from_str("").expect("every key has a default")
    }
}

/// Which design becomes the chip whose RTL is generated, linted and co-simulated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Chip {
    /// The method whose design is built (its run with the first seed).
    #[serde(default = "gpbo")]
    pub method: String,
    /// Activation vectors per stream in the co-simulation (plus a real layer tile).
    #[serde(default = "vectors")]
    pub cosim_vectors: usize,
}

impl Default for Chip {
    fn default() -> Self {
        Chip {
            method: gpbo(),
            cosim_vectors: vectors(),
        }
    }
}

fn one() -> u64 {
    1
}
fn lut() -> String {
    "lut".into()
}
fn all() -> Vec<String> {
    vec!["all".into()]
}
fn aa() -> String {
    "aa".into()
}
fn sixteen() -> u32 {
    16
}
fn ten() -> f64 {
    10.0
}
fn yes() -> bool {
    true
}
fn four() -> usize {
    4
}
fn thirty_two() -> usize {
    32
}
fn forty() -> usize {
    40
}
fn seeds() -> Vec<u64> {
    vec![1]
}
fn phi() -> f64 {
    400.0
}
fn alpha1() -> f64 {
    8.0
}
fn alpha2() -> f64 {
    1.2
}
fn tie() -> f64 {
    0.2
}
fn confidence() -> f64 {
    0.95
}
fn hold() -> f64 {
    0.8
}
fn eight() -> usize {
    8
}
fn gpbo() -> String {
    "gpbo".into()
}
fn vectors() -> usize {
    256
}

impl Project {
    /// Reads and checks a project file; relative paths become relative to its directory.
    pub fn load(path: &Path) -> Result<Project> {
        let text = std::fs::read_to_string(path).at(path)?;
        let bad = |message: String| Error::Input {
            file: path.into(),
            message,
        };
        let mut p: Project = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |q: &Path| {
            if q.is_absolute() {
                q.to_path_buf()
            } else {
                base.join(q)
            }
        };
        p.network.bench = rel(&p.network.bench);
        p.accelerator.liberty = p.accelerator.liberty.as_deref().map(rel);
        p.multipliers.verilog = p
            .multipliers
            .verilog
            .iter()
            .map(|g| rel(Path::new(g)).to_string_lossy().into_owned())
            .collect();
        if !p.network.bench.join("benchmark.json").is_file() {
            return Err(bad(format!(
                "[network] bench: {} has no benchmark.json (run `make benchmarks`, or see README \
                 \"Bring your own network\")",
                p.network.bench.display()
            )));
        }
        if p.multipliers.evolve.is_some() {
            p.evolve_config(path)?;
        }
        if !p.accelerator.exact_fallback {
            return Err(bad(
                "[accelerator] exact_fallback = false: the search needs the exact MXU (route 0) \
                 for the layers it keeps exact; set it to true"
                    .into(),
            ));
        }
        if p.search.budget == 0 || p.search.seeds.is_empty() {
            return Err(bad(
                "[search] needs budget >= 1 and at least one seed".into()
            ));
        }
        for m in &p.search.methods {
            if m != "all" {
                m.parse::<crate::search::methods::Method>()
                    .map_err(|e| bad(format!("[search] methods: {e}")))?;
            }
        }
        p.chip
            .method
            .parse::<crate::search::methods::Method>()
            .map_err(|e| bad(format!("[chip] method: {e}")))?;
        Ok(p)
    }

    /// The `[multipliers] evolve` settings with the project's defaults filled in (None when
    /// there is nothing to evolve); `path` is the project file, for messages and paths.
    pub fn evolve_config(&self, path: &Path) -> Result<Option<crate::evolve::EvolveConfig>> {
        let Some(t) = &self.multipliers.evolve else {
            return Ok(None);
        };
        let mut t = t.clone();
        let base = path.parent().unwrap_or(Path::new("."));
        // relative paths in the table are relative to the project file
        if let Some(toml::Value::String(b)) = t.get("bench") {
            let b = base.join(b).to_string_lossy().into_owned();
            t.insert("bench".into(), toml::Value::String(b));
        }
        let defaults = [
            (
                "bench",
                toml::Value::String(self.network.bench.to_string_lossy().into_owned()),
            ),
            ("rows", toml::Value::Integer(self.accelerator.rows as i64)),
            ("clock_ns", toml::Value::Float(self.accelerator.clock_ns)),
            (
                "stream_images",
                toml::Value::Integer(self.ppa.images as i64),
            ),
            ("stream_slots", toml::Value::Integer(self.ppa.slots as i64)),
            ("stream_len", toml::Value::Integer(self.ppa.len as i64)),
            ("stream_seed", toml::Value::Integer(self.ppa.seed as i64)),
        ];
        for (k, v) in defaults {
            t.entry(k.to_string()).or_insert(v);
        }
        let mut c: crate::evolve::EvolveConfig =
            t.try_into().map_err(|e: toml::de::Error| Error::Input {
                file: path.into(),
                message: format!("[multipliers] evolve: {e}"),
            })?;
        for s in &mut c.starts {
            if s.ends_with(".v") && Path::new(s.as_str()).is_relative() {
                *s = base.join(&*s).to_string_lossy().into_owned();
            }
        }
        c.check(path)?;
        Ok(Some(c))
    }

    /// The search methods, in the order given ("all" expands to every method).
    pub fn methods(&self) -> Vec<crate::search::methods::Method> {
        use crate::search::methods::Method;
        let mut out: Vec<Method> = Vec::new();
        for m in &self.search.methods {
            let add: Vec<Method> = if m == "all" {
                Method::ALL.to_vec()
            } else {
                vec![m.parse().expect("checked in load")]
            };
            for x in add {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
        }
        out
    }

    /// The candidate multipliers as `resolve` arguments: built-in names (library order), then
    /// the Verilog files the globs match (sorted). The exact multiplier is not a candidate.
    pub fn candidates(&self) -> Result<Vec<String>> {
        let exact = Design::Exact.name();
        let mut out: Vec<String> = Vec::new();
        for b in &self.multipliers.builtin {
            if b == "all" {
                out.extend(LIBRARY.iter().map(|d| d.name().to_string()));
            } else if Design::by_name(b).is_some() {
                out.push(b.clone());
            } else {
                return Err(Error::UnknownMultiplier(b.clone()));
            }
        }
        for g in &self.multipliers.verilog {
            let paths = glob::glob(g).map_err(|e| Error::Input {
                file: g.into(),
                message: format!("not a glob pattern: {e}"),
            })?;
            let mut files: Vec<PathBuf> = paths.filter_map(|p| p.ok()).collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::Input {
                    file: g.into(),
                    message: "[multipliers] verilog: the pattern matches no file".into(),
                });
            }
            out.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| *c != exact && seen.insert(c.clone()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_key() {
        let d = tempfile::tempdir().unwrap();
        let bench = d.path().join("b");
        std::fs::create_dir_all(&bench).unwrap();
        std::fs::write(bench.join("benchmark.json"), "{}").unwrap();
        let f = d.path().join("autoapprox.toml");
        std::fs::write(&f, "[network]\nbench = \"b\"\n").unwrap();
        let p = Project::load(&f).unwrap();
        assert_eq!(p.network.bench, bench);
        assert_eq!(
            (p.accelerator.rows, p.search.budget, p.search.phi),
            (16, 40, 400.0)
        );
        assert_eq!(p.methods().len(), crate::search::methods::Method::ALL.len());
        let c = p.candidates().unwrap();
        assert_eq!(c.len(), LIBRARY.len() - 1);
        assert!(!c.iter().any(|x| *x == Design::Exact.name()));

        std::fs::write(&f, "[network]\nbench = \"b\"\n[search]\nbugdet = 3\n").unwrap();
        let e = Project::load(&f).unwrap_err().to_string();
        assert!(e.contains("bugdet") && e.contains("autoapprox.toml"), "{e}");
        std::fs::write(
            &f,
            "[network]\nbench = \"b\"\n[search]\nmethods = [\"bo\"]\n",
        )
        .unwrap();
        let e = Project::load(&f).unwrap_err().to_string();
        assert!(e.contains("unknown search method"), "{e}");
        std::fs::write(
            &f,
            "[network]\nbench = \"b\"\n[multipliers]\nverilog = [\"nope/*.v\"]\n",
        )
        .unwrap();
        let e = Project::load(&f)
            .unwrap()
            .candidates()
            .unwrap_err()
            .to_string();
        assert!(e.contains("matches no file"), "{e}");
    }

    #[test]
    fn evolve_settings_take_the_projects_defaults() {
        let d = tempfile::tempdir().unwrap();
        let bench = d.path().join("b");
        std::fs::create_dir_all(&bench).unwrap();
        std::fs::write(bench.join("benchmark.json"), "{}").unwrap();
        let f = d.path().join("autoapprox.toml");
        std::fs::write(
            &f,
            "[network]\nbench = \"b\"\n[accelerator]\nrows = 8\n[ppa]\nslots = 5\n\
             [multipliers]\nevolve = { targets = [0.5, 2.0], distribution = \"workload\" }\n",
        )
        .unwrap();
        let p = Project::load(&f).unwrap();
        let c = p.evolve_config(&f).unwrap().unwrap();
        assert_eq!(c.targets, [0.5, 2.0]);
        assert_eq!(c.distribution, crate::evolve::Distribution::Workload);
        assert_eq!((c.bench.clone(), c.rows, c.stream_slots), (bench, 8, 5));
        assert_eq!(
            c.generations,
            crate::evolve::EvolveConfig::default().generations
        );
        std::fs::write(
            &f,
            "[network]\nbench = \"b\"\n[multipliers]\nevolve = { targets = [1.0], lamda = 2 }\n",
        )
        .unwrap();
        let e = Project::load(&f).unwrap_err().to_string();
        assert!(
            e.contains("evolve") && e.contains("lamda") && e.contains("autoapprox.toml"),
            "{e}"
        );
    }
}
