//! Third-party Verilog through the CLI: EvoApproxLib-style files are characterized; every bad
//! input gives one line naming the file (and line) and a non-zero exit, and caches nothing.

mod common;
use common::{autoapprox, cache_entries, stderr, stdout};
use std::path::Path;

/// EvoApproxLib style: non-ANSI header, flat assigns. Weight bit 0 is ignored, so the table is
/// not symmetric; ports are declared B first to check that A/B are taken by name.
const EVO_STYLE: &str = "\
// third-party style test multiplier
module mul8u_TEST ( B, A, O );
  input [7:0] B;
  input [7:0] A;
  output [15:0] O;
  wire [7:0] b_hi;
  assign b_hi = {B[7:1], 1'b0};
  assign O = A * b_hi;
endmodule
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[derive(serde::Deserialize)]
struct Rec {
    name: String,
    source: String,
    bits: u32,
    wce: u32,
    mae: f64,
    mae_pct: f64,
    ep_pct: f64,
    cache_key: String,
}

fn json_records(out: &std::process::Output) -> Vec<Rec> {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_str(&stdout(out)).expect("JSON on stdout")
}

#[test]
fn evoapprox_style_file_is_characterized_with_ports_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "mul8u_TEST.v", EVO_STYLE);
    let out = autoapprox(
        &["characterize", &f, "--cache", "c", "--json", "-"],
        tmp.path(),
    );
    let recs = json_records(&out);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!((r.name.as_str(), r.bits), ("mul8u_TEST", 8));
    assert!(r.source.ends_with("mul8u_TEST.v"));
    // d = a * b0: WCE = 255, MAE = mean over a of a / 2 = 63.75, EP = P(a > 0, b odd).
    assert_eq!(r.wce, 255);
    assert_eq!(r.mae, 63.75);
    assert_eq!(r.ep_pct, 128.0 * 255.0 / 65536.0 * 100.0);
    // The LUT on disk is indexed [a, b] with a = activation = port A.
    let lut = std::fs::read(tmp.path().join("c").join(&r.cache_key).join("lut.npy")).unwrap();
    let data = &lut[lut.len() - 131072..];
    let at = |a: usize, b: usize| {
        u16::from_le_bytes([data[2 * ((a << 8) | b)], data[2 * ((a << 8) | b) + 1]])
    };
    assert_eq!(at(3, 1), 0);
    assert_eq!(at(1, 3), 2);
    assert_eq!(at(200, 201), 200 * 200);
}

#[test]
fn narrower_multipliers_use_their_own_range() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "m4.v",
        "module m4 (input [3:0] x, input [3:0] y, output [7:0] z);\n  assign z = (x * y) | 8'd1;\nendmodule\n",
    );
    let r = &json_records(&autoapprox(
        &["characterize", &f, "--cache", "c", "--json", "-"],
        tmp.path(),
    ))[0];
    assert_eq!(r.bits, 4);
    // d = 1 exactly where a*b is even: 256 - 64 odd products = 192 of 256 pairs.
    assert_eq!(r.ep_pct, 75.0);
    assert_eq!(r.mae, 0.75);
    assert_eq!(r.mae_pct, 0.75 / 256.0 * 100.0);
}

#[test]
fn top_selects_among_several_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    let two = "module m1 (input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = A * B;\nendmodule\n\
               module m2 (input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = (A * B) & 16'hfff0;\nendmodule\n";
    let f = write(tmp.path(), "two.v", two);
    let out = autoapprox(&["characterize", &f, "--cache", "c"], tmp.path());
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("two.v:4") && err.contains("2 candidate") && err.contains("--top"),
        "{err}"
    );
    assert_eq!(cache_entries(&tmp.path().join("c")), 0);
    let r = &json_records(&autoapprox(
        &[
            "characterize",
            &f,
            "--top",
            "m2",
            "--cache",
            "c",
            "--json",
            "-",
        ],
        tmp.path(),
    ))[0];
    assert_eq!(r.name, "m2");
    assert_eq!(r.wce, 15);
}

#[test]
fn a_wrapper_around_a_core_is_preferred_over_the_core() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "module core (input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = A * B;\nendmodule\n\
                module wrap (input [7:0] A, input [7:0] B, output [15:0] O);\n  core u (.A(A), .B(B), .O(O));\nendmodule\n";
    let f = write(tmp.path(), "wrap.v", text);
    let r = &json_records(&autoapprox(
        &["characterize", &f, "--cache", "c", "--json", "-"],
        tmp.path(),
    ))[0];
    assert_eq!((r.name.as_str(), r.wce), ("wrap", 0));
}

/// Each bad input: exit 1, one line on stderr naming the file and the line, nothing cached.
#[test]
fn bad_inputs_give_one_line_errors_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("nomod.v", "module inv (input a, output y);\n  assign y = ~a;\nendmodule\n", &["nomod.v:1", "no multiplier module"]),
        (
            "widths.v",
            "module w (A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output [7:0] O;\n  assign O = A & B;\nendmodule\n",
            &["widths.v:4", "need 16 output bits"],
        ),
        (
            "mixed.v",
            "module w (input [7:0] A, input [5:0] B, output [13:0] O);\n  assign O = A * B;\nendmodule\n",
            &["mixed.v:1", "same width"],
        ),
        (
            "seq.v",
            "module s (input clk, input [7:0] A, input [7:0] B, output reg [15:0] O);\nendmodule\n\
             module s2 (A, B, O);\n  input [7:0] A;\n  input [7:0] B;\n  output reg [15:0] O;\n  reg [15:0] q;\n\
             \x20 always @(posedge A[0]) q <= A * B;\n  always @(*) O = q;\nendmodule\n",
            &["seq.v:8", "sequential"],
        ),
        ("syntax.v", "module bad (input [7:0] A, input [7:0] B, output [15:0] O);\n  assign O = A * ;\nendmodule\n", &["syntax.v:2", "syntax error"]),
        ("empty.v", "// nothing here\n", &["empty.v"]),
        ("wide.v", "module big (input [11:0] A, input [11:0] B, output [23:0] O);\n  assign O = A * B;\nendmodule\n", &["wide.v:1", "12-bit"]),
    ];
    for (name, text, expect) in cases {
        let f = write(tmp.path(), name, text);
        let out = autoapprox(&["characterize", &f, "--cache", "c"], tmp.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert_eq!(
            err.trim().lines().count(),
            1,
            "{name}: not one line:\n{err}"
        );
        assert!(err.starts_with("error: "), "{name}: {err}");
        for e in *expect {
            assert!(err.contains(e), "{name}: expected `{e}` in: {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    assert_eq!(
        cache_entries(&tmp.path().join("c")),
        0,
        "nothing may be cached for bad inputs"
    );
}

#[test]
fn unknown_names_and_missing_files_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let out = autoapprox(&["characterize", "mul8u_nonexistent"], tmp.path());
    assert!(
        stderr(&out).contains("unknown multiplier `mul8u_nonexistent`"),
        "{}",
        stderr(&out)
    );
    let out = autoapprox(&["characterize", "missing/file.v"], tmp.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("missing/file.v: no such file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_verilator_names_the_install_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autoapprox"))
        .args(["characterize", "mul8u_exact", "--cache", "c"])
        .current_dir(tmp.path())
        .env("PATH", tmp.path())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("`verilator` was not found") && err.contains("apt-get install -y verilator"),
        "{err}"
    );
}
