//! The quantized simulator on the real `mnist-cnn` benchmark (installed by `make benchmarks`):
//! published float accuracy, int8 close to float, kernels bit-exact against references, mappings
//! move accuracy the expected way, hostile files give errors.

use autoapprox::characterize::{characterize, Characterization, Options};
use autoapprox::data::Dataset;
use autoapprox::multiplier::{self, Design, Multiplier};
use autoapprox::nn::eval::{evaluate, Benchmark};
use autoapprox::nn::graph::{im2col, Op};
use autoapprox::nn::kernels::{gemm, Kernel, LutTables};
use autoapprox::nn::quant::{LayerMul, QWeights, QuantNet};
use autoapprox::nn::{onnx, Graph};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn bench_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/benchmarks/mnist-cnn")
}

struct Fixture {
    bench: Benchmark,
    graph: Graph,
    test: Dataset,
    _cache: tempfile::TempDir,
    chars: Vec<Characterization>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let bench = Benchmark::load(&bench_dir())
            .expect("mnist-cnn is not installed: run `make benchmarks`");
        let graph = onnx::load(&bench.model_path()).unwrap();
        // the whole t10k file: the published accuracy refers to it
        let test = bench.split("test-file").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let mults: Vec<Multiplier> = [
            Design::Exact,
            Design::Drum { k: 4 },
            Design::Drum { k: 3 },
            Design::Mitchell { w: 2 },
            Design::Compressor42 { cols: 9 },
        ]
        .into_iter()
        .map(Multiplier::builtin)
        .collect();
        let opts = Options {
            cache_dir: cache.path().to_path_buf(),
            progress: false,
            ..Options::default()
        };
        let chars = characterize(&mults, &opts).unwrap().0;
        Fixture {
            bench,
            graph,
            test,
            _cache: cache,
            chars,
        }
    })
}

fn lut(name: &str) -> LutTables {
    LutTables::new(
        &fixture()
            .chars
            .iter()
            .find(|c| c.mult.name == name)
            .unwrap()
            .lut,
    )
}

fn qnet(muls: Vec<LayerMul>) -> QuantNet<'static> {
    let mut q = QuantNet::new(&fixture().graph);
    q.muls = muls;
    q
}

#[test]
fn float_accuracy_is_the_published_99_05_percent() {
    let f = fixture();
    assert_eq!(
        f.graph
            .layers()
            .unwrap()
            .iter()
            .map(|l| l.macs)
            .sum::<u64>(),
        4_241_152
    );
    let r = evaluate(&|x| f.graph.run_float(x), &f.test, f.bench.scale, 500).unwrap();
    assert_eq!((r.top1 * 10000.0).round() as u32, 9905);
}

#[test]
fn exact_int8_is_within_0_3_points_of_float() {
    let f = fixture();
    let q = qnet(vec![LayerMul::Exact; 4]);
    let r = evaluate(&|x| q.run(x), &f.test, f.bench.scale, 500).unwrap();
    assert!((r.top1 - 0.9905).abs() <= 0.003, "int8 top-1 {}", r.top1);
}

#[test]
fn lut_kernel_with_the_exact_multiplier_equals_the_exact_kernel_bit_for_bit() {
    let f = fixture();
    let x = autoapprox::nn::Tensor::images(&f.test, 0, 300, f.bench.scale);
    let exact = qnet(vec![LayerMul::Exact; 4]).run(x.clone()).unwrap();
    let via_lut = qnet(vec![LayerMul::Lut(lut("mul8u_exact")); 4])
        .run(x)
        .unwrap();
    assert_eq!(
        exact.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        via_lut.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn lut_kernel_with_approximate_multipliers_equals_the_gather_loop_bit_for_bit() {
    let f = fixture();
    let x = autoapprox::nn::Tensor::images(&f.test, 300, 600, f.bench.scale);
    for m in ["mul8u_drum_k4", "mul8u_c42_c9"] {
        let fast = qnet(vec![LayerMul::Lut(lut(m)); 4]).run(x.clone()).unwrap();
        let naive = qnet(vec![LayerMul::Gather(lut(m)); 4])
            .run(x.clone())
            .unwrap();
        assert!(
            fast.data
                .iter()
                .zip(&naive.data)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{m}"
        );
    }
}

/// The second convolution computed by direct 7-deep loops (no im2col, no blocking, no SIMD),
/// padding with the activation zero point, against the LUT kernel on im2col.
#[test]
fn lut_convolution_equals_a_naive_direct_convolution() {
    let f = fixture();
    let l = f.graph.nodes.iter().find_map(|n| match &n.op {
        Op::Linear(l) if l.name == "conv2" => Some(l.clone()),
        _ => None,
    });
    let l = l.unwrap();
    let g = l.conv.clone().unwrap();
    let qw = QWeights::new(&l);
    let (c, h, w) = (32usize, 14usize, 14usize);
    let img: Vec<u8> = (0..c * h * w)
        .map(|i| ((i * 7919 + 13) % 251) as u8)
        .collect();
    let za = 17u8;
    let t = lut("mul8u_c42_c9");
    let (oh, ow) = g.out_hw(h, w);
    let mut cols = vec![0u8; l.k * oh * ow];
    im2col(&img, 0..c, h, w, &g, za, &mut cols, oh * ow, 0);
    let fast = gemm(Kernel::Lut(&t), &cols, &qw.codes, l.k, oh * ow, l.out_ch);
    for o in 0..l.out_ch {
        for y in 0..oh {
            for x in 0..ow {
                let mut s = 0u32;
                for ci in 0..c {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) =
                                (y as isize + ky as isize - 1, x as isize + kx as isize - 1);
                            let a = if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                za
                            } else {
                                img[(ci * h + iy as usize) * w + ix as usize]
                            };
                            let wv = qw.codes[o * l.k + ci * 9 + ky * 3 + kx];
                            s += t.lut[((a as usize) << 8) | wv as usize] as u32;
                        }
                    }
                }
                assert_eq!(fast[o * oh * ow + y * ow + x], s, "output ({o}, {y}, {x})");
            }
        }
    }
}

#[test]
fn approximating_more_layers_costs_more_accuracy() {
    let f = fixture();
    let sample = f.test.subset(&f.test.balanced_sample(1000, 5));
    let acc = |muls: Vec<LayerMul>| {
        let q = qnet(muls);
        evaluate(&|x| q.run(x), &sample, f.bench.scale, 500)
            .unwrap()
            .top1
    };
    let exact = acc(vec![LayerMul::Exact; 4]);
    let strong = lut("mul8u_drum_k3");
    let mut one = vec![LayerMul::Exact; 4];
    one[3] = LayerMul::Lut(strong.clone());
    let acc_one = acc(one);
    let acc_all = acc(vec![LayerMul::Lut(strong); 4]);
    assert!(acc_all < acc_one - 0.05, "all {acc_all} one {acc_one}");
    assert!(acc_one <= exact + 0.005, "one {acc_one} exact {exact}");
    let mild = acc(vec![LayerMul::Lut(lut("mul8u_drum_k4")); 4]);
    assert!(
        mild > acc_all + 0.1 && mild <= exact + 0.005,
        "mild {mild} strong {acc_all} exact {exact}"
    );
    // Mitchell w2 (MRE 17.6%) everywhere is worse still.
    assert!(acc(vec![LayerMul::Lut(lut("mul8u_mitchell_w2")); 4]) < acc_all);
}

#[test]
fn balanced_sample_is_balanced_and_deterministic() {
    let v = fixture().bench.split("validation").unwrap();
    assert_eq!(v.len(), 5_000);
    let s = v.balanced_sample(1000, 42);
    assert_eq!(s, v.balanced_sample(1000, 42));
    assert_ne!(s, v.balanced_sample(1000, 43));
    let mut counts = [0; 10];
    for &i in &s {
        counts[v.labels[i] as usize] += 1;
    }
    assert!(counts.iter().all(|&c| c == 100), "{counts:?}");
}

#[test]
fn truncated_or_foreign_files_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let model = std::fs::read(fixture().bench.model_path()).unwrap();
    for (name, bytes) in [
        ("trunc.onnx", model[..model.len() / 3].to_vec()),
        ("junk.onnx", b"\x08\x07hello, this is not onnx".to_vec()),
        ("empty.onnx", vec![]),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = onnx::load(&p).unwrap_err().to_string();
        assert!(e.contains(name), "{e}");
    }
    let _ = multiplier::library();
}

#[test]
fn static_calibrated_quantization_stays_close_to_float() {
    let f = fixture();
    let val = f.bench.split("validation").unwrap();
    let cal = val.subset(&val.balanced_sample(500, 1));
    let mut q = qnet(vec![LayerMul::Exact; 4]);
    q.calibrate(autoapprox::nn::Tensor::images(
        &cal,
        0,
        cal.len(),
        f.bench.scale,
    ))
    .unwrap();
    assert!(q
        .calibration
        .as_ref()
        .unwrap()
        .iter()
        .all(|(lo, hi)| lo <= hi && *hi > 0.0));
    let r = evaluate(&|x| q.run(x), &f.test, f.bench.scale, 500).unwrap();
    assert!(
        (r.top1 - 0.9905).abs() <= 0.003,
        "static int8 top-1 {}",
        r.top1
    );
}

#[test]
fn layer_muls_follow_the_mapping_and_reject_unknown_multipliers() {
    use autoapprox::nn::eval::{layer_muls, KernelKind};
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        cache_dir: tmp.path().to_path_buf(),
        progress: false,
        ..Options::default()
    };
    let names = vec![
        None,
        Some("mul8u_drum_k4".to_string()),
        Some("mul8u_drum_k4".to_string()),
        None,
    ];
    let kinds: Vec<&str> = layer_muls(&names, KernelKind::Lut, &opts)
        .unwrap()
        .iter()
        .map(|m| match m {
            LayerMul::Exact => "exact",
            LayerMul::Lut(_) => "lut",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["exact", "lut", "lut", "exact"]);
    assert!(layer_muls(&names, KernelKind::Exact, &opts)
        .unwrap()
        .iter()
        .all(|m| matches!(m, LayerMul::Exact)));
    let bad = vec![Some("mul8u_nope".to_string())];
    assert!(layer_muls(&bad, KernelKind::Lut, &opts)
        .unwrap_err()
        .to_string()
        .contains("mul8u_nope"));
    assert!("fast".parse::<KernelKind>().is_err());
}

#[test]
fn mnist_validation_is_every_second_test_image_and_test_is_the_rest() {
    let b = &fixture().bench;
    assert_eq!(b.validation.from, "test", "{}", b.validation_provenance());
    let (file, val, test) = (
        b.split("test-file").unwrap(),
        b.split("validation").unwrap(),
        b.split("test").unwrap(),
    );
    assert_eq!((file.len(), val.len(), test.len()), (10_000, 5_000, 5_000));
    let px = file.shape.iter().product::<usize>();
    let img = |d: &Dataset, i: usize| d.pixels[i * px..(i + 1) * px].to_vec();
    for k in [0, 1, 2_499, 4_999] {
        assert_eq!(img(&val, k), img(&file, 2 * k));
        assert_eq!(img(&test, k), img(&file, 2 * k + 1));
        assert_eq!(val.labels[k], file.labels[2 * k]);
        assert_eq!(test.labels[k], file.labels[2 * k + 1]);
    }
    // a benchmark.json whose validation range does not fit its file is a clear error
    let tmp = tempfile::tempdir().unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.dir.join("benchmark.json")).unwrap())
            .unwrap();
    for key in [
        "model",
        "train_images",
        "train_labels",
        "test_images",
        "test_labels",
    ] {
        let f = b.dir.join(json[key].as_str().unwrap());
        json[key] = serde_json::Value::String(f.to_string_lossy().into_owned());
    }
    json["validation"]["count"] = 6_000.into();
    std::fs::write(tmp.path().join("benchmark.json"), json.to_string()).unwrap();
    let e = Benchmark::load(tmp.path())
        .unwrap()
        .split("validation")
        .unwrap_err()
        .to_string();
    assert!(e.contains("benchmark.json") && e.contains("outside"), "{e}");
    json["validation"]["from"] = "dev".into();
    std::fs::write(tmp.path().join("benchmark.json"), json.to_string()).unwrap();
    let e = Benchmark::load(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("`train` or `test`"), "{e}");
}
