//! `autoapprox run`: the whole flow from a project file, with a third-party multiplier found by
//! a glob; killed during the search and started again, it resumes and writes the same report
//! as an uninterrupted run with the same seed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const THIRD_PARTY: &str = "// EvoApproxLib-style: drops the four least significant product bits
module mul8u_tp_trunc4(A, B, O);
  input [7:0] A, B;
  output [15:0] O;
  wire [15:0] p = A * B;
  assign O = {p[15:4], 4'b0000};
endmodule
";

fn project(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("third_party")).unwrap();
    std::fs::write(dir.join("third_party/mul8u_tp_trunc4.v"), THIRD_PARTY).unwrap();
    let f = dir.join("autoapprox.toml");
    std::fs::write(
        &f,
        format!(
            "[network]\nbench = {:?}\nsample = 300\n\n\
             [multipliers]\nbuiltin = [\"mul8u_drum_k4\", \"mul8u_kulkarni_t4\"]\nverilog = [\"third_party/*.v\"]\n\n\
             [accelerator]\nrows = 4\ncols = 4\n\n\
             [ppa]\nimages = 1\nslots = 8\nlen = 16\n\n\
             [search]\nmethods = [\"gpbo\", \"random\", \"greedy\"]\nbudget = 12\nseeds = [3]\ntau = -1.0\nconfirm = 2\n\n\
             [chip]\nmethod = \"gpbo\"\ncosim_vectors = 16\n",
            root.join("data/benchmarks/mnist-cnn")
        ),
    )
    .unwrap();
    f
}

fn lines(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir.join("search")) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path().join("sample.v3.jsonl"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().count())
        .sum()
}

#[test]
fn run_is_whole_resumable_and_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let proj = project(d.path());
    let bin = env!("CARGO_BIN_EXE_autoapprox");

    // uninterrupted, with its own cache
    let (out_a, cache_a) = (d.path().join("a"), d.path().join("cache-a"));
    let r = autoapprox::flow::run(
        &proj,
        &autoapprox::flow::RunOptions {
            out: out_a.clone(),
            cache_dir: cache_a.clone(),
            progress: false,
        },
    )
    .expect("run");
    let report = std::fs::read_to_string(out_a.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out_a.join("report.html")).unwrap();
    assert!(report.contains("## Designs (Table II)") && report.contains("mul8u_tp_trunc4"));
    assert!(html.contains("<svg") && html.contains("<table>") && !html.contains("<img"));
    assert_eq!(r.chip.verilator_warnings, Vec::<String>::new());
    assert!(r.chip.cosim_words > 0 && r.chip.cosim_mismatches == 0);
    assert!(out_a.join("chip").join(&r.chip.filelist).is_file());
    assert!(out_a.join("chip/orfs/config.mk").is_file());
    assert!(out_a.join("chip").join(&r.chip.core).is_file());
    // every stage but the report ran; the third-party multiplier was characterized and measured
    assert!(r
        .stages
        .iter()
        .all(|s| !s.cached || s.stage == "characterize"));
    let ppa = std::fs::read_to_string(out_a.join("ppa/ppa.json")).unwrap();
    assert!(ppa.contains("mul8u_tp_trunc4"));

    // a second run of the same project: every stage from the cache, the same report
    let again = autoapprox::flow::run(
        &proj,
        &autoapprox::flow::RunOptions {
            out: out_a.clone(),
            cache_dir: cache_a.clone(),
            progress: false,
        },
    )
    .expect("run again");
    for s in &again.stages {
        assert!(s.cached || s.stage == "report", "{} not cached", s.stage);
    }
    assert_eq!(
        std::fs::read_to_string(out_a.join("report.md")).unwrap(),
        report
    );

    // killed during the search (another cache), then started again
    let (out_b, cache_b) = (d.path().join("b"), d.path().join("cache-b"));
    let run_b = || {
        let mut c = Command::new(bin);
        c.args(["run", proj.to_str().unwrap(), "--out"])
            .arg(&out_b)
            .env("AUTOAPPROX_CACHE", &cache_b);
        c
    };
    let mut child = run_b()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while lines(&cache_b) < 4 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "run finished before it could be interrupted"
        );
        assert!(
            t.elapsed() < Duration::from_secs(900),
            "search never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out_b.join("report.md").exists());
    let st = run_b().output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let resumed = std::fs::read_to_string(out_b.join("report.md")).unwrap();
    assert_eq!(resumed, report, "the resumed run's report differs");
    for f in ["gpbo-s3.jsonl", "random-s3.jsonl", "greedy.jsonl"] {
        assert_eq!(
            std::fs::read(out_a.join("search/evals").join(f)).unwrap(),
            std::fs::read(out_b.join("search/evals").join(f)).unwrap(),
            "{f}"
        );
    }
}
