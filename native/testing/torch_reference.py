#!/usr/bin/env python3
"""PyTorch's answers for the engine's agreement test (native/sequential.test.ts).

Reads JSON on stdin: {"cases": [{"spec", "count", "weights": {name: [floats]}, "x": [floats],
"y": [ints] or "targets": [floats], "runs": [{"optimizer", "lr", "momentum", "nesterov",
"weightDecay", "beta1", "beta2", "eps", "proximalMu", "steps"}]}]} and writes, per case, the
model's softmax outputs and mean cross-entropy (with "loss": "mse", its raw outputs and mean
squared error) in evaluation mode, and the weights after each run's full-batch optimizer steps
(each run starts from the given weights). The nn.Sequential is built from the spec the way the
engine reads it.
"""
import json
import sys

import torch
from torch import nn


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def build(spec):
    shape, layers = list(spec["input"]), []
    for layer in spec["layers"]:
        t = layer["type"]
        if t == "dense":
            width = 1
            for d in shape:
                width *= d
            layers.append(nn.Linear(width, layer["units"]))
            if layer.get("activation", "none") == "relu":
                layers.append(nn.ReLU())
            shape = [layer["units"]]
        elif t == "conv2d":
            k, s, p = pair(layer["kernel"]), pair(layer.get("stride", 1)), pair(layer.get("padding", 0))
            layers.append(nn.Conv2d(shape[0], layer["outChannels"], k, s, p))
            shape = [layer["outChannels"], (shape[1] + 2 * p[0] - k[0]) // s[0] + 1, (shape[2] + 2 * p[1] - k[1]) // s[1] + 1]
        elif t in ("maxpool2d", "avgpool2d"):
            k = pair(layer["kernel"])
            s = pair(layer.get("stride", layer["kernel"]))
            layers.append((nn.MaxPool2d if t == "maxpool2d" else nn.AvgPool2d)(k, s))
            shape = [shape[0], (shape[1] - k[0]) // s[0] + 1, (shape[2] - k[1]) // s[1] + 1]
        elif t == "flatten":
            layers.append(nn.Flatten())
            width = 1
            for d in shape:
                width *= d
            shape = [width]
        elif t == "dropout":
            layers.append(nn.Dropout(layer.get("p", 0.5)))
        else:
            layers.append({"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[t]())
    return nn.Sequential(*layers)


def load(model, weights):
    state = {k: torch.tensor(weights[k], dtype=torch.float32).reshape(p.shape) for k, p in model.state_dict().items()}
    model.load_state_dict(state, strict=True)


def optimizer(run, params):
    kind = run.get("optimizer", "sgd")
    wd = run.get("weightDecay", 0.0)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=run["lr"], momentum=run.get("momentum", 0.0), nesterov=run.get("nesterov", False), weight_decay=wd)
    betas = (run.get("beta1", 0.9), run.get("beta2", 0.999))
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, lr=run["lr"], betas=betas, eps=run.get("eps", 1e-8), weight_decay=wd)


def main():
    torch.set_num_threads(1)
    out = []
    for case in json.load(sys.stdin)["cases"]:
        spec = case["spec"]
        model = build(spec)
        n = case["count"]
        x = torch.tensor(case["x"], dtype=torch.float32).reshape(n, -1)
        if spec["layers"][0]["type"] != "dense":
            x = x.reshape(n, *spec["input"])
        regression = spec["loss"] == "mse"
        if regression:
            y = torch.tensor(case["targets"], dtype=torch.float32).reshape(n, -1)
            criterion, outputs = nn.functional.mse_loss, (lambda z: z)
        else:
            y = torch.tensor(case["y"], dtype=torch.long)
            criterion, outputs = nn.functional.cross_entropy, (lambda z: torch.softmax(z, 1))
        load(model, case["weights"])
        model.eval()
        with torch.no_grad():
            logits = model(x)
            result = {"probs": outputs(logits).flatten().tolist(), "loss": criterion(logits, y).item(), "runs": []}
        for run in case.get("runs", []):
            load(model, case["weights"])
            model.train()
            opt = optimizer(run, model.parameters())
            start = [p.detach().clone() for p in model.parameters()]
            mu = run.get("proximalMu", 0.0)
            for _ in range(run["steps"]):
                opt.zero_grad()
                loss = criterion(model(x), y)
                if mu:  # FedProx
                    loss = loss + mu / 2 * sum(((p - s) ** 2).sum() for p, s in zip(model.parameters(), start))
                loss.backward()
                opt.step()
            result["runs"].append({k: v.flatten().tolist() for k, v in model.state_dict().items()})
        out.append(result)
    json.dump({"cases": out}, sys.stdout)


if __name__ == "__main__":
    main()
