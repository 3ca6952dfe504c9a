"""The peer of `scripts/bench/cnn.mjs --device cuda`: one MNIST epoch of the issue's CNN in PyTorch on
the GPU, the same recipe as torch_cnn.py (pixels standardized, SGD with momentum, shuffled batches),
with the data resident on the GPU and batches gathered by a shuffled index as the engine does. Three
ways, each after a warm-up epoch over 640 images (cuDNN's algorithm choice, the allocator):
eager with TF32 off (the engine computes in plain float32), eager with PyTorch's TF32 defaults, and
each full batch's step (forward, backward, SGD) replayed from one captured CUDA graph (TF32 off; the
last partial batch eager). Prints one JSON line: versions, and per way its time and test accuracy.
usage: torch_cnn_cuda.py MNIST_DIR SAMPLES BATCH LR MOMENTUM"""
import json
import sys
import time

import torch
from torch import nn

from torch_cnn import cnn, load

DEV = "cuda"
DEFAULT_TF32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)


def set_tf32(conv, matmul):
    torch.backends.cudnn.allow_tf32 = conv
    torch.backends.cuda.matmul.allow_tf32 = matmul


def accuracy(model, xt, yt):
    model.eval()
    with torch.no_grad():
        return int((model(xt).argmax(1) == yt).sum()) / xt.shape[0]


def eager(x, y, batch, lr, momentum, seed):
    torch.manual_seed(seed)
    model = cnn().to(DEV)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0], device=DEV, generator=torch.Generator(device=DEV).manual_seed(seed))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, x.shape[0], batch):
        idx = perm[s : s + batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()
    torch.cuda.synchronize()
    return model, (time.perf_counter() - t0) * 1000


def graphed(x, y, batch, lr, momentum, seed):
    """PyTorch's whole-network capture recipe: warm-up on a side stream, capture one step, replay."""
    torch.manual_seed(seed)
    model = cnn().to(DEV)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    bx, by = x[:batch].clone(), y[:batch].clone()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # creates the momentum buffers
            opt.zero_grad(set_to_none=True)
            loss_fn(model(bx), by).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss_fn(model(bx), by).backward()
        opt.step()
    # the warm-up and capture steps moved the weights: back to the start, momentum cleared
    with torch.no_grad():
        for k, v in model.state_dict().items():
            v.copy_(start[k])
        for st in opt.state.values():
            st["momentum_buffer"].zero_()
    perm = torch.randperm(x.shape[0], device=DEV, generator=torch.Generator(device=DEV).manual_seed(seed))
    full = x.shape[0] // batch * batch
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for s in range(0, full, batch):
        idx = perm[s : s + batch]
        bx.copy_(x[idx])
        by.copy_(y[idx])
        graph.replay()
    if full < x.shape[0]:
        idx = perm[full:]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()
    torch.cuda.synchronize()
    return model, (time.perf_counter() - t0) * 1000


def main():
    dir_, samples, batch, lr, momentum = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    if not torch.cuda.is_available():
        raise SystemExit("PyTorch sees no CUDA GPU")
    x, y = (t.to(DEV) for t in load(dir_, "train", samples))
    xt, yt = (t.to(DEV) for t in load(dir_, "t10k"))
    runs = []
    for name, fn, tf32 in (("eager", eager, (False, False)), ("eager", eager, DEFAULT_TF32), ("cuda graph", graphed, (False, False))):
        set_tf32(*tf32)
        fn(x[:640], y[:640], batch, lr, momentum, 0)  # warm-up
        model, ms = fn(x, y, batch, lr, momentum, 1)
        runs.append({"way": name, "tf32_conv": tf32[0], "tf32_matmul": tf32[1], "ms": ms, "test_accuracy": accuracy(model, xt, yt)})
    set_tf32(*DEFAULT_TF32)
    print(json.dumps({"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "gpu": torch.cuda.get_device_name(), "samples": int(x.shape[0]), "runs": runs}))


if __name__ == "__main__":
    main()
