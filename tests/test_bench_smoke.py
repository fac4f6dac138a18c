"""The benchmark scripts run end to end (--quick --smoke), and train pdec models as the emitted package does."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts, not installed

from benchmarks import common as C  # noqa: E402

ROW_KEYS = {"model", "family", "library", "dataset", "nfe", "seed", "sw2", "mmd"}




def _peers():
    """The peers come with the bench extra (pip install -e ".[bench]")."""
    pytest.importorskip("diffusers")
    pytest.importorskip("flow_matching")


def test_quality_smoke(tmp_path):
    from benchmarks import quality

    _peers()
    quality.main(["--quick", "--smoke", "--out", str(tmp_path), "--cache", "none"])
    rows = json.loads((tmp_path / "quality.json").read_text())
    assert rows and all(ROW_KEYS <= set(r) for r in rows)
    assert {r["family"] for r in rows} == {"pdec", "peer"}
    assert {r["library"] for r in rows} == {"pdec", "diffusers", "flow_matching"}
    assert {r["nfe"] for r in rows} == {5, 11}
    # every model that runs gives finite scores; 30 steps already beat a point mass at the origin
    assert all(r["sw2"] is not None and 0 < r["sw2"] < 1.0 for r in rows)
    md = (tmp_path / "quality.md").read_text()
    assert "Floor (training set vs held out" in md and "Command: `python benchmarks/quality.py" in md
    assert "dissipative wave" in md and "Not available" in md  # reported, with its reason, never faked
    for png in ("quality_moons.png", "quality_nfe.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_robustness_smoke(tmp_path):
    from benchmarks import robustness

    robustness.main(["--quick", "--smoke", "--out", str(tmp_path), "--cache", "none"])
    rows = json.loads((tmp_path / "robustness.json").read_text())
    assert {r["kind"] for r in rows} == {"bits", "alpha"}
    assert {r["D"] for r in rows} == {8, None}
    assert all(r["value"] is not None for r in rows)
    assert (tmp_path / "robustness.png").stat().st_size > 1000


def test_likelihood_smoke(tmp_path):
    """benchmarks/likelihood.py --smoke: the exact-denoiser check row meets the exact log-density, counted NFE."""
    from benchmarks import likelihood

    pytest.importorskip("flow_matching")
    likelihood.main(["--smoke", "--out", str(tmp_path), "--cache", "none"])
    out = json.loads((tmp_path / "likelihood.json").read_text())
    rows, meta = out["rows"], out["meta"]
    assert {r["kind"] for r in rows} == {"exact", "exact_denoiser", "gaussian_fit", "model"}
    check = [r for r in rows if r["kind"] == "exact_denoiser"]
    assert {r["model"] for r in check} >= {"diffusion"} and len(check) >= 3
    for r in check:  # pdec's routine with the exact denoiser against the exact log-density of p_{sigma_min}
        assert abs(r["mean_err_nats_per_dim"]) < 2e-3, r
        if r["sigma_max"] == likelihood.CHECK_SIGMA_MAX and r["steps"] == 64:
            assert r["max_abs_err_nats_per_dim"] < 1e-3, r
    true = next(r for r in rows if r["kind"] == "exact")["bits_per_dim"]
    fit = {r["dataset"]: r["bits_per_dim"] for r in rows if r["kind"] == "gaussian_fit"}
    assert set(fit) == {"gaussian", "moons"} and abs(fit["gaussian"] - true) < 0.01  # the fit of N(0, I) is it
    models = [r for r in rows if r["kind"] == "model"]
    assert {r["routine"] for r in models} == {"pdec", "flow_matching"}
    steps = meta["settings"]["lik_steps"]
    for r in models:  # finite, counted: rk4 = 4 forward calls a step, each with one backward pass per coordinate
        assert math.isfinite(r["bits_per_dim"]) and r["n_nonfinite"] == 0 and r["s_per_1000"] > 0
        assert r["nfe_forward"] == 4 * steps and r["nfe_vjp"] == 4 * steps * r["dim"], r
        if r["routine"] == "pdec":  # the outlier-aware scale's diagnosis: same rows, some solved again
            assert math.isfinite(r["bits_per_dim_plain"]) and 0 <= r["n_inflated"] <= r["n"]
    md = (tmp_path / "likelihood.md").read_text()
    assert "Command: `python benchmarks/likelihood.py" in md and "## Check row" in md and "Gaussian fit" in md


def test_quantise_rounds_to_the_stated_grid():
    import torch

    from benchmarks.robustness import quantise

    torch.manual_seed(0)
    net = torch.nn.Linear(16, 16)
    q = quantise(net, 5)
    for p, pq in zip(net.parameters(), q.parameters()):
        s = p.abs().max() / 15
        k = pq / s
        assert torch.allclose(k, k.round(), atol=1e-4)  # on the grid s * integer
        assert len(torch.unique(k.round())) <= 31  # 2^5 - 1 levels
        assert (pq - p).abs().max() <= s / 2 + 1e-7  # nearest level


def test_speed_smoke(tmp_path):
    from benchmarks import speed

    _peers()
    speed.main(["--quick", "--smoke", "--out", str(tmp_path), "--cache", "none"])
    md = (tmp_path / "speed.md").read_text()
    for part in ("## 1. NFE needed", "## 2. The emitted sampler", "## 3. Kernel sampling", "## 4. `pdec check`"):
        assert part in md
    rows = json.loads((tmp_path / "speed.json").read_text())
    ov = [r for r in rows if r["part"] == "overhead"]
    assert ov and all(r["nfe"] == 35 for r in ov)


def test_benchmark_trains_pdec_models_exactly_as_the_emitted_package(tmp_path):
    """Same data, batches, noise, initial weights, loss and EMA: the EMA weights agree after a few steps."""
    import torch

    pkg = tmp_path / "pkg"
    exe = Path(sys.executable).with_name("pdec")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "pdec.cli"]
    subprocess.run(cli + ["generate", str(ROOT / "examples" / "diffusion.yaml"), "-o", str(pkg)], check=True,
                   capture_output=True)
    ckpt = tmp_path / "ckpt.pt"
    subprocess.run([sys.executable, str(pkg / "train.py"), "--steps", "12", "--batch", "64", "--seed", "3",
                    "--out", str(ckpt), "--quiet", "--device", "cpu"], check=True, capture_output=True)
    emitted = torch.load(ckpt, map_location="cpu", weights_only=True)["ema"]
    tr = C.train(C.BY_NAME["diffusion"], C.load_data("moons"), C.TrainConfig(steps=12, batch=64), seed=3,
                 cache=None)
    ours = tr.backbone.state_dict()
    assert set(ours) == {k.removeprefix("backbone.") for k in emitted if k not in ("q", "anchors", "delta2")}
    assert float(emitted["q"]) == pytest.approx(float(tr.precond().q), rel=1e-6)  # the same outlier threshold
    assert torch.equal(emitted["anchors"], tr.precond().anchors)  # and the same anchor rows
    for k, v in ours.items():
        torch.testing.assert_close(v, emitted["backbone." + k], rtol=1e-5, atol=1e-6)
