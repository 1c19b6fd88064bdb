//! PPA with the real tools: the default Liberty library is sane; Yosys netlists equal the
//! characterized tables on all operand pairs; area follows cell count; the workload-driven
//! energy responds to the data of real layers; zero input activity leaves leakage only; OpenSTA
//! times the netlists and its power agrees with ours to within a stated factor.

use autoapprox::characterize::{characterize, Options};
use autoapprox::ppa::{self, liberty::Library, power, sta, synth, workload};
use autoapprox::rtl::{self, AcceleratorSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn default_lib(dir: &Path) -> Library {
    ppa::load_library(None, dir).expect("default library")
}

#[test]
fn default_library_is_complete_and_physical() {
    let d = tempfile::tempdir().unwrap();
    let lib = default_lib(d.path());
    assert!((lib.voltage - 1.8).abs() < 1e-9);
    for c in [
        "inv_1", "buf_1", "nand2_1", "nor2_1", "and2_1", "or2_1", "xor2_1", "xnor2_1", "a21oi_1",
        "o21ai_1", "mux2_1", "ha_1", "fa_1", "dfxtp_1",
    ] {
        let name = format!("sky130_fd_sc_hd__{c}");
        let cell = lib
            .cells
            .get(&name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(cell.area > 0.0 && cell.leakage > 0.0, "{name}");
        for p in cell.inputs() {
            assert!(
                p.capacitance > 0.0005 && p.capacitance < 0.01,
                "{name}.{}",
                p.name
            );
        }
        for p in &cell.pins {
            for ip in &p.internal_power {
                for t in [&ip.rise, &ip.fall].into_iter().flatten() {
                    assert!(
                        t.min() >= 0.0,
                        "{name}.{}: negative internal energy",
                        p.name
                    );
                }
            }
        }
    }
    // areas are the LEF sizes: nand2_1 is 1.38 x 2.72 µm, fa_1 7.36 x 2.72 µm
    assert!((lib.cells["sky130_fd_sc_hd__nand2_1"].area - 3.7536).abs() < 1e-3);
    assert!((lib.cells["sky130_fd_sc_hd__fa_1"].area - 20.0192).abs() < 1e-3);
    assert!(lib.cells["sky130_fd_sc_hd__dfxtp_1"].ff.is_some());
}

mod common;

/// A 4x4 accelerator (20-bit partial sums) with the exact MXU and `mults`.
fn spec(mults: &[&str]) -> rtl::spec::Accelerator {
    AcceleratorSpec {
        acc_bits: 20,
        ..common::spec(4, 4, true, mults)
    }
    .resolve(Path::new("."), Path::new("test.toml"))
    .expect("valid spec")
}

/// The full flow on a 4x4 array: exact + two approximate variants, mnist-cnn operand streams.
#[test]
fn ppa_flow_on_real_layers() {
    let d = tempfile::tempdir().unwrap();
    let acc = spec(&["mul8u_perf_s0k2", "mul8u_kulkarni_t4"]);
    let opts = ppa::PpaOptions {
        liberty: None,
        bench: root().join("data/benchmarks/mnist-cnn"),
        workload: workload::WorkloadOptions {
            images: 2,
            slots: 16,
            len: 16,
            seed: 3,
        },
        out: d.path().to_path_buf(),
        characterize: Options {
            cache_dir: root().join("sim_cache"),
            progress: false,
            ..Options::default()
        },
        no_sta_power: false,
    };
    // run() fails if any multiplier netlist differs from its LUT on any of the 65,536 pairs,
    // or any PE output differs from psum_in + LUT[a][w] in any cycle
    let r = ppa::run(&acc, Path::new("test.toml"), &opts).expect("ppa flow");
    let v = &r.chip.variants;
    let exact = &v["mul8u_exact"];
    let perf = &v["mul8u_perf_s0k2"];
    // perforation drops partial products: fewer cells, less area, less energy
    assert!(perf.mult_cells < exact.mult_cells);
    assert!(perf.mult_area < exact.mult_area && perf.pe_area < exact.pe_area);
    assert!(perf.mxu_area < exact.mxu_area);
    assert!(perf.pe_energy_pj < exact.pe_energy_pj);
    for x in v.values() {
        assert!(x.mult_delay_ns > 0.05 && x.mult_delay_ns < 20.0, "{x:?}");
        assert!(x.pe_period_ns > x.mult_delay_ns, "{x:?}");
        assert!(
            x.pe_energy_pj > x.mult_energy_pj && x.mult_energy_pj > 0.0,
            "{x:?}"
        );
        // the whole 4x4 MXU holds 16 PEs plus skew registers
        assert!(x.mxu_area > 16.0 * x.pe_area, "{x:?}");
    }
    assert!(
        (r.chip.clock_ns - v.values().map(|x| x.pe_period_ns).fold(0.0, f64::max)).abs() < 1e-9
    );
    // the model responds to data: the exact PE's energy per MAC differs between layers
    let per_layer: Vec<f64> = exact.layers.values().map(|x| x.1).collect();
    assert_eq!(per_layer.len(), 4, "mnist-cnn has 4 mappable layers");
    let (lo, hi) = per_layer
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(
        hi > lo * 1.05,
        "per-layer energies too similar: {per_layer:?}"
    );
    // OpenSTA's activity-propagated estimate against the toggle count: the PEs (clock pins
    // counted once per edge) within 20 %; the multipliers, where OpenSTA's probabilistic
    // propagation and our zero-delay toggles differ most, within a factor of 1.8
    assert_eq!(r.sta_power.len(), 6);
    for p in &r.sta_power {
        let ratio = p.sta_clock_once_uw / p.ours_uw;
        if p.netlist.contains("_pe_") {
            assert!(ratio > 0.83 && ratio < 1.2, "{p:?}");
        } else {
            assert!(ratio > 0.55 && ratio < 1.8, "{p:?}");
        }
    }
    // the chip model: all-exact is 1.0; perforation everywhere saves energy; area counts MXUs
    let layers = autoapprox::nn::onnx::load(&root().join("data/benchmarks/mnist-cnn/model.onnx"))
        .unwrap()
        .layers()
        .unwrap();
    let all = |m: &'static str| vec![m; layers.len()];
    let c = &r.chip;
    assert!((c.relative_energy(&layers, &all("mul8u_exact")).unwrap() - 1.0).abs() < 1e-12);
    assert!(c.relative_energy(&layers, &all("mul8u_perf_s0k2")).unwrap() < 1.0);
    assert!((c.relative_area(&[]).unwrap() - 1.0).abs() < 1e-12);
    let two = c
        .relative_area(&["mul8u_perf_s0k2", "mul8u_perf_s0k2"])
        .unwrap();
    assert!(two > 1.0 && two < 2.0);
    // written outputs, and the chip model reads back
    r.write(d.path()).unwrap();
    let back = ppa::energy::ChipModel::load(&d.path().join("ppa.json")).unwrap();
    assert_eq!(&back, c);
    let svg = std::fs::read_to_string(d.path().join("mult_vs_pe.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("perf_s0k2"));
}

/// Constant inputs: the multiplier netlist's nets never toggle and its energy is leakage only;
/// in the PE only the clock net toggles.
#[test]
fn zero_activity_gives_leakage_only() {
    let d = tempfile::tempdir().unwrap();
    let lib = default_lib(d.path());
    let acc = spec(&[]);
    let m = rtl::generate(
        &acc,
        &d.path().join("rtl"),
        &rtl::GenerateOptions::default(),
    )
    .unwrap();
    let files = rtl::sources(&d.path().join("rtl"), &m);
    let w = d.path().join("synth");
    let mult = synth::synth_flat(&files, "mul8u_exact", &lib, &w).unwrap();
    let pe = synth::synth_flat(&files, &m.mxus[0].pe, &lib, &w).unwrap();
    let exact = acc.mxus[0].mult.clone();
    let h = power::build(
        &[power::HarnessVariant {
            name: "mul8u_exact".into(),
            mult: &mult,
            mult_ports: exact.ports.clone(),
            pe: &pe,
        }],
        &lib,
        8,
        20,
        &d.path().join("harness"),
    )
    .unwrap();
    // the netlist multiplies exactly
    let t = &h.exhaustive(8).unwrap()[0];
    assert!((0..65536).all(|i| t[i] as usize == (i >> 8) * (i & 255)));
    let c = workload::Cycle {
        a: 77,
        w_in: 5,
        w_load: false,
        weight: 0,
        psum_in: 1000,
    };
    let warm = vec![c; 3];
    let still = vec![c; 100];
    let r = h.stream(&[&warm, &still]).unwrap();
    let tg = &r.toggles[1];
    let empty = BTreeMap::new();
    let mt = tg.get(&mult.module).unwrap_or(&empty);
    assert_eq!(mt.values().sum::<u64>(), 0, "multiplier nets toggled");
    let e = power::EnergyModel::new(&mult, &lib).energy(mt, 100, 5.0);
    assert_eq!(e.switching + e.input_switching + e.internal, 0.0);
    assert!(e.leakage > 0.0 && e.total() == e.leakage);
    let pt = &tg[&pe.module];
    let clk = match pe.port("clk").unwrap().bits[0] {
        ppa::netlist::Bit::Net(n) => n,
        _ => panic!("clk is a constant"),
    };
    let toggling: Vec<_> = pt.iter().filter(|(_, &n)| n > 0).collect();
    assert_eq!(
        toggling,
        vec![(&clk, &200)],
        "only the clock toggles, twice per cycle"
    );
    // and with data moving, much more than the clock toggles
    let lut = characterize(
        &[exact],
        &Options {
            cache_dir: root().join("sim_cache"),
            progress: false,
            ..Options::default()
        },
    )
    .unwrap()
    .0
    .remove(0)
    .lut;
    let moving: Vec<workload::Cycle> = (0..64u32)
        .map(|i| workload::Cycle {
            a: (i * 37 % 256) as u8,
            w_in: 9,
            w_load: i == 0,
            weight: if i == 0 { 0 } else { 9 },
            psum_in: (i as u64 * 1013) % 4096,
        })
        .collect();
    let r2 = h.stream(&[&warm, &moving]).unwrap();
    let seg = workload::LayerStream {
        layer: 0,
        name: "moving".into(),
        macs: 0,
        cycles: moving.clone(),
    };
    let ws = workload::LayerStream {
        layer: 0,
        name: "warm".into(),
        macs: 0,
        cycles: warm.clone(),
    };
    power::check_pe_outputs(&[&ws, &seg], &r2.psum, &[&lut], &["exact".into()], 20, 1).unwrap();
    // a wrong table is caught
    let wrong = autoapprox::characterize::Lut::new(
        8,
        (0..65536u32)
            .map(|i| ((i >> 8) * (i & 255) + 1) as u16)
            .collect(),
    );
    assert!(
        power::check_pe_outputs(&[&ws, &seg], &r2.psum, &[&wrong], &["exact".into()], 20, 1)
            .is_err()
    );
    assert!(r2.toggles[1][&pe.module].values().sum::<u64>() > 20 * 64);
}

/// The Debian OpenSTA charges a flip-flop's clock-pin energy twice per edge: with no data
/// activity a lone dfxtp costs 4x the pin's per-edge energy per cycle in `report_power`, where
/// Liberty means 2x (one rise, one fall). `PowerCheck::sta_clock_once_uw` corrects for this.
#[test]
fn opensta_counts_clock_pin_energy_twice_per_edge() {
    let d = tempfile::tempdir().unwrap();
    let lib = default_lib(d.path());
    let ff = &lib.cells["sky130_fd_sc_hd__dfxtp_1"];
    let clk = ff.pins.iter().find(|p| p.clock).unwrap();
    let e_edge = clk.internal_power[0].energy(power::NOMINAL_SLEW_NS, 0.0);
    let v = d.path().join("ff.v");
    std::fs::write(
        &v,
        "module ff (clk, d, q);\n  input clk;\n  input d;\n  output q;\n  \
         sky130_fd_sc_hd__dfxtp_1 u (.CLK(clk), .D(d), .Q(q));\nendmodule\n",
    )
    .unwrap();
    let period = 10.0;
    let r = sta::run(
        &v,
        "ff",
        &lib,
        Some("clk"),
        period,
        Some(&[("d".to_string(), 0.0)]),
        d.path(),
    )
    .unwrap();
    let p = r.power.expect("report_power");
    let per_cycle_pj = (p.total - p.leakage) * period * 1e3; // W * ns = nJ -> pJ
    assert!(
        (per_cycle_pj / (4.0 * e_edge) - 1.0).abs() < 0.01,
        "{per_cycle_pj} vs {e_edge}"
    );
}
