#!/usr/bin/env python3
"""The Hugging Face peer for `mabert bench model`: BertModel at the small preset's shape, fp32 and
under torch.autocast("cpu", dtype=torch.bfloat16), timed the way our bench times its models.

    .venv/bin/python scripts/hf_peer_bench.py --lengths 512 1024 2048 --threads 2 [--mode train] [--json]

Shape (ModelConfig::preset("small")): width 256, 12 layers, 4 heads, FFN 1024, vocabulary 16,000,
positions up to the longest length, dropout 0, SDPA attention (PyTorch's fused CPU kernel).
- inference: batch 1 (--batch), all tokens valid, under torch.inference_mode().
- train: batch 8, the MLM head on 15 % of the positions (gathered first, as our bench does),
  cross-entropy, backward, AdamW(1e-4) step.
Each length: --warmup untimed calls, then --repeats timed calls with fp32 and bf16 interleaved
(a machine that drifts shifts both alike); the median is reported. Python is for peers only: the
product is C++; this script exists so the table in docs/results/bf16-cpu.md has its baseline.
"""
import argparse
import json
import statistics
import time

import torch
from transformers import BertConfig, BertForMaskedLM


def build(max_len: int) -> BertForMaskedLM:
    cfg = BertConfig(vocab_size=16000, hidden_size=256, num_hidden_layers=12, num_attention_heads=4,
                     intermediate_size=1024, max_position_embeddings=max_len, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
    torch.manual_seed(1)
    return BertForMaskedLM(cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--mode", choices=["inference", "train"], default="inference")
    ap.add_argument("--batch", type=int, default=0, help="default: 1 for inference, 8 for train")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    batch = a.batch or (1 if a.mode == "inference" else 8)
    model = build(max(a.lengths))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4) if a.mode == "train" else None
    model.train(a.mode == "train")
    gen = torch.Generator().manual_seed(7)
    rows = []
    for L in a.lengths:
        ids = torch.randint(5, 16000, (batch, L), generator=gen)
        mask = torch.ones(batch, L, dtype=torch.long)
        pos = torch.randperm(L, generator=gen)[: max(1, L * 15 // 100)]

        def once(bf16: bool) -> None:
            if a.mode == "inference":
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    model.bert(input_ids=ids, attention_mask=mask)
                return
            optim.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                h = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, pos]
                logits = model.cls(h).float()
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 16000), ids[:, pos].reshape(-1))
            loss.backward()
            optim.step()

        times = {False: [], True: []}
        for bf16 in (False, True):
            for _ in range(a.warmup):
                once(bf16)
        for r in range(a.repeats):
            for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                once(bf16)
                times[bf16].append((time.perf_counter() - t0) * 1e3)
        row = {"length": L, "batch": batch, "mode": a.mode, "fp32_ms": statistics.median(times[False]),
               "bf16_ms": statistics.median(times[True])}
        rows.append(row)
        if not a.json:
            print(f"HF BertModel {a.mode} L={L} batch {batch}, {a.threads} threads: fp32 {row['fp32_ms']:.1f} ms, "
                  f"bf16 autocast {row['bf16_ms']:.1f} ms (median of {a.repeats})", flush=True)
    if a.json:
        print(json.dumps({"peer": "transformers.BertModel (sdpa)", "transformers": __import__("transformers").__version__,
                          "torch": torch.__version__, "threads": a.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
