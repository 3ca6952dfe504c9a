"""One MNIST epoch of MLP 784-128-10 in PyTorch (CPU, or eager on CUDA), the same recipe as QuackMesh's engine:
pixels / 255 standardized with MNIST's mean 0.1307 and std 0.3081, SGD lr 0.1 batch 64 (momentum optional), data held in memory as tensors and
shuffled with randperm (no DataLoader overhead). Prints one JSON line."""
import json
import sys
import time

import numpy as np
import torch
from torch import nn

from blas import blas_in_use


def load(dir_, prefix):
    images = np.fromfile(f"{dir_}/{prefix}-images-idx3-ubyte", dtype=np.uint8)[16:].reshape(-1, 784)
    labels = np.fromfile(f"{dir_}/{prefix}-labels-idx1-ubyte", dtype=np.uint8)[8:]
    return torch.from_numpy((images.astype(np.float32) / 255 - 0.1307) / 0.3081), torch.from_numpy(labels.astype(np.int64))


def epoch(model, opt, loss_fn, x, y, batch, gen):
    perm = torch.randperm(x.shape[0], generator=gen).to(x.device)
    for s in range(0, x.shape[0], batch):
        idx = perm[s : s + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def main():
    dir_, runs, batch, lr, momentum = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    device = sys.argv[6] if len(sys.argv) > 6 else "cpu"
    x, y = (t.to(device) for t in load(dir_, "train"))
    xt, yt = (t.to(device) for t in load(dir_, "t10k"))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    loss_fn = nn.CrossEntropyLoss()
    times, accs = [], []
    for r in range(runs + 1):
        torch.manual_seed(r)
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        gen = torch.Generator().manual_seed(r)
        if r == 0:  # warm-up on a slice
            epoch(model, opt, loss_fn, x[:4096], y[:4096], batch, gen)
            continue
        sync()
        t0 = time.perf_counter()
        epoch(model, opt, loss_fn, x, y, batch, gen)
        sync()
        times.append((time.perf_counter() - t0) * 1000)
        with torch.no_grad():
            accs.append(float((model(xt).argmax(1) == yt).float().mean()))
    print(json.dumps({"ms": float(np.median(times)), "times": times, "test_accuracy": float(np.median(accs)), "torch": torch.__version__, "threads": torch.get_num_threads(), "device": device, "blas": blas_in_use() if device == "cpu" else "cuda"}))


if __name__ == "__main__":
    main()
