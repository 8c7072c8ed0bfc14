#!/usr/bin/env python3
"""Self time per operator from a Chrome trace of LibTorch's profiler (mabert bench model --trace).

    python3 scripts/op_profile.py TRACE.json [--top N] [--runs R] [--shapes] [--callers]

An operator's self time is its duration less that of the operators it called (nested events on
the same thread). Forward operators and their autograd backward nodes are listed under their own
names; --runs divides the totals by the number of recorded runs (bench model records 3).
--shapes keys each row by the operator's input sizes and types too, --callers by its caller.
"""
import argparse
import collections
import json
import sys


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
    a = ap.parse_args()
    try:
        data = json.load(open(a.trace))
    except (OSError, ValueError) as err:
        sys.exit(f"{a.trace}: not a readable Chrome trace: {err}")
    events = data["traceEvents"] if isinstance(data, dict) else data
    total, calls = self_times(events, a.shapes, a.callers)
    whole = sum(total.values())
    print(f"{a.trace}: {whole / 1000 / a.runs:.1f} ms of operator time per run ({a.runs} runs)")
    print("| operator | ms per run | share | calls per run |")
    print("|---|---|---|---|")
    for name, us in total.most_common(a.top):
        print(f"| {name} | {us / 1000 / a.runs:.2f} | {100 * us / whole:.1f} % | {calls[name] / a.runs:.0f} |")


if __name__ == "__main__":
    main()
