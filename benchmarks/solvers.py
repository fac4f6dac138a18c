"""Solvers: SW2 of trained pdec models at NFE 3, 5, 8, 11, 35 for every solver of the runtime registry.

For each model (diffusion, PFGM++ D = 128, Yukawa m = 1, mixed diffusion-Poisson a = 1; trained as in
benchmarks/common.py, the same MLP, protocol and cache as quality.py) and each solver of
pdec.runtime.sampler.SOLVERS, samples at each NFE (steps = NFE, Heun: (NFE + 1)/2 steps, odd NFE only)
on two grids: EDM's rho = 7, and the grid choose_grid picks for that model, solver and steps (a pilot
of 256 prior draws against a 100-step Heun solve with the same network). Every solve counts its network
calls against nfe(steps, solver). SW2 (256 directions) against the held-out split, data units.

Sampler overhead: at NFE 35 with a batch of 10000, the time of a solve against the time of the same
number of bare denoiser calls (median of 3), per solver.

    python benchmarks/solvers.py --quick          # moons, 800 steps, seed 0 (minutes on one core)
    python benchmarks/solvers.py                  # the 4 toy sets, 4000 steps, seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common as C  # noqa: E402
from pdec.runtime import sampler as rs  # noqa: E402

MODELS = ("diffusion", "pfgmpp-128", "yukawa", "mixed")
NFES = (3, 5, 8, 11, 35)
GRIDS = ("edm", "auto")
PILOT = 256


def steps_of(nfe: int, solver: str) -> int | None:
    """The steps with nfe(steps, solver) == nfe, or None (Heun at an even NFE)."""
    for steps in range(1, nfe + 1):
        if rs.nfe(steps, solver) == nfe:
            return steps
    return None


class _Counter(torch.nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.calls = 0

    def forward(self, x, c):
        self.calls += 1
        return self.backbone(x, c)


def _prior(tr: C.Trained, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return rs.prior(tr.kernel, n, (tr.data.dim,), tr.t_max, generator=g)


def pilot_reference(tr: C.Trained) -> torch.Tensor:
    """choose_grid's reference solve of the pilot batch (the same for every solver and step count of a model)."""
    D = tr.precond().eval()
    return rs.grid_reference(D, _prior(tr, PILOT, 999), rs.SIGMA_MIN, tr.sigma_max)


@torch.no_grad()
def sample(tr: C.Trained, n: int, nfe: int, solver: str, grid: str, seed: int,
           x_ref: torch.Tensor | None = None) -> tuple[torch.Tensor, str, int]:
    """(samples in normalised units, the grid's reason, the solve's counted network calls == ``nfe``).

    ``x_ref``: pilot_reference(tr), if already computed (grid 'auto' only; the same grid either way).
    """
    steps = steps_of(nfe, solver)
    counter = _Counter(tr.backbone)
    D = tr.precond(counter).eval()
    why = "EDM rho = 7"
    if grid == "edm":
        sigmas = rs.edm_sigmas(steps, rs.SIGMA_MIN, tr.sigma_max)
    else:
        sigmas, why = rs.choose_grid(D, tr.kernel, _prior(tr, PILOT, 999), steps, solver, rs.SIGMA_MIN, tr.sigma_max,
                                     x_ref=x_ref)
        counter.calls = 0
    x = rs.solve(D, _prior(tr, n, 10_000 + seed), sigmas, solver)
    if counter.calls != nfe:
        raise AssertionError(f"{solver}: {counter.calls} network calls for NFE {nfe}")
    return x, why, counter.calls


@torch.no_grad()
def overhead(tr: C.Trained, n: int = 10000, nfe: int = 35, repeats: int = 3) -> dict:
    """{solver: (solve_s, net_s, overhead)}: a solve at ``nfe`` against nfe bare denoiser calls (medians)."""
    D = tr.precond().eval()
    x = _prior(tr, n, 0)
    out = {}
    for solver in rs.SOLVERS:
        steps = steps_of(nfe, solver)
        if steps is None:
            continue
        sigmas = rs.edm_sigmas(steps, rs.SIGMA_MIN, tr.sigma_max)
        sig = torch.full((n,), 0.5, dtype=x.dtype)
        ts, tn = [], []
        for _ in range(repeats):
            a = time.perf_counter()
            rs.solve(D, x, sigmas, solver)
            b = time.perf_counter()
            for _ in range(nfe):
                D(x, sig)
            c = time.perf_counter()
            ts.append(b - a)
            tn.append(c - b)
        s, t = statistics.median(ts), statistics.median(tn)
        out[solver] = (s, t, s / t - 1.0)
    return out


def run(args) -> Path:
    torch.set_num_threads(1)
    seeds, steps, n = [0], 4000, 5000
    datasets = C.datasets_of(args, default=C.TOY_SETS)
    if args.quick:
        steps, n = 800, 2000
        datasets = C.unless_chosen(args, datasets, [("moons", None)])
    if args.smoke:
        steps, n = 30, 300
    if args.steps:
        steps = args.steps
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
    models = args.models.split(",") if args.models else list(MODELS)
    nfes = [int(v) for v in args.nfe.split(",")] if args.nfe else list(NFES)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = C.TrainConfig(steps=steps)
    t0 = time.perf_counter()
    rows, whys, over, floors = [], {}, {}, {}
    for ds_name, path in datasets:
        ds = C.load_data(ds_name, path)
        scorer = C.Scorer(ds, n_eval=n)
        floors[ds.name] = scorer.floor["sw2"]
        for name in models:
            for seed in seeds:
                try:
                    tr = C.train(C.BY_NAME[name], ds, cfg, seed, cache=C.cache_of(args))
                except C.Unavailable as e:
                    print(f"[{ds.name}] {name}: not available: {e}", flush=True)
                    break
                for solver in rs.SOLVERS:
                    for nfe in nfes:
                        if steps_of(nfe, solver) is None:
                            continue
                        for grid in GRIDS:
                            x, why, _ = sample(tr, n, nfe, solver, grid, seed)
                            sw2 = scorer.score(ds.denormalise(x))["sw2"]
                            rows.append({"dataset": ds.name, "model": name, "seed": seed, "solver": solver,
                                         "nfe": nfe, "grid": grid, "sw2": sw2 if math.isfinite(sw2) else None})
                            if grid == "auto":
                                whys[(ds.name, name, solver, nfe)] = why
                    print(f"[{ds.name}] {name} s{seed} {solver}: " + ", ".join(
                        f"{r['nfe']}/{r['grid']} {C.fmt(r['sw2'] if r['sw2'] is not None else math.nan)}"
                        for r in rows if (r["dataset"], r["model"], r["seed"], r["solver"]) ==
                        (ds.name, name, seed, solver)), flush=True)
                if args.overhead and name == models[0] and seed == seeds[0] and ds_name == datasets[0][0]:
                    over = overhead(tr, n=300 if args.smoke else 10000)
    wall = time.perf_counter() - t0
    (out / "solvers.json").write_text(json.dumps({"rows": rows, "floors": floors, "overhead": over,
                                                  "steps": steps, "n": n, "command": C.command()}, indent=1) + "\n")
    md = out / "solvers.md"
    md.write_text("\n".join(report(rows, floors, whys, over, seeds, wall, steps, n, nfes)) + "\n")
    print(md.read_text())
    return md


def _mean(rows, **key) -> float:
    v = [r["sw2"] if r["sw2"] is not None else math.nan for r in rows if all(r[k] == w for k, w in key.items())]
    return sum(v) / len(v) if v else math.nan


def report(rows, floors, whys, over, seeds, wall, steps, n, nfes) -> list[str]:
    lines = C.header("Solvers: SW2 per solver, NFE and grid (pdec.runtime.sampler.SOLVERS)", seeds, wall)
    lines += [f"Models trained as in quality.py ({steps} steps, the same MLP and protocol), {n} samples, SW2 against "
              "the held-out split (data units; lower is better). `edm`: EDM's rho = 7 grid; `auto`: choose_grid's "
              f"grid for that model, solver and steps ({PILOT} pilot prior draws against a 100-step Heun solve). "
              "Heun has odd NFE only (2 steps - 1). Every solve's network calls are counted against "
              "nfe(steps, solver).", ""]
    lines += ["Solvers: " + "; ".join(f"`{k}`: {s.doc}" for k, s in rs.SOLVERS.items()), ""]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        lines += [f"## {ds} (floor: SW2 {floors[ds]:.4f})", ""]
        for model in dict.fromkeys(r["model"] for r in rows if r["dataset"] == ds):
            sub = [r for r in rows if r["dataset"] == ds and r["model"] == model]
            lines += [f"### {C.BY_NAME[model].label}", "",
                      "| solver | grid | " + " | ".join(f"NFE {k}" for k in nfes) + " |",
                      "|---|---|" + "---:|" * len(nfes)]
            best = {}
            for nfe in nfes:
                cand = [(_mean(sub, solver=r["solver"], grid=r["grid"], nfe=nfe), r["solver"], r["grid"])
                        for r in sub if r["nfe"] == nfe]
                cand = [c for c in cand if math.isfinite(c[0])]
                if cand:
                    best[nfe] = min(cand)
            for solver in rs.SOLVERS:
                for grid in GRIDS:
                    cells = []
                    for nfe in nfes:
                        v = _mean(sub, solver=solver, grid=grid, nfe=nfe)
                        if not any(r["solver"] == solver and r["nfe"] == nfe for r in sub):
                            cells.append("")
                        else:
                            txt = C.fmt(v, digits=4)
                            cells.append(f"**{txt}**" if nfe in best and best[nfe][1:] == (solver, grid) else txt)
                    lines.append(f"| {solver} | {grid} | " + " | ".join(cells) + " |")
            lines += ["", "Best per NFE: " + "; ".join(f"NFE {k}: {s} ({g}) {v:.4f}" for k, (v, s, g) in best.items()),
                      ""]
            chosen = [f"{s} NFE {k}: {w.split(':')[0].split(' for ')[0].removeprefix('grid ')}"
                      for (d, m, s, k), w in whys.items() if d == ds and m == model]
            if chosen:
                lines += ["Chosen grids: " + "; ".join(chosen) + ".", ""]
    if over:
        lines += ["## Sampler overhead beyond the network (NFE 35, batch 10000, diffusion model, one thread)", "",
                  "| solver | solve (s) | 35 bare denoiser calls (s) | overhead |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {s:.3f} | {t:.3f} | {o * 100:+.1f} % |" for k, (s, t, o) in over.items()]
        lines += ["", "Median of 3; the overhead is the solver's tensor arithmetic and grid bookkeeping "
                  "(time noise on a shared machine is a few %).", ""]
    return lines


def main(argv=None):
    ap = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), "moons, ~10 minutes")
    ap.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--nfe", default=None, help="comma-separated NFEs (default 3,5,8,11,35)")
    ap.add_argument("--no-overhead", dest="overhead", action="store_false", help="skip the overhead timing")
    C.set_command(__file__, argv)
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
