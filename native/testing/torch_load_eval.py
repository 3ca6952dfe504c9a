"""Loads a QuackMesh model into PyTorch and measures its accuracy: builds the nn.Sequential of the
spec (one entry per layer, so the state-dict names are the spec's), loads the safetensors with
strict=True, and evaluates in eval mode on an IDX pair with the spec's input standardization.
usage: torch_load_eval.py SPEC.json MODEL.safetensors IMAGES_IDX LABELS_IDX   → one JSON line."""
import gzip
import json
import struct
import sys

import numpy as np
import torch
from torch import nn


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    out = {}
    for name, e in header.items():
        if name != "__metadata__":
            assert e["dtype"] == "F32", f"{name} is {e['dtype']}"
            b, end = e["data_offsets"]
            out[name] = torch.frombuffer(bytearray(data[b:end]), dtype=torch.float32).reshape(e["shape"]).clone()
    return out


def build(spec):
    shape, layers = list(spec["input"]), []
    for layer in spec["layers"]:
        kind = layer["type"]
        if kind == "conv2d":
            conv = nn.Conv2d(shape[0], layer["outChannels"], layer["kernel"], stride=layer.get("stride", 1), padding=layer.get("padding", 0))
            layers.append(conv)
        elif kind in ("maxpool2d", "avgpool2d"):
            pool = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
            layers.append(pool(layer["kernel"], stride=layer.get("stride")))
        elif kind == "flatten":
            layers.append(nn.Flatten())
        elif kind == "dropout":
            layers.append(nn.Dropout(layer.get("p", 0.5)))
        elif kind == "dense":
            layers.append(nn.Linear(int(np.prod(shape)), layer["units"]))
            if layer.get("activation", "none") == "relu":
                layers.append(nn.ReLU())
        else:
            layers.append({"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[kind]())
        with torch.no_grad():  # the shape after this entry
            shape = list(nn.Sequential(*layers)(torch.zeros([1] + list(spec["input"]))).shape[1:])
    return nn.Sequential(*layers)


def idx(path):
    raw = open(path, "rb").read()
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    ndims = raw[3]
    dims = struct.unpack(">" + "I" * ndims, raw[4 : 4 + 4 * ndims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def main():
    spec = json.load(open(sys.argv[1]))
    model = build(spec)
    model.load_state_dict(read_safetensors(sys.argv[2]), strict=True)
    model.eval()
    x = torch.from_numpy(idx(sys.argv[3]).astype(np.float32) / 255).reshape([-1] + list(spec["input"]))
    if "normalize" in spec:
        x = (x - spec["normalize"]["mean"]) / spec["normalize"]["std"]
    y = torch.from_numpy(idx(sys.argv[4]).astype(np.int64))
    with torch.no_grad():
        correct = sum(int((model(x[s : s + 1000]).argmax(1) == y[s : s + 1000]).sum()) for s in range(0, len(y), 1000))
    print(json.dumps({"accuracy": correct / len(y), "samples": len(y), "names": list(model.state_dict().keys()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
