//! RTL generation: an accelerator spec rendered through the Tera templates in `templates/`
//! into Verilog-2001 (one module per file), a filelist, a FuseSoC core, a Yosys script and an
//! OpenROAD-flow-scripts config.

pub mod lint;
pub mod spec;

use crate::error::{Error, IoContext, Result};
use crate::multiplier::Source;
use crate::util::write_atomic;
use serde::{Deserialize, Serialize};
use spec::{Accelerator, Role};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use spec::{AcceleratorSpec, Dataflow, MxuSpec};

const TEMPLATES: &[(&str, &str)] = &[
    ("header.tera", include_str!("../../templates/header.tera")),
    ("pe.v.tera", include_str!("../../templates/pe.v.tera")),
    ("array.v.tera", include_str!("../../templates/array.v.tera")),
    ("mxu.v.tera", include_str!("../../templates/mxu.v.tera")),
    ("bank.v.tera", include_str!("../../templates/bank.v.tera")),
    ("top.v.tera", include_str!("../../templates/top.v.tera")),
    (
        "filelist.f.tera",
        include_str!("../../templates/filelist.f.tera"),
    ),
    ("core.tera", include_str!("../../templates/core.tera")),
    (
        "synth.ys.tera",
        include_str!("../../templates/synth.ys.tera"),
    ),
    (
        "config.mk.tera",
        include_str!("../../templates/config.mk.tera"),
    ),
    (
        "constraint.sdc.tera",
        include_str!("../../templates/constraint.sdc.tera"),
    ),
];

/// A deliberate bug for testing co-simulation: PE (row, col) of the MXU on `route` gets its
/// multiplier's A and B swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub route: usize,
    pub row: u32,
    pub col: u32,
}

#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Test only: inject a fault into the generated RTL.
    pub fault: Option<Fault>,
}

/// Module names of one MXU variant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MxuModules {
    pub route: usize,
    pub role: String,
    pub multiplier: String,
    pub pe: String,
    pub array: String,
    pub mxu: String,
}

/// What `generate` wrote (`manifest.json` in the output directory).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub name: String,
    pub top: String,
    pub bank: String,
    pub rows: u32,
    pub cols: u32,
    pub bits: u32,
    pub acc_bits: u32,
    pub route_bits: u32,
    pub row_bits: u32,
    pub latency: u32,
    pub mxus: Vec<MxuModules>,
    /// Verilog sources relative to the output directory, dependencies first.
    pub files: Vec<String>,
    /// Sources that are third-party multipliers (linted with a file-level waiver).
    pub third_party: Vec<String>,
    pub filelist: String,
    /// The layer -> MXU route table from the spec's `[routes]` (empty when it has none); also
    /// written as `routes.csv`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
}

/// One row of the route table: which MXU a layer runs on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RouteEntry {
    pub layer: String,
    pub route: usize,
    pub multiplier: String,
}

impl Manifest {
    /// What `autoapprox generate` prints about the design it wrote to `out`.
    pub fn text(&self, out: &Path) -> String {
        let mut s = format!(
            "{}: {}x{} array, {} MXU(s), {} Verilog files in {}\n",
            self.top,
            self.rows,
            self.cols,
            self.mxus.len(),
            self.files.len(),
            out.join("rtl").display()
        );
        for x in &self.mxus {
            s += &format!(
                "  route {}: {} ({}, {})\n",
                x.route, x.mxu, x.role, x.multiplier
            );
        }
        s += &format!(
            "  filelist {}, FuseSoC core {}.core, Yosys synth.ys, ORFS orfs/config.mk + orfs/constraint.sdc\n",
            out.join(&self.filelist).display(),
            self.name
        );
        s
    }

    pub fn load(dir: &Path) -> Result<Manifest> {
        let p = dir.join("manifest.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::Input {
            file: p.clone(),
            message: format!("{e}; is this a directory written by `autoapprox generate`?"),
        })?;
        serde_json::from_str(&text).map_err(|e| Error::Input {
            file: p,
            message: format!("corrupt manifest: {e}"),
        })
    }
}

fn tera() -> Result<tera::Tera> {
    let mut t = tera::Tera::default();
    t.add_raw_templates(TEMPLATES.to_vec())
        .map_err(|e| Error::Other(format!("templates: {e:?}")))?;
    t.autoescape_on(vec![]);
    Ok(t)
}

fn render(t: &tera::Tera, name: &str, ctx: &tera::Context) -> Result<String> {
    t.render(name, ctx).map_err(|e| {
        let mut msg = format!("template {name}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        Error::Other(msg)
    })
}

/// Renders the accelerator into `out` (created if needed) and returns its manifest.
pub fn generate(acc: &Accelerator, out: &Path, opts: &GenerateOptions) -> Result<Manifest> {
    let s = &acc.spec;
    let t = tera()?;
    let name = &s.name;
    let mut base = tera::Context::new();
    base.insert("version", env!("CARGO_PKG_VERSION"));
    base.insert("spec_name", name);
    base.insert("rows", &s.rows);
    base.insert("cols", &s.cols);
    base.insert("bits", &s.act_bits);
    base.insert("acc", &s.acc_bits);
    base.insert("row_bits", &acc.row_addr_bits());
    base.insert("route_bits", &acc.route_bits());
    base.insert("latency", &acc.latency());
    base.insert("clock_ns", &s.clock_ns);

    let rtl = out.join("rtl");
    std::fs::create_dir_all(&rtl).at(&rtl)?;
    let mut files: Vec<String> = Vec::new();
    let mut third_party = Vec::new();
    let mut emit = |module: &str, text: String| -> Result<()> {
        let rel = format!("rtl/{module}.v");
        write_atomic(&out.join(&rel), text.as_bytes())?;
        files.push(rel);
        Ok(())
    };

    // Multiplier sources, once each.
    for m in acc.multipliers() {
        if let Source::File(_) = m.source {
            third_party.push(format!("rtl/{}.v", m.module));
        }
        emit(&m.module, m.verilog.clone())?;
    }

    let mut mxus = Vec::new();
    for m in &acc.mxus {
        let mult = HashMap::from([
            ("module", m.mult.module.as_str()),
            ("a", m.mult.ports[0].as_str()),
            ("b", m.mult.ports[1].as_str()),
            ("o", m.mult.ports[2].as_str()),
        ]);
        let pe = format!("{name}_pe_{}", m.mult.module);
        let array = format!("{name}_array_{}", m.mult.module);
        let mxu = format!("{name}_mxu_{}", m.mult.module);
        let mut ctx = base.clone();
        ctx.insert("mult", &mult);
        ctx.insert("pe", &pe);
        ctx.insert("array", &array);
        ctx.insert("swap_ab", &false);
        ctx.insert("module", &pe);
        emit(&pe, render(&t, "pe.v.tera", &ctx)?)?;

        let fault = opts.fault.filter(|f| f.route == m.route);
        if let Some(f) = fault {
            if f.row >= s.rows || f.col >= s.cols {
                return Err(Error::Other(format!(
                    "fault PE ({}, {}) is outside the array",
                    f.row, f.col
                )));
            }
            let faulty = format!("{pe}_fault");
            ctx.insert("swap_ab", &true);
            ctx.insert("module", &faulty);
            emit(&faulty, render(&t, "pe.v.tera", &ctx)?)?;
            ctx.insert("faulty_pe", &faulty);
            ctx.insert("fault", &HashMap::from([("row", f.row), ("col", f.col)]));
        }
        ctx.insert("module", &array);
        emit(&array, render(&t, "array.v.tera", &ctx)?)?;
        ctx.insert("module", &mxu);
        emit(&mxu, render(&t, "mxu.v.tera", &ctx)?)?;
        mxus.push(MxuModules {
            route: m.route,
            role: match m.role {
                Role::ExactFallback => "exact fallback".into(),
                Role::Approximate => "approximate".into(),
            },
            multiplier: m.mult.name.clone(),
            pe,
            array,
            mxu,
        });
    }

    let bank = format!("{name}_bank");
    let top = format!("{name}_top");
    let mut ctx = base.clone();
    let bank_mxus: Vec<HashMap<&str, String>> = mxus
        .iter()
        .map(|m| {
            HashMap::from([
                ("route", m.route.to_string()),
                ("module", m.mxu.clone()),
                ("role", m.role.clone()),
                ("mult", m.multiplier.clone()),
            ])
        })
        .collect();
    ctx.insert("mxus", &bank_mxus);
    ctx.insert("exact_fallback", &s.exact_fallback);
    ctx.insert("module", &bank);
    emit(&bank, render(&t, "bank.v.tera", &ctx)?)?;
    ctx.insert("module", &top);
    ctx.insert("bank", &bank);
    emit(&top, render(&t, "top.v.tera", &ctx)?)?;

    // Flow files.
    let mut ctx = base.clone();
    ctx.insert("top", &top);
    ctx.insert("files", &files);
    ctx.insert("n_mxu", &acc.mxus.len());
    let filelist = format!("{name}.f");
    for (tpl, path) in [
        ("filelist.f.tera", filelist.clone()),
        ("core.tera", format!("{name}.core")),
        ("synth.ys.tera", "synth.ys".to_string()),
        ("config.mk.tera", "orfs/config.mk".to_string()),
        ("constraint.sdc.tera", "orfs/constraint.sdc".to_string()),
    ] {
        write_atomic(&out.join(path), render(&t, tpl, &ctx)?.as_bytes())?;
    }
    if !third_party.is_empty() {
        let mut vlt = String::from("`verilator_config\n");
        for f in &third_party {
            vlt.push_str(&format!(
                "// {f}: third-party multiplier, linted as delivered (not ours to edit).\nlint_off -file \"*/{f}\"\n"
            ));
        }
        write_atomic(&out.join("rtl/third_party.vlt"), vlt.as_bytes())?;
    }
    // The spec, self-contained: third-party multipliers point at their copies under rtl/.
    let mut own = s.clone();
    for (ms, m) in own
        .mxu
        .iter_mut()
        .zip(acc.mxus.iter().filter(|m| m.role == Role::Approximate))
    {
        if let Source::File(_) = m.mult.source {
            ms.multiplier = format!("rtl/{}.v", m.mult.module);
            ms.top = Some(m.mult.module.clone());
        }
    }
    let spec_text = toml::to_string(&own).map_err(|e| Error::Other(format!("spec: {e}")))?;
    write_atomic(&out.join("spec.toml"), spec_text.as_bytes())?;

    let routes: Vec<RouteEntry> = s
        .routes
        .iter()
        .map(|(layer, &route)| RouteEntry {
            layer: layer.clone(),
            route,
            multiplier: acc.mxus[route].mult.name.clone(),
        })
        .collect();
    if !routes.is_empty() {
        let mut csv = crate::util::CsvText::new(&["layer", "route", "multiplier"]);
        for r in &routes {
            csv.row(&[r.layer.clone(), r.route.to_string(), r.multiplier.clone()]);
        }
        write_atomic(&out.join("routes.csv"), csv.finish().as_bytes())?;
    }
    let manifest = Manifest {
        name: name.clone(),
        top,
        bank,
        rows: s.rows,
        cols: s.cols,
        bits: s.act_bits,
        acc_bits: s.acc_bits,
        route_bits: acc.route_bits(),
        row_bits: acc.row_addr_bits(),
        latency: acc.latency(),
        mxus,
        files,
        third_party,
        filelist,
        routes,
    };
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| Error::Other(format!("manifest: {e}")))?;
    write_atomic(&out.join("manifest.json"), json.as_bytes())?;
    Ok(manifest)
}

/// Absolute paths of the manifest's sources.
pub fn sources(dir: &Path, m: &Manifest) -> Vec<PathBuf> {
    m.files.iter().map(|f| dir.join(f)).collect()
}
