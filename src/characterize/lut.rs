//! Lookup tables and the error metrics (ARCHITECTURE.md "Error metrics").

use serde::{Deserialize, Serialize};

/// An exhaustive product table: `data[(a << bits) | b]` = the multiplier's output for
/// activation `a` and weight `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lut {
    pub bits: u32,
    pub data: Vec<u16>,
}

impl Lut {
    pub fn new(bits: u32, data: Vec<u16>) -> Lut {
        assert_eq!(
            data.len(),
            1usize << (2 * bits),
            "LUT size does not match {bits} bits"
        );
        Lut { bits, data }
    }

    /// Operand range: 2^bits.
    pub fn side(&self) -> usize {
        1 << self.bits
    }

    #[inline]
    pub fn get(&self, a: u32, b: u32) -> u32 {
        self.data[((a as usize) << self.bits) | b as usize] as u32
    }

    /// The error matrix `E[a][b] = m(a, b) - a*b`, row-major.
    pub fn error_matrix(&self) -> Vec<f64> {
        let n = self.side();
        let mut e = Vec::with_capacity(n * n);
        for a in 0..n {
            for b in 0..n {
                e.push(self.data[(a << self.bits) | b] as f64 - (a * b) as f64);
            }
        }
        e
    }

    pub fn metrics(&self) -> ErrorMetrics {
        ErrorMetrics::of(self)
    }
}

/// Error metrics over all input pairs, with `e = a*b`, `m` the output and `d = |m - e|`.
/// Percentages of absolute errors are relative to the output range `2^(2*bits)` (EvoApproxLib).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMetrics {
    /// Mean of d.
    pub mae: f64,
    /// MAE / 2^(2 bits) * 100.
    pub mae_pct: f64,
    /// Max of d.
    pub wce: u32,
    /// WCE / 2^(2 bits) * 100.
    pub wce_pct: f64,
    /// Max of d / e over e > 0, in percent.
    pub wcre_pct: f64,
    /// Share of pairs with d > 0, in percent.
    pub ep_pct: f64,
    /// Mean of d / e over pairs with e > 0, in percent.
    pub mre_pct: f64,
    /// Mean of d^2.
    pub mse: f64,
    /// Mean of (m - e).
    pub bias: f64,
}

impl ErrorMetrics {
    pub fn of(lut: &Lut) -> ErrorMetrics {
        let n = lut.side() as u64;
        let range = (n * n) as f64;
        let (mut sum_d, mut sum_d2, mut sum_signed) = (0u64, 0u128, 0i64);
        let (mut wce, mut errors) = (0u64, 0u64);
        let (mut sum_rel, mut wcre, mut nonzero) = (0f64, 0f64, 0u64);
        for a in 0..n {
            for b in 0..n {
                let e = a * b;
                let m = lut.get(a as u32, b as u32) as u64;
                let d = m.abs_diff(e);
                sum_d += d;
                sum_d2 += (d as u128) * (d as u128);
                sum_signed += m as i64 - e as i64;
                wce = wce.max(d);
                errors += (d > 0) as u64;
                if e > 0 {
                    let r = d as f64 / e as f64;
                    sum_rel += r;
                    wcre = wcre.max(r);
                    nonzero += 1;
                }
            }
        }
        let mae = sum_d as f64 / range;
        ErrorMetrics {
            mae,
            mae_pct: mae / range * 100.0,
            wce: wce as u32,
            wce_pct: wce as f64 / range * 100.0,
            wcre_pct: wcre * 100.0,
            ep_pct: errors as f64 / range * 100.0,
            mre_pct: sum_rel / nonzero.max(1) as f64 * 100.0,
            mse: sum_d2 as f64 / range,
            bias: sum_signed as f64 / range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bits: u32, f: impl Fn(u32, u32) -> u32) -> Lut {
        let n = 1u32 << bits;
        Lut::new(
            bits,
            (0..n)
                .flat_map(|a| (0..n).map(move |b| (a, b)))
                .map(|(a, b)| f(a, b) as u16)
                .collect(),
        )
    }

    #[test]
    fn exact_table_has_zero_error() {
        let m = table(8, |a, b| a * b).metrics();
        assert_eq!(
            (m.mae, m.wce, m.ep_pct, m.mre_pct, m.mse, m.bias),
            (0.0, 0, 0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn off_by_one_everywhere_but_zero() {
        // m = a*b + 1 for all pairs: d = 1 everywhere.
        let m = table(4, |a, b| a * b + 1).metrics();
        assert_eq!(m.mae, 1.0);
        assert_eq!(m.wce, 1);
        assert_eq!(m.ep_pct, 100.0);
        assert_eq!(m.bias, 1.0);
        assert_eq!(m.mse, 1.0);
        assert_eq!(m.wcre_pct, 100.0); // d/e = 1/1 at a = b = 1
        assert!((m.mae_pct - 100.0 / 256.0).abs() < 1e-12);
    }

    #[test]
    fn indexing_is_activation_major() {
        let l = table(8, |a, b| (a * 3 + b) & 0xffff);
        assert_eq!(l.get(2, 5), 11);
        assert_eq!(l.data[(2 << 8) | 5], 11);
    }
}
