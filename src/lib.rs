//! autoapprox: low-power DNN accelerators with approximate multipliers.
//!
//! The pipeline stages live in one module each (ARCHITECTURE.md has the code map): [`multiplier`] (the library and
//! third-party import), [`characterize`] (Verilator harness, LUTs, metrics, low-rank tables,
//! cache) and [`report`] (tables, JSON/CSV, SVG plots), [`rtl`], [`cosim`], [`nn`], [`ppa`],
//! [`search`], [`evolve`] (CGP-evolved multipliers), and [`flow`] (`autoapprox run`: all of them from one project file).

pub mod characterize;
pub mod cosim;
pub mod data;
pub mod error;
pub mod evolve;
pub mod flow;
pub mod multiplier;
pub mod nn;
pub mod ppa;
pub mod report;
pub mod rtl;
pub mod search;
pub mod util;

pub use error::{Error, Result};
