"""The statistics behind the report's verdicts, in the standard library alone (the report runs without torch or scipy).

Student's t distribution for any real degrees of freedom (the Welch–Satterthwaite df is not an integer), its
quantiles at any level (a Holm-adjusted interval needs levels such as 99.6%), Welch's two-sample interval and
Holm's step-down procedure over a block's orderings. docs/method.md says why these and not the pooled t.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta function (modified Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(ln) * _betacf(a, b, x) / a
    return 1.0 - math.exp(ln) * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df > 0 degrees of freedom (df = inf: the normal)."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1.0 - tail


def t_quantile(p: float, df: float) -> float:
    """The p quantile of Student's t with df degrees of freedom, 0.5 ≤ p < 1 (bisection on t_sf: exact to 1e-10)."""
    if not 0.5 <= p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0.5 ≤ p < 1 and df > 0, got p={p}, df={df}")
    lo, hi = 0.0, 1.0
    while t_sf(hi, df) > 1.0 - p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if t_sf(mid, df) > 1.0 - p else (lo, mid)
        if hi - lo < 1e-10 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Difference:
    """A difference over training runs: estimate, standard error, degrees of freedom, two-sided p."""
    diff: float
    se: float
    df: float
    p: float

    def interval(self, alpha: float) -> tuple[float, float]:
        """The two-sided (1 − alpha) interval: diff ± t_{1−alpha/2}(df)·se."""
        half = t_quantile(1.0 - alpha / 2.0, self.df) * self.se
        return self.diff - half, self.diff + half


def _mean_var(x: list[float]) -> tuple[float, float]:
    m = sum(x) / len(x)
    return m, sum((v - m) ** 2 for v in x) / (len(x) - 1)


def welch(a: list[float], b: list[float], *, b_fixed: bool = False, extra_se: float = 0.0,
          extra_df: float = math.inf) -> Difference:
    """mean(a) − mean(b) with Welch's standard error √(s_a²/n_a + s_b²/n_b) and the Welch–Satterthwaite df, which
    takes each side's spread from its own runs (the pooled t borrows one side's spread for the other and, when they
    differ, says "holds" far more often than its level). b_fixed: b is one fixed value (a floor that trains nothing):
    the one-sample t of a about it. extra_se: a standard error added in quadrature that the runs do not show (the
    test images', shared by every run of a side), with extra_df degrees of freedom (images − 1 for a paired
    difference; inf where it is known as well as that); it enters the Satterthwaite df as a third part, so that
    runs that agree closely do not leave a well-measured image term judged on 2 degrees of freedom.
    Each learned side needs at least 2 runs (callers ask for 3)."""
    ma, va = _mean_var(a)
    if b_fixed:
        diff, parts, dfs = ma - b[0], [va / len(a)], [len(a) - 1]
    else:
        mb, vb = _mean_var(b)
        diff, parts, dfs = ma - mb, [va / len(a), vb / len(b)], [len(a) - 1, len(b) - 1]
    parts, dfs = parts + [extra_se ** 2], dfs + [extra_df]
    var = sum(parts)
    se = math.sqrt(var)
    spread = sum(p ** 2 / d for p, d in zip(parts, dfs) if p > 0)
    df = var ** 2 / spread if spread > 0 else float(sum(dfs[:-1]))  # every run alike and no image term: runs' df
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = min(1.0, 2.0 * t_sf(abs(diff) / se, df))
    return Difference(diff, se, df, p)


def holm(ps: list[float], alpha: float = 0.05) -> list[tuple[bool, float]]:
    """Holm's step-down procedure over a family of two-sided p-values: for each, (rejected, the level it was judged
    at). Sorted ascending, the k-th smallest (k = 0, 1, ...) is judged at alpha / (m − k) until one is not rejected;
    it and all after it are judged at that last level and not rejected. The chance of any false rejection in the
    family stays at most alpha, whatever the dependence between the tests."""
    m = len(ps)
    out: list[tuple[bool, float]] = [(False, alpha)] * m
    stopped_at = None
    for k, i in enumerate(sorted(range(m), key=lambda j: ps[j])):
        level = alpha / (m - k) if stopped_at is None else stopped_at
        rejected = stopped_at is None and ps[i] <= level
        if not rejected and stopped_at is None:
            stopped_at = level
        out[i] = (rejected, level)
    return out
