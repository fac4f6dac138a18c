"""Class-conditional digits: a fixed classifier's accuracy on samples drawn with a label, and the per-class
classifier Frechet distance, for diffusion, PFGM++ (D = 128) and Yukawa (m = 1, D = 8).

Each model is the small U-Net of the emitted packages (pdec.runtime.model.UNet, [1, 8, 8], with a label
embedding of 11 rows: 10 digits and the null label), trained through pdec.runtime.train.fit with label
dropout 0.1 on the 1400 training digits (the kernel's loss, as the emitted package trains), and sampled
with Heun at NFE 11 and 35, each class k with the label k and classifier-free guidance
D_null + W (D_k - D_null), W in {1, 2, 3} (pdec.runtime.guidance.Guided: one batched call of 2B rows per
evaluation; every solve counts its calls and checks them against the NFE).

Scores (benchmarks/metrics.py's fixed digits classifier, the one quality.md uses):
- accuracy: the fraction of the samples drawn with label k that the classifier calls k, mean over k;
- FD_k: the Frechet distance between the classifier features of the class-k samples and those of the
  held-out class-k digits (about 40 per class: a noisy estimate), and its floor, the training digits of
  class k against the same held-out digits; the mean over classes is shown, the per-class values for
  the best W at NFE 35;
- unconditional: the same networks without a label (the null label), FD against all held-out digits.

    python benchmarks/conditional.py                  # 3 seeds, 4000 steps, 500 samples per class
    python benchmarks/conditional.py --quick          # 1 seed, 1500 steps, 100 per class
    python benchmarks/conditional.py --smoke --out /tmp/c   # CI: a tiny end-to-end run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common as C  # noqa: E402
from benchmarks import metrics as M  # noqa: E402
from pdec.runtime import data as rdata  # noqa: E402
from pdec.runtime import precond as rprecond  # noqa: E402
from pdec.runtime import sampler as rsampler  # noqa: E402
from pdec.runtime import train as rtrain  # noqa: E402
from pdec.runtime.guidance import Guided  # noqa: E402
from pdec.runtime.model import UNet  # noqa: E402
from pdec.runtime.sample import Sampler  # noqa: E402

MODELS = ("diffusion", "pfgmpp-128", "yukawa-8")
SHAPE = (1, 8, 8)
CLASSES = 10
NFES = (11, 35)
GUIDANCE = (1.0, 2.0, 3.0)
LABEL_DROPOUT = 0.1


def settings(args) -> dict:
    s = {"seeds": [0, 1, 2], "steps": 4000, "n": 500, "channels": 32, "batch": 128, "lr": 1e-3, "ema": 0.999,
         "nfes": list(NFES), "guidance": list(GUIDANCE), "models": list(MODELS)}
    if args.quick:
        s.update(seeds=[0], steps=1500, n=100)
    if args.smoke:
        s.update(seeds=[0], steps=20, n=20, channels=8, nfes=[11], guidance=[1.0, 2.0], models=["diffusion"])
    if args.seeds:
        s["seeds"] = [int(v) for v in args.seeds.split(",")]
    if args.steps:
        s["steps"] = args.steps
    if args.models:
        s["models"] = args.models.split(",")
    return s


class _Count(torch.nn.Module):
    """Counts the backbone's calls (one per evaluation of the guided denoiser: its 2B rows are one call)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.calls = 0

    def forward(self, x, c, cond=None):
        self.calls += 1
        return self.net(x, c, cond=cond)


def train_model(spec, ds, s, seed, cache):
    """(the EMA U-Net, its kernel, sigma_max, training seconds), from the cache when there."""
    kernel = C.pdec_kernel(spec)
    x = ds.train.reshape(-1, *SHAPE)
    sigma_max, _ = rsampler.choose_sigma_max(kernel, ds.lam_max)

    def build():
        return UNet(SHAPE, channels=s["channels"], classes=CLASSES)

    net = build()
    key = f"cond-digits-{spec.name}-s{seed}-n{s['steps']}-c{s['channels']}-b{s['batch']}-p{LABEL_DROPOUT:g}.pt"
    path = None if cache is None else Path(cache) / key
    if path is not None and path.exists():
        ck = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(ck["ema"])
        return net.eval(), kernel, sigma_max, float(ck["train_s"])
    sigma_inv = None
    if not kernel.self_similar:
        table = C._SigmaInvTable(kernel)
        sigma_inv = table if table.max_rel_err < 1e-6 else None
    state = rtrain.init(build, s["lr"], seed)
    model = rprecond.Precond(state.net, math.prod(SHAPE), rdata.SIGMA_DATA, data=x)
    t0 = time.perf_counter()
    rtrain.fit(state, rtrain.kernel_loss(kernel, sigma_inv=sigma_inv), x, s["steps"], s["batch"], seed, s["ema"],
               model=model, labels=torch.as_tensor(ds.labels_train, dtype=torch.long),
               label_dropout=LABEL_DROPOUT, null_label=CLASSES)
    train_s = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rtrain.atomic_save({"ema": state.ema.state_dict(), "train_s": train_s}, path)
    return state.ema.eval(), kernel, sigma_max, train_s


@torch.no_grad()
def draw(net, kernel, sigma_max, labels, nfe, w, seed, ds, n_unconditional=0):
    """Samples (data units, [n, 64]) for the labels (None: 10 n_unconditional without a label), checked against
    the NFE."""
    steps, solver = C.steps_for(nfe)
    counter = _Count(net)
    D = rprecond.Precond(counter, math.prod(SHAPE), rdata.SIGMA_DATA, data=ds.train).eval()
    if labels is not None and w != 1.0:
        D = Guided(D, w, null=CLASSES)
    n = len(labels) if labels is not None else CLASSES * n_unconditional
    g = torch.Generator().manual_seed(20_000 + seed)
    x = Sampler(kernel, SHAPE, sigma_max).sample(D, n, steps, solver, generator=g, cond=labels)
    if counter.calls != nfe:
        raise AssertionError(f"{counter.calls} network calls for NFE {nfe}")
    return ds.denormalise(x.reshape(n, -1))


def score(clf, x, labels, ref):
    """(accuracy, [FD_k]) of class-labelled samples; ref: {k: held-out features of class k}."""
    x = np.clip(np.nan_to_num(np.asarray(x, np.float64), nan=0.0), -10.0, 10.0)
    pred = clf.probs(x).argmax(1)
    acc = float(np.mean([np.mean(pred[labels == k] == k) for k in range(CLASSES)]))
    feats = clf.features(x)
    return acc, [M.frechet_distance(feats[labels == k], ref[k]) for k in range(CLASSES)]


def run(args) -> Path:
    s = settings(args)
    torch.set_num_threads(int(os.environ.get("PDEC_BENCH_THREADS", "1")))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = C.load_data("digits")
    clf = M.DigitsClassifier(ds.train_raw, ds.labels_train, ds.test_raw, ds.labels_test,
                             cache=C.RESULTS / "digits_classifier.npz")
    ref = {k: clf.features(ds.test_raw[ds.labels_test == k]) for k in range(CLASSES)}
    floor = [M.frechet_distance(clf.features(ds.train_raw[ds.labels_train == k]), ref[k]) for k in range(CLASSES)]
    floor_all = M.frechet_distance(clf.features(ds.train_raw), clf.features(ds.test_raw))
    labels = np.repeat(np.arange(CLASSES), s["n"])
    cond = torch.as_tensor(labels, dtype=torch.long)
    rows, t_start = [], time.perf_counter()
    for name in s["models"]:
        spec = C.BY_NAME[name]
        for seed in s["seeds"]:
            net, kernel, sigma_max, train_s = train_model(spec, ds, s, seed, C.cache_of(args))
            for nfe in s["nfes"]:
                for w in s["guidance"]:
                    acc, fd = score(clf, draw(net, kernel, sigma_max, cond, nfe, w, seed, ds), labels, ref)
                    rows.append({"model": name, "seed": seed, "nfe": nfe, "guidance": w, "accuracy": acc,
                                 "fd_mean": float(np.mean(fd)), "fd": fd, "train_s": train_s})
                    print(f"{name} seed {seed} NFE {nfe} W {w:g}: accuracy {acc:.3f}, mean class FD "
                          f"{np.mean(fd):.2f}", flush=True)
                x = draw(net, kernel, sigma_max, None, nfe, 1.0, seed, ds, n_unconditional=s["n"])
                rows.append({"model": name, "seed": seed, "nfe": nfe, "guidance": None,
                             "fd_all": M.frechet_distance(clf.features(np.clip(np.nan_to_num(x), -10, 10)),
                                                          clf.features(ds.test_raw)), "train_s": train_s})
    wall = time.perf_counter() - t_start
    meta = {"settings": s, "classifier_accuracy": clf.accuracy, "floor": floor, "floor_all": floor_all,
            "wall_s": wall, "command": C.command()}
    (out / "conditional.json").write_text(json.dumps({"rows": rows, "meta": meta}, indent=1) + "\n")
    md = out / "conditional.md"
    md.write_text("\n".join(report(rows, meta)) + "\n")
    print(md.read_text())
    return md


def _mean_sd(values):
    v = np.asarray(values, dtype=np.float64)
    return C.fmt(float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else None, 3)


def report(rows, meta) -> list[str]:
    s = meta["settings"]
    label = {m.name: m.label for m in C.ALL_MODELS}
    lines = C.header("Class-conditional digits: accuracy and per-class Frechet distance", s["seeds"], meta["wall_s"],
                     extra=f"U-Net (channels {s['channels']}) with a label embedding of {CLASSES} + 1 rows, label "
                     f"dropout {LABEL_DROPOUT}, {s['steps']} steps, batch {s['batch']}, Adam {s['lr']:g}, EMA "
                     f"{s['ema']}; {s['n']} samples per class; Heun. The fixed classifier's held-out accuracy: "
                     f"{meta['classifier_accuracy']:.3f}. Floors (training digits against held-out digits): mean "
                     f"class FD {np.mean(meta['floor']):.2f}, all-digit FD {meta['floor_all']:.2f}. Guidance W: "
                     "D_null + W (D_k - D_null); the goal is accuracy >= 0.95 at the best W.")
    lines += ["| model | NFE | W | accuracy | mean class FD | unconditional FD (null label) |",
              "|---|---|---|---|---|---|"]
    best = {}
    for name in s["models"]:
        for nfe in s["nfes"]:
            unc = [r["fd_all"] for r in rows if r["model"] == name and r["nfe"] == nfe and r["guidance"] is None]
            for w in s["guidance"]:
                sel = [r for r in rows if r["model"] == name and r["nfe"] == nfe and r["guidance"] == w]
                if not sel:
                    continue
                acc = float(np.mean([r["accuracy"] for r in sel]))
                if acc > best.get((name, nfe), (-1.0, None))[0]:
                    best[(name, nfe)] = (acc, w)
                lines.append(f"| {label.get(name, name)} | {nfe} | {w:g} | {_mean_sd([r['accuracy'] for r in sel])} | "
                             f"{_mean_sd([r['fd_mean'] for r in sel])} | {_mean_sd(unc) if w == 1.0 else ''} |")
    nfe = max(s["nfes"])
    lines += ["", f"Per-class FD at NFE {nfe} and each model's best W (by accuracy); floor: training digits of the "
              "class against its held-out digits.", "",
              "| model | W | " + " | ".join(str(k) for k in range(CLASSES)) + " |",
              "|---|---|" + "---|" * CLASSES,
              "| floor | | " + " | ".join(f"{v:.2f}" for v in meta["floor"]) + " |"]
    for name in s["models"]:
        if (name, nfe) not in best:
            continue
        acc, w = best[(name, nfe)]
        sel = [r["fd"] for r in rows if r["model"] == name and r["nfe"] == nfe and r["guidance"] == w]
        per = np.mean(np.asarray(sel), 0)
        lines.append(f"| {label.get(name, name)} | {w:g} | " + " | ".join(f"{v:.2f}" for v in per) + " |")
    goal = [f"{label.get(n, n)} NFE {f}: {a:.3f} at W = {w:g}" for (n, f), (a, w) in best.items()]
    lines += ["", "Best accuracy per model and NFE: " + "; ".join(goal) + "."]
    return lines


def main(argv=None):
    C.set_command(__file__, argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed, 1500 steps, 100 samples per class")
    ap.add_argument("--smoke", action="store_true", help="a tiny end-to-end run (CI)")
    ap.add_argument("--out", type=Path, default=C.RESULTS, help="output folder (default benchmarks/results)")
    ap.add_argument("--cache", type=Path, default=C.CACHE, help="trained-model cache ('none' to disable)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds")
    ap.add_argument("--steps", type=int, default=None, help="training steps")
    ap.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(MODELS))
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
