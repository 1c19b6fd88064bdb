//! Gate-level simulation of the mapped netlists (Verilator, toggle coverage) and the
//! toggle-based energy model.
//!
//! One Verilator model holds every variant's multiplier netlist and PE netlist on shared
//! inputs. It (1) sweeps all 65,536 operand pairs through each multiplier netlist, which must
//! equal the characterized LUT, and (2) clocks real operand streams (one segment per network
//! layer) through the PEs, writing Verilator's per-net toggle counts after every segment; the
//! PEs' outputs are checked cycle by cycle against `psum_in + LUT[a][w]`.
//!
//! Energy of a netlist over a segment (zero-delay simulation, so glitches are not counted):
//! `sum_nets toggles * (E_int(driving cell's output pin, at the net's load) + 1/2 C_load V^2)
//! + sum_pins-with-own-power toggles * E_pin + leakage * cycles * clock period`.
//!
//! Loads are pin capacitances only (pre-layout, no wire model); internal energies are read from
//! the Liberty tables at a 0.1 ns input transition.

use super::liberty::Library;
use super::netlist::{cell_models, Bit, Driver, Netlist};
use super::workload::LayerStream;
use crate::characterize::Lut;
use crate::error::{Error, IoContext, Result};
use crate::util::{verilator_build, write_atomic};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const HARNESS_VERSION: u32 = 1;
/// Input transition at which internal energies are read from the tables (ns).
pub const NOMINAL_SLEW_NS: f64 = 0.1;

/// One MXU variant's netlists in the harness.
pub struct HarnessVariant<'a> {
    pub name: String,
    pub mult: &'a Netlist,
    /// (A, B, O) port names of the multiplier netlist
    pub mult_ports: [String; 3],
    pub pe: &'a Netlist,
}

pub struct Harness {
    pub exe: PathBuf,
    pub dir: PathBuf,
    pub variants: usize,
    pub build_seconds: f64,
}

/// Generates and builds the harness in `dir`.
pub fn build(
    variants: &[HarnessVariant],
    lib: &Library,
    bits: u32,
    acc: u32,
    dir: &Path,
) -> Result<Harness> {
    let t0 = std::time::Instant::now();
    std::fs::create_dir_all(dir).at(dir)?;
    // Verilator's make runs in obj_dir: sources need absolute paths
    let dir = &std::fs::canonicalize(dir).at(dir)?;
    let mut cells = BTreeSet::new();
    let mut sources = Vec::new();
    for v in variants {
        for n in [v.mult, v.pe] {
            cells.extend(n.insts.iter().map(|i| i.cell.clone()));
            let p = dir.join(format!("{}.v", n.module));
            write_atomic(&p, n.verilog().as_bytes())?;
            sources.push(p);
        }
    }
    let models = dir.join("cells.v");
    write_atomic(&models, cell_models(lib, &cells)?.as_bytes())?;
    sources.push(models);
    let mut t = tera::Tera::default();
    t.add_raw_templates(vec![
        ("top", include_str!("../../testbench/ppa_top.v.tera")),
        ("main", include_str!("../../testbench/ppa_main.cpp.tera")),
    ])
    .map_err(|e| Error::Other(format!("ppa templates: {e:?}")))?;
    t.autoescape_on(vec![]);
    let mut ctx = tera::Context::new();
    ctx.insert("version", &HARNESS_VERSION);
    ctx.insert("bits", &bits);
    ctx.insert("acc", &acc);
    ctx.insert("pairs", &(1u64 << (2 * bits)));
    let vs: Vec<BTreeMap<&str, &str>> = variants
        .iter()
        .map(|v| {
            BTreeMap::from([
                ("mult", v.mult.module.as_str()),
                ("pe", v.pe.module.as_str()),
                ("a", v.mult_ports[0].as_str()),
                ("b", v.mult_ports[1].as_str()),
                ("o", v.mult_ports[2].as_str()),
            ])
        })
        .collect();
    ctx.insert("variants", &vs);
    let render = |name: &str| {
        t.render(name, &ctx)
            .map_err(|e| Error::Other(format!("ppa template {name}: {e:?}")))
    };
    let top = dir.join("aa_ppa.v");
    write_atomic(&top, render("top")?.as_bytes())?;
    let main = dir.join("ppa_main.cpp");
    write_atomic(&main, render("main")?.as_bytes())?;
    sources.push(top);
    sources.push(main);
    let obj = dir.join("obj_dir");
    let out = verilator_build(
        "aa_ppa",
        &sources,
        &obj,
        "ppa_sim",
        "-O1",
        &["--coverage-toggle", "--coverage-max-width", "4096"],
    )?;
    let exe = obj.join("ppa_sim");
    if !out.status.success() || !exe.is_file() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("Error"))
            .take(8)
            .collect();
        return Err(Error::ToolFailed {
            tool: "verilator".into(),
            message: format!(
                "building the PPA harness in {} failed: {}",
                dir.display(),
                lines.join("; ")
            ),
        });
    }
    Ok(Harness {
        exe,
        dir: dir.to_path_buf(),
        variants: variants.len(),
        build_seconds: t0.elapsed().as_secs_f64(),
    })
}

impl Harness {
    /// Runs the harness executable; its stderr becomes the error.
    fn run(&self, args: &[&std::ffi::OsStr]) -> Result<()> {
        let o = Command::new(&self.exe).args(args).output().at(&self.exe)?;
        if !o.status.success() {
            return Err(Error::ToolFailed {
                tool: "ppa harness".into(),
                message: String::from_utf8_lossy(&o.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Every multiplier netlist's table over all operand pairs (variant order).
    pub fn exhaustive(&self, bits: u32) -> Result<Vec<Vec<u16>>> {
        let out = self.dir.join("exhaustive.bin");
        self.run(&["exhaustive".as_ref(), out.as_os_str()])?;
        let bytes = std::fs::read(&out).at(&out)?;
        let entries = 1usize << (2 * bits);
        if bytes.len() != 2 * entries * self.variants {
            return Err(Error::Other(format!("{}: wrong size", out.display())));
        }
        Ok(bytes
            .chunks(2 * entries)
            .map(|c| {
                c.chunks(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect()
            })
            .collect())
    }

    /// Runs the segments; returns per segment the toggle counts `module -> net id -> toggles`,
    /// and every variant's psum_out after every cycle.
    pub fn stream(&self, segments: &[&[super::workload::Cycle]]) -> Result<StreamResult> {
        let run = self.dir.join("run");
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(&run).at(&run)?;
        let mut stim = Vec::new();
        stim.extend((segments.len() as u32).to_le_bytes());
        for s in segments {
            stim.extend((s.len() as u32).to_le_bytes());
            for c in s.iter() {
                stim.extend([c.a, c.w_in, c.w_load as u8, c.weight, 0, 0, 0, 0]);
                stim.extend(c.psum_in.to_le_bytes());
            }
        }
        let stim_path = run.join("stim.bin");
        std::fs::write(&stim_path, &stim).at(&stim_path)?;
        self.run(&["stream".as_ref(), stim_path.as_os_str(), run.as_os_str()])?;
        let mut toggles = Vec::new();
        for i in 0..segments.len() {
            let p = run.join(format!("seg{i}.dat"));
            let text = std::fs::read_to_string(&p).at(&p)?;
            toggles.push(parse_coverage(&text));
        }
        let ps = run.join("psum.bin");
        let bytes = std::fs::read(&ps).at(&ps)?;
        let psum = bytes
            .chunks(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .collect();
        Ok(StreamResult { toggles, psum })
    }
}

pub struct StreamResult {
    /// per segment: module -> net id -> toggles
    pub toggles: Vec<BTreeMap<String, BTreeMap<usize, u64>>>,
    /// psum_out after every cycle, variant-major within a cycle
    pub psum: Vec<u64>,
}

/// Verilator coverage.dat toggle points of wires named `n<id>`, by module.
pub fn parse_coverage(text: &str) -> BTreeMap<String, BTreeMap<usize, u64>> {
    let mut m: BTreeMap<String, BTreeMap<usize, u64>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("C '") else {
            continue;
        };
        let Some((fields, count)) = rest.rsplit_once("' ") else {
            continue;
        };
        let mut page = None;
        let mut sig = None;
        for f in fields.split('\u{1}') {
            if let Some((k, v)) = f.split_once('\u{2}') {
                match k {
                    "page" => page = v.strip_prefix("v_toggle/"),
                    "o" => sig = Some(v),
                    _ => {}
                }
            }
        }
        let (Some(module), Some(sig)) = (page, sig) else {
            continue;
        };
        let Some(id) = sig.strip_prefix('n').and_then(|s| s.parse::<usize>().ok()) else {
            continue;
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        *m.entry(module.to_string())
            .or_default()
            .entry(id)
            .or_insert(0) += count;
    }
    m
}

/// Energy of a netlist from its per-net toggle counts (pJ), split by kind.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Energy {
    /// 1/2 C V^2 per toggle on nets driven inside the netlist
    pub switching: f64,
    /// 1/2 C V^2 per toggle on nets driven by input ports (the pin load this netlist presents)
    pub input_switching: f64,
    /// internal energy of the driving cells' output arcs and of pins with their own power
    pub internal: f64,
    pub leakage: f64,
    pub toggles: u64,
}

impl Energy {
    pub fn total(&self) -> f64 {
        self.switching + self.input_switching + self.internal + self.leakage
    }
}

/// Internal energy (pJ) of one toggle of `pin`: the mean over its `internal_power` arcs (rise
/// and fall averaged) at the nominal input transition and `load_pf`; 0 without arcs. For an
/// output pin this is the energy of a toggle of the net it drives (without the load's
/// ½·C·V²); for an input pin with its own power (a flip-flop's clock or data) `load_pf` is 0.
pub fn arc_energy(pin: &super::liberty::Pin, load_pf: f64) -> f64 {
    if pin.internal_power.is_empty() {
        return 0.0;
    }
    pin.internal_power
        .iter()
        .map(|ip| ip.energy(NOMINAL_SLEW_NS, load_pf))
        .sum::<f64>()
        / pin.internal_power.len() as f64
}

/// Pre-computed per-net energies of one netlist.
pub struct EnergyModel {
    /// per net: energy per toggle (switching, internal, driven by an input port)
    per_toggle: BTreeMap<usize, (f64, f64, bool)>,
    /// leakage power of all cells (nW)
    pub leakage_nw: f64,
}

impl EnergyModel {
    pub fn new(n: &Netlist, lib: &Library) -> EnergyModel {
        let loads = n.loads(lib);
        let drivers = n.drivers();
        let v2 = lib.voltage * lib.voltage;
        // input pins with their own internal power (clock and data pins of flip-flops)
        let mut pin_energy: BTreeMap<usize, f64> = BTreeMap::new();
        for inst in &n.insts {
            for (pin, b, out) in &inst.pins {
                let (Bit::Net(net), false) = (b, out) else {
                    continue;
                };
                if let Some(p) = lib.cells[&inst.cell].pin(pin) {
                    if !p.internal_power.is_empty() {
                        *pin_energy.entry(*net).or_insert(0.0) += arc_energy(p, 0.0);
                    }
                }
            }
        }
        let mut per_toggle = BTreeMap::new();
        for net in n.nets() {
            let c = loads.get(&net).copied().unwrap_or(0.0);
            let sw = 0.5 * c * v2; // pF * V^2 = pJ
            let int = match drivers.get(&net) {
                Some(Driver::Cell(i, pin)) => lib.cells[&n.insts[*i].cell]
                    .pin(pin)
                    .map_or(0.0, |p| arc_energy(p, c)),
                _ => 0.0,
            } + pin_energy.get(&net).copied().unwrap_or(0.0);
            let input = matches!(drivers.get(&net), Some(Driver::Input(..)));
            per_toggle.insert(net, (sw, int, input));
        }
        EnergyModel {
            per_toggle,
            leakage_nw: n.insts.iter().map(|i| lib.cells[&i.cell].leakage).sum(),
        }
    }

    /// Energy (pJ) of `toggles` over `cycles` cycles of `period_ns`.
    pub fn energy(&self, toggles: &BTreeMap<usize, u64>, cycles: u64, period_ns: f64) -> Energy {
        let mut e = Energy::default();
        for (net, &t) in toggles {
            if let Some(&(sw, int, input)) = self.per_toggle.get(net) {
                if input {
                    e.input_switching += t as f64 * sw;
                } else {
                    e.switching += t as f64 * sw;
                }
                e.internal += t as f64 * int;
                e.toggles += t;
            }
        }
        // nW * ns = 1e-18 J = 1e-6 pJ
        e.leakage = self.leakage_nw * cycles as f64 * period_ns * 1e-6;
        e
    }
}

/// Checks every PE's psum_out against `psum_in + LUT[a][weight]` (mod 2^acc), cycle by cycle.
pub fn check_pe_outputs(
    segments: &[&LayerStream],
    psum: &[u64],
    luts: &[&Lut],
    names: &[String],
    acc_bits: u32,
    skip: usize,
) -> Result<()> {
    let nv = luts.len();
    let mask = if acc_bits >= 64 {
        u64::MAX
    } else {
        (1u64 << acc_bits) - 1
    };
    let mut t = 0usize;
    for s in segments {
        for (i, c) in s.cycles.iter().enumerate() {
            if t < skip {
                t += 1;
                continue;
            }
            for v in 0..nv {
                let want = (c.psum_in + luts[v].get(c.a as u32, c.weight as u32) as u64) & mask;
                let got = psum.get(t * nv + v).copied().unwrap_or(u64::MAX);
                if got != want {
                    return Err(Error::Other(format!(
                        "synthesized PE of {} disagrees with its multiplier's table: layer {} cycle {i}: \
                         a={} weight={} psum_in={} -> psum_out {got}, expected {want}",
                        names[v], s.name, c.a, c.weight, c.psum_in
                    )));
                }
            }
            t += 1;
        }
    }
    Ok(())
}
