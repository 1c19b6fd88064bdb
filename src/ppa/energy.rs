//! The chip energy and area model (ARCHITECTURE.md "Energy"): what the search and the reports use.
//!
//! Layer energy = MACs × energy per MAC of the MXU variant the layer is routed to (its PE's
//! workload-driven energy per cycle, for that layer when PPA measured it, else the variant's
//! MAC-weighted mean) + the leakage of the powered MXU (the routed one; idle MXUs are gated off)
//! over the layer's run time on the array. Chip area = sum of the areas of the distinct MXUs a
//! design instantiates, the exact fallback always included. Both are reported relative to the
//! exact-only chip.

use crate::error::{Error, IoContext, Result};
use crate::nn::graph::LayerInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// PPA of one MXU variant (everything the chip model needs, plus what reports show).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VariantPpa {
    pub multiplier: String,
    /// µm²
    pub mult_area: f64,
    pub mult_cells: usize,
    pub pe_area: f64,
    pub pe_cells: usize,
    /// the whole MXU (array of PEs + skew/de-skew), hierarchical synthesis
    pub mxu_area: f64,
    pub mxu_cells: u64,
    /// ns: multiplier input-to-output; PE minimum clock period (OpenSTA)
    pub mult_delay_ns: f64,
    pub pe_period_ns: f64,
    /// pJ per MAC at the common clock, MAC-weighted over the workload's layers
    pub mult_energy_pj: f64,
    pub pe_energy_pj: f64,
    /// per layer name: (multiplier, PE) pJ per MAC
    pub layers: BTreeMap<String, (f64, f64)>,
    /// leakage of the MXU's rows x cols PEs (the skew registers are left out), nW
    pub mxu_leakage_nw: f64,
    /// the multiplier's family and mean relative error (%), from its characterization
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub mre_pct: f64,
}

/// The model: array geometry, the common clock, and the variants.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChipModel {
    pub rows: usize,
    pub cols: usize,
    pub clock_ns: f64,
    /// the exact fallback's multiplier name
    pub exact: String,
    pub variants: BTreeMap<String, VariantPpa>,
    pub liberty: String,
}

impl ChipModel {
    /// The approximate variants measured, built-in library order first (so that a search's
    /// calibration shares `calibrate`'s cache), then the others in name order.
    pub fn approximate_variants(&self) -> Vec<String> {
        let mut c: Vec<String> = crate::multiplier::LIBRARY
            .iter()
            .map(|d| d.name().to_string())
            .filter(|n| *n != self.exact && self.variants.contains_key(n))
            .collect();
        for v in self.variants.keys() {
            if *v != self.exact && !c.contains(v) {
                c.push(v.clone());
            }
        }
        c
    }

    pub fn load(path: &Path) -> Result<ChipModel> {
        let text = std::fs::read_to_string(path).at(path)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Input {
            file: path.into(),
            message: format!("not a PPA report: {e}"),
        })?;
        serde_json::from_value(v.get("chip").cloned().unwrap_or(v)).map_err(|e| Error::Input {
            file: path.into(),
            message: format!("no chip model in the PPA report: {e}; rerun `autoapprox ppa`"),
        })
    }

    /// The PPA of one variant; an error naming the fix when PPA did not measure it.
    pub fn variant(&self, name: &str) -> Result<&VariantPpa> {
        self.variants.get(name).ok_or_else(|| {
            Error::Other(format!(
                "no PPA for multiplier `{name}` (have: {}); run `autoapprox ppa` with it",
                self.variants.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Cycles the array needs for one image of `l`: per weight tile, `rows` cycles to load the
    /// weights plus the positions streamed through and the pipeline fill (rows + cols - 1).
    pub fn cycles(&self, l: &LayerInfo) -> u64 {
        let tiles = l.k.div_ceil(self.rows) * l.out_ch.div_ceil(self.cols);
        (tiles * (self.rows + l.positions + self.rows + self.cols - 1)) as u64
    }

    /// Energy (pJ per image) of layer `l` on the MXU with multiplier `mult`.
    pub fn layer_energy(&self, l: &LayerInfo, mult: &str) -> Result<f64> {
        let v = self.variant(mult)?;
        let per_mac = v.layers.get(&l.name).map_or(v.pe_energy_pj, |x| x.1);
        let leak = v.mxu_leakage_nw * self.cycles(l) as f64 * self.clock_ns * 1e-6;
        Ok(l.macs as f64 * per_mac + leak)
    }

    /// Network energy (pJ per image) for a mapping (one multiplier per layer).
    pub fn network_energy(&self, layers: &[LayerInfo], mapping: &[&str]) -> Result<f64> {
        layers
            .iter()
            .zip(mapping)
            .map(|(l, m)| self.layer_energy(l, m))
            .sum()
    }

    /// Energy relative to running every layer on the exact MXU.
    pub fn relative_energy(&self, layers: &[LayerInfo], mapping: &[&str]) -> Result<f64> {
        let exact = vec![self.exact.as_str(); layers.len()];
        Ok(self.network_energy(layers, mapping)? / self.network_energy(layers, &exact)?)
    }

    /// Chip area (µm²) of a design that instantiates the MXUs of `mults` (the exact fallback is
    /// always there; duplicates count once).
    pub fn chip_area(&self, mults: &[&str]) -> Result<f64> {
        let mut set: std::collections::BTreeSet<&str> = mults.iter().copied().collect();
        set.insert(&self.exact);
        set.iter().map(|m| Ok(self.variant(m)?.mxu_area)).sum()
    }

    /// Chip area relative to the exact-only chip.
    pub fn relative_area(&self, mults: &[&str]) -> Result<f64> {
        Ok(self.chip_area(mults)? / self.variant(&self.exact)?.mxu_area)
    }
}
