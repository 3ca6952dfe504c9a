#!/usr/bin/env python3
"""QuackMesh external trainer for PyTorch (`quackmesh contribute --trainer "python3 pytorch_trainer.py"`).

Runs in the round's folder (README: External trainers): reads model.safetensors, spec.json and
round.json, builds the nn.Sequential of the spec (nn.Linear + nn.ReLU entries, so the state-dict
names are the model's), loads the global weights with strict=True, trains with the round's
settings (SGD with momentum, softmax cross-entropy, the seed for the shuffling) on CPU or CUDA, and
writes update.safetensors (float32) and metrics.json. Exits non-zero with a message on any error.
"""
import glob
import gzip
import json
import os
import struct
import sys

import torch
from torch import nn

PROTOCOL = 1


def fail(message):
    print(f"pytorch_trainer: {message}", file=sys.stderr)
    sys.exit(1)


def read_safetensors(path):
    """Tensors of a safetensors file, by name (float32 only, like the engine)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            fail(f"{path}: tensor {name} is {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32) if end > begin else torch.zeros(0)
        out[name] = t.reshape(entry["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    """Writes float32 tensors; with the `safetensors` package when it is installed, else by hand."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    try:
        from safetensors.torch import save_file

        save_file(tensors, path, metadata={"format": "pt"})
        return
    except ImportError:
        pass
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        blob = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(path + ".part", path)


def build_model(spec):
    """nn.Sequential of the spec: each dense layer an nn.Linear, each relu its own nn.ReLU entry."""
    if len(spec["input"]) < 1:
        fail("spec.input is empty")
    width, layers = 1, []
    for d in spec["input"]:
        width *= d
    for i, layer in enumerate(spec["layers"]):
        if layer.get("type") != "dense":
            fail(f"spec.layers[{i}]: type {layer.get('type')!r} is not supported by this trainer (dense only)")
        layers.append(nn.Linear(width, layer["units"]))
        if layer.get("activation", "none") == "relu":
            layers.append(nn.ReLU())
        width = layer["units"]
    return nn.Sequential(*layers)


def open_maybe_gz(path):
    with open(path, "rb") as f:
        raw = f.read()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def load_idx(folder):
    images = [p for p in glob.glob(os.path.join(folder, "*")) if "images" in os.path.basename(p).lower() and "idx3" in os.path.basename(p).lower()]
    labels = [p for p in glob.glob(os.path.join(folder, "*")) if "labels" in os.path.basename(p).lower() and "idx1" in os.path.basename(p).lower()]
    if len(images) != 1 or len(labels) != 1:
        fail(f"{folder}: expected one *images*idx3* and one *labels*idx1* file")
    img, lbl = open_maybe_gz(images[0]), open_maybe_gz(labels[0])
    magic, count, rows, cols = struct.unpack(">IIII", img[:16])
    if magic != 0x803 or struct.unpack(">II", lbl[:8]) != (0x801, count):
        fail(f"{folder}: not a matching IDX pair")
    x = torch.frombuffer(bytearray(img[16:]), dtype=torch.uint8).reshape(count, rows * cols).float() / 255.0
    y = torch.frombuffer(bytearray(lbl[8:]), dtype=torch.uint8).long()
    return x, y


def load_csv(path):
    """Label first, then the features, used as they are (round.json's data is already scaled)."""
    xs, ys = [], []
    with open(path, "r", encoding="utf-8-sig") as f:
        for line in f:
            fields = line.strip().split(",")
            if fields == [""]:
                continue
            try:
                values = [float(v) for v in fields]
            except ValueError:
                if not xs:
                    continue  # a header row
                raise
            ys.append(int(values[0]))
            xs.append(values[1:])
    return torch.tensor(xs, dtype=torch.float32), torch.tensor(ys, dtype=torch.long)


def pick_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        fail("device cuda was asked for but torch.cuda.is_available() is False")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def main():
    with open("round.json") as f:
        rnd = json.load(f)
    if rnd.get("protocol") != PROTOCOL:
        fail(f"round.json protocol {rnd.get('protocol')} is not {PROTOCOL}; update this trainer")
    files, data, train = rnd["files"], rnd["data"], rnd["train"]
    with open(files["spec"]) as f:
        spec = json.load(f)
    if spec.get("loss", "cross-entropy") != "cross-entropy":
        fail(f"loss {spec.get('loss')!r} is not supported by this trainer")

    torch.manual_seed(train["seed"] % (2**63))
    device = pick_device(train["device"])
    model = build_model(spec)
    model.load_state_dict(read_safetensors(files["model"]), strict=True)
    model.to(device)

    x, y = load_idx(data["path"]) if data["format"] == "idx" else load_csv(data["path"])
    if x.shape[1] != model[0].in_features:
        fail(f"the data has {x.shape[1]} features, the model takes {model[0].in_features}")
    norm = spec.get("normalize")
    if norm:
        x = (x - norm["mean"]) / norm["std"]
    x, y = x.to(device), y.to(device)

    opt = torch.optim.SGD(model.parameters(), lr=train["lr"], momentum=train["momentum"])
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(train["seed"] % (2**63))
    total_loss, correct, seen = 0.0, 0, 0
    model.train()
    for _ in range(train["epochs"]):
        order = torch.randperm(x.shape[0], generator=gen).to(device)
        for start in range(0, x.shape[0], train["batchSize"]):
            idx = order[start : start + train["batchSize"]]
            logits = model(x[idx])
            loss = loss_fn(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * idx.numel()
            correct += (logits.argmax(1) == y[idx]).sum().item()
            seen += idx.numel()

    write_safetensors(files["update"], model.state_dict())
    with open(files["metrics"], "w") as f:
        json.dump({"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}, f)
    print(f"pytorch_trainer: {train['epochs']} epoch(s) on {x.shape[0]} samples, {device}, loss {total_loss / max(seen, 1):.4f}")


if __name__ == "__main__":
    main()
