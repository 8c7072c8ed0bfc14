#!/usr/bin/env python3
"""The statistics behind docs/results/table3-regimes.md, recomputed from the shipped per-seed CSVs
(no run folders needed): for each padding regime, MAP against [CLS] pooling on SST-2 (Full − PSM
only, and MAP only − None), with Welch's t, the paired t by seed, the sign of each seed pair and a
two-sided sign test over all pairs; how many runs sit exactly at SST-2's majority class.

    python3 scripts/table3_stats.py            # from the repository root; standard library only
"""
import csv
import math
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "results")
REGIMES = {"right": "table3-tiny.csv", "left": "table3-regimes/left.csv", "bidir": "table3-regimes/bidir.csv",
           "centred": "table3-regimes/centred.csv"}
MAJORITY = 444 / 872  # SST-2 dev: 444 positive of 872


def betacf(a, b, x):
    # Continued fraction of the regularised incomplete beta (Numerical Recipes, 6.4).
    qab, qap, qam, c, d = a + b, a + 1, a - 1, 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > 1e-300 else 1e-300)
            c = 1 + aa / c
            c = c if abs(c) > 1e-300 else 1e-300
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def betai(a, b, x):
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    bt = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x))
    return bt * betacf(a, b, x) / a if x < (a + 1) / (a + b + 2) else 1 - bt * betacf(b, a, 1 - x) / b


def t_two_sided(t, df):
    return betai(df / 2, 0.5, df / (df + t * t))


def welch(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    vx = sum((v - mx) ** 2 for v in x) / (len(x) - 1) / len(x)
    vy = sum((v - my) ** 2 for v in y) / (len(y) - 1) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1))
    t = (mx - my) / se
    return mx - my, se, t, df, t_two_sided(t, df)


def paired(x, y):
    d = [a - b for a, b in zip(x, y)]
    m = sum(d) / len(d)
    sd = math.sqrt(sum((v - m) ** 2 for v in d) / (len(d) - 1))
    t = m / (sd / math.sqrt(len(d))) if sd > 0 else math.inf
    return t, len(d) - 1, t_two_sided(t, len(d) - 1) if sd > 0 else 0.0


def sign_test(wins, n):
    # Two-sided exact binomial test of `wins` of `n` against p = 1/2.
    k = max(wins, n - wins)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n)


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
