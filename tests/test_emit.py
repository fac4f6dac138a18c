"""pdec generate: planning, rendering (determinism, safety, lint), refusals, atomic writes, the CLI, pdec plot."""

from __future__ import annotations

import ast
import json
import keyword
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pdec import emit
from pdec.cli import main as cli
from pdec.config import RESERVED_NAMES, parse_config
from pdec.errors import NotGenerativeError, PdecError

ROOT = Path(__file__).resolve().parent.parent
DIFFUSION = 'pde: "phi_t - lap(phi)"\ndata: {name: moons}\nmodel: {kind: mlp, width: 32, depth: 2}\n'
ALLOWED_IMPORTS = {"torch", "numpy", "tqdm", "matplotlib", "__future__", "argparse", "copy", "dataclasses", "json",
                   "math", "os", "subprocess", "sys", "time", "pathlib", "importlib"}


@pytest.fixture(scope="module")
def diffusion_plan():
    return emit.plan(parse_config(DIFFUSION))


def test_render_is_deterministic_and_compiles(diffusion_plan):
    a = emit.render(diffusion_plan)
    b = emit.render(emit.plan(parse_config(DIFFUSION)))
    assert a == b
    names = set(a)
    pkg = diffusion_plan.name
    assert pkg == "model"  # no name:, no config file, no output folder
    for f in ("README.md", "config.json", "train.py", "sample.py", "pytest.ini"):
        assert f in names
    for f in ("__init__.py", "kernel.py", "sampler.py", "model.py", "train.py", "sample.py", "data.py",
              "tests/__init__.py", "tests/test_package.py", "runtime/laws.py", "runtime/kernel.py",
              "runtime/sampler.py", "runtime/precond.py", "runtime/data.py", "runtime/model.py", "runtime/train.py",
              "runtime/sample.py"):
        assert f"{pkg}/{f}" in names
    assert not any(n.startswith(("runtime/", "tests/")) or n in ("conftest.py", "kernel.py") for n in names)
    for name in ("laws.py", "kernel.py", "sampler.py", "precond.py", "data.py", "model.py", "train.py", "sample.py",
                 "__init__.py"):
        assert a[f"{pkg}/runtime/{name}"] == (ROOT / "pdec" / "runtime" / name).read_bytes()  # verbatim


def test_emitted_code_imports_only_torch_numpy_tqdm(diffusion_plan):
    """Absolute imports: torch, numpy, tqdm and the standard library; the package's own modules only by relative
    imports (a real package: nothing named data, kernel, model at the top level); sys.path is never edited."""
    for name, blob in emit.render(diffusion_plan).items():
        if not name.endswith(".py"):
            continue
        tree = ast.parse(blob)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [] if node.level else [node.module.split(".")[0]]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                assert not (node.value.attr == "path" and isinstance(node.value.value, ast.Name)
                            and node.value.value.id == "sys"), (name, "edits sys.path")
                continue
            else:
                continue
            for m in mods:
                assert m != "pdec" and m in ALLOWED_IMPORTS, (name, m)


def test_baked_numbers_are_full_precision():
    cfg = parse_config('pde: "phi_tt + lap(phi) - m**2*phi"\nparams: {m: 0.1234567890123456}\n'
                       "train: {lr: 0.00012345678901234567}\nsample: {sigma_max: 3.3333333333333335}")
    files = emit.render(emit.plan(cfg))
    kernel = files["model/kernel.py"].decode()
    assert "m=0.1234567890123456" in kernel and "PARAMS = {'m': 0.1234567890123456}" in kernel
    assert f"LR = {0.00012345678901234567!r}" in files["model/train.py"].decode()
    assert "SIGMA_MAX = 3.3333333333333335" in files["model/sampler.py"].decode()


def test_hostile_pde_text_never_reaches_the_output(tmp_path):
    for pde in ('x"); import os; os.system("echo pwned', "__import__('os').system('echo pwned')",
                'phi_t - lap(phi)"""\nimport os', "phi_t - lap(phi) # \nimport os"):
        cfg = parse_config(f"pde: {json.dumps(pde)}")
        with pytest.raises(PdecError) as e:
            emit.generate(cfg, tmp_path / "out")
        assert "\n" not in str(e.value)
        assert not (tmp_path / "out").exists()


def test_doc_safe_strips_code_breakers():
    s = emit.doc_safe('a"""b\\c\'d`e\nf')
    assert not any(ch in s for ch in "\"'`\\\n")


def test_ruff_passes_on_the_emitted_package(tmp_path, diffusion_plan):
    out = emit.write_tree(emit.render(diffusion_plan), tmp_path / "pkg")
    ruff = Path(sys.executable).parent / "ruff"
    res = subprocess.run([str(ruff), "check", "--no-cache", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("pde, fragment", [
    ("phi_tt - lap(phi)", "not generative"),
    ("I*phi_t + lap(phi)", "not generative"),
    ("phi_t + lap(lap(phi))", "signed"),
    ("phi_t + lap(phi)", "not generative"),
])
def test_not_generative_refused_with_reason(pde, fragment, tmp_path):
    with pytest.raises(NotGenerativeError) as e:
        emit.generate(parse_config(f"pde: {json.dumps(pde)}"), tmp_path / "out")
    msg = str(e.value)
    assert fragment in msg and "\n" not in msg
    assert not (tmp_path / "out").exists()


def test_dissipative_wave_is_accepted_with_its_regime_and_an_approximate_table(tmp_path):
    """Conditional and not a scale mixture: a tabulated radial law, with warnings naming the regime."""
    from pdec.config import load_config

    g = emit.generate(load_config(ROOT / "examples" / "wave_dissipative.yaml"), tmp_path / "out")
    assert g.plan.verdict == "conditional" and g.plan.law_table
    assert any("regime" in w and "eps" in w.lower() or "damping" in w for w in g.plan.warnings)
    assert any("approximate" in w for w in g.plan.warnings)
    assert (tmp_path / "out" / g.plan.name / "law_table.json").exists()
    assert g.plan.sigma_min > 0.002  # sampling stops where the table's clipped mass is below tolerance
    text = (ROOT / "examples" / "wave_dissipative.yaml").read_text()
    text = text.replace("seed: 0}", "seed: 0, target: batch_posterior}")
    with pytest.raises(PdecError, match="train.target: batch_posterior needs a Gaussian scale mixture"):
        emit.plan(parse_config(text))


def test_helmholtz_is_refused_where_its_kernel_cannot_forget_the_data(tmp_path):
    """Helmholtz's kernel is signed; to tolerance it is a density only at tiny t: refused, in one line."""
    from pdec.config import load_config

    with pytest.raises(NotGenerativeError) as e:
        emit.generate(load_config(ROOT / "examples" / "helmholtz.yaml"), tmp_path / "out")
    msg = str(e.value)
    assert "\n" not in msg and ("cannot forget the data" in msg or "tolerance" in msg)
    assert not (tmp_path / "out").exists()


def test_unet_needs_images():
    with pytest.raises(PdecError, match="unet needs image data"):
        emit.plan(parse_config('pde: "phi_t - lap(phi)"\nmodel: {kind: unet, channels: 8}'))


def test_sigma_max_rule_for_diffusion_is_the_closed_form(diffusion_plan):
    """Deterministic S = sigma^2: the rule is sigma_max = sqrt(lambda_max / (2 tol)) exactly."""
    import torch

    from pdec.runtime import data as rdata
    from pdec.runtime import sampler as rs

    x_raw = rdata.load_dataset("moons", None, "train")
    mean, scale = rdata.normalisation(x_raw)
    lam = rs.top_eigenvalue(torch.from_numpy(rdata.normalise(x_raw, mean, scale)))
    assert math.isclose(diffusion_plan.sigma_max, math.sqrt(lam / 0.02), rel_tol=1e-5)
    assert "0.01" in diffusion_plan.sigma_max_why
    fixed = emit.plan(parse_config(DIFFUSION + "sample: {sigma_max: 80}"))
    assert fixed.sigma_max == 80.0 and "configuration" in fixed.sigma_max_why


def test_write_tree_refuses_overwrites_and_is_atomic(tmp_path, diffusion_plan, monkeypatch):
    files = emit.render(diffusion_plan)
    out = tmp_path / "pkg"
    emit.write_tree(files, out)
    with pytest.raises(emit.OutputExistsError, match="--force"):
        emit.write_tree(files, out)
    (out / "marker.txt").write_text("old")
    emit.write_tree(files, out, force=True)
    assert not (out / "marker.txt").exists() and (out / "model/kernel.py").read_bytes() == files["model/kernel.py"]
    # --force never replaces a folder pdec did not generate
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(emit.OutputExistsError, match="not a package generated by pdec"):
        emit.write_tree(files, other, force=True)
    assert (other / "thesis.tex").read_text() == "precious"
    # a failure half-way leaves the old package untouched and no temporary folder behind
    calls = {"n": 0}
    real = Path.write_bytes

    def flaky(self, data):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", flaky)
    with pytest.raises(OSError, match="disk full"):
        emit.write_tree(files, out, force=True)
    with pytest.raises(OSError, match="disk full"):
        emit.write_tree(files, tmp_path / "fresh")
    monkeypatch.undo()
    assert (out / "model/kernel.py").read_bytes() == files["model/kernel.py"]
    assert not (tmp_path / "fresh").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "pkg"]


def test_generate_twice_gives_identical_bytes(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(DIFFUSION)
    a = emit.generate(cfg, tmp_path / "a")
    b = emit.generate(cfg, tmp_path / "b")
    for name in a.files:
        assert (a.out / name).read_bytes() == (b.out / name).read_bytes(), name


def test_cli_generate(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(DIFFUSION)
    runner = CliRunner()
    res = runner.invoke(cli, ["generate", str(cfg), "-o", str(tmp_path / "pkg")])
    assert res.exit_code == 0, res.output
    assert "sigma_max" in res.output and "Deterministic" in res.output
    res = runner.invoke(cli, ["generate", str(cfg), "-o", str(tmp_path / "pkg")])
    assert res.exit_code == 2 and "--force" in res.output
    assert runner.invoke(cli, ["generate", str(cfg), "-o", str(tmp_path / "pkg"), "--force"]).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(DIFFUSION + "bogus: 1\n")
    res = runner.invoke(cli, ["generate", str(bad), "-o", str(tmp_path / "pkg2")])
    assert res.exit_code == 2 and "bad.yaml:4: 'bogus': unknown key" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1
    wave = tmp_path / "wave.yaml"
    wave.write_text('pde: "phi_tt - lap(phi)"\n')
    res = runner.invoke(cli, ["generate", str(wave), "-o", str(tmp_path / "pkg3")])
    assert res.exit_code == 2 and "not generative" in res.output and not (tmp_path / "pkg3").exists()


def test_cli_plot(tmp_path):
    runner = CliRunner()
    out = tmp_path / "yukawa.png"
    res = runner.invoke(cli, ["plot", "phi_tt + lap(phi) - m**2*phi", "--param", "m=1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert "C2 fails" not in res.output
    out2 = tmp_path / "helmholtz.png"
    res = runner.invoke(cli, ["plot", "phi_tt + lap(phi) + k0**2*phi", "--param", "k0=1", "-o", str(out2)])
    assert res.exit_code == 0, res.output
    band = res.output.split("C2 fails for k in [")[1].split("]")[0].split(",")
    assert float(band[0]) < 0.01 and abs(float(band[1]) - 1.0) < 0.01  # the band (0, k0)
    res = runner.invoke(cli, ["plot", "phi_t + sin(phi)", "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and not (tmp_path / "x.png").exists()


def test_plot_radial_law_matches_the_gaussian(tmp_path):
    """Diffusion in N = 2: the drawn radial law of |x - y| is Rayleigh, r / (2 t) exp(-r^2 / (4 t))."""
    import numpy as np

    from pdec.cli_generate import plot_pde
    from pdec.compiler import compile_pde

    info = plot_pde(compile_pde("phi_t - lap(phi)", dim=2), str(tmp_path / "d.png"), dim=2, times=[0.5, 2.0])
    assert info["band"] is None and info["times"] == [0.5, 2.0] and info["negative"] > -1e-8
    for t, r, dens in info["curves"]:
        assert np.allclose(dens, r / (2 * t) * np.exp(-r**2 / (4 * t)), atol=1e-6)


def test_conditional_kernel_with_t_max_bound_is_capped(monkeypatch):
    """A conditional kernel valid only for t < t_bound (Helmholtz-like): accepted with a warning naming the
    regime; sigma_max and the training sigmas stay below sigma(t_bound)."""
    import dataclasses

    import sympy as sp

    import pdec.compiler as compiler
    from pdec.criteria import Criterion

    real = compiler.compile_pde

    def fake(*args, **kwargs):
        c = real(*args, **kwargs)
        kern = dataclasses.replace(c.kernel, t_max_bound=sp.Rational(1, 2))
        return dataclasses.replace(c, kernel=kern, verdict="conditional",
                                   c2=Criterion("conditional", "modes 0 < k < 1 do not decay (small k0 regime)"))

    monkeypatch.setattr(compiler, "compile_pde", fake)
    p = emit.plan(parse_config(DIFFUSION))
    assert p.t_max_bound == 0.5 and p.sigma_cap == pytest.approx(1.0)  # sigma(t) = sqrt(2 t)
    assert p.sigma_max == pytest.approx(0.999, rel=1e-5) and "capped" in p.sigma_max_why
    assert any("regime" in w and "small k0" in w for w in p.warnings)
    assert any("t < 0.5" in w for w in p.warnings)
    kernel = emit.render(p)["model/kernel.py"].decode()
    assert "SIGMA_CAP = 1.0" in kernel and "T_MAX_BOUND = 0.5" in kernel
    with pytest.raises(PdecError, match="sample.sigma_max: must be below"):
        emit.plan(parse_config(DIFFUSION + "sample: {sigma_max: 2}"))


def test_long_law_sources_are_laid_out_exactly():
    src = ("Sum(InverseGaussian(c=1.0, m=0.1234567890123456), Deterministic(a=0.1234567890123456), "
           "Stable(alpha=1.5, c=0.30000000000000004), InverseGamma(D=128.0, c=1.0))")
    out = emit.format_law_source(src, width=60)
    assert max(len(line) for line in out.splitlines()) <= 60
    assert ast.dump(ast.parse(out, mode="eval")) == ast.dump(ast.parse(src, mode="eval"))
    assert emit.format_law_source("Deterministic(a=1.0)") == "Deterministic(a=1.0)"
    assert emit._check_law_source(src) == (("laws", "Deterministic"), ("laws", "InverseGamma"),
                                           ("laws", "InverseGaussian"), ("laws", "Stable"), ("laws", "Sum"))
    for bad in ("__import__('os').system('x')", "Deterministic(a=os.environ)", "Deterministic(a='x')",
                "Deterministic.__class__(a=1.0)", "Deterministic(a=1.0) + 1", "Deterministic(**{'a': 1.0})"):
        with pytest.raises(NotGenerativeError):
            emit._check_law_source(bad)


def test_render_refuses_an_incomplete_package(diffusion_plan, tmp_path, monkeypatch):
    """No templates found (a broken install) or a template that renders to nothing: a typed error, no files."""
    import shutil

    complete = emit.render(diffusion_plan)
    assert set(emit.expected_files(diffusion_plan)) == set(complete)
    blank = tmp_path / "blank"
    shutil.copytree(emit.TEMPLATE_DIR, blank)
    (blank / "package" / "model.py.j2").write_text("\n")  # a template that renders to nothing
    assert all(blob for name, blob in complete.items() if not name.endswith("__init__.py"))
    empty = tmp_path / "no-templates"
    empty.mkdir()
    monkeypatch.setattr(emit, "TEMPLATE_DIR", empty)
    with pytest.raises(emit.IncompletePackageError, match="missing .*model/train.py") as e:
        emit.render(diffusion_plan)
    assert isinstance(e.value, PdecError) and "\n" not in str(e.value)
    monkeypatch.setattr(emit, "TEMPLATE_DIR", blank)
    with pytest.raises(emit.IncompletePackageError, match="empty model/model.py"):
        emit.render(diffusion_plan)


def test_the_wheel_ships_every_template_and_runtime_file(tmp_path):
    """A plain (non-editable) build: the wheel holds pdec/templates/<every template> and pdec/runtime/*.py."""
    import shutil
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "pdec", src / "pdec", ignore=ignore)
    shutil.copytree(ROOT / "templates", src / "templates", ignore=ignore)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                          "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = (tmp_path / "dist").glob("pdec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for t in emit.template_names():
        assert f"pdec/templates/{t}" in names, t
    for r in emit.runtime_files():
        assert f"pdec/runtime/{r}" in names, r
    assert not any(n.startswith("templates/") for n in names)  # inside the package, not a top-level folder


def test_package_names_are_identifiers_that_shadow_nothing():
    cfg = parse_config(DIFFUSION)
    assert emit.package_name(cfg, "examples/yukawa.yaml", "out/x") == "yukawa"  # the config file first
    assert emit.package_name(cfg, "<config>", "out/My-Model 2") == "my_model_2"  # then the output folder
    assert emit.package_name(cfg, "<config>", "out/2d") == "m_2d"
    assert emit.package_name(cfg, "<config>", "out/json") == "json_model"  # would shadow the standard library
    assert emit.package_name(cfg, "<config>", "out/torch") == "torch_model"
    assert emit.package_name(cfg, "<config>", "out/---") == "___"
    assert emit.package_name(cfg) == "model"
    named = parse_config(DIFFUSION + "name: moons_heat\n")
    assert emit.package_name(named, "examples/yukawa.yaml", "out/x") == "moons_heat"
    for name in ("json", "my-model", "2d", "class", "sys", "x" * 40):
        derived = emit.package_name(cfg, "<config>", f"out/{name}")
        assert derived.isidentifier() and not keyword.iskeyword(derived) and len(derived) <= 32, derived
        assert derived not in RESERVED_NAMES and parse_config(f"pde: x\nname: {derived}").name == derived


def test_the_emitter_takes_every_section_key_from_the_schema(diffusion_plan):
    """Each model/train/sample key of config.SCHEMA reaches the package as a constant of its value."""
    import dataclasses

    from pdec.config import SCHEMA

    cfg = diffusion_plan.config
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, anchored=False),
                              train=dataclasses.replace(cfg.train, steps=1234, batch=77, lr=0.0042, ema=0.98,
                                                             seed=5, target="batch_posterior", sigma_mean=-1.5),
                              sample=dataclasses.replace(cfg.sample, steps=9, solver="euler", grid="auto",
                                                         prior_tol=0.03))
    files = emit.render(dataclasses.replace(diffusion_plan, config=cfg))
    text = "\n".join(blob.decode() for name, blob in files.items() if name.startswith("model/") and
                     name.endswith(".py") and "/runtime/" not in name)
    constants = {"steps": {"train": "STEPS", "sample": "STEPS"}, "batch": "BATCH", "lr": "LR", "ema": "EMA",
                 "seed": "SEED", "solver": "SOLVER", "grid": "GRID", "prior_tol": "PRIOR_TOL", "kind": "KIND",
                 "width": "WIDTH", "depth": "DEPTH", "channels": "CHANNELS", "target": "TARGET",
                 "sigma_mean": "P_MEAN", "anchored": "ANCHORED"}
    for f in SCHEMA:
        # label_dropout: only conditional packages have it (tests/test_conditioning.py)
        if f.section in ("model", "train", "sample") and f.key not in ("sigma_max", "label_dropout"):
            c = constants[f.key]
            c = c[f.section] if isinstance(c, dict) else c
            assert f"{c} = {cfg.value(f)!r}" in text, f.path


def test_a_package_trains_on_the_batch_posterior_target(tmp_path):
    """train.target reaches the package's train.py, which trains on it (a few steps, a finite loss)."""
    text = (ROOT / "examples" / "yukawa.yaml").read_text().replace("seed: 0}", "seed: 0, target: batch_posterior}")
    text = text.replace("width: 256, depth: 4", "width: 16, depth: 2")
    cfg = tmp_path / "y.yaml"
    cfg.write_text(text)
    g = emit.generate(cfg, tmp_path / "out")
    assert "TARGET = 'batch_posterior'" in (g.out / g.plan.name / "train.py").read_text()
    ck = tmp_path / "ck.pt"
    subprocess.run([sys.executable, str(g.out / "train.py"), "--steps", "3", "--batch", "32", "--quiet", "--device",
                    "cpu", "--out", str(ck)], check=True, capture_output=True, timeout=300)
    import torch

    saved = torch.load(ck, weights_only=True)
    assert saved["step"] == 3 and math.isfinite(saved["loss"])
