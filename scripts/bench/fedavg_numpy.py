"""FedAvg the way Flower's `aggregate` does it (flwr/server/strategy/aggregate.py), for one flat
layer: a list of w_i * x_i, functools.reduce(np.add), divided by the total. Prints one JSON line."""
import functools
import json
import sys
import time

import numpy as np


def flower_aggregate(results):
    num_examples_total = sum(n for _, n in results)
    weighted = [[layer * n for layer in weights] for weights, n in results]
    return [functools.reduce(np.add, layer) / num_examples_total for layer in zip(*weighted)]


def main():
    k, n, runs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(1)
    results = [([rng.uniform(-1, 1, n).astype(np.float32)], 100 + i) for i in range(k)]
    flower_aggregate(results)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = flower_aggregate(results)
        times.append((time.perf_counter() - t0) * 1000)
    # Check the answer once against float64, so the timing is of a correct computation.
    ref = sum(x[0].astype(np.float64) * w for x, w in results) / sum(w for _, w in results)
    err = float(np.linalg.norm(out[0] - ref) / np.linalg.norm(ref))
    print(json.dumps({"ms": float(np.median(times)), "times": times, "relative_error": err, "numpy": np.__version__, "dtype": str(out[0].dtype)}))


if __name__ == "__main__":
    main()
