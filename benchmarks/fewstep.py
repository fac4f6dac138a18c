"""Few-step sampling: every model's best fixed-step solver from its own library at NFE 3, 5, 8, 11, 35.

Every model of the benchmark (the pdec models of common.PDEC_MODELS, Meta's flow_matching and EDM
through diffusers), trained as in quality.py (the same TrainConfig, so the same cache), is sampled
with every fixed-step solver and grid its own library offers, at exactly each NFE (network calls are
counted on every solve and checked; a solver that cannot hit an NFE exactly has no entry there, nothing
is rounded). The cell of a model at an NFE is its best candidate (lowest mean over the seeds).

Candidates:
- pdec: every pdec.runtime.sampler.SOLVERS entry on two grids, EDM's rho = 7 (`edm`) and choose_grid's
  (`auto`, solvers.py: a 256-draw pilot against a 100-step Heun solve with the trained network).
- flow_matching: ODESolver.sample with each fixed-grid method of its torchdiffeq back end
  (common.FM_METHODS: euler, midpoint, heun2, heun3, rk4, explicit_adams), and each of them followed
  by one last Euler step (`+euler`, as quality.py's Heun), on the uniform grid of [0, 1] (ODESolver's
  step_size grid; the library has no other sampling grid).
- EDM: diffusers' EDMEulerScheduler (Euler through scheduler.step; Heun = EDM's Algorithm 1 on its sigmas)
  and EDMDPMSolverMultistepScheduler (dpmsolver++, solver_order 2 with the midpoint and the heun
  solver_type, solver_order 3; lower_order_final, final sigma 0), on both of its sigma schedules
  (karras = EDM's rho = 7, exponential = log-linear).

Scores: SW2 (256 directions) against the held-out split in the data's units; digits also the classifier
Frechet distance of quality.py (each metric picks its own best candidate).

    python benchmarks/fewstep.py                      # moons + digits, seed 0, 800 steps (quality --quick)
    python benchmarks/fewstep.py --datasets moons,8gaussians,checkerboard,swissroll,digits
    python benchmarks/fewstep.py --smoke --out /tmp/f   # CI: a tiny end-to-end run
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common as C  # noqa: E402
from benchmarks import solvers as S  # noqa: E402
from pdec.runtime import sampler as rs  # noqa: E402

MODELS = tuple(m.name for m in C.PDEC_MODELS) + tuple(m.name for m in C.PEER_MODELS)
NFES = (3, 5, 8, 11, 35)
SMOKE_MODELS = ("diffusion", "flow_matching", "edm")
SMOKE_NFES = (3, 5, 8)
GOALS = {5: 0.9, 11: 0.9, 35: 1.1}  # issue 12: best pdec / best peer at these NFEs
GOAL_SETS = {5: 4, 11: 4, 35: 5}  # ... on at least this many of the 5 data sets


# ------------------------------------------------------------------------------------------ candidates


def candidates(name: str) -> list[tuple[str, str]]:
    """The (solver, grid) pairs of a model's own library."""
    spec = C.BY_NAME[name]
    if spec.family == "pdec":
        return [(s, g) for s in rs.SOLVERS for g in S.GRIDS]
    if name == "flow_matching":
        return [(m, "uniform") for m in C.FM_METHODS] + [(f"{m}+euler", "uniform") for m in C.FM_METHODS
                                                         if m != "euler"]
    if name == "edm":
        return [(s, g) for s in C.EDM_SOLVERS for g in C.EDM_SCHEDULES]
    raise ValueError(name)


def baseline(name: str, nfe: int) -> tuple[str, str] | None:
    """quality.py's solver at an NFE (Euler <= 5, Heun at odd NFE above, EDM's grid / uniform), or None."""
    try:
        _, solver = C.steps_for(nfe)
    except ValueError:
        return None
    if C.BY_NAME[name].family == "pdec":
        return solver, "edm"
    if name == "flow_matching":
        return ("euler" if solver == "euler" else "heun2+euler"), "uniform"
    return solver, "karras"


class _Zero(torch.nn.Module):
    def forward(self, x, c):
        return torch.zeros_like(x)


@functools.cache
def peer_nfe(name: str, solver: str, steps: int) -> int:
    """Network calls of a peer's solve with ``steps`` grid steps, counted through the library's own loop."""
    counter = C._Counting(_Zero())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if name == "edm":
            C._edm_sample(counter, 5.0, 2, 2, steps, solver, g)
        else:
            C._fm_sample(counter, 2, 2, steps, solver, g)
    return counter.calls


def steps_of(name: str, solver: str, nfe: int) -> int | None:
    """The steps at which the solver makes exactly ``nfe`` network calls, or None (that NFE is left blank)."""
    if C.BY_NAME[name].family == "pdec":
        return S.steps_of(nfe, solver)
    for steps in range(1, nfe + 1):
        if peer_nfe(name, solver, steps) == nfe:
            return steps
    return None


@torch.no_grad()
def sample(tr: C.Trained, solver: str, grid: str, nfe: int, n: int, seed: int,
           x_ref: torch.Tensor | None = None) -> tuple[torch.Tensor, int, str]:
    """(samples in normalised units, counted network calls of the solve, the grid's reason).

    ``x_ref``: pdec's pilot reference (solvers.pilot_reference), computed once per model."""
    name = tr.spec.name
    if tr.spec.family == "pdec":
        x, why, calls = S.sample(tr, n, nfe, solver, grid, seed, x_ref=x_ref)
        return x, calls, why
    steps = steps_of(name, solver, nfe)
    g = torch.Generator().manual_seed(10_000 + seed)
    counter = C._Counting(tr.backbone)
    if name == "edm":
        x = C._edm_sample(counter, tr.sigma_max, n, tr.data.dim, steps, solver, g, grid)
    else:
        x = C._fm_sample(counter, n, tr.data.dim, steps, solver, g)
    if counter.calls != nfe:
        raise AssertionError(f"{name} {solver}: {counter.calls} network calls for NFE {nfe}")
    return x, counter.calls, f"{steps} steps"


# ---------------------------------------------------------------------------------------------- run


def _settings(args):
    seeds, steps, n = [0], 800, 2000  # quality.py --quick
    datasets = C.datasets_of(args, default=("moons", "digits"))
    models, nfes = list(MODELS), list(NFES)
    if args.smoke:
        steps, n, models, nfes = 30, 200, list(SMOKE_MODELS), list(SMOKE_NFES)
        datasets = C.unless_chosen(args, datasets, [("moons", None)])
    return C.sampling_settings(args, seeds, steps, n, nfes, models, datasets)


def run(args) -> Path:
    torch.set_num_threads(1)
    seeds, steps, n, nfes, models, datasets = _settings(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.merge:
        return write(out, *_merge([Path(d) for d in args.merge.split(",")]))
    cfg = C.TrainConfig(steps=steps)
    t0 = time.perf_counter()
    res = {"rows": [], "floors": {}, "unavailable": {}, "grid_reasons": {}}
    settings = {"seeds": seeds, "steps": steps, "n": n, "nfes": nfes, "models": models,
                "datasets_asked": [d for d, _ in datasets], "command": C.command()}
    rows, whys = res["rows"], res["grid_reasons"]
    for ds_name, path in datasets:
        ds = C.load_data(ds_name, path)
        scorer = C.Scorer(ds, n_eval=n,
                          classifier_cache=(C.RESULTS / "digits_classifier.npz") if ds.name == "digits" else None)
        res["floors"][ds.name] = {k: C.json_num(v) for k, v in scorer.floor.items() if k in ("sw2", "fd")}
        for name in models:
            spec = C.BY_NAME[name]
            for seed in seeds:
                t1 = time.perf_counter()
                try:
                    tr = C.train(spec, ds, cfg, seed, cache=C.cache_of(args))
                except C.Unavailable as e:
                    res["unavailable"][name] = str(e)
                    print(f"[{ds.name}] {name}: not available: {e}", flush=True)
                    break
                x_ref = S.pilot_reference(tr) if spec.family == "pdec" else None
                for solver, grid in candidates(name):
                    for nfe in nfes:
                        if steps_of(name, solver, nfe) is None:
                            continue
                        x, calls, why = sample(tr, solver, grid, nfe, n, seed, x_ref)
                        s = scorer.score(ds.denormalise(x), mmd=False)
                        row = {"dataset": ds.name, "model": name, "family": spec.family, "library": spec.library,
                               "seed": seed, "solver": solver, "grid": grid, "nfe": nfe, "nfe_counted": calls,
                               "sw2": C.json_num(s["sw2"])}
                        if "fd" in s:
                            row["fd"] = C.json_num(s["fd"])
                        rows.append(row)
                        if grid == "auto":
                            whys[f"{ds.name}/{name}/{seed}/{solver}/{nfe}"] = why
                best = summarise(rows, [ds.name], [name], nfes, ["sw2"])
                print(f"[{ds.name}] {name} s{seed} ({time.perf_counter() - t1:.0f} s): " + ", ".join(
                    f"{b['nfe']}: {b['value']:.4f} {b['solver']}/{b['grid']}" for b in best), flush=True)
        settings["wall_s"] = time.perf_counter() - t0
        md = write(out, res, settings)  # after every data set: a partial run keeps what it measured
    return md


def _merge(dirs) -> tuple[dict, dict]:
    """The union of several runs' fewstep.json (parallel processes, one group of data sets each)."""
    res = {"rows": [], "floors": {}, "unavailable": {}, "grid_reasons": {}}
    settings = None
    wall, merged = 0.0, []
    for d in dirs:
        j = json.loads((d / "fewstep.json").read_text())
        res["rows"] += j["rows"]
        for k in ("floors", "unavailable", "grid_reasons"):
            res[k].update(j[k])
        settings = settings or dict(j["settings"])
        for key in ("steps", "n", "nfes"):  # one protocol: a table never mixes training budgets
            if j["settings"][key] != settings[key]:
                raise SystemExit(f"--merge: {d} has {key} = {j['settings'][key]}, the first run {settings[key]}")
        for key in ("datasets_asked", "models", "seeds"):  # runs may add data sets, models or seeds
            settings[key] = list(dict.fromkeys(settings[key] + j["settings"][key]))
        wall += j["settings"]["wall_s"]
        merged.append(j["settings"]["command"])
    settings.update(wall_s=wall, merged=merged, command=C.command())
    return res, settings


def write(out: Path, res: dict, settings: dict) -> Path:
    """fewstep.json and fewstep.md of the rows measured so far."""
    rows, nfes, models = res["rows"], settings["nfes"], settings["models"]
    metrics = metrics_of(rows)
    ds_names = list(dict.fromkeys(r["dataset"] for r in rows))
    settings["datasets"] = ds_names
    model_names = [m for m in models if any(r["model"] == m for r in rows)]
    best = summarise(rows, ds_names, model_names, nfes, metrics)
    ratios = ratio_table(best, ds_names, nfes, metrics)
    base = summarise(rows, ds_names, model_names, nfes, metrics, baseline_only=True)
    base_ratios = ratio_table(base, ds_names, nfes, metrics)
    (out / "fewstep.json").write_text(json.dumps(
        {"settings": settings, "floors": res["floors"], "unavailable": res["unavailable"], "rows": rows,
         "best": best, "ratios": ratios, "baseline_best": base, "baseline_ratios": base_ratios,
         "grid_reasons": res["grid_reasons"]}, indent=1) + "\n")
    md = out / "fewstep.md"
    md.write_text("\n".join(report(rows, best, ratios, base_ratios, res["floors"], res["unavailable"], settings,
                                   settings["wall_s"])) + "\n")
    return md


def metrics_of(rows) -> list[str]:
    return ["sw2"] + (["fd"] if any("fd" in r for r in rows) else [])


def _mean(vals) -> float:
    vals = [v if v is not None else math.nan for v in vals]
    return sum(vals) / len(vals) if vals else math.nan


def summarise(rows, datasets, models, nfes, metrics, baseline_only=False) -> list[dict]:
    """Per data set, model, NFE and metric: the candidate with the lowest mean over the seeds (or quality's)."""
    out = []
    for ds in datasets:
        for model in models:
            sub = [r for r in rows if r["dataset"] == ds and r["model"] == model]
            for metric in metrics:
                if not any(metric in r for r in sub):
                    continue
                for nfe in nfes:
                    cand = {}
                    for r in sub:
                        if r["nfe"] == nfe:
                            cand.setdefault((r["solver"], r["grid"]), []).append(r.get(metric))
                    if baseline_only:
                        b = baseline(model, nfe)
                        cand = {k: v for k, v in cand.items() if k == b}
                    scored = sorted((_mean(v), k) for k, v in cand.items() if math.isfinite(_mean(v)))
                    if not scored:
                        continue
                    v, (solver, grid) = scored[0]
                    out.append({"dataset": ds, "model": model, "family": C.BY_NAME[model].family, "nfe": nfe,
                                "metric": metric, "value": v, "solver": solver, "grid": grid,
                                "candidates": len(cand), "seeds": len(cand[(solver, grid)])})
    return out


def ratio_table(best, datasets, nfes, metrics) -> list[dict]:
    """Per data set, NFE and metric: the best pdec model's value over the best peer's."""
    out = []
    for ds in datasets:
        for metric in metrics:
            for nfe in nfes:
                sub = [b for b in best if b["dataset"] == ds and b["metric"] == metric and b["nfe"] == nfe]
                p = min((b for b in sub if b["family"] == "pdec"), key=lambda b: b["value"], default=None)
                q = min((b for b in sub if b["family"] == "peer"), key=lambda b: b["value"], default=None)
                if p is None or q is None:
                    continue
                out.append({"dataset": ds, "metric": metric, "nfe": nfe, "ratio": p["value"] / q["value"],
                            "pdec": p["model"], "pdec_value": p["value"], "pdec_solver": f"{p['solver']}/{p['grid']}",
                            "peer": q["model"], "peer_value": q["value"], "peer_solver": f"{q['solver']}/{q['grid']}"})
    return out


# -------------------------------------------------------------------------------------------- report


METRIC_NAME = {"sw2": "SW2", "fd": "classifier Frechet distance"}


def _cell(b, digits):
    return "" if b is None else f"{b['value']:.{digits}f} `{b['solver']}/{b['grid']}`"


def report(rows, best, ratios, base_ratios, floors, unavailable, settings, wall) -> list[str]:
    nfes, seeds = settings["nfes"], settings["seeds"]
    ds_names = settings["datasets"]
    lines = C.header("Few-step sampling: each model's best fixed-step solver from its own library", seeds, wall)
    full = len(seeds) >= 3 and settings["steps"] >= 4000 and len(ds_names) >= 5
    lines += [
        f"Protocol{'' if full else ' (reduced)'}: {settings['steps']} training steps, seed(s) "
        f"{', '.join(map(str, seeds))}, data sets {', '.join(ds_names)}, {settings['n']} samples per solve"
        + ("" if full else "; the issue's protocol is 3 seeds, 4000 steps, the 5 data sets (quality.py without "
           "--quick)") + ". Models trained as in quality.py (the same MLP, TrainConfig and cache). A cell is the "
        "model's best candidate at that NFE (lowest value, mean over the seeds) with the winning `solver/grid`; "
        "every solve's network calls are counted and equal the column's NFE; a solver that cannot hit an NFE "
        "exactly is not a candidate there (never rounded). Lower is better.", "",
        "Candidates (each model from its own library):", "",
        "- pdec: " + ", ".join(f"`{k}`" for k in rs.SOLVERS) + " (pdec.runtime.sampler.SOLVERS) x grids `edm` "
        "(EDM's rho = 7) and `auto` (choose_grid: rho of EDM's family, rho = inf log-linear, by the smallest "
        f"error of a {S.PILOT}-draw pilot against a 100-step Heun solve with the trained network). `heun`: odd NFE "
        "only.",
        "- flow_matching (Meta's `flow_matching`, ODESolver): " + ", ".join(f"`{m}`" for m in C.FM_METHODS)
        + " (the fixed-grid methods of its torchdiffeq back end; NFE per step 1, 2, 2, 3, 4, and explicit_adams "
        "1 after an RK4 start), each also with a last Euler step (`+euler`); grid: uniform on [0, 1] "
        "(ODESolver's step_size grid, the only one the library offers). `implicit_adams`/`fixed_adams` are not "
        "candidates: the corrector iterates to a tolerance, so the NFE is not fixed; the adaptive methods "
        "(dopri5, ...) are not fixed-step.",
        "- EDM (`diffusers`): `euler` (EDMEulerScheduler.step), `heun` (EDM's Algorithm 1 on the scheduler's "
        "sigmas; diffusers has no EDM Heun scheduler), EDMDPMSolverMultistepScheduler with algorithm_type "
        "dpmsolver++: `dpmpp_2m` (solver_order 2, midpoint), `dpmpp_2m_heun` (solver_order 2, solver_type heun), "
        "`dpmpp_3m` (solver_order 3); lower_order_final, final_sigmas_type zero; NFE = steps for the multistep "
        "ones. Grids: its sigma_schedule `karras` (rho = 7) and `exponential`. Not candidates: "
        "sde-dpmsolver++ (stochastic); diffusers' UniPC and DEIS schedulers have no EDM (sigma-parametrised) "
        "version.", ""]
    missing = [d for d in settings.get("datasets_asked", ds_names) if d not in ds_names]
    if missing:
        lines += [f"Partial: the run asked for {', '.join(missing)} as well; not measured (yet).", ""]
    if settings.get("merged"):
        lines += ["Merged from: " + "; ".join(f"`{c}`" for c in settings["merged"]) + " (wall time: their sum).", ""]
    for name, why in unavailable.items():
        lines += [f"Not available: {C.BY_NAME[name].label}: {why}.", ""]
    metrics = metrics_of(rows)
    for ds in ds_names:
        fl = floors.get(ds, {})
        lines += [f"## {ds}", ""]
        for metric in [m for m in metrics if m in fl and fl[m] is not None][::-1]:
            digits = 2 if metric == "fd" else 4
            lines += [f"{METRIC_NAME[metric]} (floor, training set against held out: {fl[metric]:.{digits}f}):", "",
                      "| model | " + " | ".join(f"NFE {k}" for k in nfes) + " |", "|---|" + "---|" * len(nfes)]
            for model in dict.fromkeys(b["model"] for b in best if b["dataset"] == ds):
                cells = []
                for nfe in nfes:
                    b = next((b for b in best if (b["dataset"], b["model"], b["metric"], b["nfe"]) ==
                              (ds, model, metric, nfe)), None)
                    cells.append(_cell(b, digits))
                lines.append(f"| {C.BY_NAME[model].label} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["## Summary: best pdec model / best peer", "",
              "Each model with its best solver (the tables above); ratio < 1: a compiled PDE is ahead.", "",
              "| data set | metric | " + " | ".join(f"NFE {k}" for k in nfes) + " |", "|---|---|" + "---|" * len(nfes)]
    lines += _ratio_rows(ratios, ds_names, metrics, nfes, detail=True)
    lines += ["", "The same with quality.py's solvers (Euler at NFE <= 5, Heun above, EDM's rho = 7 grid; flow "
              "matching heun2 + a last Euler step on its uniform grid; NFE 8 has none):", "",
              "| data set | metric | " + " | ".join(f"NFE {k}" for k in nfes) + " |", "|---|---|" + "---|" * len(nfes)]
    lines += _ratio_rows(base_ratios, ds_names, metrics, nfes, detail=False)
    lines += ["", "### Issue 12's goals, as measured", ""]
    lines += goals(ratios, ds_names, full)
    lines += ["", "## Peer candidates (SW2, mean over the seeds; the best per NFE in bold)", ""]
    for ds in ds_names:
        for model in ("flow_matching", "edm"):
            sub = [r for r in rows if r["dataset"] == ds and r["model"] == model]
            if sub:
                lines += [f"### {ds}: {C.BY_NAME[model].label}", ""] + _candidate_table(sub, nfes) + [""]
    lines += ["## pdec: winning solver/grid (SW2), count over data sets, models and NFEs", ""]
    wins = {}
    for b in best:
        if b["family"] == "pdec" and b["metric"] == "sw2":
            wins[(b["solver"], b["grid"])] = wins.get((b["solver"], b["grid"]), 0) + 1
    lines += ["| solver/grid | wins |", "|---|---:|"]
    lines += [f"| {s}/{g} | {w} |" for (s, g), w in sorted(wins.items(), key=lambda kv: -kv[1])]
    lines += ["", "Every candidate's value (pdec included) is in fewstep.json (`rows`), with the reason of each "
              "`auto` grid (`grid_reasons`).", ""]
    return lines


def _ratio_rows(ratios, ds_names, metrics, nfes, detail):
    lines = []
    for ds in ds_names:
        for metric in metrics:
            sub = {r["nfe"]: r for r in ratios if r["dataset"] == ds and r["metric"] == metric}
            if not sub:
                continue
            cells = []
            for nfe in nfes:
                r = sub.get(nfe)
                if r is None:
                    cells.append("")
                elif detail:
                    cells.append(f"{r['ratio']:.2f} ({r['pdec']} `{r['pdec_solver']}` / {r['peer']} "
                                 f"`{r['peer_solver']}`)")
                else:
                    cells.append(f"{r['ratio']:.2f} ({r['pdec']} / {r['peer']})")
            lines.append(f"| {ds} | {METRIC_NAME[metric]} | " + " | ".join(cells) + " |")
    return lines


def goals(ratios, ds_names, full) -> list[str]:
    out = []
    for nfe, bound in GOALS.items():
        sub = [r for r in ratios if r["nfe"] == nfe and r["metric"] == "sw2"]
        if not sub:
            continue
        ok = [r["dataset"] for r in sub if r["ratio"] <= bound]
        bad = [f"{r['dataset']} {r['ratio']:.2f}" for r in sub if r["ratio"] > bound]
        need = GOAL_SETS[nfe]
        misses, allowed = len(sub) - len(ok), 5 - need
        if len(sub) >= 5:
            verdict = "holds" if misses <= allowed else "does not hold"
        elif misses > allowed:
            verdict = f"does not hold ({misses} misses already, {allowed} allowed)"
        else:
            verdict = f"open ({5 - len(sub)} of the 5 sets not run)"
        out.append(f"- SW2 at NFE {nfe}, ratio <= {bound} on >= {need} of 5 sets: {len(ok)} of {len(sub)} run "
                   f"({', '.join(ok) or 'none'}){'; above: ' + ', '.join(bad) if bad else ''}. {verdict}.")
    for nfe, bound in GOALS.items():
        r = next((r for r in ratios if r["nfe"] == nfe and r["metric"] == "fd"), None)
        if r is not None:
            out.append(f"- digits, classifier Frechet distance at NFE {nfe}: ratio {r['ratio']:.2f} "
                       f"({'<=' if r['ratio'] <= bound else '>'} {bound}).")
    if not full:
        out.append("- Measured on the reduced protocol above (the issue asks for 3 seeds, 4000 steps, 5 sets); the "
                   "verdicts are this run's, not the issue's acceptance.")
    return out


def _candidate_table(sub, nfes) -> list[str]:
    lines = ["| solver | grid | " + " | ".join(f"NFE {k}" for k in nfes) + " |", "|---|---|" + "---:|" * len(nfes)]
    keys = list(dict.fromkeys((r["solver"], r["grid"]) for r in sub))
    vals = {(k, nfe): _mean([r["sw2"] for r in sub if (r["solver"], r["grid"]) == k and r["nfe"] == nfe])
            for k in keys for nfe in nfes}
    for k in keys:
        cells = []
        for nfe in nfes:
            v = vals[(k, nfe)]
            col = [vals[(j, nfe)] for j in keys if math.isfinite(vals[(j, nfe)])]
            if not any((r["solver"], r["grid"]) == k and r["nfe"] == nfe for r in sub):
                cells.append("")
            elif not math.isfinite(v):
                cells.append("diverged")
            else:
                cells.append(f"**{v:.4f}**" if v == min(col) else f"{v:.4f}")
        lines.append(f"| {k[0]} | {k[1]} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None):
    ap = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]),
                           "unused: the default already is quality's --quick protocol")
    ap.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--nfe", default=None, help="comma-separated NFEs (default 3,5,8,11,35)")
    ap.add_argument("--n-samples", type=int, default=None, help="samples per solve (default 2000)")
    ap.add_argument("--merge", default=None, help="comma-separated output folders of runs to merge into one report")
    C.set_command(__file__, argv)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
