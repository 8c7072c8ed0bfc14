#!/usr/bin/env python3
"""A PyTorch peer for the recall calibration (docs/results/recall.md): the RECALL-NOTES sketch
(2-layer Pre-LN transformer, width 64, 4 heads, FFN 256, learned positions, AdamW at a constant
1e-3, batch 128) trained on *our generator's* examples, read from `mabert sample --json`, with or
without an explicit previous-token shift. It checks the data, not our model: with the shift the
task is learnable in a few hundred steps; without it, the plateau our schedules also sit on.

    mabert sample --task mqar --length 16 --pairs 2 --task-vocab 8 --count 10000 --seed 7 --json > tr.json
    mabert sample --task mqar --length 16 --pairs 2 --task-vocab 8 --count 512 --seed 1000003 --json > ev.json
    .venv/bin/python scripts/recall_peer.py tr.json ev.json shift|noshift [steps]
"""
import json
import sys

import torch
import torch.nn as nn


def load(path):
    d = json.load(open(path))
    t = d["task"]
    ids = torch.tensor([e["ids"] for e in d["examples"]])
    # The vocabulary's layout (docs/TASKS.md): 5 specials, the slot, noise, keys, values.
    slot, key0 = 5, 6 + t["noise"]
    value0 = key0 + t["vocab"] // 2
    labels = torch.full_like(ids, -100)
    for b, row in enumerate(ids.tolist()):
        value_of = {row[i]: row[i + 1] for i in range(len(row) - 1) if key0 <= row[i] < value0 and row[i + 1] >= value0}
        for i in range(1, len(row)):
            if row[i] == slot:
                labels[b, i] = value_of[row[i - 1]]
    return ids, labels, 6 + t["noise"] + t["vocab"]


class Peer(nn.Module):
    def __init__(self, vocab, length, shift, d=64):
        super().__init__()
        self.shift = shift
        self.tok, self.pos, self.prev = nn.Embedding(vocab, d), nn.Embedding(length, d), nn.Linear(d, d)
        layer = nn.TransformerEncoderLayer(d, 4, 256, 0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.out = nn.Linear(d, vocab)

    def forward(self, x):
        e = self.tok(x) + self.pos(torch.arange(x.shape[1]))
        if self.shift:  # each position also sees a linear map of the previous token's embedding
            e = e + self.prev(nn.functional.pad(self.tok(x), (0, 0, 1, 0))[:, :-1])
        return self.out(self.enc(e))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    (tr, trl, vocab), (ev, evl, _) = load(sys.argv[1]), load(sys.argv[2])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    m = Peer(vocab, tr.shape[1], sys.argv[3] == "shift")
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    for step in range(1, steps + 1):
        i = torch.randint(0, tr.shape[0], (128,))
        loss = nn.functional.cross_entropy(m(tr[i]).reshape(-1, vocab), trl[i].reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0:
            with torch.no_grad():
                p, on = m(ev).argmax(-1), evl != -100
                print(f"step {step} loss {loss.item():.4f} accuracy {(p[on] == evl[on]).float().mean().item():.4f}", flush=True)


if __name__ == "__main__":
    main()
