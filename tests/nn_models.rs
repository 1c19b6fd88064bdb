//! The trained `fmnist-resnet` (16 mappable layers, residual) and the `resnet50-shape` graph
//! (installed by `make benchmarks`).

use autoapprox::characterize::{characterize, Options};
use autoapprox::multiplier::{Design, Multiplier};
use autoapprox::nn::eval::{evaluate, Benchmark};
use autoapprox::nn::kernels::LutTables;
use autoapprox::nn::onnx;
use autoapprox::nn::quant::{LayerMul, QuantNet};
use std::path::Path;

fn bench(name: &str) -> Benchmark {
    Benchmark::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data/benchmarks")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{e} (run `make benchmarks`)"))
}

fn lut(d: Design) -> LutTables {
    let tmp = tempfile::tempdir().unwrap();
    let opts = Options {
        cache_dir: tmp.path().to_path_buf(),
        progress: false,
        ..Options::default()
    };
    LutTables::new(&characterize(&[Multiplier::builtin(d)], &opts).unwrap().0[0].lut)
}

#[test]
fn fmnist_resnet_float_matches_training_and_int8_is_within_0_3_points() {
    let b = bench("fmnist-resnet");
    let g = onnx::load(&b.model_path()).unwrap();
    let layers = g.layers().unwrap();
    assert_eq!(layers.len(), 16);
    assert!(
        g.nodes
            .iter()
            .any(|n| matches!(n.op, autoapprox::nn::graph::Op::Add)),
        "residual adds"
    );
    let test = b.split("test").unwrap();
    let float = evaluate(&|x| g.run_float(x), &test, b.scale, 500)
        .unwrap()
        .top1;
    // torch measured 0.9280 on the same 10,000 images (benchmarks/fmnist-resnet/training.json).
    assert!((float - 0.928).abs() <= 0.0005, "float top-1 {float}");
    let q = QuantNet::new(&g);
    let int8 = evaluate(&|x| q.run(x), &test, b.scale, 500).unwrap().top1;
    assert!((int8 - float).abs() <= 0.003, "int8 {int8} float {float}");
}

#[test]
fn fmnist_resnet_approximating_more_layers_costs_more() {
    let b = bench("fmnist-resnet");
    let g = onnx::load(&b.model_path()).unwrap();
    let val = b.split("validation").unwrap();
    let sample = val.subset(&val.balanced_sample(1000, 2));
    let t = lut(Design::Drum { k: 4 });
    let acc = |muls: Vec<LayerMul>| {
        let mut q = QuantNet::new(&g);
        q.muls = muls;
        evaluate(&|x| q.run(x), &sample, b.scale, 500).unwrap().top1
    };
    let exact = acc(vec![LayerMul::Exact; 16]);
    let mut one = vec![LayerMul::Exact; 16];
    one[15] = LayerMul::Lut(t.clone());
    let (acc_one, acc_all) = (acc(one), acc(vec![LayerMul::Lut(t); 16]));
    assert!(
        acc_all < acc_one - 0.1 && acc_one <= exact + 0.01,
        "exact {exact} one {acc_one} all {acc_all}"
    );
}

#[test]
fn resnet50_shape_imports_at_the_papers_scale_and_lut_equals_gather() {
    let b = bench("resnet50-shape");
    let g = onnx::load(&b.model_path()).unwrap();
    let layers = g.layers().unwrap();
    assert_eq!(layers.len(), 54);
    let macs: u64 = layers.iter().map(|l| l.macs).sum();
    assert!((4.0e9..4.2e9).contains(&(macs as f64)), "{macs} MACs");
    let x = autoapprox::nn::Tensor::images(&b.split("test").unwrap(), 0, 1, b.scale);
    let t = lut(Design::Mitchell { w: 4 });
    let run = |m: LayerMul| {
        let mut q = QuantNet::new(&g);
        q.muls = vec![m; 54];
        q.run(x.clone()).unwrap()
    };
    let (fast, naive) = (run(LayerMul::Lut(t.clone())), run(LayerMul::Gather(t)));
    assert!(fast
        .data
        .iter()
        .zip(&naive.data)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}
