"""One training epoch of the LeNet-style Fashion-MNIST network in PyTorch: the peer
that `cargo bench -p training --bench epoch` sets polympc's epoch time beside.

The network, data, batch size, optimiser and threads are polympc's: the same layers
as examples/lenet5.yaml (ReLU at every site), the training set normalised with its own
mean and deviation, shuffled with randperm, batches of 128, Adam (lr 2e-3, L2 weight
decay 5e-4 on convolution and dense weights). Prints the epoch's seconds as JSON.

usage: python bench/train_epoch.py DATA_DIR THREADS [EPOCHS]
"""
import gzip
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def main():
    data_dir, threads = sys.argv[1], int(sys.argv[2])
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.from_numpy(idx(f"{data_dir}/train-images-idx3-ubyte.gz").copy()).float() / 255.0
    y = torch.from_numpy(idx(f"{data_dir}/train-labels-idx1-ubyte.gz").astype(np.int64))
    x = x.unsqueeze(1)
    x = (x - x.mean()) / x.std(unbiased=False)
    net = lenet5()
    decay = [p for n, p in net.named_parameters() if p.dim() > 1]
    rest = [p for n, p in net.named_parameters() if p.dim() <= 1]
    opt = torch.optim.Adam(
        [{"params": decay, "weight_decay": 5e-4}, {"params": rest, "weight_decay": 0.0}],
        lr=2e-3,
    )
    params = sum(p.numel() for p in net.parameters())
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(x.shape[0])
        for b in range(0, x.shape[0], 128):
            idx_b = perm[b:b + 128]
            xb, yb = x.index_select(0, idx_b), y.index_select(0, idx_b)
            loss = nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"seconds": times, "params": params, "torch": torch.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
