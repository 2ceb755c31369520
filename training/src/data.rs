//! Datasets as tensors: MNIST and Fashion-MNIST (IDX files, gzip or not) and CIFAR-10
//! (the binary version), read and validated by [`perf_model::dataset`] (a corrupt or
//! truncated file gets an error naming it).
//!
//! Images are held as `f32` tensors `[N, C, H, W]` scaled to [0, 1]; [`Normalization`]
//! then centres them with the training set's per-channel mean and deviation (the values
//! go into the trained spec, so inference normalises the same way).

use perf_model::dataset::{self, RawSplit};
pub use perf_model::dataset::{DataError, DatasetKind, FASHION_MNIST_DIR};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

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

impl From<RawSplit> for Split {
    fn from(raw: RawSplit) -> Split {
        let [c, h, w] = raw.shape.map(|d| d as i64);
        let n = raw.labels.len() as i64;
        Split {
            images: Tensor::from_slice(&raw.pixels)
                .view([n, c, h, w])
                .to_kind(Kind::Float)
                / 255.0,
            labels: Tensor::from_slice(&raw.labels).to_kind(Kind::Int64),
        }
    }
}

/// Loads `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` from `dir`.
pub fn load_idx_pair(dir: &Path, prefix: &str) -> Result<Split, DataError> {
    dataset::load_idx_pair(dir, prefix).map(Split::from)
}

/// Loads CIFAR-10's binary version from `dir` or its `cifar-10-batches-bin/` folder.
pub fn load_cifar10(dir: &Path) -> Result<(Split, Split), DataError> {
    let (train, test) = dataset::load_cifar10(dir)?;
    Ok((train.into(), test.into()))
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
