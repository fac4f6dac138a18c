"""Numbers in reasons and regimes: a decimal (4 significant digits) beside the exact form.

``t >= 82.89 (= 36*log(10))``, ``t < 1.571/k0 (= pi/(2*k0))``; an exact form that is already a short
decimal (2, 1/2, k0) is printed alone.
"""

from __future__ import annotations

import sympy as sp

#: significant digits of the decimal form
DIGITS = 4


def _log_power(n: sp.Integer) -> sp.Expr:
    """log(n) as m*log(b) when n = b**m (log(10**36) -> 36*log(10)); log(n) otherwise."""
    if n <= 1 or n.p.bit_length() > 256:
        return sp.log(n, evaluate=False)
    f = sp.factorint(int(n))
    m = int(sp.igcd(*f.values()))
    if m <= 1:
        return sp.log(n)
    base = sp.Mul(*[sp.Integer(p) ** (e // m) for p, e in f.items()])
    return m * sp.log(base)


def tidy(e: sp.Expr) -> sp.Expr:
    """The exact form, with logs of perfect powers written as multiples (log(10**18) = 18*log(10))."""
    e = sp.sympify(e)
    return e.replace(lambda a: isinstance(a, sp.log) and a.args[0].is_Integer, lambda a: _log_power(a.args[0]))


def decimal(e: sp.Expr) -> str:
    """e with every number as a decimal of DIGITS significant digits (parameters kept)."""
    e = sp.sympify(e)
    if e.is_number:
        v = complex(e)
        return f"{v.real:.{DIGITS}g}" if abs(v.imag) <= 1e-12 * max(1.0, abs(v)) else f"{v:.{DIGITS}g}"
    return sp.sstr(sp.N(e, DIGITS), full_prec=False)


def exact_and_decimal(e: sp.Expr) -> str:
    """``decimal (= exact)``, or the exact form alone when it is as short as a decimal."""
    e = tidy(e)
    exact = sp.sstr(e)
    approx = decimal(e)
    return exact if approx == exact or e.is_Integer or e.is_Symbol else f"{approx} (= {exact})"
