//! The mapping search (DESIGN.md "The search problem"). So far: per-layer calibration.

pub mod calibrate;
