"""Tabulated: the radial law of a kernel that is positive (to tolerance) but not a Gaussian scale mixture,
tabulated in N <= 8 dimensions by pdec.tabulate and sampled by pdec/runtime/radial.py.

Two operators have one: the dissipative wave S^2 + 2 eps S + c^2 k^2 (hyperbolic, from the time t_min
where its signed wavefront fades below tolerance) and Helmholtz S^2 - k^2 + k0^2 (elliptic, for t below
the zero pi/(2 k0) of its mass). The table is computed when the law is built, restricted to the times
where the clipped negative mass is below 1e-3, and ships with the package as law_table.json.
"""

from __future__ import annotations

import json

import numpy as np
import sympy as sp

from ..errors import NotGenerativeError
from ..pde import S, k
from .base import Law, LawCode, LawSpec, Operator, register

#: the largest dimension in which a radial law is tabulated
MAX_TABLE_DIM = 8
#: t grid density of a radial table (points per decade) and its range in units of the kernel's time scale
TABLE_PER_DECADE = 16


@register
class Tabulated(Law):
    """A radial law rho_t tabulated on a (log t, u) grid (approximate: exact=False)."""

    name = "Tabulated"
    runtime_module = "radial"
    code_from_object = True

    @classmethod
    def from_operator(cls, op: Operator) -> LawSpec | None:
        P, dim = op.P, op.dim
        if dim is None or dim > MAX_TABLE_DIM or P.free_symbols - {S, k}:
            return None
        poly = sp.Poly(P, S)
        if poly.degree() != 2:
            return None
        a2, a1, a0 = (poly.coeff_monomial(S**j) for j in (2, 1, 0))
        a0 = sp.Poly(sp.expand(a0 / a2), k)
        c2, const = a0.coeff_monomial(k**2), a0.coeff_monomial(1)
        if a0.degree() != 2 or a0.coeff_monomial(k) != 0:
            return None
        if op.regime == "hyperbolic" and op.n_kept == 2 and op.t_min is not None and const == 0 and c2 > 0:
            eps = a1 / (2 * a2)
            return LawSpec(cls.name, (("eps", eps), ("c", sp.sqrt(c2)), ("N", sp.Integer(dim))), exact=False)
        if op.regime == "elliptic" and op.t_max is not None and a1 == 0 and c2 == -1 and const > 0:
            return LawSpec(cls.name, (("k0", sp.sqrt(const)), ("N", sp.Integer(dim))), exact=False)
        return None

    @classmethod
    def note(cls, spec: LawSpec) -> str:
        return (f"Sampled through its radial law tabulated in N = {dict(spec.params)['N']} (pdec.tabulate): "
                "approximate, restricted to the times where the clipped negative mass is below 1e-3. ")

    @classmethod
    def build(cls, spec: LawSpec):
        """The tabulated radial law of a dissipative wave or a Helmholtz kernel, cut to the times where its
        clipped negative mass is below tolerance."""
        from .. import tabulate

        p = spec.numbers()
        N = int(p["N"])
        try:
            if "eps" in p:
                eps, c = p["eps"], p["c"]
                # from eps t = 0.05 (N = 1: exact) or eps t = 2 (N >= 2: the wavefront still weighs e^-2 there,
                # the table's own clipped mass then sets where it is usable) to sigma = c sqrt(t/eps) = 20
                t_lo, t_hi = (0.05 if N == 1 else 2.0) / eps, eps * (20.0 / c) ** 2
                n = int(np.ceil(TABLE_PER_DECADE * np.log10(t_hi / t_lo))) + 1
                table = tabulate.dissipative_wave_table(eps, N, np.geomspace(t_lo, t_hi, n), c=c, refine=1e-3,
                                                        max_n_t=2 * n)
            else:
                k0 = p["k0"]
                t_hi = 0.99 * np.pi / (2 * k0)
                table = tabulate.helmholtz_table(k0, N, np.geomspace(1e-4 * t_hi, t_hi, 4 * TABLE_PER_DECADE + 1))
            table = tabulate.restrict(table)
        except ValueError as e:
            raise NotGenerativeError(
                f"no time range where the kernel is a density to within tolerance in N = {N}: {e}") from None
        return cls.runtime().from_dict(table)

    @classmethod
    def code(cls, spec: LawSpec, runtime_law) -> LawCode:
        """The package reads the table from law_table.json (Tabulated.from_dict)."""
        blob = (json.dumps(runtime_law.to_dict(), sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
        return LawCode(source="Tabulated.from_dict(...)", imports=((cls.runtime_module, cls.name),),
                       files=(("law_table.json", blob),), table=True)
