#!/usr/bin/env python3
"""The statistics behind docs/results/table3-regimes.md, recomputed from the shipped per-seed CSVs
(no run folders needed): for each padding regime, MAP against [CLS] pooling on SST-2 (Full − PSM
only, and MAP only − None), with Welch's t, the paired t by seed, the sign of each seed pair and a
two-sided sign test over all pairs; how many runs sit exactly at SST-2's majority class.

    python3 scripts/table3_stats.py            # from the repository root; standard library only
"""
import csv
import os

from stats_lib import paired, sign_test, welch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "results")
REGIMES = {"right": "table3-tiny.csv", "left": "table3-regimes/left.csv", "bidir": "table3-regimes/bidir.csv",
           "centred": "table3-regimes/centred.csv"}
MAJORITY = 444 / 872  # SST-2 dev: 444 positive of 872


def main():
    pairs_all, wins_all, at_majority = 0, 0, {"MAP": [0, 0], "[CLS]": [0, 0]}
    print("| regime | comparison | MAP − [CLS] | SE | Welch t (df) | Welch p | paired t (df) | paired p | seed pairs MAP ahead |")
    print("|---|---|---|---|---|---|---|---|---|")
    for regime, path in REGIMES.items():
        scores = {}
        with open(os.path.join(ROOT, path)) as f:
            for row in csv.DictReader(f):
                if row["task"] == "SST-2":
                    scores[row["variant"]] = [float(v) for v in row["scores"].split()]
        for v, s in scores.items():
            kind = "MAP" if v in ("Full", "MAP only") else "[CLS]"
            at_majority[kind][0] += sum(abs(x - MAJORITY) < 1e-6 for x in s)
            at_majority[kind][1] += len(s)
        for a, b in (("Full", "PSM only"), ("MAP only", "None")):
            diff, se, t, df, p = welch(scores[a], scores[b])
            pt, pdf, pp = paired(scores[a], scores[b])
            wins = sum(x > y for x, y in zip(scores[a], scores[b]))
            if a == "Full":  # one comparison per regime counts in the pooled sign test: the pairs are distinct runs
                pairs_all += len(scores[a])
                wins_all += wins
            print(f"| {regime} | {a} − {b} | {diff:+.4f} | {se:.4f} | {t:.2f} ({df:.1f}) | {p:.3f} | {pt:.2f} ({pdf}) | {pp:.3f} | {wins} of {len(scores[a])} |")
    print()
    print(f"Sign test over every regime's Full − PSM only seed pairs: MAP ahead in {wins_all} of {pairs_all}, "
          f"two-sided p = {sign_test(wins_all, pairs_all):.5f}")
    for kind, (k, n) in at_majority.items():
        print(f"{kind} runs exactly at SST-2's majority class ({MAJORITY:.6f}): {k} of {n}")


if __name__ == "__main__":
    main()
