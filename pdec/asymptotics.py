"""Puiseux series of the branches s_j(k) of P(S, k) = 0 at k = 0 and at k = infinity (Newton polygon).

Every root of a polynomial P(S, x) = sum a_ie S^i x^e (x -> 0, real exponents e) is a series
S(x) = c_1 x^g_1 + c_2 x^g_2 + ... with g_1 < g_2 < ...: the first exponent is minus a slope of the
lower convex hull of the points (i, min e of a_i.), c_1 a root of that edge's polynomial; substituting
S = c_1 x^g_1 + S' gives the polynomial of S', and so on (Newton-Puiseux). At k -> infinity the same
is done in x = 1/k. Coefficients are mpmath numbers at ``DPS`` digits, so that a coefficient is zero
when it is below ``ZERO`` relative to the terms that produced it (not below a fixed 1e-12).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import mpmath as mp
import sympy as sp

#: working precision (decimal digits) of the series coefficients
DPS = 40
#: a sum is zero when it is below ZERO times the largest of its contributions
ZERO = mp.mpf(10) ** -25
#: the most terms of one branch's series
MAX_TERMS = 8

Poly2 = dict  # {(i, e): coefficient}: sum coefficient * S^i * x^e


@dataclass(frozen=True)
class Branch:
    """One root S(x) = sum c x^g (x = k at 0, x = 1/k at infinity), ``mult`` roots sharing the terms.

    ``exact``: the series terminates (the remainder is identically zero), so the terms are the whole root.
    """

    terms: tuple[tuple[complex, float], ...]
    mult: int
    exact: bool


def _key(e) -> Fraction:
    """An exponent as an exact fraction (irrational ones, from fraclap(f, beta), approximated)."""
    return e if isinstance(e, Fraction) else Fraction(e).limit_denominator(10**6)


def _hull(points: dict[int, Fraction]) -> list[tuple[int, int]]:
    """The edges (i1, i2) of the lower convex hull of the points (i, v_i), i increasing."""
    pts = sorted(points.items())
    hull: list[tuple[int, float]] = []
    for p in pts:
        while len(hull) >= 2:
            (i1, v1), (i2, v2) = hull[-2], hull[-1]
            # drop hull[-1] if it lies on or above the segment hull[-2] -> p
            if (v2 - v1) * (p[0] - i1) >= (p[1] - v1) * (i2 - i1):
                hull.pop()
            else:
                break
        hull.append(p)
    return [(hull[j][0], hull[j + 1][0]) for j in range(len(hull) - 1)]


def _roots(coeffs: list) -> list[tuple[mp.mpc, int]]:
    """Non-zero roots of sum coeffs[j] w^j with multiplicities (clustered at DPS/3 digits)."""
    cs = list(coeffs)
    while cs and cs[-1] == 0:
        cs.pop()
    lo = 0
    while lo < len(cs) and cs[lo] == 0:
        lo += 1
    cs = cs[lo:]
    if len(cs) <= 1:
        return []
    if len(cs) == 2:
        return [(-cs[0] / cs[1], 1)]
    rts = mp.polyroots(cs[::-1], maxsteps=400, extraprec=4 * DPS, error=False)
    out: list[tuple[mp.mpc, int]] = []
    tol = mp.mpf(10) ** (-DPS // 3)
    for r in rts:
        for j, (c, m) in enumerate(out):
            if abs(r - c) <= tol * max(1, abs(c)):
                out[j] = ((c * m + r) / (m + 1), m + 1)
                break
        else:
            out.append((mp.mpc(r), 1))
    return out


def _shift(Q: Poly2, c, g: Fraction) -> Poly2:
    """Q(c x^g + S', x) as a polynomial in S' and x (cancellations below ZERO dropped)."""
    acc: dict[tuple[int, float], list] = {}
    for (i, e), a in Q.items():
        for m in range(i + 1):
            term = a * mp.binomial(i, m) * c ** (i - m)
            key = (m, e + g * (i - m))
            slot = acc.setdefault(key, [mp.mpc(0), mp.mpf(0)])
            slot[0] += term
            slot[1] = max(slot[1], abs(term))
    return {key: v for key, (v, size) in acc.items() if abs(v) > ZERO * size}


def _enough(terms: tuple, at_infinity: bool) -> bool:
    """Whether the terms so far fix the leading term of Re S - g0 (and one more term, for ``radius``).

    At 0: a real part beyond the constant; at infinity: a real part growing with k, or one beyond the
    constant (a constant real part may cancel against g0)."""
    if len(terms) < 2:
        return False
    real = [float(g) for c, g in terms if abs(c.real) > 1e-13 * abs(c)]
    return any(g > 0 for g in real) or (at_infinity and any(g < 0 for g in real))


def _expand(Q: Poly2, g_min: Fraction | None, mult: int, depth: int, at_infinity: bool = False,
            terms: tuple = ()) -> list[Branch]:
    """The roots S(x) of Q with S = o(x^g_min) (all roots when g_min is None): ``mult`` of them."""
    if depth >= MAX_TERMS or _enough(terms, at_infinity):
        return [Branch((), mult, False)]
    v: dict[int, Fraction] = {}
    for (i, e) in Q:
        v[i] = min(v[i], e) if i in v else e
    out: list[Branch] = []
    if 0 not in v:  # S' = 0 is a root (of multiplicity the lowest power present)
        low = min(v) if v else mult
        out.append(Branch((), min(low, mult), True))
    edges = _hull(v)
    for i1, i2 in edges:
        g = -(v[i2] - v[i1]) / (i2 - i1)
        if g_min is not None and g <= g_min:
            continue
        coeffs = [mp.mpc(0)] * (i2 - i1 + 1)
        for (i, e), a in Q.items():
            if i1 <= i <= i2 and e == v[i1] - g * (i - i1):
                coeffs[i - i1] += a
        for c, m in _roots(coeffs):
            head = ((complex(c), float(g)),)
            for b in _expand(_shift(Q, c, g), g, m, depth + 1, at_infinity, terms + head):
                out.append(Branch(head + b.terms, b.mult, b.exact))
    return out


def _to_poly2(P: sp.Expr, S: sp.Symbol, k: sp.Symbol, at_infinity: bool) -> Poly2:
    """P(S, k) (numeric coefficients) as {(i, e): mpc}, in x = k (or x = 1/k at infinity)."""
    out: Poly2 = {}
    with mp.workdps(DPS):
        for (i,), a in sp.Poly(sp.expand(P), S).terms():
            for term in sp.Add.make_args(sp.expand(a)):
                coeff, kpart = term.as_independent(k, as_Add=False)
                e = 0 if kpart == 1 else (1 if kpart == k else kpart.exp)
                if kpart != 1 and kpart != k and not (kpart.is_Pow and kpart.base == k):
                    raise ValueError(f"not a power of k: {kpart}")
                re, im = (sp.N(part, DPS) for part in coeff.as_real_imag())
                e = Fraction(int(e.p), int(e.q)) if isinstance(e, sp.Rational) else _key(float(e))
                key = (int(i), -e if at_infinity else e)
                out[key] = out.get(key, mp.mpc(0)) + mp.mpc(mp.mpf(str(re)), mp.mpf(str(im)))
    return {key: a for key, a in out.items() if a != 0}


def puiseux(P: sp.Expr, S: sp.Symbol, k: sp.Symbol, at_infinity: bool = False) -> list[Branch]:
    """The Puiseux series of the roots S(k) of P(S, k) = 0 (numbers only) at k = 0 or at infinity.

    The exponents of a branch's terms are in x = k at 0 and in x = 1/k at infinity: a term (c, g)
    at infinity is c k^(-g). The multiplicities add up to the degree of P in S.
    """
    Q = _to_poly2(P, S, k, at_infinity)
    degree = max(i for i, _ in Q)
    with mp.workdps(DPS):
        return _expand(Q, None, degree, 0, at_infinity)


def evaluate(b: Branch, kk: float, at_infinity: bool = False) -> complex:
    """The truncated series of a branch at wavenumber kk."""
    x = 1.0 / kk if at_infinity else kk
    return complex(sum(c * x**g for c, g in b.terms))


@dataclass(frozen=True)
class Leading:
    """The leading term a k^p of Re s(k) - g0 on a branch (k -> 0 or k -> infinity).

    ``sign``: -1, +1, 0 (identically zero: the series terminates with no such term), or None
    (not decided within MAX_TERMS terms)."""

    sign: int | None
    a: float = 0.0
    p: float = 0.0

    def text(self) -> str:
        if self.sign is None:
            return "undecided"
        if self.sign == 0:
            return "0"
        return f"{self.a:.4g}" + ("" if abs(self.p) < 1e-12 else f"*k^{_fraction(self.p)}")


def _fraction(p: float) -> str:
    f = Fraction(p).limit_denominator(64)
    return str(f) if f.denominator == 1 else f"({f})"


def leading_real(b: Branch, g0: float, at_infinity: bool, scale: float) -> Leading:
    """The leading term of Re S(k) - g0 on a branch: at 0 the lowest power of k, at infinity the highest.

    A coefficient counts as zero below ZERO (relative) times ``scale`` (the size of the branch's terms)."""
    terms = [(c.real, -g if at_infinity else g) for c, g in b.terms]  # (Re c, power of k)
    terms.append((-g0, 0.0))
    merged: dict[float, float] = {}
    for a, p in terms:
        merged[_key(p)] = merged.get(_key(p), 0.0) + a
    tol = 1e-13 * max(scale, 1e-300)
    order = sorted(merged, reverse=at_infinity)
    last = max(g for _, g in b.terms) if b.terms else 0.0
    last_p = -last if at_infinity else last
    for p in order:
        a = merged[p]
        if abs(a) > tol:
            # beyond the last computed term a truncated series says nothing
            if not b.exact and ((p < last_p) if at_infinity else (p > last_p)):
                return Leading(None)
            return Leading(1 if a > 0 else -1, a, p)
    return Leading(0 if b.exact else None)


def radius(b: Branch) -> float:
    """Where the first terms of the series stop dominating: min_n (|c_n|/|c_n+1|)^(1/(g_n+1 - g_n))."""
    r = float("inf")
    ts = [(abs(c), g) for c, g in b.terms if abs(c) > 0]
    for (a1, g1), (a2, g2) in zip(ts, ts[1:]):
        if g2 > g1 + 1e-9:
            r = min(r, (a1 / a2) ** (1.0 / (g2 - g1)))
    return r
