#!/usr/bin/env python3
"""Self time per operator from a Chrome trace of LibTorch's profiler (mabert bench model --trace).

    python3 scripts/op_profile.py TRACE.json [--top N] [--runs R] [--shapes] [--callers] [--groups]

An operator's self time is its duration less that of the operators it called (nested events on
the same thread). Forward operators and their autograd backward nodes are listed under their own
names; --runs divides the totals by the number of recorded runs (bench model records 3).
--shapes keys each row by the operator's input sizes and types too, --callers by its caller;
--groups sums the operators into kinds of work (matrix products, softmax, GELU, ...).
"""
import argparse
import collections
import json
import sys


GROUPS = [  # (kind of work, operator names), first match wins
    ("matrix products", ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm")),
    ("attention in LibTorch's fused kernel (SDPA)", ("aten::_scaled_dot_product_flash_attention_for_cpu",
                                                     "aten::_scaled_dot_product_flash_attention_for_cpu_backward")),
    ("selective scan and conv (fused kernels)", ("CpuScanCore", "ConvSiluCpu", "mabert::selective_scan", "mabert::conv_silu")),
    ("softmax (forward, backward, the loss's)", ("aten::_softmax", "aten::_softmax_backward_data",
                                                  "aten::_log_softmax", "aten::_log_softmax_backward_data")),
    ("GELU (forward, backward)", ("aten::gelu", "aten::gelu_backward")),
    ("LayerNorm (forward, backward)", ("aten::native_layer_norm", "aten::native_layer_norm_backward")),
    ("casts and copies", ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::cat", "aten::stack",
                          "aten::contiguous", "aten::empty_strided", "aten::empty", "aten::empty_like")),
    ("optimizer step", ("aten::_fused_adamw_",)),
    ("adds, multiplies, fills, sums", ("aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::fill_",
                                       "aten::zero_", "aten::sum", "aten::div", "aten::masked_fill")),
]


def group_of(name):
    for g, names in GROUPS:
        if any(name == n or (not n.startswith("aten::") and n in name) for n in names):
            return g
    return "the rest (views, dispatch, autograd bookkeeping, other operators)"


def key_of(e, parent, shapes, callers):
    k = e["name"]
    if shapes:
        a = e.get("args", {})
        k += " " + str(a.get("Input Dims", "")) + " " + str(a.get("Input type", ""))
    if callers:
        k = (parent["name"] if parent else "-") + " > " + k
    return k


def self_times(events, shapes=False, callers=False):
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e and not e["name"].startswith("PyTorch Profiler"):
            by_thread[e.get("tid")].append(e)
    total = collections.Counter()
    calls = collections.Counter()
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [event, time of children]
        def close(upto):
            while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= upto:
                e, child = stack.pop()
                k = key_of(e, stack[-1][0] if stack else None, shapes, callers)
                total[k] += e["dur"] - child
                calls[k] += 1
                if stack:
                    stack[-1][1] += e["dur"]
        for e in evs:
            close(e["ts"])
            stack.append([e, 0.0])
        close(float("inf"))
    return total, calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shapes", action="store_true", help="key by input sizes and types too")
    ap.add_argument("--callers", action="store_true", help="key by the calling operator too")
    ap.add_argument("--groups", action="store_true", help="sum into kinds of work")
    a = ap.parse_args()
    try:
        data = json.load(open(a.trace))
    except (OSError, ValueError) as err:
        sys.exit(f"{a.trace}: not a readable Chrome trace: {err}")
    events = data["traceEvents"] if isinstance(data, dict) else data
    total, calls = self_times(events, a.shapes, a.callers)
    if a.groups:
        grouped, gcalls = collections.Counter(), collections.Counter()
        for name, us in total.items():
            grouped[group_of(name)] += us
            gcalls[group_of(name)] += calls[name]
        total, calls = grouped, gcalls
    whole = sum(total.values())
    print(f"{a.trace}: {whole / 1000 / a.runs:.1f} ms of operator time per run ({a.runs} runs)")
    print("| operator | ms per run | share | calls per run |")
    print("|---|---|---|---|")
    for name, us in total.most_common(a.top):
        print(f"| {name} | {us / 1000 / a.runs:.2f} | {100 * us / whole:.1f} % | {calls[name] / a.runs:.0f} |")


if __name__ == "__main__":
    main()
