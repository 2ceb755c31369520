//! Datasets: MNIST and Fashion-MNIST (IDX files, gzip or not) and CIFAR-10 (the binary
//! version). Every file is validated before it is used: IDX magic numbers, dimension
//! counts, sizes, image and label counts that agree, labels in range; CIFAR-10 record
//! sizes and labels. A corrupt or truncated file gets an error naming it.
//!
//! Images are held as `f32` tensors `[N, C, H, W]` scaled to [0, 1]; [`Normalization`]
//! then centres them with the training set's per-channel mean and deviation (the values
//! go into the trained spec, so inference normalises the same way).

use std::io::Read;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

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

/// Labelled images.
#[derive(Debug)]
pub struct Split {
    /// `[N, C, H, W]`, `f32`.
    pub images: Tensor,
    /// `[N]`, `i64`, in 0..10.
    pub labels: Tensor,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` examples (all when fewer).
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len()) as i64;
        Split {
            images: self.images.narrow(0, 0, n),
            labels: self.labels.narrow(0, 0, n),
        }
    }
}

/// A training and a test split.
#[derive(Debug)]
pub struct Dataset {
    /// Which dataset.
    pub kind: DatasetKind,
    /// The folder it was read from.
    pub dir: PathBuf,
    /// Training examples.
    pub train: Split,
    /// Test examples.
    pub test: Split,
}

/// Per-channel input normalisation `(x - mean) / std`, from the training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Standard deviation per channel.
    pub std: Vec<f64>,
}

impl Normalization {
    /// The per-channel mean and deviation of `images` `[N, C, H, W]`.
    pub fn of(images: &Tensor) -> Normalization {
        let flat = images.transpose(0, 1).flatten(1, -1).to_kind(Kind::Double);
        let mean = Vec::<f64>::try_from(flat.mean_dim(1, false, Kind::Double)).unwrap_or_default();
        let std = Vec::<f64>::try_from(flat.std_dim(1, false, false)).unwrap_or_default();
        Normalization { mean, std }
    }

    /// `(x - mean) / std` per channel of `[N, C, ...]`.
    pub fn apply(&self, images: &Tensor) -> Tensor {
        let c = self.mean.len() as i64;
        let mut shape = vec![1i64; images.dim()];
        shape[1] = c;
        let opts = (images.kind(), images.device());
        let mean = Tensor::from_slice(&self.mean)
            .to_kind(opts.0)
            .to_device(opts.1);
        let std = Tensor::from_slice(&self.std)
            .to_kind(opts.0)
            .to_device(opts.1);
        (images - mean.view(&shape[..])) / std.view(&shape[..])
    }
}

impl Dataset {
    /// Loads `kind` from `dir`.
    pub fn load(kind: DatasetKind, dir: &Path) -> Result<Dataset, DataError> {
        let (train, test) = match kind {
            DatasetKind::Mnist | DatasetKind::FashionMnist => {
                (load_idx_pair(dir, "train")?, load_idx_pair(dir, "t10k")?)
            }
            DatasetKind::Cifar10 => load_cifar10(dir)?,
        };
        Ok(Dataset {
            kind,
            dir: dir.to_path_buf(),
            train,
            test,
        })
    }

    /// The training set's normalisation.
    pub fn normalization(&self) -> Normalization {
        Normalization::of(&self.train.images)
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
pub fn load_idx_pair(dir: &Path, prefix: &str) -> Result<Split, DataError> {
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
    let (n, h, w) = (idims[0] as i64, idims[1] as i64, idims[2] as i64);
    let images = Tensor::from_slice(&ibytes[16..])
        .view([n, 1, h, w])
        .to_kind(Kind::Float)
        / 255.0;
    let labels = Tensor::from_slice(labels).to_kind(Kind::Int64);
    Ok(Split { images, labels })
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

fn cifar_split(paths: &[PathBuf]) -> Result<Split, DataError> {
    let (mut labels, mut pixels) = (Vec::new(), Vec::new());
    for p in paths {
        let (l, x) = read_cifar_file(p)?;
        labels.extend(l);
        pixels.extend(x);
    }
    let n = labels.len() as i64;
    Ok(Split {
        images: Tensor::from_slice(&pixels)
            .view([n, 3, 32, 32])
            .to_kind(Kind::Float)
            / 255.0,
        labels: Tensor::from_slice(&labels).to_kind(Kind::Int64),
    })
}

/// Loads CIFAR-10's binary version from `dir` or its `cifar-10-batches-bin/` folder.
pub fn load_cifar10(dir: &Path) -> Result<(Split, Split), DataError> {
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

/// Random crops (zero padding of 4, the common CIFAR recipe) and horizontal flips of a
/// batch, from libtorch's generator.
pub fn augment(images: &Tensor) -> Tensor {
    let size = images.size();
    let (n, h, w) = (size[0], size[2], size[3]);
    let pad = 4;
    let padded = images.constant_pad_nd([pad, pad, pad, pad]);
    let dev = images.device();
    let dy = Tensor::randint(2 * pad + 1, [n], (Kind::Int64, dev));
    let dx = Tensor::randint(2 * pad + 1, [n], (Kind::Int64, dev));
    // Gather rows then columns: index [n, h] and [n, w] offsets.
    let rows = Tensor::arange(h, (Kind::Int64, dev)).unsqueeze(0) + dy.unsqueeze(1);
    let cols = Tensor::arange(w, (Kind::Int64, dev)).unsqueeze(0) + dx.unsqueeze(1);
    let c = size[1];
    let ri = rows
        .view([n, 1, h, 1])
        .expand([n, c, h, w + 2 * pad], false);
    let cropped_rows = padded.gather(2, &ri, false);
    let ci = cols.view([n, 1, 1, w]).expand([n, c, h, w], false);
    let cropped = cropped_rows.gather(3, &ci, false);
    let flip = Tensor::rand([n], (Kind::Float, dev))
        .lt(0.5)
        .view([n, 1, 1, 1]);
    cropped.flip([3]).where_self(&flip, &cropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn augment_keeps_shape_and_pixels() {
        tch::manual_seed(3);
        let x = Tensor::rand([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = augment(&x);
        assert_eq!(y.size(), x.size());
        // Every output pixel is an input pixel or padding.
        let inside = y.ne(0.0).sum(Kind::Int64).int64_value(&[]);
        assert!(inside > 4 * 3 * 24 * 24, "{inside}");
    }
}
