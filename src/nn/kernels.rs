//! Integer GEMM kernels on uint8 codes: `C[n][m] = sum_k P(W[n][k], A[k][m])` where `P` is the
//! product of the layer's multiplier with A = activation, B = weight.
//!
//! All kernels share one layout: activations K-major (`a[k * m_len + m]`, im2col rows), weights
//! one row per output (`w[n * k_len + k]`), results `c[n * m_len + m]` as u32 (K < 66,051 keeps
//! the sum of 8-bit products below 2^32). They are parallel over output rows with rayon.
//!
//! - [`Kernel::Exact`]: plain integer products.
//! - [`Kernel::Gather`]: the naive LUT reference, one table lookup per product.
//! - [`Kernel::Lut`]: weight-stationary: for each (n, k) the weight selects one 256-entry column
//!   of the table (`LUT[.][w]`), which is applied to a block of activations; with AVX-512 VBMI
//!   the lookups are byte permutes (64 per instruction pair), else scalar lookups on an L1-resident
//!   column.
//! - [`Kernel::LowRank`]: exact GEMM plus the SVD correction `sum_r s_r U_r[A] V_r[W]` as one f32
//!   matrix product, rounded per output.

use crate::characterize::{LowRank, Lut};
use rayon::prelude::*;

/// Block of activation columns processed per weight-table load.
const MB: usize = 128;

/// A multiplier's tables, prepared for the LUT kernel.
#[derive(Clone)]
pub struct LutTables {
    /// `t[w * 256 + a] = LUT[a][w]`: one contiguous column per weight value.
    pub by_weight: Vec<u16>,
    /// Low and high bytes of `by_weight`, for the byte-permute kernel.
    lo: Vec<u8>,
    hi: Vec<u8>,
    /// The original table (for the gather reference).
    pub lut: Vec<u16>,
}

impl LutTables {
    pub fn new(lut: &Lut) -> LutTables {
        assert_eq!(lut.bits, 8, "the network kernels use 8x8 multipliers");
        let mut by_weight = vec![0u16; 65536];
        for a in 0..256 {
            for w in 0..256 {
                by_weight[w * 256 + a] = lut.data[(a << 8) | w];
            }
        }
        let lo = by_weight.iter().map(|&v| v as u8).collect();
        let hi = by_weight.iter().map(|&v| (v >> 8) as u8).collect();
        LutTables {
            by_weight,
            lo,
            hi,
            lut: lut.data.clone(),
        }
    }
}

/// The low-rank tables, prepared for the kernel (f32, `u[a * k + r]`, `v[w * k + r] * s_r`).
#[derive(Clone)]
pub struct LowRankTables {
    pub rank: usize,
    u: Vec<f32>,
    vs: Vec<f32>,
}

impl LowRankTables {
    pub fn new(lr: &LowRank) -> LowRankTables {
        let k = lr.rank;
        let mut vs = lr.v.clone();
        for w in 0..lr.side {
            for r in 0..k {
                vs[w * k + r] *= lr.s[r];
            }
        }
        LowRankTables {
            rank: k,
            u: lr.u.clone(),
            vs,
        }
    }
}

/// How a layer's integer products are computed.
#[derive(Clone, Copy)]
pub enum Kernel<'a> {
    Exact,
    Gather(&'a LutTables),
    Lut(&'a LutTables),
    LowRank(&'a LowRankTables),
}

/// `C (n_len x m_len) = P(W (n_len x k_len), A (k_len x m_len))`.
pub fn gemm(
    kernel: Kernel,
    a: &[u8],
    w: &[u8],
    k_len: usize,
    m_len: usize,
    n_len: usize,
) -> Vec<u32> {
    assert!(k_len < 66_051, "K = {k_len} could overflow 32-bit sums");
    debug_assert_eq!(a.len(), k_len * m_len);
    debug_assert_eq!(w.len(), n_len * k_len);
    let mut c = vec![0u32; n_len * m_len];
    if m_len == 0 || n_len == 0 {
        return c;
    }
    match kernel {
        Kernel::Exact => c
            .par_chunks_mut(m_len)
            .zip(w.par_chunks(k_len))
            .for_each(|(row, wr)| exact_row(a, wr, m_len, row)),
        Kernel::Gather(t) => {
            c.par_chunks_mut(m_len)
                .zip(w.par_chunks(k_len))
                .for_each(|(row, wr)| {
                    for (k, &wv) in wr.iter().enumerate() {
                        let ak = &a[k * m_len..(k + 1) * m_len];
                        for (cm, &av) in row.iter_mut().zip(ak) {
                            *cm += t.lut[((av as usize) << 8) | wv as usize] as u32;
                        }
                    }
                })
        }
        Kernel::Lut(t) => c
            .par_chunks_mut(m_len)
            .zip(w.par_chunks(k_len))
            .for_each(|(row, wr)| lut_row(t, a, wr, m_len, row)),
        Kernel::LowRank(t) => {
            c.par_chunks_mut(m_len)
                .zip(w.par_chunks(k_len))
                .for_each(|(row, wr)| exact_row(a, wr, m_len, row));
            if t.rank > 0 {
                lowrank_correction(t, a, w, k_len, m_len, n_len, &mut c);
            }
        }
    }
    c
}

fn exact_row(a: &[u8], wr: &[u8], m_len: usize, row: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the feature was just detected.
            unsafe { exact_row_avx512(a, wr, m_len, row) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            unsafe { exact_row_avx2(a, wr, m_len, row) };
            return;
        }
    }
    exact_row_generic(a, wr, m_len, row)
}

/// The same loop compiled for AVX-512 (the crate's baseline target is SSE2 only); the compiler
/// vectorizes the widening multiply-accumulate.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn exact_row_avx512(a: &[u8], wr: &[u8], m_len: usize, row: &mut [u32]) {
    exact_row_generic(a, wr, m_len, row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exact_row_avx2(a: &[u8], wr: &[u8], m_len: usize, row: &mut [u32]) {
    exact_row_generic(a, wr, m_len, row)
}

#[inline(always)]
fn exact_row_generic(a: &[u8], wr: &[u8], m_len: usize, row: &mut [u32]) {
    for m0 in (0..m_len).step_by(MB) {
        let mb = MB.min(m_len - m0);
        let mut acc = [0u32; MB];
        for (k, &wv) in wr.iter().enumerate() {
            let ak = &a[k * m_len + m0..k * m_len + m0 + mb];
            let wv = wv as u32;
            for (s, &av) in acc.iter_mut().zip(ak) {
                *s += av as u32 * wv;
            }
        }
        row[m0..m0 + mb].copy_from_slice(&acc[..mb]);
    }
}

fn lut_row(t: &LutTables, a: &[u8], wr: &[u8], m_len: usize, row: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vbmi")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the features were just detected.
            unsafe { avx512::lut_row(t, a, wr, m_len, row) };
            return;
        }
    }
    lut_row_portable(t, a, wr, m_len, 0, row)
}

/// Columns `from..m_len` of one output row, with scalar lookups in the weight's column.
fn lut_row_portable(
    t: &LutTables,
    a: &[u8],
    wr: &[u8],
    m_len: usize,
    from: usize,
    row: &mut [u32],
) {
    for m0 in (from..m_len).step_by(MB) {
        let mb = MB.min(m_len - m0);
        let mut acc = [0u32; MB];
        for (k, &wv) in wr.iter().enumerate() {
            let col: &[u16; 256] = t.by_weight[wv as usize * 256..wv as usize * 256 + 256]
                .try_into()
                .unwrap();
            let ak = &a[k * m_len + m0..k * m_len + m0 + mb];
            for (s, &av) in acc.iter_mut().zip(ak) {
                *s += col[av as usize] as u32;
            }
        }
        row[m0..m0 + mb].copy_from_slice(&acc[..mb]);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{LutTables, MB};
    use std::arch::x86_64::*;

    /// One output row: 64 activations per step, looked up in the weight's 256-entry column
    /// with two-source byte permutes (low and high bytes separately), widened to u32.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub unsafe fn lut_row(t: &LutTables, a: &[u8], wr: &[u8], m_len: usize, row: &mut [u32]) {
        let full = m_len / 64 * 64;
        let zero = _mm512_setzero_si512();
        let mut m0 = 0;
        while m0 < full {
            let blocks = ((full - m0) / 64).min(MB / 64);
            // acc[b][q]: 16 u32 lanes each; lane order is fixed by the unpacks below.
            let mut acc = [[zero; 4]; MB / 64];
            for (k, &wv) in wr.iter().enumerate() {
                let base = wv as usize * 256;
                let lo = t.lo.as_ptr().add(base) as *const __m512i;
                let hi = t.hi.as_ptr().add(base) as *const __m512i;
                let (l0, l1, l2, l3) = (
                    _mm512_loadu_si512(lo),
                    _mm512_loadu_si512(lo.add(1)),
                    _mm512_loadu_si512(lo.add(2)),
                    _mm512_loadu_si512(lo.add(3)),
                );
                let (h0, h1, h2, h3) = (
                    _mm512_loadu_si512(hi),
                    _mm512_loadu_si512(hi.add(1)),
                    _mm512_loadu_si512(hi.add(2)),
                    _mm512_loadu_si512(hi.add(3)),
                );
                for (b, accb) in acc.iter_mut().enumerate().take(blocks) {
                    let idx = _mm512_loadu_si512(
                        a.as_ptr().add(k * m_len + m0 + 64 * b) as *const __m512i
                    );
                    let upper = _mm512_movepi8_mask(idx);
                    let lo_b = _mm512_mask_blend_epi8(
                        upper,
                        _mm512_permutex2var_epi8(l0, idx, l1),
                        _mm512_permutex2var_epi8(l2, idx, l3),
                    );
                    let hi_b = _mm512_mask_blend_epi8(
                        upper,
                        _mm512_permutex2var_epi8(h0, idx, h1),
                        _mm512_permutex2var_epi8(h2, idx, h3),
                    );
                    let w_lo = _mm512_unpacklo_epi8(lo_b, hi_b);
                    let w_hi = _mm512_unpackhi_epi8(lo_b, hi_b);
                    accb[0] = _mm512_add_epi32(accb[0], _mm512_unpacklo_epi16(w_lo, zero));
                    accb[1] = _mm512_add_epi32(accb[1], _mm512_unpackhi_epi16(w_lo, zero));
                    accb[2] = _mm512_add_epi32(accb[2], _mm512_unpacklo_epi16(w_hi, zero));
                    accb[3] = _mm512_add_epi32(accb[3], _mm512_unpackhi_epi16(w_hi, zero));
                }
            }
            for (b, accb) in acc.iter().enumerate().take(blocks) {
                let mut lanes = [0u32; 64];
                for (q, v) in accb.iter().enumerate() {
                    _mm512_storeu_si512(lanes.as_mut_ptr().add(16 * q) as *mut __m512i, *v);
                }
                // Undo the unpack order: within each 128-bit lane l (16 bytes i = 16l + j),
                // byte j < 8 went to w_lo, then j < 4 to acc0, else acc1; j >= 8 to w_hi
                // (acc2 for j < 12, acc3 otherwise).
                let out = &mut row[m0 + 64 * b..m0 + 64 * b + 64];
                for l in 0..4 {
                    for j in 0..16 {
                        let q = j / 4;
                        out[16 * l + j] = lanes[16 * q + 4 * l + j % 4];
                    }
                }
            }
            m0 += 64 * blocks;
        }
        // The last m_len % 64 columns, in place (no copy of the activations).
        super::lut_row_portable(t, a, wr, m_len, full, row);
    }
}

#[allow(clippy::too_many_arguments)]
fn lowrank_correction(
    t: &LowRankTables,
    a: &[u8],
    w: &[u8],
    k_len: usize,
    m_len: usize,
    n_len: usize,
    c: &mut [u32],
) {
    use faer::{linalg::matmul::matmul, Accum, MatMut, MatRef, Par};
    let r = t.rank;
    // U_all ((k, r) x m) and V_all (n x (k, r)): one product gives sum_k sum_r s_r u_r[a] v_r[w].
    let mut ua = vec![0f32; k_len * r * m_len];
    ua.par_chunks_mut(r * m_len)
        .enumerate()
        .for_each(|(k, blk)| {
            for (m, &av) in a[k * m_len..(k + 1) * m_len].iter().enumerate() {
                for q in 0..r {
                    blk[q * m_len + m] = t.u[av as usize * r + q];
                }
            }
        });
    let mut vw = vec![0f32; n_len * k_len * r];
    vw.par_chunks_mut(k_len * r)
        .zip(w.par_chunks(k_len))
        .for_each(|(row, wr)| {
            for (k, &wv) in wr.iter().enumerate() {
                row[k * r..(k + 1) * r]
                    .copy_from_slice(&t.vs[wv as usize * r..(wv as usize + 1) * r]);
            }
        });
    let mut corr = vec![0f32; n_len * m_len];
    let lhs = MatRef::from_row_major_slice(&vw, n_len, k_len * r);
    let rhs = MatRef::from_row_major_slice(&ua, k_len * r, m_len);
    let mut dst = MatMut::from_row_major_slice_mut(&mut corr, n_len, m_len);
    matmul(dst.as_mut(), Accum::Replace, lhs, rhs, 1.0, Par::rayon(0));
    for (cv, e) in c.iter_mut().zip(&corr) {
        *cv = (*cv as i64 + e.round() as i64).max(0) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random_lut(seed: u64) -> Lut {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Lut::new(8, (0..65536).map(|_| rng.random::<u16>()).collect())
    }

    #[test]
    fn lut_kernel_equals_the_gather_reference_on_a_random_table() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let t = LutTables::new(&random_lut(9));
        // m_len not a multiple of 64 or 128 exercises the tails.
        for (k, m, n) in [(37, 300, 5), (3, 64, 2), (9, 1, 3), (20, 129, 4)] {
            let a: Vec<u8> = (0..k * m).map(|_| rng.random()).collect();
            let w: Vec<u8> = (0..n * k).map(|_| rng.random()).collect();
            let fast = gemm(Kernel::Lut(&t), &a, &w, k, m, n);
            let naive = gemm(Kernel::Gather(&t), &a, &w, k, m, n);
            let mut scalar = vec![0u32; n * m];
            for (row, wr) in scalar.chunks_mut(m).zip(w.chunks(k)) {
                lut_row_portable(&t, &a, wr, m, 0, row);
            }
            assert_eq!(fast, naive, "k {k} m {m} n {n}");
            assert_eq!(scalar, naive);
        }
    }

    #[test]
    fn exact_kernel_is_integer_matrix_product() {
        let a: Vec<u8> = (0..6).map(|x| x * 40).collect(); // k = 2, m = 3
        let w: Vec<u8> = vec![255, 1, 7, 9]; // n = 2
        let c = gemm(Kernel::Exact, &a, &w, 2, 3, 2);
        let mut want = Vec::new();
        for n in 0..2 {
            for m in 0..3 {
                want.push(
                    (0..2)
                        .map(|k| a[k * 3 + m] as u32 * w[n * 2 + k] as u32)
                        .sum::<u32>(),
                );
            }
        }
        assert_eq!(c, want);
    }
}
