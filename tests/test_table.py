"""Every row of the GenPhys table: dispersion branches, C1/C2/overall verdicts, the density flow."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import yaml

from pdec import compile_pde
from pdec.flow import verify
from pdec.parse import parse
from pdec.pde import k, to_symbol

TABLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "genphys_table.yaml"
if not TABLE.exists():  # the repository's own copy, for clones without shared/
    TABLE = Path(__file__).resolve().parent / "data" / "genphys_table.yaml"
ROWS = yaml.safe_load(TABLE.read_text())
PROBES = [0.3, 1.0, 4.0]


def _numeric_set(exprs, values, kk):
    out = []
    for e in exprs:
        f = sp.lambdify(k, e.subs(values), "numpy")
        out.append(np.broadcast_to(np.asarray(f(kk.astype(complex)), dtype=complex), kk.shape))
    return np.array(out)


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_dispersion_matches_table(row):
    res = compile_pde(row["expr"])
    expected = [parse(s) for s in row["dispersion"]]
    got = list(res.dispersion.omega)
    assert len(got) == len(expected)
    params = sorted(res.pde.params, key=lambda s: s.name)
    kk = np.array([0.1, 0.7, 1.3, 2.9, 11.0])
    for vals in itertools.product(PROBES, repeat=len(params)):
        values = dict(zip(params, vals))
        e_vals = _numeric_set([e.subs({sp.Symbol(p.name, positive=True): p for p in params}) for e in expected],
                              values, kk)
        g_vals = _numeric_set(got, values, kk)
        for col in range(kk.size):  # equal as multisets at every k
            a = sorted(e_vals[:, col], key=lambda z: (round(z.real, 8), round(z.imag, 8)))
            b = sorted(g_vals[:, col], key=lambda z: (round(z.real, 8), round(z.imag, 8)))
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_verdicts_match_table(row):
    res = compile_pde(row["expr"])
    assert res.c1.verdict == row["c1"], res.c1.reason
    assert res.c2.verdict == row["c2"], res.c2.reason
    assert res.verdict == row["s_generative"]


@pytest.mark.parametrize("row", [r for r in ROWS if r["c1"] != "no"], ids=lambda r: r["name"])
def test_flow_identity_and_density(row):
    """s L[phi] = dp/dt + div(p v) - R holds symbolically, and p equals the table's p up to its sign."""
    res = compile_pde(row["expr"])
    assert res.flow is not None
    assert verify(res.pde, res.flow)
    table_p = to_symbol(parse(row["p"].split("(")[0].strip() if "  (" in row["p"] else row["p"]))
    ours = to_symbol(res.flow.p)
    assert sp.simplify(ours - table_p) == 0 or sp.simplify(ours + table_p) == 0
    if "R" in row:
        table_R = to_symbol(parse(row["R"])) if row["R"] != "0" else 0
        ours_R = to_symbol(res.flow.R) if res.flow.R != 0 else 0
        assert sp.simplify(ours_R - table_R) == 0, (res.flow.R, row["R"])


def test_flow_sign_gives_unit_mass_for_dissipative_wave():
    """The table's note: p = phi_t + 2 eps phi is the sign with mass +1."""
    res = compile_pde("phi_tt + 2*eps*phi_t - lap(phi)")
    assert sp.simplify(to_symbol(res.flow.p) - to_symbol(parse("phi_t + 2*eps*phi"))) == 0
    assert res.kernel.mass == 1


def test_helmholtz_band_and_time_bound():
    res = compile_pde("phi_tt + lap(phi) + k0**2*phi")
    k0 = sp.Symbol("k0", positive=True)
    assert res.c2.band == ("0", "k0")
    assert sp.simplify(res.kernel.t_max_bound - sp.pi / (2 * k0)) == 0
    assert sp.simplify(res.kernel.mass - sp.cos(k0 * sp.Symbol("t", positive=True))) == 0
