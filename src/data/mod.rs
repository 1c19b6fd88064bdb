//! Datasets: IDX (MNIST, Fashion-MNIST; plain or gzip) and CIFAR binary batches, plus the
//! deterministic, class-balanced search sample (ARCHITECTURE.md "The search problem", step 5).

pub mod images;

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Read;
use std::path::Path;

/// Labelled uint8 images, NCHW.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// (C, H, W).
    pub shape: [usize; 3],
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
}

fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::Input {
                file: path.into(),
                message: format!("bad gzip data: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file: (dims, data).
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let b = read_maybe_gz(path)?;
    let bad = |m: &str| Error::Input {
        file: path.into(),
        message: format!("not an IDX file: {m}"),
    };
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Err(bad("bad magic"));
    }
    if b[2] != 0x08 {
        return Err(bad("only unsigned byte data (type 0x08) is supported"));
    }
    let nd = b[3] as usize;
    if b.len() < 4 + 4 * nd {
        return Err(bad("truncated header"));
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = dims.iter().product();
    let data = &b[4 + 4 * nd..];
    if data.len() != n {
        return Err(bad(&format!("{} data bytes for dims {dims:?}", data.len())));
    }
    Ok((dims, data.to_vec()))
}

impl Dataset {
    /// IDX images (N, H, W) and labels (N).
    pub fn from_idx(images: &Path, labels: &Path) -> Result<Dataset> {
        let (d, pixels) = read_idx(images)?;
        let (dl, lab) = read_idx(labels)?;
        if !(d.len() == 3 || d.len() == 4) || dl.len() != 1 || d[0] != dl[0] {
            return Err(Error::Input {
                file: images.into(),
                message: format!(
                    "images {d:?} and labels {dl:?} ({}) do not match",
                    labels.display()
                ),
            });
        }
        Ok(Dataset {
            // (N, H, W) grayscale or (N, C, H, W).
            shape: if d.len() == 3 {
                [1, d[1], d[2]]
            } else {
                [d[1], d[2], d[3]]
            },
            pixels,
            labels: lab.into_iter().map(u32::from).collect(),
        })
    }

    /// CIFAR-10/100 binary batches: records of `label_bytes` label bytes (the last one is used)
    /// followed by 3x32x32 pixels.
    pub fn from_cifar(files: &[&Path], label_bytes: usize) -> Result<Dataset> {
        let rec = label_bytes + 3 * 32 * 32;
        let mut ds = Dataset {
            shape: [3, 32, 32],
            pixels: Vec::new(),
            labels: Vec::new(),
        };
        for f in files {
            let b = read_maybe_gz(f)?;
            if b.is_empty() || b.len() % rec != 0 {
                return Err(Error::Input {
                    file: f.to_path_buf(),
                    message: format!("size {} is not a multiple of {rec}-byte records", b.len()),
                });
            }
            for r in b.chunks_exact(rec) {
                ds.labels.push(r[label_bytes - 1] as u32);
                ds.pixels.extend_from_slice(&r[label_bytes..]);
            }
        }
        Ok(ds)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn item_len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn classes(&self) -> usize {
        self.labels
            .iter()
            .max()
            .map(|&m| m as usize + 1)
            .unwrap_or(0)
    }

    /// The images at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let l = self.item_len();
        Dataset {
            shape: self.shape,
            pixels: idx
                .iter()
                .flat_map(|&i| self.pixels[i * l..(i + 1) * l].iter().copied())
                .collect(),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Images `start..start + count`.
    pub fn range(&self, start: usize, count: usize) -> Dataset {
        let idx: Vec<usize> = (start..(start + count).min(self.len())).collect();
        self.subset(&idx)
    }

    /// A class-balanced sample of `n` images (as equal per class as the data allow), the same
    /// for the same seed, in a deterministic order.
    pub fn balanced_sample(&self, n: usize, seed: u64) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let k = self.classes().max(1);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        for c in by_class.iter_mut() {
            c.shuffle(&mut rng);
        }
        let mut out = Vec::with_capacity(n);
        let mut round = 0;
        while out.len() < n.min(self.len()) {
            for c in &by_class {
                if let Some(&i) = c.get(round) {
                    if out.len() < n {
                        out.push(i);
                    }
                }
            }
            round += 1;
        }
        out.sort_unstable();
        out
    }
}
