//! Truncated-SVD compression of the error matrix `E = LUT - a*b` (ARCHITECTURE.md "Low-rank tables").

use super::lut::Lut;
use crate::error::{Error, Result};
use faer::Mat;
use serde::{Deserialize, Serialize};

/// `E ~= U diag(S) V^T` with `rank` components stored as f32; `u` and `v` are row-major
/// `side x rank` (row = operand value).
#[derive(Clone, Debug, PartialEq)]
pub struct LowRank {
    pub side: usize,
    pub rank: usize,
    pub u: Vec<f32>,
    pub s: Vec<f32>,
    pub v: Vec<f32>,
    pub stats: LowRankStats,
}

/// How well the stored factors reproduce `E`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LowRankStats {
    pub rank: usize,
    /// max |E - E_k| over all pairs.
    pub max_err: f64,
    /// mean |E - E_k|.
    pub mean_err: f64,
    /// Bytes of the stored factors (f32).
    pub bytes: usize,
    /// True when the rounded reconstruction equals the LUT everywhere (max_err < 0.5).
    pub lossless: bool,
}

impl LowRank {
    /// Decomposes the LUT's error matrix and keeps the smallest rank whose reconstruction, with
    /// the f32 factors as stored, rounds back to the exact LUT (max |E - E_k| < 0.5), but at most
    /// `cap` components.
    pub fn from_lut(lut: &Lut, cap: Option<usize>) -> Result<LowRank> {
        let n = lut.side();
        let e = lut.error_matrix();
        let cap = cap.unwrap_or(n).min(n);
        if e.iter().all(|&x| x == 0.0) {
            return Ok(Self::assemble(n, 0, vec![], vec![], vec![], &e));
        }
        let m = Mat::<f64>::from_fn(n, n, |i, j| e[i * n + j]);
        let svd = m
            .svd()
            .map_err(|err| Error::Other(format!("SVD did not converge: {err:?}")))?;
        let (su, ss, sv) = (svd.U(), svd.S().column_vector(), svd.V());
        // faer 0.24.4 documents its singular values as sorted, but returns them out of order on
        // some inputs (mul8u_bam_v2h0: the second largest at index 195), so order them here.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| ss[j].total_cmp(&ss[i]));
        // Add components one at a time, with f32-rounded factors, until the residual rounds away.
        let mut resid = e.clone();
        let (mut u, mut s, mut v) = (Vec::new(), Vec::new(), Vec::new());
        let mut rank = 0;
        while rank < cap && resid.iter().fold(0f64, |m, x| m.max(x.abs())) >= 0.5 {
            let c = order[rank];
            let sr = ss[c] as f32;
            let ur: Vec<f32> = (0..n).map(|i| su[(i, c)] as f32).collect();
            let vr: Vec<f32> = (0..n).map(|j| sv[(j, c)] as f32).collect();
            for i in 0..n {
                let ui = (sr * ur[i]) as f64;
                let row = &mut resid[i * n..(i + 1) * n];
                for (x, &vj) in row.iter_mut().zip(&vr) {
                    *x -= ui * vj as f64;
                }
            }
            u.push(ur);
            s.push(sr);
            v.push(vr);
            rank += 1;
        }
        let to_rows = |cols: Vec<Vec<f32>>| -> Vec<f32> {
            (0..n)
                .flat_map(|i| cols.iter().map(move |c| c[i]).collect::<Vec<_>>())
                .collect()
        };
        Ok(Self::assemble(n, rank, to_rows(u), s, to_rows(v), &e))
    }

    fn assemble(
        side: usize,
        rank: usize,
        u: Vec<f32>,
        s: Vec<f32>,
        v: Vec<f32>,
        e: &[f64],
    ) -> LowRank {
        let mut lr = LowRank {
            side,
            rank,
            u,
            s,
            v,
            stats: LowRankStats {
                rank,
                max_err: 0.0,
                mean_err: 0.0,
                bytes: 0,
                lossless: true,
            },
        };
        lr.stats = lr.measure(e);
        lr
    }

    /// Reconstructed error `E_k[a][b]`.
    #[inline]
    pub fn error_at(&self, a: usize, b: usize) -> f64 {
        let (ur, vr) = (
            &self.u[a * self.rank..(a + 1) * self.rank],
            &self.v[b * self.rank..(b + 1) * self.rank],
        );
        let mut acc = 0f64;
        for r in 0..self.rank {
            acc += ((self.s[r] * ur[r]) as f64) * vr[r] as f64;
        }
        acc
    }

    /// Compares the reconstruction with the exact error matrix.
    pub fn measure(&self, e: &[f64]) -> LowRankStats {
        let n = self.side;
        let (mut max_err, mut sum) = (0f64, 0f64);
        for a in 0..n {
            for b in 0..n {
                let d = (e[a * n + b] - self.error_at(a, b)).abs();
                max_err = max_err.max(d);
                sum += d;
            }
        }
        LowRankStats {
            rank: self.rank,
            max_err,
            mean_err: sum / (n * n) as f64,
            bytes: (self.u.len() + self.s.len() + self.v.len()) * 4,
            lossless: max_err < 0.5,
        }
    }

    /// The first `k` components (k <= rank), with statistics measured against `lut`.
    pub fn truncated(&self, k: usize, lut: &Lut) -> LowRank {
        let k = k.min(self.rank);
        let cut = |m: &[f32]| -> Vec<f32> {
            (0..self.side)
                .flat_map(|i| m[i * self.rank..i * self.rank + k].to_vec())
                .collect()
        };
        Self::assemble(
            self.side,
            k,
            cut(&self.u),
            self.s[..k].to_vec(),
            cut(&self.v),
            &lut.error_matrix(),
        )
    }

    /// The approximate product reconstructed from the factors, rounded: equals the LUT entry
    /// wherever `stats.lossless` holds.
    pub fn product(&self, a: usize, b: usize) -> i64 {
        (a * b) as i64 + self.error_at(a, b).round() as i64
    }
}
