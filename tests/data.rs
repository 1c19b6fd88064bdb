//! Dataset readers: ImageNet-style folders (resize + centre crop), label files, IDX errors.

use autoapprox::data::images::FolderOptions;
use autoapprox::data::Dataset;

/// 400x300 image: left half red, right half blue.
fn two_tone(path: &std::path::Path) {
    let img = image::RgbImage::from_fn(400, 300, |x, _| {
        if x < 200 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    img.save(path).unwrap();
}

#[test]
fn image_folder_resizes_the_shorter_side_and_centre_crops() {
    let tmp = tempfile::tempdir().unwrap();
    for (class, ext) in [("cat", "png"), ("dog", "jpg")] {
        std::fs::create_dir_all(tmp.path().join(class)).unwrap();
        two_tone(&tmp.path().join(class).join(format!("a.{ext}")));
        two_tone(&tmp.path().join(class).join(format!("b.{ext}")));
    }
    std::fs::write(tmp.path().join("cat/notes.txt"), "not an image").unwrap();
    let ds = Dataset::from_image_folder(tmp.path(), None, FolderOptions::default()).unwrap();
    assert_eq!(ds.shape, [3, 224, 224]);
    assert_eq!(ds.labels, vec![0, 0, 1, 1]);
    // 400x300 -> 341x256 -> crop x 58..282: the red/blue edge (x = 170.5) lands at column ~112.
    let px = |img: usize, ch: usize, y: usize, x: usize| {
        ds.pixels[img * 3 * 224 * 224 + ch * 224 * 224 + y * 224 + x] as i32
    };
    for img in 0..4 {
        let tol = if img < 2 { 0 } else { 12 }; // JPEG is lossy
        assert!(
            (px(img, 0, 100, 20) - 255).abs() <= tol && px(img, 2, 100, 20) <= tol,
            "image {img} left"
        );
        assert!(
            (px(img, 2, 100, 200) - 255).abs() <= tol && px(img, 0, 100, 200) <= tol,
            "image {img} right"
        );
        assert!(
            px(img, 0, 100, 108) > 200 && px(img, 2, 100, 117) > 200,
            "edge of image {img} near the centre"
        );
    }
}

#[test]
fn label_files_are_read_and_bad_lines_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    two_tone(&tmp.path().join("x.png"));
    two_tone(&tmp.path().join("y.png"));
    std::fs::write(tmp.path().join("labels.txt"), "x.png 7\n\ny.png 3\n").unwrap();
    let o = FolderOptions {
        resize: 64,
        crop: 32,
    };
    let ds =
        Dataset::from_image_folder(tmp.path(), Some(&tmp.path().join("labels.txt")), o).unwrap();
    assert_eq!((ds.labels.clone(), ds.shape), (vec![7, 3], [3, 32, 32]));
    std::fs::write(tmp.path().join("bad.txt"), "x.png 7\ny.png three\n").unwrap();
    let e = Dataset::from_image_folder(tmp.path(), Some(&tmp.path().join("bad.txt")), o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.txt:2") && e.contains("three"), "{e}");
    std::fs::write(tmp.path().join("broken.txt"), "missing.png 1\n").unwrap();
    let e = Dataset::from_image_folder(tmp.path(), Some(&tmp.path().join("broken.txt")), o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.png"), "{e}");
}

#[test]
fn idx_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad-idx");
    std::fs::write(&p, [0u8, 0, 8, 3, 0, 0, 0, 5]).unwrap();
    let e = autoapprox::data::read_idx(&p).unwrap_err().to_string();
    assert!(e.contains("bad-idx") && e.contains("truncated"), "{e}");
    let cifar = tmp.path().join("c.bin");
    std::fs::write(&cifar, vec![1u8; 3073 * 2]).unwrap();
    let ds = Dataset::from_cifar(&[cifar.as_path()], 1).unwrap();
    assert_eq!((ds.len(), ds.shape, ds.labels[1]), (2, [3, 32, 32], 1));
}
