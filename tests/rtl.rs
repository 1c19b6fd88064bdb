//! RTL generation: specs are validated; generated designs are Verilator -Wall clean and
//! synthesize in Yosys; co-simulation against the golden model passes, and fails (with the
//! coordinate) on a wrong golden mapping or an injected RTL fault.

use autoapprox::characterize::{characterize, Lut, Options};
use autoapprox::cosim::{check, Program, Simulator};
use autoapprox::rtl::spec::Accelerator;
use autoapprox::rtl::{self, AcceleratorSpec, Fault, GenerateOptions};
use std::path::Path;

mod common;
use common::spec;

fn resolve(s: AcceleratorSpec) -> Accelerator {
    s.resolve(Path::new("."), Path::new("test.toml"))
        .expect("valid spec")
}

fn luts(acc: &Accelerator, cache: &Path) -> Vec<Lut> {
    let mults: Vec<_> = acc.mxus.iter().map(|m| m.mult.clone()).collect();
    let opts = Options {
        cache_dir: cache.to_path_buf(),
        progress: false,
        ..Options::default()
    };
    characterize(&mults, &opts)
        .unwrap()
        .0
        .into_iter()
        .map(|c| c.lut)
        .collect()
}

fn lint_clean(acc: &Accelerator) -> u64 {
    let tmp = tempfile::tempdir().unwrap();
    rtl::generate(acc, tmp.path(), &GenerateOptions::default()).unwrap();
    let r = rtl::lint::lint(tmp.path()).unwrap();
    assert!(r.clean(), "{}: {:?}", acc.spec.name, r.verilator);
    assert!(r.yosys_cells > 0);
    for f in [
        "rtl",
        "synth.ys",
        "orfs/config.mk",
        "orfs/constraint.sdc",
        "manifest.json",
        "spec.toml",
    ] {
        assert!(tmp.path().join(f).exists(), "{f} missing");
    }
    assert!(tmp.path().join(format!("{}.core", acc.spec.name)).exists());
    r.yosys_cells
}

#[test]
fn small_and_odd_shapes_lint_clean() {
    lint_clean(&resolve(spec(1, 1, true, &[])));
    lint_clean(&resolve(spec(3, 5, false, &["mul8u_mitchell_w4"])));
    lint_clean(&resolve(spec(
        4,
        4,
        true,
        &["mul8u_drum_k4", "mul8u_perf_s0k1"],
    )));
    lint_clean(&resolve(spec(
        8,
        8,
        true,
        &[
            "mul8u_bam_v6h0",
            "mul8u_lor_l6",
            "mul8u_kulkarni_t4",
            "mul8u_c42_c9",
        ],
    )));
    lint_clean(&resolve(spec(
        6,
        2,
        false,
        &["mul8u_c42_c16", "mul8u_mitchell_w2"],
    )));
}

#[test]
fn the_16x16_default_lints_clean_and_approximation_saves_cells() {
    let exact_only = lint_clean(&resolve(spec(16, 16, true, &[])));
    let default = AcceleratorSpec::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/accelerator.toml"),
    )
    .unwrap();
    assert_eq!(
        (default.spec.rows, default.spec.cols, default.mxus.len()),
        (16, 16, 4)
    );
    let with_bank = lint_clean(&default);
    assert!(
        with_bank > 3 * exact_only,
        "4 MXUs: {with_bank} cells vs one: {exact_only}"
    );
}

#[test]
fn third_party_multipliers_are_linted_with_a_named_waiver() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("mul8u_EVO.v");
    // EvoApproxLib style, with an unused input bit that -Wall would flag.
    std::fs::write(&f, "module mul8u_EVO ( A, B, O );\n  input [7:0] A;\n  input [7:0] B;\n  output [15:0] O;\n  assign O = A * {B[7:1], 1'b0};\nendmodule\n").unwrap();
    let acc = resolve(spec(4, 4, true, &[f.to_str().unwrap()]));
    rtl::generate(&acc, &tmp.path().join("out"), &GenerateOptions::default()).unwrap();
    let vlt = std::fs::read_to_string(tmp.path().join("out/rtl/third_party.vlt")).unwrap();
    assert!(vlt.contains("mul8u_EVO.v") && vlt.contains("third-party"));
    assert!(rtl::lint::lint(&tmp.path().join("out")).unwrap().clean());
    // The spec copied next to the RTL points at the copied multiplier and loads on its own.
    let again = AcceleratorSpec::load(&tmp.path().join("out/spec.toml")).unwrap();
    assert_eq!(again.mxus[1].mult.verilog, acc.mxus[1].mult.verilog);
}

#[test]
fn bad_specs_are_rejected_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("rows = 4\ncolumns = 4\n", "unknown field `columns`"),
        ("[[mxu]]\nmultiplier = \"mul8u_nope\"\n", "mul8u_nope"),
        ("act_bits = 6\n", "act_bits = 6 and weight_bits = 8 differ"),
        ("acc_bits = 16\n", "acc_bits = 16: must be 20..64"),
        ("dataflow = \"output-stationary\"\n", "not generated yet"),
        ("dataflow = \"diagonal\"\n", "unknown variant"),
        ("rows = 0\n", "rows = 0"),
        ("exact_fallback = false\n", "no MXU"),
        (
            "[[mxu]]\nmultiplier = \"mul8u_exact\"\n",
            "used by two MXUs",
        ),
        ("name = \"9lives\"\n", "Verilog identifier"),
        ("rows = \"four\"\n", "invalid type"),
    ];
    for (text, want) in cases {
        let p = tmp.path().join("s.toml");
        std::fs::write(&p, text).unwrap();
        let err = AcceleratorSpec::load(&p).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(
            err.contains("s.toml"),
            "{text:?}: error does not name the file: {err}"
        );
    }
}

#[test]
fn cosim_4x4_passes_and_detects_a_wrong_golden_mapping() {
    let tmp = tempfile::tempdir().unwrap();
    let acc = resolve(spec(4, 4, true, &["mul8u_drum_k4", "mul8u_perf_s0k1"]));
    rtl::generate(&acc, &tmp.path().join("rtl"), &GenerateOptions::default()).unwrap();
    let tables = luts(&acc, &tmp.path().join("cache"));
    let sim = Simulator::build(&tmp.path().join("rtl")).unwrap();
    let mut p = Program::random(4, 4, 3, 200, 2, 7);
    // A real tile of mnist-cnn: conv1 for a 4x4 array (quantized weights, im2col activations of a test image).
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/benchmarks/mnist-cnn");
    let tile = autoapprox::cosim::real_tile(&bench, 4, 4, 150, 0).expect("run `make benchmarks`");
    assert_eq!(
        (tile.layer.as_str(), tile.weights.len(), tile.acts.len()),
        ("conv1", 16, 600)
    );
    p.push_tile(3, &tile);
    let out = sim.run(&p).unwrap();
    let refs: Vec<&Lut> = tables.iter().collect();
    let r = check(&p, &out, &refs, 32, sim.build_time).unwrap();
    assert!(r.passed(), "first mismatch: {:?}", r.first);
    assert_eq!(r.macs_checked, (5 * 2 * 200 + 3 * 150) * 16);
    assert_eq!(r.words_checked, out.results.len());

    // The golden model with route 1's multiplier replaced by route 2's must fail, on route 1 only.
    let wrong: Vec<&Lut> = vec![&tables[0], &tables[2], &tables[2]];
    let r = check(&p, &out, &wrong, 32, sim.build_time).unwrap();
    assert!(!r.passed());
    assert_eq!(r.first.as_ref().unwrap().at.route, 1);
    assert_eq!((r.per_route[0], r.per_route[2]), (0, 0));
    assert!(r.per_route[1] > 0);
}

#[test]
fn an_injected_rtl_fault_fails_cosim_at_its_column() {
    let tmp = tempfile::tempdir().unwrap();
    // perf_s0k1 is not commutative, so swapping A and B in one PE changes results.
    let acc = resolve(spec(4, 4, true, &["mul8u_drum_k4", "mul8u_perf_s0k1"]));
    let fault = Fault {
        route: 2,
        row: 1,
        col: 2,
    };
    rtl::generate(
        &acc,
        &tmp.path().join("rtl"),
        &GenerateOptions { fault: Some(fault) },
    )
    .unwrap();
    let tables = luts(&acc, &tmp.path().join("cache"));
    let sim = Simulator::build(&tmp.path().join("rtl")).unwrap();
    let p = Program::random(4, 4, 3, 100, 1, 3);
    let out = sim.run(&p).unwrap();
    let refs: Vec<&Lut> = tables.iter().collect();
    let r = check(&p, &out, &refs, 32, sim.build_time).unwrap();
    assert!(!r.passed(), "the fault went unnoticed");
    let first = r.first.unwrap();
    assert_eq!((first.at.route, first.at.column), (2, 2), "{first}");
    assert_eq!((r.per_route[0], r.per_route[1]), (0, 0));
}

#[test]
fn cosim_16x16_three_approximate_mxus_over_a_million_macs() {
    let tmp = tempfile::tempdir().unwrap();
    let acc = AcceleratorSpec::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/accelerator.toml"),
    )
    .unwrap();
    let opts = autoapprox::cosim::CosimOptions {
        vectors: 600,
        rounds: 1,
        seed: 11,
        bench: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/benchmarks/mnist-cnn")),
        characterize: Options {
            cache_dir: tmp.path().join("cache"),
            progress: false,
            ..Options::default()
        },
    };
    let r = autoapprox::cosim::run_spec(&acc, &tmp.path().join("rtl"), &opts).unwrap();
    assert!(r.passed(), "first mismatch: {:?}", r.first);
    // Routes 0, 1, 2, 3, 2, 1, 0: every approximate MXU, switching back and forth mid-run.
    assert!(r.macs_checked >= 1_000_000, "{}", r.macs_checked);
    assert_eq!(r.per_route.len(), 4);
}
