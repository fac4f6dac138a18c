"""Robustness against D: PFGM++'s quantisation experiment in miniature.

PFGM++ (Xu et al. 2023) reports that smaller D degrades less when the trained network is
perturbed (CIFAR-10 FID at 6-bit weights: D = 64 gives 2.94, D -> infinity 5.91). Here pdec's
Poisson models with augment_dim D = 1, 8, 128, 2048 and diffusion (D -> infinity) are trained with
the quality protocol (benchmarks/common.py; the trained models are shared through the cache), then
sampled at NFE 35 (Heun)

- with every parameter tensor quantised to b = 9..5 bits (symmetric, per tensor: w -> s round(w/s),
  s = max|w| / (2^(b-1) - 1)), and
- with alpha * N(0, I) added to the backbone's output F at every call (alpha = 0.1 .. 3),

and scored against held-out data (sliced W2 on toys, the classifier Frechet distance on digits).
Writes robustness.md, robustness.json and robustness.png.

    python benchmarks/robustness.py                  # moons + digits, seeds 0, 1, 2, 4000 steps
    python benchmarks/robustness.py --quick          # moons + digits, seed 0, 800 steps
    python benchmarks/robustness.py --quick --smoke --out /tmp/r
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common as C  # noqa: E402

MODELS = ("pfgm", "pfgmpp-8", "pfgmpp-128", "pfgmpp-2048", "diffusion")
D_OF = {"pfgm": 1, "pfgmpp-8": 8, "pfgmpp-128": 128, "pfgmpp-2048": 2048, "diffusion": math.inf}
BITS = (None, 9, 8, 7, 6, 5)
ALPHAS = (0.1, 0.3, 1.0, 3.0)
NFE = 35


def quantise(backbone: torch.nn.Module, bits: int) -> torch.nn.Module:
    """A copy with every parameter tensor rounded to a symmetric uniform grid of 2^bits - 1 levels."""
    q = copy.deepcopy(backbone)
    levels = 2 ** (bits - 1) - 1
    with torch.no_grad():
        for p in q.parameters():
            s = p.abs().max() / levels
            if s > 0:
                p.copy_(torch.round(p / s).clamp(-levels, levels) * s)
    return q


def run(args) -> Path:
    seeds, steps, n = [0, 1, 2], 4000, 5000
    datasets = C.datasets_of(args, default=("moons", "digits"))
    models, bits, alphas, nfe = list(MODELS), list(BITS), list(ALPHAS), NFE
    if args.quick:
        seeds, steps, n = [0], 800, 2000
    if args.smoke:
        seeds, steps, n, nfe = [0], 30, 300, 11
        models, bits, alphas = ["pfgmpp-8", "diffusion"], [None, 6], [0.1]
        datasets = C.unless_chosen(args, datasets, [("moons", None)])
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
    steps = args.steps or steps
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = C.TrainConfig(steps=steps, batch=512)
    t0 = time.perf_counter()
    rows = []
    for ds_name, path in datasets:
        ds = C.load_data(ds_name, path)
        scorer = C.Scorer(ds, n_eval=n,
                          classifier_cache=(C.RESULTS / "digits_classifier.npz") if ds.name == "digits" else None)
        key = "fd" if scorer.clf is not None else "sw2"
        for name in models:
            for seed in seeds:
                tr = C.train(C.BY_NAME[name], ds, cfg, seed, cache=C.cache_of(args))
                variants = [("bits", b, tr if b is None else dataclasses.replace(tr, backbone=quantise(tr.backbone, b)),
                             0.0) for b in bits]
                variants += [("alpha", a, tr, a) for a in alphas]
                for kind, level, model, alpha in variants:
                    s = scorer.score(model.sample(n, nfe, seed, out_noise=alpha))
                    v = s[key]
                    rows.append({"model": name, "D": None if math.isinf(D_OF[name]) else D_OF[name],
                                 "dataset": ds.name, "seed": seed, "kind": kind,
                                 "level": "fp32" if level is None else level, "metric": key,
                                 "value": v if math.isfinite(v) else None})
                print(f"[{ds.name}] {name} seed {seed} done ({time.perf_counter() - t0:.0f} s)", flush=True)
        (out / "robustness.json").write_text(json.dumps(rows, indent=1) + "\n")
    wall = time.perf_counter() - t0
    (out / "robustness.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = report(rows, seeds, wall, steps, n, nfe, models, bits, alphas)
    _plot(rows, out / "robustness.png", models, bits, alphas)
    md = out / "robustness.md"
    md.write_text("\n".join(lines) + "\n")
    print(md.read_text())
    return md


def _mean(rows, **kw):
    v = [r["value"] if r["value"] is not None else math.nan for r in rows
         if all(r[k] == x for k, x in kw.items())]
    return (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else None) if v else (math.nan, None)


def _label(name):
    return "D = inf (diffusion)" if name == "diffusion" else f"D = {D_OF[name]}"


def report(rows, seeds, wall, steps, n, nfe, models, bits, alphas) -> list[str]:
    lines = C.header("Robustness against D (PFGM++'s quantisation experiment in miniature)", seeds, wall)
    lines += [f"Protocol: the quality benchmark's training ({steps} steps, batch 512, EMA), {n} samples at NFE {nfe} "
              "(Heun). Quantisation: every parameter tensor rounded to a symmetric uniform grid of b bits (per "
              "tensor). Output noise: alpha * N(0, I) added to the backbone's output at every call. Mean ± sd "
              "over the seeds; 'x fp32' is the metric divided by the unperturbed model's.", ""]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        metric = next(r["metric"] for r in rows if r["dataset"] == ds)
        mname = "Frechet distance (classifier features)" if metric == "fd" else "sliced W2"
        lines += [f"## {ds}: {mname}", "", "| model | " + " | ".join(
            "fp32" if b is None else f"{b} bits" for b in bits) + " | " + " | ".join(
            f"alpha {a:g}" for a in alphas) + " |", "|---|" + "---|" * (len(bits) + len(alphas))]
        ratio_lines = ["", "Degradation (x fp32):", "", "| model | " + " | ".join(
            f"{b} bits" for b in bits if b is not None) + " | " + " | ".join(f"alpha {a:g}" for a in alphas) + " |",
            "|---|" + "---|" * (len(bits) - 1 + len(alphas))]
        for name in models:
            base = _mean(rows, model=name, dataset=ds, kind="bits", level="fp32")[0]
            cells, rcells = [], []
            for b in bits:
                m, s = _mean(rows, model=name, dataset=ds, kind="bits", level="fp32" if b is None else b)
                cells.append(C.fmt(m, s))
                if b is not None:
                    rcells.append(f"{m / base:.2f}" if math.isfinite(m) and base > 0 else "diverged")
            for a in alphas:
                m, s = _mean(rows, model=name, dataset=ds, kind="alpha", level=a)
                cells.append(C.fmt(m, s))
                rcells.append(f"{m / base:.2f}" if math.isfinite(m) and base > 0 else "diverged")
            lines.append(f"| {_label(name)} | " + " | ".join(cells) + " |")
            ratio_lines.append(f"| {_label(name)} | " + " | ".join(rcells) + " |")
        lines += ratio_lines + [""]
    return lines


def _plot(rows, path, models, bits, alphas):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(9, 3.4 * len(datasets)), squeeze=False)
    qbits = [b for b in bits if b is not None]
    for i, ds in enumerate(datasets):
        metric = next(r["metric"] for r in rows if r["dataset"] == ds)
        for name in models:
            ys = [_mean(rows, model=name, dataset=ds, kind="bits", level=b)[0] for b in qbits]
            axes[i][0].plot(qbits, ys, marker="o", label=_label(name))
            base = _mean(rows, model=name, dataset=ds, kind="bits", level="fp32")[0]
            ya = [base] + [_mean(rows, model=name, dataset=ds, kind="alpha", level=a)[0] for a in alphas]
            axes[i][1].plot([0.0] + list(alphas), ya, marker="o", label=_label(name))
        axes[i][0].set_xlabel("weight bits")
        axes[i][0].invert_xaxis()
        axes[i][1].set_xlabel("alpha (output noise)")
        for ax in axes[i]:
            ax.set_yscale("log")
            ax.set_ylabel(("FD" if metric == "fd" else "SW2") + f" ({ds})")
        axes[i][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    C.set_command(__file__, argv)
    ap = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
