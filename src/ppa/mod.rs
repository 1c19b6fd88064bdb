//! PPA: area, timing and workload-driven energy of every MXU variant of an accelerator spec,
//! from real synthesis onto a Liberty cell library, and the chip energy model built on them.
//!
//! Flow of [`run`]:
//! 1. generate the spec's RTL (`rtl::generate`), characterize its multipliers (cached LUTs);
//! 2. per variant, Yosys maps the multiplier and the PE flat, and the whole MXU hierarchically
//!    ([`synth`]); areas come from the Liberty cell areas;
//! 3. one Verilator model of all mapped netlists ([`power`]): every multiplier netlist is swept
//!    over all operand pairs and must equal its LUT; then the operand streams of a benchmark
//!    network's layers ([`workload`]) run through the PEs (outputs checked every cycle) with
//!    toggle coverage on every net;
//! 4. OpenSTA times the multiplier and the PE; the slowest PE sets the common clock; OpenSTA's
//!    `report_power` with the simulated per-input activities cross-checks the toggle-based
//!    energy ([`sta`]);
//! 5. energy per MAC per variant and layer → [`energy::ChipModel`], saved in `ppa.json`.

pub mod energy;
pub mod liberty;
pub mod netlist;
pub mod orfs;
pub mod power;
pub mod sta;
pub mod synth;
pub mod workload;

use crate::characterize::{self, Lut};
use crate::error::{Error, IoContext, Result};
use crate::rtl::{self, spec::Accelerator};
use energy::{ChipModel, VariantPpa};
use liberty::Library;
use netlist::Netlist;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default cell library: sky130_fd_sc_hd at tt/1.8 V/25 °C, characterized by
/// `scripts/build_liberty.py` (see the file's header for its provenance).
pub const DEFAULT_LIBERTY: &str =
    include_str!("../../liberty/sky130_fd_sc_hd__tt_025C_1v80.autoapprox.lib");
pub const DEFAULT_LIBERTY_NAME: &str = "sky130_fd_sc_hd__tt_025C_1v80.autoapprox.lib";

#[derive(Debug, Clone)]
pub struct PpaOptions {
    /// Liberty file (None: the built-in default library).
    pub liberty: Option<PathBuf>,
    /// Benchmark directory whose layers provide the operand streams.
    pub bench: PathBuf,
    pub workload: workload::WorkloadOptions,
    pub out: PathBuf,
    pub characterize: characterize::Options,
    /// Skip the OpenSTA power cross-check.
    pub no_sta_power: bool,
}

/// Where the library comes from; the default one is written into `out`.
pub fn load_library(liberty: Option<&Path>, out: &Path) -> Result<Library> {
    match liberty {
        Some(p) => Library::load(p),
        None => {
            let p = out.join(DEFAULT_LIBERTY_NAME);
            if std::fs::read_to_string(&p).ok().as_deref() != Some(DEFAULT_LIBERTY) {
                crate::util::write_atomic(&p, DEFAULT_LIBERTY.as_bytes())?;
            }
            Library::load(&p)
        }
    }
}

/// OpenSTA's report_power next to ours for the same netlist and input activities.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PowerCheck {
    pub netlist: String,
    /// µW: ours (toggle-based, input nets' switching excluded as OpenSTA does) and OpenSTA's
    pub ours_uw: f64,
    pub sta_uw: f64,
    pub ours_internal_uw: f64,
    pub sta_internal_uw: f64,
    pub ours_switching_uw: f64,
    pub sta_switching_uw: f64,
    /// OpenSTA's total with flip-flop clock-pin energy counted once per clock edge: the Debian
    /// OpenSTA (2019) charges a clock pin's rise_power + fall_power on every edge, twice the
    /// Liberty meaning (measured: 4 x E per cycle on a lone dfxtp).
    pub sta_clock_once_uw: f64,
}

/// Everything `autoapprox ppa` measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PpaReport {
    pub spec: String,
    pub liberty: String,
    pub liberty_sha256: String,
    pub benchmark: String,
    pub workload_cycles: usize,
    pub chip: ChipModel,
    /// per variant: per layer the raw energies (pJ over the segment) and cycles
    pub layers: Vec<LayerPpa>,
    pub sta_power: Vec<PowerCheck>,
    /// Spearman rank correlation of multiplier-only vs PE energy per MAC across variants
    pub spearman_mult_vs_pe: Option<f64>,
    pub seconds: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerPpa {
    pub layer: String,
    pub macs: u64,
    pub cycles: usize,
    /// per variant: (multiplier, PE) energy split
    pub energy: BTreeMap<String, (power::Energy, power::Energy)>,
}

struct Synthesized {
    mult: Netlist,
    pe: Netlist,
    mxu_area: f64,
    mxu_cells: u64,
}

fn timed<T>(
    seconds: &mut BTreeMap<String, f64>,
    what: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let t0 = std::time::Instant::now();
    let r = f();
    seconds.insert(what.to_string(), t0.elapsed().as_secs_f64());
    r
}

/// Runs the whole PPA flow for `acc` (see the module docs).
pub fn run(acc: &Accelerator, spec_path: &Path, o: &PpaOptions) -> Result<PpaReport> {
    let mut seconds = BTreeMap::new();
    std::fs::create_dir_all(&o.out).at(&o.out)?;
    let lib = load_library(o.liberty.as_deref(), &o.out)?;
    check_library(&lib)?;
    let mults = acc.multipliers();
    let owned: Vec<_> = mults.iter().map(|m| (*m).clone()).collect();
    let (chars, _) = timed(&mut seconds, "characterize", || {
        characterize::characterize(&owned, &o.characterize)
    })?;
    let kinds: BTreeMap<String, (String, f64)> = chars
        .iter()
        .map(|c| {
            (
                c.mult.name.clone(),
                (c.mult.family.clone(), c.metrics.mre_pct),
            )
        })
        .collect();
    let luts: BTreeMap<String, Lut> = chars
        .into_iter()
        .map(|c| (c.mult.name.clone(), c.lut))
        .collect();
    let rtl_dir = o.out.join("rtl");
    let manifest = rtl::generate(acc, &rtl_dir, &rtl::GenerateOptions::default())?;
    // each variant reads only its own sources, so its netlist does not depend on which other
    // variants the spec lists (ABC's result follows the order of the design it is given)
    let files = |m: &rtl::MxuModules, depth: usize| -> Vec<PathBuf> {
        [&m.multiplier, &m.pe, &m.array, &m.mxu][..depth]
            .iter()
            .map(|x| rtl_dir.join(format!("rtl/{x}.v")))
            .collect()
    };
    let synth_dir = o.out.join("synth");
    let synthesized: Vec<Synthesized> = timed(&mut seconds, "synthesis", || {
        manifest
            .mxus
            .par_iter()
            .map(|m| {
                let mult = synth::synth_flat(&files(m, 1), &m.multiplier, &lib, &synth_dir)?;
                let pe = synth::synth_flat(&files(m, 2), &m.pe, &lib, &synth_dir)?;
                let (mxu_area, mxu_cells) =
                    synth::synth_hier_area(&files(m, 4), &m.mxu, &lib, &synth_dir)?;
                Ok(Synthesized {
                    mult,
                    pe,
                    mxu_area,
                    mxu_cells,
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;

    // gate-level harness: exhaustive check of every multiplier netlist
    let variants: Vec<power::HarnessVariant> = manifest
        .mxus
        .iter()
        .zip(&synthesized)
        .map(|(m, s)| {
            let mult = mults
                .iter()
                .find(|x| x.name == m.multiplier)
                .expect("spec multiplier");
            power::HarnessVariant {
                name: m.multiplier.clone(),
                mult: &s.mult,
                mult_ports: mult.ports.clone(),
                pe: &s.pe,
            }
        })
        .collect();
    let bits = acc.spec.act_bits;
    let acc_bits = acc.spec.acc_bits;
    let harness = timed(&mut seconds, "harness build", || {
        power::build(&variants, &lib, bits, acc_bits, &o.out.join("harness"))
    })?;
    let tables = timed(&mut seconds, "netlist check", || harness.exhaustive(bits))?;
    for (v, t) in variants.iter().zip(&tables) {
        let lut = &luts[&v.name];
        if let Some(i) = (0..t.len())
            .find(|&i| t[i] as u32 != lut.get((i >> bits) as u32, (i & ((1 << bits) - 1)) as u32))
        {
            return Err(Error::Other(format!(
                "the synthesized netlist of {} ({}) disagrees with its characterized table at \
                 A={} B={}: netlist {} vs table {}; synthesis or the cell library is wrong",
                v.name,
                synth_dir.join(format!("{}.json", v.mult.module)).display(),
                i >> bits,
                i & ((1 << bits) - 1),
                t[i],
                lut.get((i >> bits) as u32, (i & ((1 << bits) - 1)) as u32)
            )));
        }
    }

    // timing: multiplier delay, PE minimum period; the slowest PE sets the clock
    let sta_dir = o.out.join("sta");
    let write_net = |n: &Netlist| -> Result<PathBuf> {
        let p = sta_dir.join(format!("{}.v", n.module));
        crate::util::write_atomic(&p, n.verilog().as_bytes())?;
        Ok(p)
    };
    let timing: Vec<(f64, f64)> = timed(&mut seconds, "timing", || {
        synthesized
            .par_iter()
            .map(|s| {
                let m = sta::run(
                    &write_net(&s.mult)?,
                    &s.mult.module,
                    &lib,
                    None,
                    100.0,
                    None,
                    &sta_dir,
                )?;
                let p = sta::run(
                    &write_net(&s.pe)?,
                    &s.pe.module,
                    &lib,
                    Some("clk"),
                    100.0,
                    None,
                    &sta_dir,
                )?;
                Ok((m.delay_ns, p.delay_ns))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let clock_ns = timing.iter().map(|t| t.1).fold(0.0, f64::max);

    // workload-driven energy
    let mut streams = timed(&mut seconds, "workload", || {
        workload::layer_streams(
            &o.bench,
            "test",
            acc.spec.rows as usize,
            acc_bits,
            &o.workload,
        )
    })?;
    // segment 0 warms the registers up (not counted)
    let mut warm: Vec<workload::Cycle> = streams
        .first()
        .map(|s| s.cycles.iter().take(4).copied().collect())
        .unwrap_or_default();
    workload::link_weights(
        std::iter::once(warm.as_mut_slice())
            .chain(streams.iter_mut().map(|s| s.cycles.as_mut_slice())),
        0,
    );
    let mut segs: Vec<&[workload::Cycle]> = vec![&warm];
    segs.extend(streams.iter().map(|s| s.cycles.as_slice()));
    let result = timed(&mut seconds, "gate-level simulation", || {
        harness.stream(&segs)
    })?;
    let names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let vl: Vec<&Lut> = names.iter().map(|n| &luts[n]).collect();
    let warm_stream = workload::LayerStream {
        layer: usize::MAX,
        name: "warm-up".into(),
        macs: 0,
        cycles: warm.clone(),
    };
    let mut all: Vec<&workload::LayerStream> = vec![&warm_stream];
    all.extend(streams.iter());
    // the very first cycle sees the registers' initial values: not checked
    power::check_pe_outputs(&all, &result.psum, &vl, &names, acc_bits, 1)?;
    let models: Vec<(power::EnergyModel, power::EnergyModel)> = synthesized
        .iter()
        .map(|s| {
            (
                power::EnergyModel::new(&s.mult, &lib),
                power::EnergyModel::new(&s.pe, &lib),
            )
        })
        .collect();
    let empty = BTreeMap::new();
    let mut layers = Vec::new();
    for (k, s) in streams.iter().enumerate() {
        let tg = &result.toggles[k + 1];
        let cycles = s.cycles.len() as u64;
        let mut energy = BTreeMap::new();
        for (v, syn) in synthesized.iter().enumerate() {
            let em =
                models[v]
                    .0
                    .energy(tg.get(&syn.mult.module).unwrap_or(&empty), cycles, clock_ns);
            let ep = models[v]
                .1
                .energy(tg.get(&syn.pe.module).unwrap_or(&empty), cycles, clock_ns);
            energy.insert(names[v].clone(), (em, ep));
        }
        layers.push(LayerPpa {
            layer: s.name.clone(),
            macs: s.macs,
            cycles: s.cycles.len(),
            energy,
        });
    }

    // OpenSTA power with the simulated per-input activities, over the whole stream
    let sta_power = if o.no_sta_power {
        Vec::new()
    } else {
        timed(&mut seconds, "sta power", || {
            sta_cross_check(
                &synthesized,
                &models,
                &result.toggles[1..],
                &streams,
                clock_ns,
                &lib,
                &sta_dir,
            )
        })?
    };

    let total_macs: f64 = layers.iter().map(|l| l.macs as f64).sum::<f64>().max(1.0);
    let mut chip_variants = BTreeMap::new();
    for (v, s) in synthesized.iter().enumerate() {
        let name = &names[v];
        let mut per_layer = BTreeMap::new();
        let (mut wm, mut wp) = (0.0, 0.0);
        for l in &layers {
            let (em, ep) = &l.energy[name];
            let c = l.cycles.max(1) as f64;
            let (m, p) = (em.total() / c, ep.total() / c);
            per_layer.insert(l.layer.clone(), (m, p));
            wm += m * l.macs as f64;
            wp += p * l.macs as f64;
        }
        chip_variants.insert(
            name.clone(),
            VariantPpa {
                multiplier: name.clone(),
                mult_area: s.mult.area(&lib),
                mult_cells: s.mult.insts.len(),
                pe_area: s.pe.area(&lib),
                pe_cells: s.pe.insts.len(),
                mxu_area: s.mxu_area,
                mxu_cells: s.mxu_cells,
                mult_delay_ns: timing[v].0,
                pe_period_ns: timing[v].1,
                mult_energy_pj: wm / total_macs,
                pe_energy_pj: wp / total_macs,
                layers: per_layer,
                // the MXU's PEs (skew registers left out)
                mxu_leakage_nw: models[v].1.leakage_nw * (acc.spec.rows * acc.spec.cols) as f64,
                family: kinds[name].0.clone(),
                mre_pct: kinds[name].1,
            },
        );
    }
    let exact = acc
        .mxus
        .iter()
        .find(|m| m.role == rtl::spec::Role::ExactFallback)
        .map(|m| m.mult.name.clone())
        .unwrap_or_else(|| names[0].clone());
    let chip = ChipModel {
        rows: acc.spec.rows as usize,
        cols: acc.spec.cols as usize,
        clock_ns,
        exact,
        variants: chip_variants,
        liberty: lib.name.clone(),
    };
    let xs: Vec<f64> = names
        .iter()
        .map(|n| chip.variants[n].mult_energy_pj)
        .collect();
    let ys: Vec<f64> = names
        .iter()
        .map(|n| chip.variants[n].pe_energy_pj)
        .collect();
    let report = PpaReport {
        spec: spec_path.display().to_string(),
        liberty: lib.path.display().to_string(),
        liberty_sha256: lib.hash.clone(),
        benchmark: o.bench.display().to_string(),
        workload_cycles: streams.iter().map(|s| s.cycles.len()).sum(),
        spearman_mult_vs_pe: spearman(&xs, &ys),
        chip,
        layers,
        sta_power,
        seconds,
    };
    Ok(report)
}

fn check_library(lib: &Library) -> Result<()> {
    let has_ff = lib.cells.values().any(|c| c.ff.is_some() && !c.dont_use);
    let has_comb = lib
        .cells
        .values()
        .any(|c| c.ff.is_none() && c.outputs().any(|p| p.function.is_some()));
    if !has_ff || !has_comb {
        return Err(Error::Input {
            file: lib.path.clone(),
            message: "the library needs combinational cells with functions and a D flip-flop"
                .into(),
        });
    }
    Ok(())
}

fn sta_cross_check(
    synthesized: &[Synthesized],
    models: &[(power::EnergyModel, power::EnergyModel)],
    toggles: &[BTreeMap<String, BTreeMap<usize, u64>>],
    streams: &[workload::LayerStream],
    clock_ns: f64,
    lib: &Library,
    dir: &Path,
) -> Result<Vec<PowerCheck>> {
    let cycles: u64 = streams.iter().map(|s| s.cycles.len() as u64).sum();
    let mut out = Vec::new();
    for (s, (mm, pm)) in synthesized.iter().zip(models) {
        for (n, em, clocked) in [(&s.mult, mm, false), (&s.pe, pm, true)] {
            // merged toggles over all layers
            let mut tg: BTreeMap<usize, u64> = BTreeMap::new();
            for seg in toggles {
                if let Some(m) = seg.get(&n.module) {
                    for (k, v) in m {
                        *tg.entry(*k).or_insert(0) += v;
                    }
                }
            }
            let mut act = Vec::new();
            for p in n.ports.iter().filter(|p| p.input && p.name != "clk") {
                for (k, b) in p.bits.iter().enumerate() {
                    if let netlist::Bit::Net(id) = b {
                        let name = if p.bits.len() == 1 {
                            p.name.clone()
                        } else {
                            format!("{}[{k}]", p.name)
                        };
                        act.push((name, *tg.get(id).unwrap_or(&0) as f64 / cycles as f64));
                    }
                }
            }
            let p = dir.join(format!("{}.v", n.module));
            let r = sta::run(
                &p,
                &n.module,
                lib,
                clocked.then_some("clk"),
                clock_ns,
                Some(&act),
                &dir.join("power"),
            )?;
            let Some(sp) = r.power else { continue };
            let e = em.energy(&tg, cycles, clock_ns);
            let t_ns = cycles as f64 * clock_ns;
            let uw = |pj: f64| pj / t_ns * 1e3; // pJ/ns = mW -> µW
                                                // energy per clock edge of all flip-flop clock pins (pJ)
            let clk_edge: f64 = n
                .insts
                .iter()
                .filter_map(|i| {
                    let c = &lib.cells[&i.cell];
                    c.ff.as_ref()?;
                    let p = c.pins.iter().find(|p| p.clock)?;
                    (!p.internal_power.is_empty()).then(|| power::arc_energy(p, 0.0))
                })
                .sum();
            out.push(PowerCheck {
                sta_clock_once_uw: sp.total * 1e6 - uw(2.0 * clk_edge * cycles as f64),
                netlist: n.module.clone(),
                // OpenSTA charges an input net's switching to the driver outside the netlist
                ours_uw: uw(e.total() - e.input_switching),
                sta_uw: sp.total * 1e6,
                ours_internal_uw: uw(e.internal),
                sta_internal_uw: sp.internal * 1e6,
                ours_switching_uw: uw(e.switching),
                sta_switching_uw: sp.switching * 1e6,
            });
        }
    }
    Ok(out)
}

/// Spearman's rank correlation (average ranks for ties); None with fewer than 3 points.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let mx = rx.iter().sum::<f64>() / n;
    let my = ry.iter().sum::<f64>() / n;
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    if vx == 0.0 || vy == 0.0 {
        return None;
    }
    Some(cov / (vx * vy).sqrt())
}

impl PpaReport {
    /// What `autoapprox ppa` prints after a run on `spec` whose files went to `out`.
    pub fn text(&self, spec: &Path, out: &Path) -> String {
        let mut s = format!(
            "PPA of {} with {} ({} PE cycles of {}); common clock {:.3} ns\n\n",
            spec.display(),
            self.chip.liberty,
            self.workload_cycles,
            self.benchmark,
            self.chip.clock_ns
        );
        s += &format!("{}\n", self.table());
        if let Some(rho) = self.spearman_mult_vs_pe {
            s += &format!(
                "Spearman rank correlation, multiplier-only vs PE energy per MAC: {rho:.3}\n"
            );
        }
        if !self.sta_power.is_empty() {
            s += &format!(
                "\nOpenSTA report_power with the same input activities:\n{}\n",
                self.sta_table()
            );
        }
        let secs: Vec<String> = self
            .seconds
            .iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect();
        s += &format!("time: {}\n", secs.join(", "));
        s += &format!(
            "wrote {}/ppa.json, ppa.md, ppa.csv, mult_vs_pe.svg\n",
            out.display()
        );
        s
    }

    /// Variant names, the exact fallback first, then by PE energy per MAC.
    pub fn order(&self) -> Vec<String> {
        let mut v: Vec<&VariantPpa> = self.chip.variants.values().collect();
        v.sort_by(|a, b| {
            (a.multiplier != self.chip.exact)
                .cmp(&(b.multiplier != self.chip.exact))
                .then(a.pe_energy_pj.total_cmp(&b.pe_energy_pj))
        });
        v.iter().map(|x| x.multiplier.clone()).collect()
    }

    /// A table for people (markdown, also readable as plain text).
    pub fn table(&self) -> String {
        let c = &self.chip;
        let ex = &c.variants[&c.exact];
        let mut s = String::from(
            "| multiplier | mult µm² | mult cells | mult ns | mult fJ/op | PE µm² | PE cells | PE min period ns | PE fJ/MAC | PE energy vs exact | MXU µm² | MXU area vs exact |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        );
        for n in self.order() {
            let v = &c.variants[&n];
            s.push_str(&format!(
                "| {} | {:.1} | {} | {:.3} | {:.2} | {:.1} | {} | {:.3} | {:.2} | {:.3} | {:.0} | {:.3} |\n",
                n,
                v.mult_area,
                v.mult_cells,
                v.mult_delay_ns,
                v.mult_energy_pj * 1e3,
                v.pe_area,
                v.pe_cells,
                v.pe_period_ns,
                v.pe_energy_pj * 1e3,
                v.pe_energy_pj / ex.pe_energy_pj,
                v.mxu_area,
                v.mxu_area / ex.mxu_area,
            ));
        }
        s
    }

    pub fn csv(&self) -> String {
        let mut t = crate::util::CsvText::new(&[
            "multiplier",
            "mult_area_um2",
            "mult_cells",
            "mult_delay_ns",
            "mult_energy_fj",
            "pe_area_um2",
            "pe_cells",
            "pe_period_ns",
            "pe_energy_fj",
            "mxu_area_um2",
            "mxu_cells",
            "mxu_leakage_nw",
        ]);
        for n in self.order() {
            let v = &self.chip.variants[&n];
            t.row(&[
                n.clone(),
                v.mult_area.to_string(),
                v.mult_cells.to_string(),
                v.mult_delay_ns.to_string(),
                (v.mult_energy_pj * 1e3).to_string(),
                v.pe_area.to_string(),
                v.pe_cells.to_string(),
                v.pe_period_ns.to_string(),
                (v.pe_energy_pj * 1e3).to_string(),
                v.mxu_area.to_string(),
                v.mxu_cells.to_string(),
                v.mxu_leakage_nw.to_string(),
            ]);
        }
        t.finish()
    }

    /// Per layer and variant: PE energy per MAC (fJ).
    pub fn layer_table(&self) -> String {
        let order = self.order();
        let mut s = format!(
            "| layer | MACs/image | {} |\n|---|---:|{}\n",
            order.join(" | "),
            "---:|".repeat(order.len())
        );
        for l in &self.layers {
            s.push_str(&format!("| {} | {} |", l.layer, l.macs));
            for n in &order {
                let (_, p) = &l.energy[n];
                s.push_str(&format!(
                    " {:.2} |",
                    p.total() / l.cycles.max(1) as f64 * 1e3
                ));
            }
            s.push('\n');
        }
        s
    }

    /// The front of the evolved family against the front of the others: at the MRE of every
    /// variant, the lowest PE energy (relative to the exact PE) of each side with MRE at or
    /// below it. Empty when the report has no evolved variant.
    pub fn front_table(&self) -> String {
        let evolved = crate::multiplier::builtin::EVOLVED_FAMILY;
        let v: Vec<&VariantPpa> = self.chip.variants.values().collect();
        if !v.iter().any(|x| x.family == evolved) {
            return String::new();
        }
        let ex = self.chip.variants[&self.chip.exact].pe_energy_pj;
        let mut levels: Vec<f64> = v.iter().map(|x| x.mre_pct).collect();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        let best = |mine: bool, level: f64| {
            v.iter()
                .filter(|x| {
                    x.mre_pct <= level
                        && (x.multiplier == self.chip.exact || (x.family == evolved) == mine)
                })
                .min_by(|a, b| a.pe_energy_pj.total_cmp(&b.pe_energy_pj))
                .map(|x| (x.multiplier.clone(), x.pe_energy_pj / ex))
        };
        let mut s = String::from(
            "| MRE % at most | evolved: best | PE vs exact | other families: best | PE vs exact | evolved lower |\n|---:|---|---:|---|---:|---|\n",
        );
        for l in levels {
            let (Some(e), Some(o)) = (best(true, l), best(false, l)) else {
                continue;
            };
            s.push_str(&format!(
                "| {l:.4} | {} | {:.3} | {} | {:.3} | {} |\n",
                e.0,
                e.1,
                o.0,
                o.1,
                if e.1 < o.1 {
                    "yes"
                } else if e.1 == o.1 {
                    "equal"
                } else {
                    "no"
                }
            ));
        }
        s
    }

    pub fn sta_table(&self) -> String {
        let mut s = String::from(
            "| netlist | ours µW | OpenSTA µW | ratio | OpenSTA, clock pins once per edge | ratio | ours internal | OpenSTA internal | ours switching | OpenSTA switching |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for p in &self.sta_power {
            s.push_str(&format!(
                "| {} | {:.2} | {:.2} | {:.3} | {:.2} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                p.netlist,
                p.ours_uw,
                p.sta_uw,
                p.sta_uw / p.ours_uw,
                p.sta_clock_once_uw,
                p.sta_clock_once_uw / p.ours_uw,
                p.ours_internal_uw,
                p.sta_internal_uw,
                p.ours_switching_uw,
                p.sta_switching_uw
            ));
        }
        s
    }

    /// Writes ppa.json (the chip model inside), ppa.csv, ppa.md and mult_vs_pe.svg into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        use crate::util::write_atomic;
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("ppa.json: {e}")))?;
        write_atomic(&dir.join("ppa.json"), json.as_bytes())?;
        write_atomic(&dir.join("ppa.csv"), self.csv().as_bytes())?;
        let pts: Vec<(String, f64, f64)> = self
            .order()
            .into_iter()
            .map(|n| {
                let v = &self.chip.variants[&n];
                (n, v.mult_energy_pj, v.pe_energy_pj)
            })
            .collect();
        let svg = crate::report::plots::mult_vs_pe_energy(&pts, self.spearman_mult_vs_pe)?;
        write_atomic(&dir.join("mult_vs_pe.svg"), svg.as_bytes())?;
        let ex = self.chip.variants[&self.chip.exact].pe_energy_pj;
        let front: Vec<crate::report::plots::FrontPoint> = self
            .chip
            .variants
            .values()
            .map(|v| crate::report::plots::FrontPoint {
                name: v.multiplier.clone(),
                family: v.family.clone(),
                mre_pct: v.mre_pct,
                energy: v.pe_energy_pj / ex,
            })
            .collect();
        write_atomic(
            &dir.join("front.svg"),
            crate::report::plots::energy_front(&front)?.as_bytes(),
        )?;
        let front = self.front_table();
        let front = if front.is_empty() {
            front
        } else {
            format!("## Fronts: evolved vs the other families\n\n{front}\n")
        };
        let md = format!(
            "# PPA of {spec}\n\nCell library: `{lib}` (sha256 {sha}). Workload: operand streams of \
             `{bench}` ({cycles} PE cycles). Common clock: {clk:.3} ns (the slowest PE). Energies \
             from toggle counts of a zero-delay gate-level simulation (no glitches), pin loads only \
             (no wires).\n\n## Variants\n\n{table}\nSpearman rank correlation, multiplier-only vs PE \
             energy per MAC: {rho}.\n\n![multiplier vs PE energy](mult_vs_pe.svg)\n\n![PE energy vs MRE by family](front.svg)\n\n## PE energy per \
             MAC by layer (fJ)\n\n{layers}\n## Cross-check with OpenSTA report_power (same input \
             activities)\n\n{sta}\n{front}",
            spec = self.spec,
            lib = self.liberty,
            sha = &self.liberty_sha256[..12.min(self.liberty_sha256.len())],
            bench = self.benchmark,
            cycles = self.workload_cycles,
            clk = self.chip.clock_ns,
            table = self.table(),
            rho = self
                .spearman_mult_vs_pe
                .map_or("n/a (fewer than 3 variants)".to_string(), |r| format!("{r:.3}")),
            layers = self.layer_table(),
            sta = self.sta_table(),
        );
        write_atomic(&dir.join("ppa.md"), md.as_bytes())
    }
}

/// The spec at `path` with `extra` multipliers added as further MXUs (names already present
/// are skipped), for measuring many variants in one run.
pub fn spec_with(path: &Path, extra: &[String]) -> Result<Accelerator> {
    use crate::rtl::spec::{AcceleratorSpec, MxuSpec};
    let text = std::fs::read_to_string(path).at(path)?;
    let mut spec: AcceleratorSpec = toml::from_str(&text).map_err(|e| Error::Input {
        file: path.into(),
        message: e.to_string(),
    })?;
    let exact = crate::multiplier::Design::Exact.name();
    for m in extra {
        let present =
            spec.mxu.iter().any(|x| &x.multiplier == m) || (spec.exact_fallback && *m == exact);
        if !present {
            spec.mxu.push(MxuSpec {
                multiplier: m.clone(),
                top: None,
            });
        }
    }
    spec.resolve(path.parent().unwrap_or(Path::new(".")), path)
}

/// Replaces one variant's MXU area in a ppa.json (e.g. with a post-route ORFS number).
pub fn replace_mxu_area(ppa: &Path, variant: &str, area: f64) -> Result<()> {
    let text = std::fs::read_to_string(ppa).at(ppa)?;
    let mut r: PpaReport = serde_json::from_str(&text).map_err(|e| Error::Input {
        file: ppa.into(),
        message: format!("not a ppa.json: {e}"),
    })?;
    let v = r
        .chip
        .variants
        .get_mut(variant)
        .ok_or_else(|| Error::Input {
            file: ppa.into(),
            message: format!("no variant `{variant}`"),
        })?;
    v.mxu_area = area;
    let json = serde_json::to_string_pretty(&r).map_err(|e| Error::Other(e.to_string()))?;
    crate::util::write_atomic(ppa, json.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn spearman_of_monotone_and_reversed() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(super::spearman(&x, &[10.0, 20.0, 25.0, 100.0]), Some(1.0));
        assert_eq!(super::spearman(&x, &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(super::spearman(&x[..2], &[1.0, 2.0]), None);
    }
}
