#!/usr/bin/env python3
"""QuackMesh external trainer for PyTorch (`quackmesh contribute --trainer "python3 pytorch_trainer.py"`).

Runs in the round's folder (README: External trainers): reads model.safetensors, spec.json and
round.json, builds the nn.Sequential of the spec (one entry per spec layer, as the engine numbers
them, so the state-dict names are the model's: "0.weight" of a conv2d is [out, in, kh, kw]), loads
the global weights with strict=True, trains with the round's settings (the optimizer: SGD with
momentum, Nesterov and weight decay, Adam or AdamW; FedProx's proximal term when proximalMu > 0;
softmax cross-entropy; the seed for the shuffling) on CPU or CUDA, and writes update.safetensors
(float32) and metrics.json. Exits non-zero with a message on any error.
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


def pair(v):
    """A kernel, stride or padding field: one integer for both sides, or [height, width]."""
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def build_model(spec):
    """nn.Sequential of the spec, one entry per layer (a dense layer's relu is its own nn.ReLU entry),
    numbered as the engine numbers them (protocol/spec.ts planLayers), so the state dict matches."""
    shape, layers = list(spec["input"]), []
    if not shape:
        fail("spec.input is empty")
    for i, layer in enumerate(spec["layers"]):
        kind, where = layer.get("type"), f"spec.layers[{i}]"
        if kind == "dense":
            width = 1
            for d in shape:
                width *= d
            layers.append(nn.Linear(width, layer["units"]))
            if layer.get("activation", "none") == "relu":
                layers.append(nn.ReLU())
            shape = [layer["units"]]
        elif kind in ("conv2d", "maxpool2d", "avgpool2d"):
            if len(shape) != 3:
                fail(f"{where} {kind} needs a [C, H, W] image, gets {shape}")
            c, h, w = shape
            kh, kw = pair(layer["kernel"])
            if kind == "conv2d":
                (sh, sw), (ph, pw) = pair(layer.get("stride", 1)), pair(layer.get("padding", 0))
                layers.append(nn.Conv2d(c, layer["outChannels"], (kh, kw), stride=(sh, sw), padding=(ph, pw)))
                c = layer["outChannels"]
            else:
                (sh, sw), ph, pw = pair(layer.get("stride", layer["kernel"])), 0, 0
                pool = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
                layers.append(pool((kh, kw), stride=(sh, sw)))
            shape = [c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1]
        elif kind == "flatten":
            layers.append(nn.Flatten())
            width = 1
            for d in shape:
                width *= d
            shape = [width]
        elif kind == "dropout":
            layers.append(nn.Dropout(layer.get("p", 0.5)))
        elif kind in ACTIVATIONS:
            layers.append(ACTIVATIONS[kind]())
        else:
            fail(f"{where}: type {kind!r} is not known to this trainer; update it")
    return nn.Sequential(*layers)


def input_shape(spec):
    """Rows reach the model as images when a conv2d or pool comes before any dense or flatten layer
    (the engine feeds a dense layer the flat row, which nn.Linear on an image would not do)."""
    for layer in spec["layers"]:
        if layer.get("type") in ("conv2d", "maxpool2d", "avgpool2d"):
            return list(spec["input"])
        if layer.get("type") in ("dense", "flatten"):
            break
    return None


def make_optimizer(params, train):
    """The round's optimizer, as the engine reads the same settings (torch.optim's defaults)."""
    name = train.get("optimizer", "sgd")
    lr, momentum = train["lr"], train["momentum"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=bool(train.get("nesterov", False)), weight_decay=train.get("weightDecay", 0.0))
    betas = (train.get("beta1", 0.9), train.get("beta2", 0.999))
    eps = train.get("eps", 1e-8)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=train.get("weightDecay", 0.0))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=train.get("weightDecay", 0.01))
    fail(f"round.json train.optimizer {name!r} is not one of sgd, adam, adamw")


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
    features = 1
    for d in spec["input"]:
        features *= d
    if x.shape[1] != features:
        fail(f"the data has {x.shape[1]} features, the model takes {features} ({spec['input']})")
    norm = spec.get("normalize")
    if norm:
        x = (x - norm["mean"]) / norm["std"]
    image = input_shape(spec)
    if image:
        x = x.reshape([x.shape[0]] + image)
    x, y = x.to(device), y.to(device)

    opt = make_optimizer(model.parameters(), train)
    mu = float(train.get("proximalMu", 0.0))
    # FedProx: the gradient of mu/2 ||w - w0||^2, w0 the round's global weights, added before the step.
    anchor = [p.detach().clone() for p in model.parameters()] if mu > 0 else None
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
            if anchor is not None:
                with torch.no_grad():
                    for p, p0 in zip(model.parameters(), anchor):
                        p.grad.add_(p - p0, alpha=mu)
            opt.step()
            total_loss += loss.item() * idx.numel()
            correct += (logits.argmax(1) == y[idx]).sum().item()
            seen += idx.numel()

    write_safetensors(files["update"], model.state_dict())
    with open(files["metrics"], "w") as f:
        json.dump({"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1)}, f)
    print(f"pytorch_trainer: {train['epochs']} epoch(s) on {x.shape[0]} samples, {device}, {train.get('optimizer', 'sgd')}, mu {mu}, loss {total_loss / max(seen, 1):.4f}")


if __name__ == "__main__":
    main()
