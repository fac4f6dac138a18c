"""A law added from this one file: PointMass, S_t = 2 c t (diffusion written a second way).

Its compile-side class recognises the term -c k^2 of psi with priority over the built-in Deterministic,
its runtime class (below, torch only) is shipped into the emitted package as runtime/point_mass.py, and
the package's own tests pass. The law is registered only inside the ``point_mass`` fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sympy as sp
import torch

from pdec import compile_pde, emit, green, laws
from pdec.config import parse_config
from pdec.laws.base import param_values, power_term
from pdec.pde import k, t
from pdec.runtime.kernel import Kernel, ScaleMixtureKernel
from pdec.runtime.laws import Law as RuntimeLaw


class PointMass(RuntimeLaw):
    """S_t = 2 c t exactly (a point mass): E exp(-lam S_t) = exp(-2 c lam t), the heat kernel exp(-c t k^2)."""

    self_similar = True
    exponent = 1.0

    def __init__(self, c: float):
        if not c > 0:
            raise ValueError(f"PointMass needs c > 0, got {c!r}")
        self.c = float(c)
        self._median1 = 2.0 * self.c

    def _params(self):
        return {"c": self.c}

    def _sample64(self, t, generator):
        return 2.0 * self.c * t

    def _sample_with_rate64(self, t, generator):
        return 2.0 * self.c * t, torch.full_like(t, 2.0 * self.c)

    def _laplace64(self, lam, t):
        return torch.exp(-2.0 * self.c * lam * t)

    def _cdf64(self, s, t):
        return (s >= 2.0 * self.c * t).to(torch.float64)

    def _icdf64(self, u, t):
        u, t = torch.broadcast_tensors(u, t)
        return 2.0 * self.c * t


class PointMassLaw(laws.Law):
    """Compile side: the term -c k^2 of psi (c > 0) is PointMass(c)."""

    name = "PointMass"
    params = ("c",)
    runtime_module = "point_mass"
    runtime_class = PointMass
    runtime_header = "import torch\n\nfrom .laws import Law as RuntimeLaw\n"

    @classmethod
    def from_term(cls, term):
        pt = power_term(term)
        if pt is not None and pt[1] == 2 and pt[0].is_positive:
            return cls.spec(pt[0])
        return None

    @classmethod
    def fourier(cls, params):
        (c,) = param_values(cls.name, params, cls.params)
        return sp.exp(-c * t * k**2)

    @classmethod
    def real(cls, params, N):
        (c,) = param_values(cls.name, params, cls.params)
        return green.green_real("Deterministic", {"a": c}, N)


@pytest.fixture
def point_mass():
    laws.register(PointMassLaw, priority=10)
    try:
        yield PointMassLaw
    finally:
        laws.unregister(PointMassLaw)


def test_registered_law_is_chosen_and_removed(point_mass):
    c = compile_pde("phi_t - 3*lap(phi)")
    assert c.kernel.law == laws.LawSpec("PointMass", (("c", sp.Integer(3)),))
    assert c.verdict == "yes" and "PointMass(c=3)" in c.c1.reason
    # a psi of two terms: PointMass takes the k^2 term, InverseGamma the k term
    two = laws.recognise(-2 * k**2 - k)
    assert sorted(s.name for s in two.law.components) == ["InverseGamma", "PointMass"]
    assert laws.laws()[0] is point_mass and laws.get("PointMass") is point_mass
    with pytest.raises(ValueError, match="already registered"):
        laws.register(PointMassLaw)
    laws.unregister(PointMassLaw)
    assert compile_pde("phi_t - 3*lap(phi)").kernel.law.name == "Deterministic"
    laws.register(PointMassLaw, priority=10)  # for the fixture's unregister


def test_unregistered_state_is_the_built_in_one():
    assert laws.find("PointMass") is None
    assert laws.names()[:5] == ("Deterministic", "Stable", "InverseGamma", "InverseGaussian", "GIG")
    with pytest.raises(KeyError):
        laws.unregister(PointMassLaw)


def test_runtime_and_closed_forms_match_diffusion(point_mass):
    law = compile_pde("phi_t - lap(phi)").kernel.law
    built = law.build()
    assert isinstance(built, PointMass)
    kern = Kernel(built)
    assert isinstance(kern, ScaleMixtureKernel)
    tt = torch.tensor([0.01, 0.3, 2.0, 50.0], dtype=torch.float64)
    assert torch.equal(kern.sample_scale(tt), 2.0 * tt)
    assert torch.allclose(kern.sigma(tt), torch.sqrt(2.0 * tt), rtol=1e-15)
    assert torch.allclose(kern.sigma_inv(kern.sigma(tt)), tt, rtol=1e-12)
    lam = torch.tensor([0.5, 2.0], dtype=torch.float64)
    q = sp.lambdify((k, t), green.green_fourier("PointMass", {"c": 1}))
    assert torch.allclose(built.laplace(lam, 0.7), torch.tensor([q(float(torch.sqrt(2 * x)), 0.7) for x in lam],
                                                                  dtype=torch.float64), rtol=1e-14)
    assert sp.simplify(green.green_real("PointMass", {"c": 1}, 2) - green.green_real("Deterministic", {"a": 1}, 2)) == 0


CONFIG = ('pde: "phi_t - lap(phi)"\ndata: {name: moons}\nmodel: {kind: mlp, width: 32, depth: 2}\n'
          "train: {steps: 20, batch: 64}\nsample: {steps: 4}\n")


def test_emitted_package_ships_the_plug_in_and_passes_its_tests(point_mass, tmp_path):
    g = emit.generate(parse_config(CONFIG), tmp_path / "pkg")
    pkg = g.out / g.plan.name  # the emitted Python package inside the output folder
    files = {p.relative_to(pkg).as_posix(): p.read_text() for p in pkg.rglob("*.py")}
    assert "from .runtime.point_mass import PointMass" in files["kernel.py"]
    assert "LAW = PointMass(c=1.0)" in files["kernel.py"]
    assert "class PointMass(RuntimeLaw):" in files["runtime/point_mass.py"]
    assert "pdec" not in files["runtime/point_mass.py"].split('"""', 2)[2]  # imports torch and its siblings only
    # the same law as diffusion: the same sigma_max from the same Monte-Carlo rule
    laws.unregister(PointMassLaw)
    try:
        base = emit.plan(parse_config(CONFIG))
    finally:
        laws.register(PointMassLaw, priority=10)
    assert base.law_source == "Deterministic(a=1.0)" and g.plan.sigma_max == base.sigma_max
    env = {key: v for key, v in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-I", "-m", "pytest", "-q", "-x", "-rA", "-p", "no:cacheprovider", str(g.out)]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert res.stdout.count("PASSED") >= 8 and "FAILED" not in res.stdout  # the package's own tests ran
