"""FedAvg of K float32 vectors resident on the GPU in PyTorch eager, timed with CUDA events
(median): the Flower-style weighted sum, and an in-place add_ loop. Prints one JSON line."""
import json
import sys

import torch


def main():
    k, n, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    xs = [torch.rand(n, device="cuda") * 2 - 1 for _ in range(k)]
    ws = [100.0 + i for i in range(k)]
    total = sum(ws)

    def flower():
        return sum(x * w for x, w in zip(xs, ws)) / total

    def inplace():
        out = xs[0] * ws[0]
        for x, w in zip(xs[1:], ws[1:]):
            out.add_(x, alpha=w)
        return out.div_(total)

    def stacked():  # one kernel over a [K, n] tensor: what a tuned PyTorch user might write
        return torch.matmul(torch.tensor(ws, device="cuda") / total, stack)

    stack = torch.stack(xs)
    result = {"torch": torch.__version__, "k": k, "n": n}
    for name, fn in (("flower", flower), ("inplace", inplace), ("stacked_matmul", stacked)):
        fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(runs):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        times.sort()
        result[name + "_ms"] = times[len(times) // 2]
    # copy bandwidth, bytes read + written
    src = torch.empty(k * n, device="cuda")
    dst = torch.empty_like(src)
    dst.copy_(src)
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(10):
        dst.copy_(src)
    b.record()
    b.synchronize()
    result["d2d_copy_gbps"] = 2 * src.numel() * 4 * 10 / (a.elapsed_time(b) / 1000) / 1e9
    print(json.dumps(result))


if __name__ == "__main__":
    main()
