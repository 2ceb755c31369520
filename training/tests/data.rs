//! Dataset files are validated: every corrupt or truncated file gets an error naming it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use training::data::{self, Dataset, DatasetKind, FASHION_MNIST_DIR};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("polympc-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(payload);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A well-formed MNIST-layout folder of `n` 28x28 images per split.
fn write_mnist(dir: &Path, n: u32, zip: bool) {
    for prefix in ["train", "t10k"] {
        let images = idx(&[n, 28, 28], &vec![7u8; (n * 784) as usize]);
        let labels = idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        let (ext, images, labels) = if zip {
            (".gz", gz(&images), gz(&labels))
        } else {
            ("", images, labels)
        };
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), labels).unwrap();
    }
}

fn error_of(dir: &Path) -> String {
    Dataset::load(DatasetKind::Mnist, dir)
        .unwrap_err()
        .to_string()
}

#[test]
fn reads_plain_and_gzipped_idx() {
    for zip in [false, true] {
        let d = scratch(&format!("ok{zip}"));
        write_mnist(&d, 20, zip);
        let ds = Dataset::load(DatasetKind::Mnist, &d).unwrap();
        assert_eq!(ds.train.images.size(), vec![20, 1, 28, 28]);
        assert_eq!(ds.test.labels.size(), vec![20]);
        let px = ds.train.images.double_value(&[3, 0, 5, 5]);
        assert!((px - 7.0 / 255.0).abs() < 1e-6);
        assert_eq!(ds.train.labels.int64_value(&[13]), 3);
    }
}

#[test]
fn corrupt_idx_files_are_named() {
    type Corruption = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Corruption, &str)> = vec![
        (
            "magic",
            Box::new(|d: &Path| {
                let mut b = idx(&[20, 28, 28], &vec![0u8; 20 * 784]);
                b[2] = 0x0d;
                std::fs::write(d.join("train-images-idx3-ubyte"), b).unwrap();
            }),
            "element type",
        ),
        (
            "truncated",
            Box::new(|d: &Path| {
                let b = idx(&[20, 28, 28], &vec![0u8; 19 * 784]);
                std::fs::write(d.join("train-images-idx3-ubyte"), b).unwrap();
            }),
            "truncated",
        ),
        (
            "label",
            Box::new(|d: &Path| {
                let mut l: Vec<u8> = vec![1; 20];
                l[4] = 12;
                std::fs::write(d.join("train-labels-idx1-ubyte"), idx(&[20], &l)).unwrap();
            }),
            "label 12 of example 4",
        ),
        (
            "count",
            Box::new(|d: &Path| {
                std::fs::write(d.join("train-labels-idx1-ubyte"), idx(&[19], &[1; 19])).unwrap();
            }),
            "19 labels for 20 images",
        ),
        (
            "dims",
            Box::new(|d: &Path| {
                std::fs::write(d.join("train-labels-idx1-ubyte"), idx(&[4, 5], &[1; 20])).unwrap();
            }),
            "2 dimensions",
        ),
    ];
    for (name, corrupt, expect) in cases {
        let d = scratch(name);
        write_mnist(&d, 20, false);
        corrupt(&d);
        let e = error_of(&d);
        assert!(e.contains(expect), "{name}: {e}");
        assert!(
            e.contains("train-"),
            "{name}: the error names the file: {e}"
        );
    }
}

#[test]
fn bad_gzip_and_missing_files_are_named() {
    let d = scratch("gz");
    write_mnist(&d, 20, true);
    let f = d.join("t10k-images-idx3-ubyte.gz");
    let b = std::fs::read(&f).unwrap();
    std::fs::write(&f, &b[..b.len() / 2]).unwrap();
    let e = error_of(&d);
    assert!(
        e.contains("t10k-images-idx3-ubyte.gz") && e.contains("gzip"),
        "{e}"
    );

    let d = scratch("missing");
    let e = error_of(&d);
    assert!(e.contains("no train images file"), "{e}");
}

#[test]
fn cifar_records_are_checked() {
    let d = scratch("cifar");
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(100u8, 3072));
        r
    };
    for name in (1..=5)
        .map(|i| format!("data_batch_{i}.bin"))
        .chain(["test_batch.bin".to_string()])
    {
        let bytes: Vec<u8> = (0..4).flat_map(|i| record(i as u8)).collect();
        std::fs::write(d.join(name), bytes).unwrap();
    }
    let (train, test) = data::load_cifar10(&d).unwrap();
    assert_eq!(train.images.size(), vec![20, 3, 32, 32]);
    assert_eq!(test.labels.int64_value(&[3]), 3);

    let mut bytes = std::fs::read(d.join("data_batch_3.bin")).unwrap();
    bytes.pop();
    std::fs::write(d.join("data_batch_3.bin"), &bytes).unwrap();
    let e = data::load_cifar10(&d).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("3073-byte"),
        "{e}"
    );

    let bytes: Vec<u8> = (0..4).flat_map(|_| record(10)).collect();
    std::fs::write(d.join("data_batch_3.bin"), bytes).unwrap();
    let e = data::load_cifar10(&d).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("label 10"),
        "{e}"
    );
}

#[test]
fn debians_fashion_mnist_loads() {
    let ds = Dataset::load(DatasetKind::FashionMnist, Path::new(FASHION_MNIST_DIR)).unwrap();
    assert_eq!(ds.train.images.size(), vec![60_000, 1, 28, 28]);
    assert_eq!(ds.test.images.size(), vec![10_000, 1, 28, 28]);
    let n = ds.normalization();
    // Fashion-MNIST's well-known pixel statistics.
    assert!((n.mean[0] - 0.2860).abs() < 1e-3, "{:?}", n.mean);
    assert!((n.std[0] - 0.3530).abs() < 1e-3, "{:?}", n.std);
}
