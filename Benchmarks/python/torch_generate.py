"""Greedy KV-cached generation in eager PyTorch for the benchmark's checkpoint, timed per call.

Reads config.json and model.safetensors from a SimpleTransformer checkpoint directory. The safetensors file is
parsed here with numpy: an 8-byte little-endian header length, a JSON header of dtype, shape and byte offsets, then
the raw data. The model is the variant the benchmark uses: learned positions, pre-norm LayerNorm, exact GELU and
tied embeddings. Other variants are rejected.

Protocol: after loading, the script prints one JSON line {"ready": true, ...}. Then it reads one JSON request per
line on stdin, {"prompts": [[ids...], ...], "new_tokens": n}, generates n tokens for every prompt (equal lengths,
no padding) and answers one JSON line {"seconds": s, "tokens": [[ids...], ...]}, where s is the time of the
generation alone. The request {"prompts": [[ids...], ...], "logits": true} answers {"logits": [[...], ...]}, the
logits after each whole prompt, so the caller can check that this script computes the same model. End of input
ends the script.
"""

import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    """Return {name: torch.Tensor} from a safetensors file."""
    with open(path, "rb") as f:
        (header_length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_length))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.astype(np.float32, copy=True))
    return tensors


class Model:
    """The SimpleTransformer forward pass with a per-layer (key, value) cache of shape [B, H, S, D]."""

    def __init__(self, config, weights):
        supported = (config["position_embedding"] == "learned" and config["norm_position"] == "pre"
                     and config["hidden_act"] == "gelu" and config["tie_word_embeddings"]
                     and config.get("sliding_window") is None)
        if not supported:
            raise SystemExit("torch_generate.py implements learned positions, pre-norm, exact GELU, tied embeddings "
                             f"and no sliding window; this checkpoint's config.json differs: {config}")
        self.w = weights
        self.layers = config["num_hidden_layers"]
        self.heads = config["num_attention_heads"]
        self.hidden = config["hidden_size"]
        self.head_size = self.hidden // self.heads
        self.eps = config["layer_norm_eps"]

    def linear(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def norm(self, x, name):
        return F.layer_norm(x, (self.hidden,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_size).transpose(1, 2)  # [B, T, C] -> [B, H, T, D]

    def forward(self, ids, start, cache):
        """Run ids [B, T] at positions start..start+T-1 after the cache, and return the last logits [B, V] and the new cache."""
        b, t = ids.shape
        positions = torch.arange(start, start + t)
        x = self.w["token_embedding.weight"][ids] + self.w["position_embedding.weight"][positions]  # [B, T, C]
        mask = None
        if t > 1:
            # The query at position start+i attends to keys 0..start+i.
            mask = torch.ones(t, start + t, dtype=torch.bool).tril(diagonal=start)
        new_cache = []
        for i in range(self.layers):
            p = f"layers.{i}"
            h = self.norm(x, f"{p}.attn_norm")
            q = self.split(self.linear(h, f"{p}.attn.q_proj"))
            k = self.split(self.linear(h, f"{p}.attn.k_proj"))
            v = self.split(self.linear(h, f"{p}.attn.v_proj"))
            if cache is not None:
                k = torch.cat([cache[i][0], k], dim=2)  # [B, H, S, D]
                v = torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            scores = q @ k.transpose(2, 3) / math.sqrt(self.head_size)  # [B, H, T, S]
            if mask is not None:
                scores = scores.masked_fill(~mask, -1e9)
            attended = scores.softmax(-1) @ v  # [B, H, T, D]
            attended = attended.transpose(1, 2).reshape(b, t, self.hidden)
            x = x + self.linear(attended, f"{p}.attn.o_proj")
            h = self.norm(x, f"{p}.mlp_norm")
            x = x + self.linear(F.gelu(self.linear(h, f"{p}.mlp.fc_in")), f"{p}.mlp.fc_out")
        x = self.norm(x[:, -1], "final_norm")
        return x @ self.w["token_embedding.weight"].t(), new_cache

    def generate(self, prompts, new_tokens):
        ids = torch.tensor(prompts, dtype=torch.long)
        logits, cache = self.forward(ids, 0, None)
        length = ids.shape[1]
        tokens = []
        for step in range(new_tokens):
            token = logits.argmax(-1)  # [B]
            tokens.append(token)
            if step + 1 == new_tokens:
                break
            logits, cache = self.forward(token.view(-1, 1), length, cache)
            length += 1
        return torch.stack(tokens, 1).tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint directory with config.json and model.safetensors")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (torch.set_num_threads)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with open(f"{args.checkpoint}/config.json") as f:
        config = json.load(f)
    model = Model(config, read_safetensors(f"{args.checkpoint}/model.safetensors"))
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)

    with torch.inference_mode():
        for line in sys.stdin:
            request = json.loads(line)
            if request.get("logits"):
                logits, _ = model.forward(torch.tensor(request["prompts"], dtype=torch.long), 0, None)
                print(json.dumps({"logits": logits.tolist()}), flush=True)
                continue
            started = time.perf_counter()
            tokens = model.generate(request["prompts"], request["new_tokens"])
            seconds = time.perf_counter() - started
            print(json.dumps({"seconds": seconds, "tokens": tokens}), flush=True)


if __name__ == "__main__":
    main()
