"""The law registry (pdec.laws), the named steps of derive_kernel, the kernel kinds, the import order."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import sympy as sp
import torch

from pdec import compile_pde, laws
from pdec.dispersion import dispersion
from pdec.kernel import (
    Branches,
    LawChoice,
    NoKernel,
    Normalised,
    PositivityVerdict,
    normalise,
    positivity,
    recognise_law,
    select_branches,
    tabulation,
)
from pdec.parse import parse_pde
from pdec.pde import k
from pdec.runtime import laws as rlaws
from pdec.runtime.kernel import KINDS, Kernel, RadialKernel, ScaleMixtureKernel
from pdec.runtime.radial import Tabulated

PDEC = Path(__file__).resolve().parent.parent / "pdec"


@pytest.mark.parametrize("psi, name, params", [
    (-3 * k**2, "Deterministic", {"a": 3}),
    (-k, "InverseGamma", {"D": 1, "c": 1}),
    (-2 * k ** sp.Rational(3, 2), "Stable", {"alpha": sp.Rational(3, 2), "c": 2}),
    (-(sp.sqrt(k**2 + 4) - 2), "InverseGaussian", {"c": 1, "m": 2}),
])
def test_each_built_in_law_recognises_its_term(psi, name, params):
    rec = laws.recognise(psi)
    assert rec.law.name == name and dict(rec.law.params) == params and not rec.signed
    # the law's own closed form is exp(t psi): its Fourier kernel at t = 1, k = 0.7
    q = laws.get(name).fourier(dict(rec.law.params))
    assert abs(complex(q.subs({sp.Symbol("t", positive=True): 1}).subs(k, 0.7).evalf())
               - complex(sp.exp(psi.subs(k, 0.7)).evalf())) < 1e-12


def test_refusals_are_typed_not_text():
    signed = laws.recognise(-k**4)
    assert signed.law is None and signed.signed and "not positive definite" in signed.reason
    grows = laws.recognise(k**2)
    assert grows.law is None and not grows.signed and "grows with k" in grows.reason
    osc = laws.recognise(-(sp.sqrt(k**2 - 1)))
    assert osc.law is None and not osc.signed and "oscillates" in osc.reason
    assert laws.recognise(sp.Integer(-2)).reason == "the kernel does not depend on k"
    assert "not of a known law's form" in laws.recognise(-sp.log(1 + k**2)).reason


def test_sum_and_augmented_and_printing():
    rec = laws.recognise(-k**2 - k)
    assert rec.law.name == "Sum" and [c.name for c in rec.law.components] == ["InverseGamma", "Deterministic"]
    assert str(rec.law) == "InverseGamma(D=1, c=1) + Deterministic(a=1)"  # in SymPy's order of the terms
    assert rec.law.to_source() == "Sum(InverseGamma(D=1.0, c=1.0), Deterministic(a=1.0))"
    code = rec.law.code(rec.law.build())
    assert code.imports == (("laws", "Deterministic"), ("laws", "InverseGamma"), ("laws", "Sum")) and not code.files
    assert laws.recognise_augmented(sp.Integer(1), sp.S.Zero, 8) == laws.get("InverseGamma").spec(8, 1)
    assert laws.recognise_augmented(sp.Integer(1), sp.Integer(2), 8).name == "GIG"


def test_register_rejects_what_is_not_a_law():
    with pytest.raises(TypeError):
        laws.register(int)

    class Nameless(laws.Law):
        pass

    with pytest.raises(TypeError):
        laws.register(Nameless)
    with pytest.raises(LookupError, match="no law named"):
        laws.get("Nope")


def _steps(text: str, dim=None):
    pde = parse_pde(text)
    disp = dispersion(pde)
    br = select_branches(pde, disp)
    nm = normalise(pde, disp, br)
    lc = recognise_law(disp, br, nm, None)
    pv = positivity(pde, br, nm, lc, dim)
    return pde, disp, br, nm, lc, pv


def test_steps_have_typed_results():
    _, _, br, nm, lc, pv = _steps("phi_tt + lap(phi) - m**2*phi")
    assert isinstance(br, Branches) and br.regime == "elliptic" and len(br.kept) == 1
    assert isinstance(nm, Normalised) and nm.psi is not None and not nm.standing_wave and nm.t_max is None
    assert isinstance(lc, LawChoice) and lc.recognition.law.name == "InverseGaussian"
    assert pv == PositivityVerdict(True)
    # Helmholtz: a standing wave, the mass cos(k0 t) vanishes at pi/(2 k0); no exact law; tabulated in N = 2
    _, disp, br, nm, lc, pv = _steps("phi_tt + lap(phi) + k0**2*phi", dim=2)
    assert nm.standing_wave and sp.simplify(nm.t_max - sp.pi / (2 * sp.Symbol("k0", positive=True))) == 0
    assert lc.recognition.law is None and pv.positive is None
    assert tabulation(disp, br, nm, pv, 2) is None  # k0 is symbolic: nothing to tabulate
    # the dissipative wave: hyperbolic, two branches, a wavefront that fades after t_min
    pde, disp, br, nm, lc, pv = _steps("phi_tt + 8*phi_t - lap(phi)", dim=2)
    assert br.regime == "hyperbolic" and nm.psi is None and pv.t_min is not None
    assert tabulation(disp, br, nm, pv, 2).name == "Tabulated"
    assert tabulation(disp, br, nm, pv, 9) is None  # above MAX_TABLE_DIM
    with pytest.raises(NoKernel, match="complex coefficients"):
        pde = parse_pde("I*phi_t + lap(phi)")
        select_branches(pde, dispersion(pde))


def test_kernel_kinds_are_types():
    assert set(KINDS) >= {"scale_mixture", "radial"}
    assert type(Kernel(rlaws.Deterministic(1.0))) is ScaleMixtureKernel
    tab = compile_pde("phi_tt + 2*eps*phi_t - lap(phi)", params={"eps": 4}, dim=2).kernel.law
    assert tab.name == "Tabulated"
    kern = Kernel(tab.build())
    assert isinstance(kern.law, Tabulated) and type(kern) is RadialKernel and isinstance(kern, Kernel)
    g = torch.Generator().manual_seed(0)
    x, u = kern.perturb(torch.zeros(512, 2, dtype=torch.float64), torch.full((512,), 4.0), generator=g)
    S = kern.sample_scale(torch.full((512,), 4.0, dtype=torch.float64), generator=torch.Generator().manual_seed(0))
    # radial: x - y = rho xi/|xi| with S = rho^2 (the same draws), inside the (mollified) wavefront |x - y| <~ c t = 4;
    # the prior's error uses E[rho^2] / N
    rho = torch.linalg.vector_norm(x, dim=1)
    assert torch.allclose(rho**2, S, rtol=1e-12) and float(rho.max()) <= 4.0 * 1.1 and torch.isfinite(u).all()
    assert kern.prior_scale_error(2.0, S) == pytest.approx(2.0 / float(S.mean()))
    mix = Kernel(rlaws.InverseGamma(4.0))
    S = mix.sample_scale(torch.full((1000,), 1.0, dtype=torch.float64), generator=g)
    assert mix.prior_scale_error(2.0, S) == pytest.approx(float((1 / S).mean()))
    assert mix.median_ratio == 1.0 and kern.median_ratio == pytest.approx(2 * math.log(2), rel=1e-12)  # chi^2_2

    class Odd(rlaws.Deterministic):
        kernel_kind = "no such kind"

    with pytest.raises(ValueError, match="unknown kernel kind"):
        Kernel(Odd(1.0))


def _imports(module: str) -> set[str]:
    tree = ast.parse((PDEC / f"{module}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            out |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
    return out


def test_import_order_follows_the_pipeline():
    """The kernel stage imports neither the tabulation nor the Green stage; the numeric transform is one
    module (radial_transform) that imports no other pdec module."""
    assert not {"green", "tabulate"} & _imports("kernel")
    assert "radial_transform" in _imports("kernel") and "radial_transform" in _imports("tabulate")
    assert _imports("radial_transform") == set()
    assert "green" not in _imports("laws/base") | _imports("laws/power") | _imports("laws/screened")


def test_a_given_table_prints_as_a_table_and_a_law_as_its_call():
    import json

    import numpy as np

    from pdec.tabulate import radial_table

    table = Tabulated.from_dict(radial_table(lambda kk, tt: np.exp(-kk**2 * tt), 2, np.geomspace(0.01, 1.0, 4),
                                             n_u=17, check="none"))
    code = laws.get("Deterministic").spec(1).code(table)
    assert code.table and code.imports == (("radial", "Tabulated"),) and code.files[0][0] == "law_table.json"
    assert json.loads(code.files[0][1]) == json.loads(json.dumps(table.to_dict(), sort_keys=True))
    det = laws.get("Deterministic").spec(sp.Rational(1, 3))
    code = det.code(det.build())
    assert code == laws.LawCode("Deterministic(a=0.3333333333333333)", (("laws", "Deterministic"),))
