//! Datasets as raw bytes, with no tensor library: MNIST and Fashion-MNIST (IDX files,
//! gzip or not) and CIFAR-10 (the binary version). Every file is validated before it is
//! used: IDX magic numbers, dimension counts, sizes, image and label counts that agree,
//! labels in range; CIFAR-10 record sizes and labels. A corrupt or truncated file gets
//! an error naming it.
//!
//! The trainer turns these bytes into tensors; the protocol simulator reads them as
//! they are.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Why a dataset cannot be loaded. Every variant names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{}: cannot read: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's content is not what its format says.
    #[error("{}: {message}", file.display())]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// None of the expected file names is in the folder.
    #[error("{}: no {what} (looked for {})", dir.display(), names.join(", "))]
    Missing {
        /// The folder.
        dir: PathBuf,
        /// What was looked for.
        what: String,
        /// The file names tried.
        names: Vec<String>,
    },
}

fn corrupt(file: &Path, message: impl Into<String>) -> DataError {
    DataError::Corrupt {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// The datasets polympc reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// MNIST handwritten digits (IDX).
    Mnist,
    /// Fashion-MNIST (IDX, the same layout as MNIST).
    FashionMnist,
    /// CIFAR-10, binary version.
    Cifar10,
}

impl DatasetKind {
    /// The names accepted on the command line.
    pub const NAMES: [&'static str; 3] = ["fashion-mnist", "mnist", "cifar10"];

    /// Parses a name of [`DatasetKind::NAMES`].
    pub fn parse(name: &str) -> Option<DatasetKind> {
        match name {
            "fashion-mnist" => Some(DatasetKind::FashionMnist),
            "mnist" => Some(DatasetKind::Mnist),
            "cifar10" | "cifar-10" => Some(DatasetKind::Cifar10),
            _ => None,
        }
    }

    /// The dataset a network with this input shape is trained on by default.
    pub fn for_input(dims: &[usize]) -> Option<DatasetKind> {
        match dims {
            [1, 28, 28] | [784] => Some(DatasetKind::FashionMnist),
            [3, 32, 32] | [3072] => Some(DatasetKind::Cifar10),
            _ => None,
        }
    }

    /// The name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
        }
    }

    /// Image shape `[C, H, W]`.
    pub fn image_shape(self) -> [usize; 3] {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => [1, 28, 28],
            DatasetKind::Cifar10 => [3, 32, 32],
        }
    }

    /// Whether training augments images (random crops and flips): CIFAR-10 only.
    pub fn augments(self) -> bool {
        self == DatasetKind::Cifar10
    }
}

/// Labelled images as bytes: `N` images of `shape` pixels (0..=255) in `C, H, W` order,
/// and their labels (0..=9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSplit {
    /// Image shape `[C, H, W]`.
    pub shape: [usize; 3],
    /// `N * C * H * W` pixels.
    pub pixels: Vec<u8>,
    /// `N` labels.
    pub labels: Vec<u8>,
}

impl RawSplit {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape.iter().product::<usize>();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// A training and a test split.
#[derive(Debug, Clone)]
pub struct RawDataset {
    /// Training examples.
    pub train: RawSplit,
    /// Test examples.
    pub test: RawSplit,
}

impl RawDataset {
    /// Loads `kind` from `dir`.
    pub fn load(kind: DatasetKind, dir: &Path) -> Result<RawDataset, DataError> {
        let (train, test) = match kind {
            DatasetKind::Mnist | DatasetKind::FashionMnist => {
                (load_idx_pair(dir, "train")?, load_idx_pair(dir, "t10k")?)
            }
            DatasetKind::Cifar10 => load_cifar10(dir)?,
        };
        Ok(RawDataset { train, test })
    }
}

/// Reads a file, un-gzipping it when its name ends in `.gz`.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        file: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("not a valid gzip file: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An IDX file's dimensions and its unsigned-byte payload.
fn parse_idx(path: &Path, bytes: &[u8], dims_expected: usize) -> Result<Vec<usize>, DataError> {
    if bytes.len() < 4 {
        return Err(corrupt(
            path,
            format!("{} bytes: too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(corrupt(
            path,
            format!(
                "bad IDX magic number {:02x}{:02x}{:02x}{:02x} (expected 0000 08 0{dims_expected})",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(corrupt(
            path,
            format!(
                "IDX element type 0x{:02x}; only unsigned bytes (0x08) are images or labels",
                bytes[2]
            ),
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims != dims_expected {
        return Err(corrupt(
            path,
            format!("{ndims} dimensions in the IDX header, expected {dims_expected}"),
        ));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(corrupt(
            path,
            format!("truncated IDX header ({} bytes)", bytes.len()),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let want = header as u64 + dims.iter().map(|&d| d as u64).product::<u64>();
    if bytes.len() as u64 != want {
        return Err(corrupt(
            path,
            format!(
                "{} bytes, but the header's dimensions {:?} need {want}{}",
                bytes.len(),
                dims,
                if (bytes.len() as u64) < want {
                    " (truncated)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(dims)
}

/// Finds `<prefix>-<what>-idx<N>-ubyte` with or without `.gz` (and with the `.` spelling
/// some mirrors use) in `dir`.
fn find_idx(dir: &Path, prefix: &str, what: &str, n: usize) -> Result<PathBuf, DataError> {
    let names: Vec<String> = [
        format!("{prefix}-{what}-idx{n}-ubyte"),
        format!("{prefix}-{what}.idx{n}-ubyte"),
    ]
    .into_iter()
    .flat_map(|b| [format!("{b}.gz"), b])
    .collect();
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Missing {
            dir: dir.to_path_buf(),
            what: format!("{prefix} {what} file"),
            names,
        })
}

/// Loads `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` from `dir`.
pub fn load_idx_pair(dir: &Path, prefix: &str) -> Result<RawSplit, DataError> {
    let ipath = find_idx(dir, prefix, "images", 3)?;
    let lpath = find_idx(dir, prefix, "labels", 1)?;
    let ibytes = read_maybe_gz(&ipath)?;
    let idims = parse_idx(&ipath, &ibytes, 3)?;
    let lbytes = read_maybe_gz(&lpath)?;
    let ldims = parse_idx(&lpath, &lbytes, 1)?;
    if idims[0] != ldims[0] {
        return Err(corrupt(
            &lpath,
            format!(
                "{} labels for {} images in {}",
                ldims[0],
                idims[0],
                ipath.display()
            ),
        ));
    }
    if idims[0] == 0 {
        return Err(corrupt(&ipath, "no images"));
    }
    let labels = &lbytes[8..];
    if let Some(pos) = labels.iter().position(|&l| l > 9) {
        return Err(corrupt(
            &lpath,
            format!("label {} of example {pos} is not a class 0..9", labels[pos]),
        ));
    }
    Ok(RawSplit {
        shape: [1, idims[1], idims[2]],
        pixels: ibytes[16..].to_vec(),
        labels: labels.to_vec(),
    })
}

const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;

fn read_cifar_file(path: &Path) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let bytes = read_maybe_gz(path)?;
    if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
        return Err(corrupt(
            path,
            format!(
                "{} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records{}",
                bytes.len(),
                if bytes.is_empty() {
                    ""
                } else {
                    " (truncated?)"
                }
            ),
        ));
    }
    let n = bytes.len() / CIFAR_RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (CIFAR_RECORD - 1));
    for (i, rec) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(corrupt(
                path,
                format!("record {i}: label {} is not a class 0..9", rec[0]),
            ));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((labels, pixels))
}

fn cifar_split(paths: &[PathBuf]) -> Result<RawSplit, DataError> {
    let (mut labels, mut pixels) = (Vec::new(), Vec::new());
    for p in paths {
        let (l, x) = read_cifar_file(p)?;
        labels.extend(l);
        pixels.extend(x);
    }
    Ok(RawSplit {
        shape: [3, 32, 32],
        pixels,
        labels,
    })
}

/// Loads CIFAR-10's binary version from `dir` or its `cifar-10-batches-bin/` folder.
pub fn load_cifar10(dir: &Path) -> Result<(RawSplit, RawSplit), DataError> {
    let sub = dir.join("cifar-10-batches-bin");
    let base = if sub.is_dir() { sub } else { dir.to_path_buf() };
    let file = |name: &str| -> Result<PathBuf, DataError> {
        let p = base.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(DataError::Missing {
                dir: base.clone(),
                what: "CIFAR-10 batch".into(),
                names: vec![name.to_string()],
            })
        }
    };
    let train: Vec<PathBuf> = (1..=5)
        .map(|i| file(&format!("data_batch_{i}.bin")))
        .collect::<Result<_, _>>()?;
    let test = [file("test_batch.bin")?];
    Ok((cifar_split(&train)?, cifar_split(&test)?))
}
