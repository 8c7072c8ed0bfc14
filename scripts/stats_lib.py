"""Small-sample statistics for the results documents, standard library only: Student's t
distribution (two-sided p and quantiles), Welch's and the paired t test, the exact sign test, a
mean's confidence interval and the minimum detectable effect of a paired design. Shared by
scripts/table3_stats.py and scripts/psm_fair_stats.py.
"""
import math


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


def t_quantile(q, df):
    # The t value with P(T <= t) = q (0.5 < q < 1), by bisection on the two-sided tail.
    lo, hi = 0.0, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - t_two_sided(mid, df) / 2 < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mean_sd(x):
    m = sum(x) / len(x)
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1)) if len(x) > 1 else 0.0
    return m, sd


def mean_ci(x, level=0.95):
    # The mean of x and its two-sided t interval.
    m, sd = mean_sd(x)
    h = t_quantile(1 - (1 - level) / 2, len(x) - 1) * sd / math.sqrt(len(x))
    return m, m - h, m + h


def paired_mde(sd_diff, n, alpha=0.05, power=0.8):
    # The smallest true mean difference a two-sided paired t test on n pairs detects with this
    # power (the usual approximation with t quantiles at n - 1 degrees of freedom).
    df = n - 1
    return (t_quantile(1 - alpha / 2, df) + t_quantile(power, df)) * sd_diff / math.sqrt(n)
