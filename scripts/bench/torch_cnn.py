"""One MNIST epoch of the issue's CNN in PyTorch on the CPU, the recipe QuackMesh's engine runs in
scripts/bench/cnn.mjs: conv(1->32, 3x3, pad 1)-relu-maxpool2-conv(32->64, 3x3, pad 1)-relu-maxpool2-
flatten-dense(128)-relu-dense(10), pixels / 255 standardized with MNIST's mean and std, SGD with
momentum, batch 64, the first SAMPLES training images (all 60,000 by default) held in memory and
shuffled with randperm. Prints one JSON line.
usage: torch_cnn.py MNIST_DIR SAMPLES BATCH LR MOMENTUM THREADS"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from blas import blas_in_use


def load(dir_, prefix, limit=None):
    images = np.fromfile(f"{dir_}/{prefix}-images-idx3-ubyte", dtype=np.uint8)[16:].reshape(-1, 1, 28, 28)[:limit]
    labels = np.fromfile(f"{dir_}/{prefix}-labels-idx1-ubyte", dtype=np.uint8)[8:][:limit]
    return torch.from_numpy((images.astype(np.float32) / 255 - 0.1307) / 0.3081), torch.from_numpy(labels.astype(np.int64))


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def epoch(model, opt, loss_fn, x, y, batch, gen):
    perm = torch.randperm(x.shape[0], generator=gen)
    for s in range(0, x.shape[0], batch):
        idx = perm[s : s + batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()


def main():
    dir_, samples, batch, lr, momentum, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    torch.set_num_threads(threads)
    x, y = load(dir_, "train", samples)
    xt, yt = load(dir_, "t10k")
    loss_fn = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    warm = cnn()
    epoch(warm, torch.optim.SGD(warm.parameters(), lr=lr, momentum=momentum), loss_fn, x[:512], y[:512], batch, torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    model = cnn()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    t0, c0 = time.perf_counter(), time.process_time()
    epoch(model, opt, loss_fn, x, y, batch, torch.Generator().manual_seed(1))
    ms = (time.perf_counter() - t0) * 1000
    cpu_ms = (time.process_time() - c0) * 1000  # every thread of the process
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xt[s : s + 1000]).argmax(1) == yt[s : s + 1000]).sum()) for s in range(0, xt.shape[0], 1000))
    print(json.dumps({
        "ms": ms, "cpu_ms": cpu_ms, "samples": int(x.shape[0]), "test_accuracy": correct / xt.shape[0], "torch": torch.__version__,
        "threads": torch.get_num_threads(), "blas": blas_in_use(), "mkldnn": bool(torch.backends.mkldnn.is_available()),
    }))


if __name__ == "__main__":
    main()
