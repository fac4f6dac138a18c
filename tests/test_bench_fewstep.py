"""benchmarks/fewstep.py: exact NFE of every candidate, best-of = min of the candidates, the ratio table, --merge."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts, not installed

from benchmarks import common as C  # noqa: E402
from benchmarks import metrics as M  # noqa: E402

ROW_KEYS = {"dataset", "model", "family", "library", "seed", "solver", "grid", "nfe", "nfe_counted", "sw2"}
BEST_KEYS = {"dataset", "model", "family", "nfe", "metric", "value", "solver", "grid", "candidates", "seeds"}


def _peers():
    pytest.importorskip("diffusers")
    pytest.importorskip("flow_matching")


def _mean(v):
    return sum(v) / len(v)


def test_fewstep_smoke(tmp_path):
    from benchmarks import fewstep as F

    _peers()
    F.main(["--smoke", "--out", str(tmp_path), "--cache", "none"])
    j = json.loads((tmp_path / "fewstep.json").read_text())
    assert {"settings", "floors", "rows", "best", "ratios", "baseline_best", "baseline_ratios",
            "grid_reasons"} <= set(j)
    rows, best = j["rows"], j["best"]
    assert rows and all(ROW_KEYS <= set(r) for r in rows) and all(BEST_KEYS <= set(b) for b in best)
    assert all(r["nfe_counted"] == r["nfe"] for r in rows)  # every solve hit its column's NFE exactly
    assert {r["model"] for r in rows} == set(F.SMOKE_MODELS) and {r["nfe"] for r in rows} == set(F.SMOKE_NFES)
    got = {(r["model"], r["solver"], r["grid"], r["nfe"]) for r in rows}
    # each library's own solvers, on each of its grids, wherever they hit the NFE exactly (and only there)
    assert {(s, g) for m, s, g, _ in got if m == "diffusion"} == set(F.candidates("diffusion"))
    assert {s for m, s, _, _ in got if m == "flow_matching"} >= set(C.FM_METHODS)
    assert {(s, g) for m, s, g, _ in got if m == "edm"} == set(F.candidates("edm"))
    assert ("diffusion", "heun", "edm", 8) not in got and ("diffusion", "heun", "edm", 5) in got
    assert ("edm", "heun", "karras", 8) not in got and ("edm", "dpmpp_3m", "exponential", 8) in got
    assert ("flow_matching", "midpoint", "uniform", 5) not in got and ("flow_matching", "midpoint", "uniform", 8) in got
    assert ("flow_matching", "heun2+euler", "uniform", 5) in got and ("flow_matching", "rk4", "uniform", 8) in got
    assert all(r["sw2"] is not None and r["sw2"] > 0 for r in rows if r["model"] != "flow_matching")
    # the best of a cell is the minimum over that cell's candidates
    for b in best:
        cand = {}
        for r in rows:
            if (r["dataset"], r["model"], r["nfe"]) == (b["dataset"], b["model"], b["nfe"]) and r[b["metric"]]:
                cand.setdefault((r["solver"], r["grid"]), []).append(r[b["metric"]])
        assert b["value"] == min(_mean(v) for v in cand.values())
        assert _mean(cand[(b["solver"], b["grid"])]) == b["value"] and b["candidates"] == len(cand)
    assert {(b["model"], b["nfe"]) for b in best} == {(m, k) for m in F.SMOKE_MODELS for k in F.SMOKE_NFES}
    # the ratio is the best pdec cell over the best peer cell
    assert len(j["ratios"]) == len(F.SMOKE_NFES)
    for q in j["ratios"]:
        cells = [b for b in best if b["nfe"] == q["nfe"] and b["metric"] == q["metric"]]
        p = min(b["value"] for b in cells if b["family"] == "pdec")
        e = min(b["value"] for b in cells if b["family"] == "peer")
        assert q["ratio"] == pytest.approx(p / e, rel=1e-12) and q["pdec"] == "diffusion"
    # quality.py's solvers are one candidate each; NFE 8 has none
    assert {b["nfe"] for b in j["baseline_best"]} == {3, 5} and all(b["candidates"] == 1 for b in j["baseline_best"])
    md = (tmp_path / "fewstep.md").read_text()
    assert "Command: `python benchmarks/fewstep.py --smoke" in md and "| model | NFE 3 | NFE 5 | NFE 8 |" in md
    assert "Issue 12's goals, as measured" in md and "reduced" in md
    # --merge of one run reproduces its tables
    out2 = tmp_path / "merged"
    F.main(["--merge", str(tmp_path), "--out", str(out2)])
    j2 = json.loads((out2 / "fewstep.json").read_text())
    assert j2["best"] == best and j2["ratios"] == j["ratios"] and "Merged from" in (out2 / "fewstep.md").read_text()
    # a second run adds a model (its rows join the tables); one with another training budget is refused
    extra = tmp_path / "extra"
    extra.mkdir()
    j3 = json.loads((tmp_path / "fewstep.json").read_text())
    j3["rows"] = [{**r, "model": "pfgm"} for r in j3["rows"] if r["model"] == "diffusion"]
    j3["settings"]["models"] = ["pfgm"]
    (extra / "fewstep.json").write_text(json.dumps(j3))
    F.main(["--merge", f"{tmp_path},{extra}", "--out", str(out2)])
    j4 = json.loads((out2 / "fewstep.json").read_text())
    assert {b["model"] for b in j4["best"]} == set(F.SMOKE_MODELS) | {"pfgm"}
    assert j4["settings"]["models"][-1] == "pfgm" and "| PFGM (D = 1) |" in (out2 / "fewstep.md").read_text()
    j3["settings"]["steps"] += 1
    (extra / "fewstep.json").write_text(json.dumps(j3))
    with pytest.raises(SystemExit, match="steps"):
        F.main(["--merge", f"{tmp_path},{extra}", "--out", str(out2)])


def test_peer_nfe_is_counted_through_the_libraries():
    from benchmarks import fewstep as F

    _peers()
    fm = "flow_matching"
    assert F.steps_of(fm, "midpoint", 8) == 4 and F.steps_of(fm, "midpoint", 5) is None
    assert F.steps_of(fm, "midpoint+euler", 5) == 3 and F.steps_of(fm, "heun3", 3) == 1
    assert F.steps_of(fm, "rk4", 8) == 2 and F.steps_of(fm, "rk4+euler", 5) == 2 and F.steps_of(fm, "rk4", 5) is None
    adams = [F.peer_nfe(fm, "explicit_adams", k) for k in range(1, 8)]
    assert adams[0] == 4 and all(b - a == 1 for a, b in zip(adams[2:], adams[3:]))  # RK4 start, then 1 per step
    assert [F.steps_of("edm", s, 11) for s in ("euler", "heun", "dpmpp_2m", "dpmpp_3m")] == [11, 6, 11, 11]
    assert F.steps_of("diffusion", "heun", 8) is None and F.steps_of("diffusion", "ipndm", 8) == 8


def test_sliced_w2_to_a_fixed_reference_equals_sliced_w2():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(700, 3))
    f = M.SlicedW2To(ref)
    for shift in (0.0, 0.3):
        a = rng.normal(size=(400, 3)) + shift
        assert f(a) == M.sliced_w2(a, ref)


def test_choose_grid_with_a_precomputed_reference_is_the_same_choice():
    from pdec.runtime import sampler as rs

    def D(x, sigma):  # exact denoiser of N(0, 0.5^2 I) data
        return x * (0.25 / (0.25 + sigma[:, None].to(x.dtype) ** 2))

    x = 5.0 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ref = rs.grid_reference(D, x, rs.SIGMA_MIN, 5.0, ref_steps=40)
    for solver in ("euler", "dpmpp_2m"):
        a, why_a = rs.choose_grid(D, None, x, 4, solver, rs.SIGMA_MIN, 5.0, ref_steps=40)
        b, why_b = rs.choose_grid(D, None, x, 4, solver, rs.SIGMA_MIN, 5.0, ref_steps=40, x_ref=ref)
        assert torch.equal(a, b) and why_a == why_b
        _, why_c = rs.choose_grid(D, None, x, 4, solver, rs.SIGMA_MIN, 5.0, ref_steps=40, x_ref=ref + 1.0)
        assert why_c != why_a  # the given reference is the one used (no silent recompute)
