//! The command line: library listing, generated-file check, report outputs.

mod common;
use common::{autoapprox, stderr, stdout};

#[test]
fn mult_list_shows_the_library() {
    let tmp = tempfile::tempdir().unwrap();
    let out = autoapprox(&["mult", "list"], tmp.path());
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(
        text.lines().count(),
        1 + autoapprox::multiplier::LIBRARY.len()
    );
    assert!(text.contains("mul8u_drum_k4") && text.contains("Hashemi"));
}

#[test]
fn generate_check_detects_a_stale_file() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        autoapprox(&["mult", "generate", "--out", "lib"], tmp.path())
            .status
            .success()
    );
    assert!(
        autoapprox(&["mult", "generate", "--out", "lib", "--check"], tmp.path())
            .status
            .success()
    );
    let f = tmp.path().join("lib/mul8u_exact.v");
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("endmodule", "  // a hand edit\nendmodule");
    std::fs::write(&f, text).unwrap();
    let out = autoapprox(&["mult", "generate", "--out", "lib", "--check"], tmp.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mul8u_exact.v"), "{}", stderr(&out));
}

#[test]
fn characterize_writes_table_json_csv_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["mul8u_exact", "mul8u_mitchell_w4", "mul8u_kulkarni_t4"];
    let mut args = vec!["characterize"];
    args.extend(names);
    args.extend([
        "--cache", "c", "--out", "rep", "--json", "r.json", "--csv", "r.csv",
    ]);
    let out = autoapprox(&args, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    for n in names {
        assert!(table.contains(n), "{table}");
    }
    assert!(table.contains("3 simulated, 0 from cache"), "{table}");

    let csv = std::fs::read_to_string(tmp.path().join("r.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for f in [
        "name",
        "source",
        "bits",
        "mae",
        "mae_pct",
        "wce",
        "wce_pct",
        "wcre_pct",
        "ep_pct",
        "mre_pct",
        "mse",
        "bias",
        "svd_rank",
        "svd_max_err",
        "svd_bytes",
    ] {
        assert!(header.contains(&f), "CSV lacks {f}: {header:?}");
    }
    assert_eq!(csv.lines().count(), 4);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert_eq!(json[1]["name"], "mul8u_mitchell_w4");

    let rep = tmp.path().join("rep");
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("| mul8u_kulkarni_t4 | kulkarni |"), "{md}");
    for svg in [
        "library.svg",
        "heatmaps/mul8u_exact.svg",
        "heatmaps/mul8u_mitchell_w4.svg",
    ] {
        let text = std::fs::read_to_string(rep.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(
            text.matches("<rect").count() > 100 || svg == "library.svg",
            "{svg} has no heatmap cells"
        );
    }

    // Warm: same numbers, from the cache.
    let out = autoapprox(
        &[
            "characterize",
            "mul8u_exact",
            "mul8u_mitchell_w4",
            "mul8u_kulkarni_t4",
            "--cache",
            "c",
            "--csv",
            "-",
        ],
        tmp.path(),
    );
    assert_eq!(stdout(&out), csv);
}
