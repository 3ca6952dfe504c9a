"""The peer of scripts/gpu-cnn-epoch.mjs: one epoch of the issue's MNIST CNN in PyTorch eager on
CUDA (cuDNN), same synthetic MNIST-shaped data size, batch 64, SGD momentum 0.9, float32 with
TF32 off (the engine computes in plain float32), then with PyTorch's defaults, then replaying a
captured CUDA graph a batch; data resident on the GPU, batches gathered by a shuffled index as the
engine does.
    python3 scripts/gpu-cnn-epoch-torch.py [SAMPLES]"""
import json, sys, time
import torch
from torch import nn

samples = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
dev = "cuda"
torch.manual_seed(1)
x = torch.rand(samples, 1, 28, 28, device=dev)
y = torch.randint(0, 10, (samples,), device=dev)

def model():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)).to(dev)

def epoch(count):
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(count, device=dev)
    for b in range(0, count, 64):
        idx = perm[b:b + 64]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]), y[idx]).backward()
        opt.step()
    torch.cuda.synchronize()

def graphed_epoch(count):
    """The same epoch with each full batch's step (forward, backward, SGD) replayed from one
    captured CUDA graph (PyTorch's whole-network capture recipe); the last partial batch eager."""
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    bx, by = x[:64].clone(), y[:64].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream, as the recipe asks (creates the momentum buffers)
            opt.zero_grad(set_to_none=True)
            loss_fn(net(bx), by).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss_fn(net(bx), by).backward()
        opt.step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    perm = torch.randperm(count, device=dev)
    full = count // 64 * 64
    for b in range(0, full, 64):
        idx = perm[b:b + 64]
        bx.copy_(x[idx])
        by.copy_(y[idx])
        graph.replay()
    if full < count:
        idx = perm[full:]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]), y[idx]).backward()
        opt.step()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000

for tf32 in (False, True):
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    epoch(640)  # warm-up: cuDNN's algorithm choice, allocator
    t0 = time.perf_counter()
    epoch(samples)
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"peer": "pytorch eager " + torch.__version__, "cudnn": torch.backends.cudnn.version(), "tf32": tf32, "samples": samples, "trainMs": round(ms), "perSampleUs": round(ms * 1000 / samples, 1)}))

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
graphed_epoch(640)
ms = graphed_epoch(samples)
print(json.dumps({"peer": "pytorch cuda graph " + torch.__version__, "tf32": False, "samples": samples, "trainMs": round(ms), "perSampleUs": round(ms * 1000 / samples, 1)}))
