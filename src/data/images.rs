//! ImageNet-style image folders: `root/<class>/<image>` (classes in sorted order) or a label file
//! of `relative/path label` lines; each image is decoded (PNG, JPEG), its shorter side resized to
//! `resize` (bilinear), centre-cropped to `crop` x `crop`, and stored as RGB CHW bytes.

use super::Dataset;
use crate::error::{Error, Result};
use image::imageops::FilterType;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug)]
pub struct FolderOptions {
    pub resize: u32,
    pub crop: u32,
}

impl Default for FolderOptions {
    fn default() -> Self {
        FolderOptions {
            resize: 256,
            crop: 224,
        }
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn list(root: &Path, labels: Option<&Path>) -> Result<Vec<(PathBuf, u32)>> {
    fn io(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |e| Error::Io {
            path: p.to_path_buf(),
            source: e,
        }
    }
    if let Some(lf) = labels {
        let text = std::fs::read_to_string(lf).map_err(io(lf))?;
        let mut out = Vec::new();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut it = line.split_whitespace();
            let (Some(f), Some(l), None) = (it.next(), it.next(), it.next()) else {
                return Err(Error::Located {
                    file: lf.into(),
                    line: i as u32 + 1,
                    message: "expected `relative/path label`".into(),
                });
            };
            let label = l.parse().map_err(|_| Error::Located {
                file: lf.into(),
                line: i as u32 + 1,
                message: format!("label `{l}` is not a class index"),
            })?;
            out.push((root.join(f), label));
        }
        return Ok(out);
    }
    let mut classes: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    let mut out = Vec::new();
    for (c, dir) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_image(p))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (f, c as u32)));
    }
    if out.is_empty() {
        return Err(Error::Input {
            file: root.into(),
            message: "no images found (expected root/<class>/<image>.{png,jpg} or a --labels file)"
                .into(),
        });
    }
    Ok(out)
}

/// Decodes, resizes (shorter side to `resize`), centre-crops and stores one image as CHW bytes.
pub fn load_image(path: &Path, o: FolderOptions) -> Result<Vec<u8>> {
    let img = image::open(path)
        .map_err(|e| Error::Input {
            file: path.into(),
            message: format!("cannot decode image: {e}"),
        })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let s = o.resize as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * s).round() as u32).max(o.crop),
        ((h as f64 * s).round() as u32).max(o.crop),
    );
    let img = image::imageops::resize(&img, nw, nh, FilterType::Triangle);
    let (x0, y0) = ((nw - o.crop) / 2, (nh - o.crop) / 2);
    let c = o.crop as usize;
    let mut out = vec![0u8; 3 * c * c];
    for y in 0..c {
        for x in 0..c {
            let p = img.get_pixel(x0 + x as u32, y0 + y as u32);
            for ch in 0..3 {
                out[ch * c * c + y * c + x] = p[ch];
            }
        }
    }
    Ok(out)
}

impl Dataset {
    /// Reads an image folder (see the module docs).
    pub fn from_image_folder(
        root: &Path,
        labels: Option<&Path>,
        o: FolderOptions,
    ) -> Result<Dataset> {
        let items = list(root, labels)?;
        let pixels: Vec<Vec<u8>> = items
            .par_iter()
            .map(|(p, _)| load_image(p, o))
            .collect::<Result<_>>()?;
        Ok(Dataset {
            shape: [3, o.crop as usize, o.crop as usize],
            pixels: pixels.concat(),
            labels: items.iter().map(|(_, l)| *l).collect(),
        })
    }
}
