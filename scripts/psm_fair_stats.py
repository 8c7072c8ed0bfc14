#!/usr/bin/env python3
"""The statistics of docs/results/psm-fair.md, recomputed from the files shipped beside it: each
grid's cells.csv (one row per cell: its score served three ways, the pads it trained and was
served with) and the cells' prediction files (docs/results/psm-fair/<grid>/cells/.../
predictions-<serving>.tsv). Standard library only.

    python3 scripts/psm_fair_stats.py                      # print the tables
    python3 scripts/psm_fair_stats.py --check docs/results/psm-fair.md
        # exit 1 unless the document's generated block is exactly what the files give (the test)

The design: in each grid, arm "PSM" (pre+post+state at training and serving) against arm "none",
cells paired by (pretraining seed, fine-tuning seed). For every serving condition — as trained,
batches padded on the other side, unpadded (batch 1) — the paired difference PSM − none with its
95 % t interval, the paired t test, Welch's t, the exact sign test and the standardised effect
d_z; then, within each arm, what serving it another way costs the same weights (as trained minus
unpadded, as trained minus other side), with the number of predictions that change.
"""
import csv
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats_lib import mean_ci, mean_sd, paired, paired_mde, sign_test, welch  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "results", "psm-fair")
GRIDS = ["left-sst2", "bidir-sst2", "left-mqar", "bidir-mqar"]  # docs/results/psm-fair/<grid>/, from resources/grids/psm-fair-<grid>.json
SERVINGS = ["as_trained", "other_side", "unpadded"]
BEGIN, END = "<!-- psm-fair-stats:begin -->", "<!-- psm-fair-stats:end -->"

# Before running (the design's minimum detectable effect): the seed-to-seed SD of SST-2 accuracy
# with MAP pooling at this budget in the earlier grids (docs/results/table3-regimes/{left,bidir}.csv,
# arms "Full" and "MAP only", 3 seeds each), taken as independent arms: sd_diff = sqrt(2) * sd.
PRIOR_SD = {"left": (0.0277 + 0.0283) / 2, "bidir": (0.0108 + 0.0070) / 2}
PAPER_EFFECT = (0.011, 0.015)


def slug(s):
    return re.sub(r"[^A-Za-z0-9]", "-", s)


def arm_and_pretrain(variant):
    m = re.fullmatch(r"(PSM|none)(?: p(\d+))?", variant)
    if not m:
        raise SystemExit(f"unexpected variant name '{variant}' (expected 'PSM' or 'none', optionally ' p<seed>')")
    return m.group(1), int(m.group(2)) if m.group(2) else 0


def read_cells(grid):
    path = os.path.join(ROOT, grid, "cells.csv")
    cells = {}
    with open(path) as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            arm, p = arm_and_pretrain(row["variant"])
            try:
                cell = {"variant": row["variant"], "task": row["task"], "seed": int(row["seed"]), "pretrain": p,
                        "train_pads": float(row["train_pads_per_example"]),
                        **{s: float(row[s]) for s in SERVINGS}, **{s + "_pads": float(row[s + "_pads"]) for s in SERVINGS}}
            except (KeyError, ValueError) as e:
                raise SystemExit(f"{path}:{n}: {e}")
            cells[(arm, p, cell["seed"])] = cell
    return cells


def predictions(grid, cell, serving):
    path = os.path.join(ROOT, grid, "cells", slug(cell["variant"]), cell["task"], f"seed-{cell['seed']}",
                        f"predictions-{serving}.tsv")
    with open(path) as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [tuple(r[1:]) for r in rows[1:]]  # per example: (label,) or (slots, right)


def dz_text(v):
    return f"{v:+.2f}"


def fmt_p(p):
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def clean(text):
    # "-0.0000" (a negative value that rounds to zero) printed as "+0.0000"
    return text.replace("-0.0000", "+0.0000")


def report(out):
    w = out.append
    w("### Design and its minimum detectable effect (computed before the runs)")
    w("")
    w("Paired by seed; two-sided α = 0.05, power 0.8; SST-2's seed SD from the earlier grids at this budget, arms taken as")
    w("independent (sd_diff = √2 · sd); the paper's effect is +0.011…+0.015.")
    w("")
    w("| regime | prior SD per arm | pairs | MDE (accuracy) |")
    w("|---|---|---|---|")
    for regime, sd in PRIOR_SD.items():
        w(f"| {regime}, SST-2 | {sd:.4f} | 8 | {paired_mde(math.sqrt(2) * sd, 8):.3f} |")
    w("")
    for grid in GRIDS:
        if not os.path.exists(os.path.join(ROOT, grid, "cells.csv")):
            w(f"### {grid}: not run yet")
            w("")
            continue
        cells = read_cells(grid)
        keys = sorted({(p, s) for (_, p, s) in cells})
        pairs = [(cells[("PSM", p, s)], cells[("none", p, s)]) for p, s in keys if ("PSM", p, s) in cells and ("none", p, s) in cells]
        w(f"### {grid}: {len(pairs)} seed pairs")
        w("")
        pads = {arm: mean_sd([c["train_pads"] for (a, _, _), c in cells.items() if a == arm])[0] for arm in ("PSM", "none")}
        served_pads = {s: mean_sd([c[s + "_pads"] for c in cells.values()])[0] for s in SERVINGS}
        w(f"Pads per example: {pads['PSM']:.1f} (PSM) and {pads['none']:.1f} (none) in training; served "
          + ", ".join(f"{s.replace('_', ' ')} {served_pads[s]:.1f}" for s in SERVINGS) + ".")
        w("")
        w("| served | PSM mean | none mean | PSM − none [95 % CI] | d_z | paired t (df), p | Welch p | PSM ahead / ties | sign p | observed MDE |")
        w("|---|---|---|---|---|---|---|---|---|---|")
        for s in SERVINGS:
            x, y = [a[s] for a, _ in pairs], [b[s] for _, b in pairs]
            d = [a - b for a, b in zip(x, y)]
            m, lo, hi = mean_ci(d)
            _, sd = mean_sd(d)
            wins, ties = sum(v > 0 for v in d), sum(v == 0 for v in d)
            n = len(d) - ties
            if sd > 0:
                t, df, p = paired(x, y)
                tests = f"{dz_text(m / sd)} | {t:.2f} ({df}), {fmt_p(p)}"
            else:  # every pair differs by the same amount (at a ceiling: by nothing): no t statistic
                tests = f"— | — (every pair {m:+.4f})"
            wp = welch(x, y)[4] if mean_sd(x)[1] + mean_sd(y)[1] > 0 else None
            w(f"| {s.replace('_', ' ')} | {mean_sd(x)[0]:.4f} | {mean_sd(y)[0]:.4f} | {m:+.4f} [{lo:+.4f}, {hi:+.4f}] | {tests} | "
              f"{fmt_p(wp) if wp is not None else '—'} | {wins} of {len(d)} / {ties} | {fmt_p(sign_test(wins, n)) if n else '—'} | "
              f"{paired_mde(sd, len(d)):.4f} |")
        per_p = sorted({p for p, _ in keys})
        if len(per_p) > 1:
            diffs = []
            for pp in per_p:
                dd = [a["as_trained"] - b["as_trained"] for a, b in pairs if a["pretrain"] == pp]
                diffs.append(f"p{pp} {sum(dd) / len(dd):+.4f}")
            w("")
            w("PSM − none as trained, by pretraining seed (mean over its fine-tuning seeds): " + ", ".join(diffs) + ".")
        w("")
        w("| arm | as trained − unpadded [95 % CI] | predictions changed | as trained − other side [95 % CI] | predictions changed |")
        w("|---|---|---|---|---|")
        for arm in ("PSM", "none"):
            row = [arm]
            for other in ("unpadded", "other_side"):
                arm_cells = [c for (a, _, _), c in sorted(cells.items()) if a == arm]
                m, lo, hi = mean_ci([c["as_trained"] - c[other] for c in arm_cells])
                changed = total = 0
                for c in arm_cells:
                    a, b = predictions(grid, c, "as_trained"), predictions(grid, c, other)
                    if len(a) != len(b):
                        raise SystemExit(f"{grid}: {c['variant']} seed {c['seed']}: prediction files of different lengths")
                    changed += sum(u != v for u, v in zip(a, b))
                    total += len(a)
                row += [f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]", f"{changed} of {total}"]
            w("| " + " | ".join(row) + " |")
        w("")
    return out


def main():
    text = clean("\n".join(report([])).rstrip() + "\n")
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        doc = open(sys.argv[2]).read()
        if BEGIN not in doc or END not in doc:
            raise SystemExit(f"{sys.argv[2]}: no generated block ({BEGIN} … {END})")
        block = doc.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"
        if block != text:
            sys.stderr.write(f"{sys.argv[2]}: the generated block differs from what the shipped files give; "
                             f"rerun python3 scripts/psm_fair_stats.py and paste its output\n")
            sys.exit(1)
        print(f"{sys.argv[2]}: every statistic reproduces from docs/results/psm-fair/")
        return
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
