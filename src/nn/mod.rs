//! The quantized network simulator: ONNX import, float reference, int8 post-training
//! quantization with per-layer multipliers, GEMM kernels, evaluation.

pub mod bench;
pub mod eval;
pub mod graph;
pub mod kernels;
pub mod onnx;
pub mod quant;

pub use graph::{Graph, LayerInfo, Tensor};
