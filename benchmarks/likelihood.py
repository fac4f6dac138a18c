"""Likelihood: bits/dim of held-out data under every compiled PDE and under flow matching, same networks as quality.

Every model is quality.py's (benchmarks/common.py: same MLP, TrainConfig, seed, so the model cache
/tmp/pdec-bench-cache holds the very networks quality.md scored). The log-likelihood of a held-out row:

- pdec's models (and the EDM peer, whose diffusers denoiser is a diffusion kernel's): pdec.runtime.likelihood
  log_likelihood, the probability-flow ODE dx/d ln sigma = x - D(x, sigma) from sigma_min = 0.002 to the
  model's sigma_max with the divergence integral, the prior's exact log-density at t_max (prior.py), rk4 with
  32 steps uniform in ln sigma; exact divergence (one backward pass per coordinate) up to 128 coordinates.
  It is the density p_{sigma_min} of the data convolved with the kernel at sigma_min (normalised units).
- flow_matching: its own ODESolver.compute_likelihood (torchdiffeq's rk4, 32 steps on a uniform time grid from
  t = 1 to 0, exact divergence, source N(0, I)); the density at t = 1 (no smoothing).

Bits/dim are in the data's own units: the data are normalised as x_n = (x - mean) / scale (one scalar scale),
so log p(x) = log p_n(x_n) - dim ln(scale). Sanity row: a Gaussian with the training split's mean and full
covariance (plus the models' smoothing (sigma_min scale)^2 I, without which it is singular on digits),
evaluated on the same held-out rows. Check row: data y ~ N(0, s^2 I) in 2-D, where the exact log-density is
known; pdec's routine with the exact denoiser (likelihood.gaussian_denoiser) for several laws, then the trained
models. Cost: forward calls and backward (vector-Jacobian) passes of the network per point, counted, and the
wall time per 1000 points.

Writes likelihood.md and likelihood.json (rows {"kind", "model", "dataset", "seed", "bits_per_dim", ...}).

    python benchmarks/likelihood.py --quick          # moons + digits, seed 0, 800 steps (quality --quick's models)
    python benchmarks/likelihood.py --quick --datasets 8gaussians,checkerboard,swissroll --out /tmp/l
    python benchmarks/likelihood.py                  # 5 data sets x 3 seeds, 4000 steps (quality.md's models)
    python benchmarks/likelihood.py --smoke --out /tmp/s --cache none   # CI: seconds
"""

from __future__ import annotations

import argparse
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
from pdec.runtime import data as rdata  # noqa: E402
from pdec.runtime import likelihood as LK  # noqa: E402
from pdec.runtime import precond as rprecond  # noqa: E402
from pdec.runtime import prior as P  # noqa: E402
from pdec.runtime import sampler as rsampler  # noqa: E402

LN2 = math.log(2.0)
SMOKE_MODELS = ("diffusion", "flow_matching")
#: the laws of the exact-denoiser check (the Stable law's quantile is too slow for one call per sigma)
CHECK_MODELS = ("diffusion", "pfgmpp-8", "yukawa", "mixed")
GAUSS_S = 1.0  # the check data: N(0, GAUSS_S^2 I) in 2-D
CHECK_SIGMA_MAX = 200.0  # the check's second sigma_max, where the prior q_T matches the marginal at T


# ------------------------------------------------------------------------------------------------ counting


class _Tap(torch.autograd.Function):
    """Identity on the network's output whose backward counts one vector-Jacobian pass."""

    @staticmethod
    def forward(ctx, y, counter):
        ctx.counter = counter
        return y.view_as(y)

    @staticmethod
    def backward(ctx, g):
        ctx.counter.vjps += 1
        return g, None


class _CountingVJP(C._Counting):
    """common._Counting (forward calls) that also counts the backward passes through the network."""

    def __init__(self, backbone):
        super().__init__(backbone)
        self.vjps = 0

    def forward(self, x, c):
        F = super().forward(x, c)
        return _Tap.apply(F, self) if F.requires_grad else F


# ------------------------------------------------------------------------------------------------ likelihoods


def _result(ll, dim, log_scale, fwd, vjp, seconds, **info) -> dict:
    """A row's numbers from per-row log-likelihoods (normalised units, nats) and the counted work per point
    (fwd forward calls and vjp backward passes of the network, each over a whole batch of rows)."""
    ll = torch.as_tensor(ll, dtype=torch.float64)
    ok = torch.isfinite(ll)
    bpd = LK.bits_per_dim(ll[ok], dim, log_scale)
    n = int(ll.numel())
    return dict(bits_per_dim=float(bpd.mean()) if ok.any() else None,
                bits_per_dim_se=float(bpd.std() / math.sqrt(len(bpd))) if len(bpd) > 1 else None,
                nll_nats_per_dim=float(bpd.mean()) * LN2 if ok.any() else None,
                n=n, n_nonfinite=int((~ok).sum()), dim=dim, nfe_forward=fwd, nfe_vjp=vjp,
                nfe=fwd + vjp, s_per_1000=1000.0 * seconds / n, **info)


BATCH = 1000  # rows per likelihood solve


def _batches(xn, batch=BATCH):
    return [xn[i:i + batch] for i in range(0, len(xn), batch)]


class _FlaggingPrecond(rprecond.Precond):
    """pdec's Precond that records which rows of the current batch its outlier-aware scale ever inflated."""

    inflated = None

    def scale2(self, x, sigma):
        v = super().scale2(x, sigma)
        plain = sigma.to(torch.float32) ** 2 + self.sigma_data ** 2
        hit = (v > plain).detach()
        self.inflated = hit if self.inflated is None else self.inflated | hit
        return v


def pdec_loglik(denoiser, kernel, xn, sigma_max, steps, solver, batch=BATCH, seed=0):
    """(per-row log p_{sigma_min} in normalised units, LogLikelihood of the last batch, per-row flags of the
    outlier-aware scale (None unless the denoiser is a _FlaggingPrecond)) by pdec's routine."""
    g = torch.Generator().manual_seed(seed)
    parts, flags, res = [], [], None
    for xb in _batches(xn, batch):
        if isinstance(denoiser, _FlaggingPrecond):
            denoiser.inflated = None
        res = LK.log_likelihood(denoiser, kernel, xb, rsampler.SIGMA_MIN, sigma_max, steps, solver, generator=g)
        parts.append(res.log_lik)
        if isinstance(denoiser, _FlaggingPrecond):
            flags.append(denoiser.inflated)
    return torch.cat(parts), res, (torch.cat(flags) if flags else None)


def fm_loglik(velocity, xn, steps, exact=True, batch=BATCH, seed=0):
    """Per-row log p_1 (normalised units) by flow_matching's ODESolver.compute_likelihood (rk4, uniform grid)."""
    from flow_matching.solver import ODESolver
    from flow_matching.utils import ModelWrapper

    class Velocity(ModelWrapper):
        def forward(self, x, t, **extras):
            return self.model(x, t.reshape(-1).expand(x.shape[0]))

    def log_p0(x):
        return P.log_normal((x.to(torch.float64) ** 2).sum(1), x.shape[1], torch.tensor(1.0, dtype=torch.float64))

    solver = ODESolver(velocity_model=Velocity(velocity))
    grid = torch.linspace(1.0, 0.0, steps + 1)
    torch.manual_seed(seed)  # its Hutchinson probes (unused with exact=True)
    parts = []
    for xb in _batches(xn, batch):
        _, ll = solver.compute_likelihood(x_1=xb, log_p0=log_p0, step_size=None, method="rk4", time_grid=grid,
                                          exact_divergence=exact)
        parts.append(ll.detach().to(torch.float64))
    return torch.cat(parts)


def model_loglik(tr: C.Trained, xn, steps=32, solver="rk4", seed=0) -> dict:
    """Per-row log-likelihoods of normalised rows under a trained model, with its counted cost and solver."""
    counter = _CountingVJP(tr.backbone.requires_grad_(False))
    dim = xn.shape[1]
    t0 = time.perf_counter()
    if tr.spec.name == "flow_matching":
        exact = dim <= LK.EXACT_DIM
        ll = fm_loglik(counter, xn, steps, exact, seed=seed)
        info = dict(solver="rk4 (torchdiffeq, via flow_matching's ODESolver.compute_likelihood)", steps=steps,
                    divergence="exact" if exact else "hutchinson", n_probes=0 if exact else 1,
                    routine="flow_matching")
    else:
        if tr.spec.name == "edm":
            den = C._DiffusersDenoiser(counter, C._edm_scheduler(tr.sigma_max)).eval()
            kernel = C.pdec_kernel(C.BY_NAME["diffusion"])  # EDM's kernel: Gaussian, S_t = sigma^2
        else:
            den = tr.precond(counter, cls=_FlaggingPrecond).eval()  # the sampler's denoiser (outlier-aware)
            kernel = tr.kernel
        ll, res, flags = pdec_loglik(den, kernel, xn, tr.sigma_max, steps, solver, seed=seed)
        info = dict(solver=solver, steps=steps, divergence=res.divergence, n_probes=res.n_probes,
                    routine="pdec", sigma_max=tr.sigma_max)
    nb = len(_batches(xn))  # every network call evaluates one batch: calls per point = calls / batches
    out = dict(ll=ll, n_fwd=counter.calls / nb, n_vjp=counter.vjps / nb, seconds=time.perf_counter() - t0, info=info)
    if tr.spec.family == "pdec":
        # Rows never touched by the outlier-aware scale have the same path, hence the same likelihood, with it
        # off; the others are solved again with EDM's plain coefficients (the network unchanged).
        ll_plain = ll.clone()
        if bool(flags.any()):
            plain = tr.precond(outlier_aware=False).eval()
            ll_plain[flags] = pdec_loglik(plain, kernel, xn[flags], tr.sigma_max, steps, solver, seed=seed)[0]
        out["ll_plain"] = ll_plain
        info["n_inflated"] = int(flags.sum())
    return out


def gaussian_fit_loglik(train_raw, rows_raw, var_add: float) -> torch.Tensor:
    """log N(x; mean, Cov + var_add I) per row (data units), mean and Cov of the training split."""
    tr = np.asarray(train_raw, np.float64).reshape(len(train_raw), -1)
    x = torch.as_tensor(np.asarray(rows_raw, np.float64).reshape(len(rows_raw), -1))
    dim = tr.shape[1]
    cov = torch.as_tensor(np.cov(tr, rowvar=False).reshape(dim, dim)) + var_add * torch.eye(dim, dtype=torch.float64)
    mvn = torch.distributions.MultivariateNormal(torch.as_tensor(tr.mean(0)), covariance_matrix=cov)
    return mvn.log_prob(x)


# ------------------------------------------------------------------------------------------------ data


def gaussian_dataset(n_train: int = C.N_TOY_TRAIN, n_test: int = C.N_TOY_TEST, s: float = GAUSS_S) -> C.Dataset:
    """The check set: N(0, s^2 I) in 2-D, training rows from seed 0, held-out rows from seed 1."""
    train = (s * np.random.Generator(np.random.PCG64(0)).standard_normal((n_train, 2))).astype(np.float32)
    test = (s * np.random.Generator(np.random.PCG64(1)).standard_normal((n_test, 2))).astype(np.float32)
    mean, scale = rdata.normalisation(train)
    xt = torch.from_numpy(rdata.normalise(train, mean, scale))
    return C.Dataset(name="gaussian", train_raw=train, test_raw=test, train=xt, mean=mean, scale=scale,
                     lam_max=C._top_eigenvalue(xt))


def eval_rows(ds: C.Dataset, n_rows: int) -> np.ndarray:
    """The held-out rows scored: the first n_rows of the held-out split (its order is already random)."""
    return ds.test_raw[:n_rows]


# ------------------------------------------------------------------------------------------------ the run


def _settings(args):
    seeds, steps, datasets = [0, 1, 2], 4000, C.datasets_of(args)
    models = [m.name for m in C.PDEC_MODELS] + ["flow_matching", "edm"]
    n2d, ndig, lik_steps, conv = 2000, 500, 32, (16, 32, 64)
    if args.quick:
        seeds, steps = [0], 800
        datasets = C.unless_chosen(args, datasets, [("moons", None), ("digits", None)])
    if args.smoke:
        seeds, steps, models, n2d, ndig, lik_steps, conv = [0], 30, list(SMOKE_MODELS), 100, 50, 8, ()
        datasets = C.unless_chosen(args, datasets, [("moons", None)])
    seeds, steps, models = C.overrides(args, seeds, steps, models)
    if args.n_rows:
        n2d = ndig = args.n_rows
    return dict(seeds=seeds, steps=steps, datasets=datasets, models=models, n2d=n2d, ndig=ndig,
                lik_steps=args.lik_steps or lik_steps, conv=conv)


def _row(kind, name, ds, seed, r, log_scale) -> dict:
    row = {"kind": kind, "model": name, "dataset": ds, "seed": seed}
    row.update(_result(r["ll"], r["dim"], log_scale, r["n_fwd"], r["n_vjp"], r["seconds"], **r["info"]))
    if "ll_plain" in r:
        plain = _result(r["ll_plain"], r["dim"], log_scale, 0, 0, 0.0)
        row.update(bits_per_dim_plain=plain["bits_per_dim"], bits_per_dim_plain_se=plain["bits_per_dim_se"])
    bpd = LK.bits_per_dim(torch.as_tensor(r["ll"], dtype=torch.float64), r["dim"], log_scale)
    row["bits_per_dim_median"] = float(bpd.median())
    return row


def _score_model(tr, xn, steps, seed):
    r = model_loglik(tr, xn, steps, seed=seed)
    r["dim"] = xn.shape[1]
    return r


def _models_on(ds, rows_raw, st, cfg, cache, meta, rows, done=(), kind="model"):
    """Train (or load) every model of the run on ds and score the given held-out rows (except those done)."""
    xn = torch.from_numpy(rdata.normalise(rows_raw, ds.mean, ds.scale))
    log_scale = math.log(ds.scale)
    for name in st["models"]:
        spec = C.BY_NAME[name]
        for seed in st["seeds"]:
            if (kind, name, ds.name, seed) in done:
                continue
            try:
                tr = C.train(spec, ds, cfg, seed, cache=cache)
            except C.Unavailable as e:
                meta["unavailable"][name] = str(e)
                print(f"[{ds.name}] {name}: not available: {e}", flush=True)
                break
            except FloatingPointError as e:
                meta["notes"][f"{ds.name}/{name}/{seed}"] = str(e)
                continue
            r = _score_model(tr, xn, st["lik_steps"], seed)
            row = _row(kind, name, ds.name, seed, r, log_scale)
            row.update(library=spec.library, family=spec.family, cached=tr.cached)
            rows.append(row)
            print(f"[{ds.name}] {name} seed {seed}: {row['bits_per_dim']:.4f} bits/dim, NFE {row['nfe']:.0f}, "
                  f"{row['s_per_1000']:.1f} s/1000", flush=True)


def _exact_check(st, rows):
    """pdec's routine with the exact denoiser of N(0, s^2 I) data against the exact log-density."""
    ds = gaussian_dataset()
    x = torch.as_tensor(eval_rows(ds, st["n2d"]), dtype=torch.float64)
    dim = x.shape[1]
    scale = GAUSS_S / rdata.SIGMA_DATA  # the true normalisation: x_n ~ N(0, sigma_data^2 I) exactly
    xn = x / scale
    s2 = rdata.SIGMA_DATA ** 2
    true = P.log_normal((x ** 2).sum(1), dim, torch.tensor(GAUSS_S ** 2, dtype=torch.float64))
    rows.append({"kind": "exact", "model": "true density", "dataset": "gaussian", "seed": 0,
                 **_result(true, dim, 0.0, 0, 0, 0.0)})
    for name in CHECK_MODELS if not st["smoke"] else CHECK_MODELS[:1]:  # smoke: the closed form only
        kern = C.pdec_kernel(C.BY_NAME[name])
        rule, _ = rsampler.choose_sigma_max(kern, float(s2))
        t_min = kern.sigma_inv(torch.tensor(rsampler.SIGMA_MIN, dtype=torch.float64))
        exact = P.log_mixture(kern.law, t_min, (xn ** 2).sum(1), dim, var0=s2)  # log p_{sigma_min}, normalised
        for smax, steps in ((rule, 32), (CHECK_SIGMA_MAX, 32), (CHECK_SIGMA_MAX, 64)):
            t0 = time.perf_counter()
            res = LK.log_likelihood(LK.gaussian_denoiser(kern, s2), kern, xn, rsampler.SIGMA_MIN, smax, steps, "rk4")
            sec = time.perf_counter() - t0
            # the true marginal at T (the data convolved with the kernel at t_max) in place of the prior q_T
            t_max = kern.sigma_inv(torch.tensor(smax, dtype=torch.float64))
            marg = res.div_integral + P.log_mixture(kern.law, t_max, (res.x_T ** 2).sum(1), dim, var0=s2)
            row = {"kind": "exact_denoiser", "model": name, "dataset": "gaussian", "seed": 0,
                   **_result(res.log_lik, dim, math.log(scale), res.nfe, res.nfe * dim, sec, solver="rk4",
                             steps=steps, divergence=res.divergence, n_probes=0, routine="pdec", sigma_max=smax,
                             sigma_max_rule=smax == rule),
                   "exact_bits_per_dim": float(LK.bits_per_dim(exact, dim, math.log(scale)).mean()),
                   "max_abs_err_nats_per_dim": float(((res.log_lik - exact).abs() / dim).max()),
                   "mean_err_nats_per_dim": float(((res.log_lik - exact) / dim).mean()),
                   "solver_max_abs_err_nats_per_dim": float(((marg - exact).abs() / dim).max())}
            rows.append(row)
            print(f"[gaussian] exact denoiser {name}, sigma_max {smax:.4g}, {steps} steps: {row['bits_per_dim']:.5f} "
                  f"vs exact {row['exact_bits_per_dim']:.5f} bits/dim, max |err| {row['max_abs_err_nats_per_dim']:.1e} "
                  f"nats/dim (solver alone {row['solver_max_abs_err_nats_per_dim']:.1e})", flush=True)
    return ds


def run(args) -> Path:
    st = _settings(args)
    st["smoke"] = bool(args.smoke)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = C.TrainConfig(steps=st["steps"], batch=args.batch)
    cache = C.cache_of(args)
    jpath = out / "likelihood.json"
    rows, meta = [], {"unavailable": {}, "notes": {}, "scale": {}, "n_rows": {}, "n_test": {}, "wall_s": 0.0}
    if args.resume and jpath.exists():  # keep the rows of an earlier run with the same settings
        old = json.loads(jpath.read_text())
        rows, meta = old["rows"], old["meta"]
        own = float(meta["wall_s"]) - sum(float(e["wall_s"]) for e in meta.get("earlier", []))
        meta.setdefault("earlier", []).append({"command": meta["settings"]["command"], "wall_s": own})
    wall_before = float(meta["wall_s"])
    t_start = time.perf_counter()
    torch.set_num_threads(1)

    def save():
        meta["wall_s"] = wall_before + time.perf_counter() - t_start
        names = list(dict.fromkeys(meta.get("settings", {}).get("datasets", []) + [d for d, _ in st["datasets"]]))
        meta["settings"] = {k: st[k] for k in ("seeds", "steps", "models", "n2d", "ndig", "lik_steps")} | {
            "datasets": names, "batch": args.batch, "command": C.command()}
        jpath.write_text(json.dumps({"rows": rows, "meta": meta}, indent=1) + "\n")

    done = {(r["kind"], r["model"], r["dataset"], r["seed"]) for r in rows}
    gds = gaussian_dataset() if any(r["kind"] == "exact_denoiser" for r in rows) else _exact_check(st, rows)
    for ds, (name, path) in [(gds, ("gaussian", None))] + [(None, d) for d in st["datasets"]]:
        ds = ds or C.load_data(name, path)
        n_rows = st["n2d"] if ds.dim <= 2 else st["ndig"]
        rows_raw = eval_rows(ds, n_rows)
        meta["scale"][ds.name] = float(ds.scale)
        meta["n_rows"][ds.name] = len(rows_raw)
        meta["n_test"][ds.name] = len(ds.test_raw)
        if ("gaussian_fit", "gaussian_fit", ds.name, 0) not in done:
            var_add = (rsampler.SIGMA_MIN * ds.scale) ** 2
            t0 = time.perf_counter()
            ll = gaussian_fit_loglik(ds.train_raw, rows_raw, var_add)
            rows.append({"kind": "gaussian_fit", "model": "gaussian_fit", "dataset": ds.name, "seed": 0,
                         **_result(ll, ds.dim, 0.0, 0, 0, time.perf_counter() - t0)})
        _models_on(ds, rows_raw, st, cfg, cache, meta, rows, done)
        if (ds.name != "gaussian" and ds.dim <= 2 and st["conv"] and ds.name == st["datasets"][0][0]
                and not any(r["kind"] == "convergence" for r in rows)):
            _convergence(ds, rows_raw[:500], st, cfg, cache, rows)
        save()
    save()
    md = out / "likelihood.md"
    md.write_text("\n".join(report(rows, meta)) + "\n")
    print(md.read_text())
    return md


def _convergence(ds, rows_raw, st, cfg, cache, rows):
    """bits/dim against the number of rk4 steps, on the first 2-D set, seed 0 (diffusion, PFGM++, flow_matching)."""
    xn = torch.from_numpy(rdata.normalise(rows_raw, ds.mean, ds.scale))
    for name in [m for m in ("diffusion", "pfgmpp-8", "flow_matching") if m in st["models"]]:
        tr = C.train(C.BY_NAME[name], ds, cfg, st["seeds"][0], cache=cache)
        for steps in st["conv"]:
            r = _score_model(tr, xn, steps, st["seeds"][0])
            rows.append(_row("convergence", name, ds.name, st["seeds"][0], r, math.log(ds.scale)))


# ------------------------------------------------------------------------------------------------ tables


def _label(name):
    return C.BY_NAME[name].label if name in C.BY_NAME else name


def _agg(rows, kind, model, ds, key="bits_per_dim"):
    v = [r[key] for r in rows if r["kind"] == kind and r["model"] == model and r["dataset"] == ds
         and r.get(key) is not None]
    if not v:
        return None
    se = [r.get("bits_per_dim_se") for r in rows if r["kind"] == kind and r["model"] == model and r["dataset"] == ds]
    if len(v) > 1:
        return float(np.mean(v)), float(np.std(v, ddof=1))
    return float(v[0]), se[0] if key == "bits_per_dim" else None


def _cell(a, digits=3):
    return "" if a is None else C.fmt(a[0], a[1], digits)


def report(rows, meta) -> list[str]:
    st = meta["settings"]
    sets = ["gaussian"] + st["datasets"]
    models = [m for m in st["models"] if any(r["model"] == m and r["kind"] == "model" for r in rows)]
    lines = C.header("Likelihood: bits/dim of held-out data under every compiled PDE and flow matching",
                     st["seeds"], meta["wall_s"])
    if meta.get("earlier"):
        lines += ["Rows of earlier runs kept by --resume (the wall time above is the total): "
                  + "; ".join(f"`{e['command']}` ({float(e['wall_s']) / 60:.1f} min)" for e in meta["earlier"]), ""]
    rows_txt = ", ".join(f"{d} {meta['n_rows'][d]} of {meta['n_test'][d]}" for d in sets if d in meta["n_rows"])
    lines += [
        "Protocol: the networks of quality.py with the same settings (benchmarks/common.py: same MLP, Adam, batch "
        f"{st['batch']}, {st['steps']} training steps, EMA, seed; loaded from the same model cache). "
        f"Held-out rows scored (the first n of the held-out split): {rows_txt}. "
        "pdec's models and EDM: pdec.runtime.likelihood.log_likelihood, the probability-flow ODE in ln sigma from "
        f"sigma_min = {rsampler.SIGMA_MIN} to the model's sigma_max (pdec's data rule), rk4 with {st['lik_steps']} "
        "steps uniform in ln sigma, the exact divergence (one backward pass per coordinate; "
        f"exact up to {LK.EXACT_DIM} coordinates, so digits' 64 are exact too), the prior's exact log-density "
        "at t_max; this is the density of the data convolved with the kernel at sigma_min. EDM (diffusers' "
        "denoiser) is scored by the same pdec routine with the diffusion kernel (diffusers has no likelihood). "
        f"flow_matching: its own ODESolver.compute_likelihood, torchdiffeq rk4 with {st['lik_steps']} steps on "
        "a uniform grid from t = 1 to 0, exact divergence, source N(0, I).",
        "",
        "Units: bits per dimension in the data's own units. The networks see x_n = (x - mean) / scale (one scalar "
        "scale, per-coordinate RMS 0.5), so log p(x) = log p_n(x_n) - dim ln(scale): the Jacobian is included "
        "(scales: " + ", ".join(f"{d} {s:.4g}" for d, s in meta["scale"].items()) + "). "
        "Digits: sklearn's 8x8 digits as load_data gives them, pixel counts 0..16 mapped to c / 8 - 1 in [-1, 1], "
        "treated as continuous values as loaded (no dequantisation). Their values lie on a grid of step 1/8 and "
        "some pixels are constant, so a density can concentrate on the grid and bits/dim can be negative: they "
        "are not bits of a discrete code and cannot be compared with dequantised image benchmarks "
        "(in units of the pixel counts 0..16, add log2(8) = 3 bits/dim). Lower is better.",
        "",
        "Gaussian fit (sanity row): a Gaussian with the training split's mean and full covariance, plus "
        "(sigma_min scale)^2 I (the models' own smoothing at sigma_min; without it the covariance is singular on "
        "digits, whose corner pixels are constant), evaluated on the same held-out rows.",
        "",
        "## bits/dim on held-out data",
        "",
        "Values: mean over the held-out rows ± its standard error (one seed), or mean ± standard deviation over "
        "the seeds. ✓: below the Gaussian fit.",
        "",
        "| model | library | " + " | ".join(sets) + " |",
        "|---|---|" + "---|" * len(sets),
    ]
    gfit = {d: _agg(rows, "gaussian_fit", "gaussian_fit", d) for d in sets}
    lines.append("| Gaussian fit (sanity) | numpy | " + " | ".join(_cell(gfit[d]) for d in sets) + " |")
    beats = {}
    for m in models:
        cells = []
        for d in sets:
            a = _agg(rows, "model", m, d)
            ok = a is not None and gfit[d] is not None and a[0] < gfit[d][0]
            if a is not None and d != "gaussian":
                beats.setdefault(d, []).append(ok)
            cells.append(_cell(a) + (" ✓" if ok else ""))
        lib = C.BY_NAME[m].library + (" (pdec's routine)" if m == "edm" else "")
        lines.append(f"| {_label(m)} | {lib} | " + " | ".join(cells) + " |")
    lines += ["", "Models below the Gaussian fit: " + ", ".join(f"{d} {sum(v)} of {len(v)}" for d, v in beats.items())
              + ".", ""]
    same = [f"{_label(m)} on {d}" for d in sets if d != "gaussian" and gfit[d] is not None for m in models
            if (a := _agg(rows, "model", m, d)) is not None and abs(a[0] - gfit[d][0]) < 0.005]
    if same:
        lines += ["Within 0.005 bits/dim of the Gaussian fit: " + ", ".join(same) + ". These networks have learned "
                  "(close to) a Gaussian at this budget; their samples say the same (checked for diffusion and EDM on "
                  "8gaussians at 800 steps: sliced W2 0.451 at NFE 35 against 0.447 for samples of the Gaussian fit, "
                  "PFGM++ D = 8 0.120).", ""]
    lines += _summary(rows, sets, models)
    lines += _outlier_table(rows, sets, models)
    lines += _check_table(rows, meta)
    lines += _cost_table(rows, sets, models)
    lines += _convergence_table(rows)
    lines += _agreement(rows, sets, st)
    if meta["unavailable"]:
        lines += ["## Not available", ""] + [f"- {_label(k)}: {v}" for k, v in meta["unavailable"].items()] + [""]
    nonfinite = [r for r in rows if r.get("n_nonfinite")]
    notes = [f"{r['dataset']}/{r['model']}: {r['n_nonfinite']} rows with a non-finite log-likelihood (left out)"
             for r in nonfinite] + [f"{k}: {v}" for k, v in meta["notes"].items()]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return lines


def _summary(rows, sets, models) -> list[str]:
    """Best compiled PDE per data set (as sampled, and with the outlier-aware scale off) against flow_matching."""
    out = []
    for d in sets:
        best, best_plain = None, None
        for m in models:
            if C.BY_NAME[m].family != "pdec":
                continue
            rs = [r for r in rows if r["kind"] == "model" and r["model"] == m and r["dataset"] == d]
            if not rs:
                continue
            v = float(np.mean([r["bits_per_dim"] for r in rs]))
            vp = float(np.mean([r["bits_per_dim_plain"] for r in rs]))
            best = min(best or (math.inf, ""), (v, _label(m)))
            best_plain = min(best_plain or (math.inf, ""), (vp, _label(m)))
        fm = _agg(rows, "model", "flow_matching", d)
        if best is None:
            continue
        out.append(f"- {d}: best compiled PDE {best[1]} {best[0]:.3f} bits/dim (outlier-aware scale off: "
                   f"{best_plain[1]} {best_plain[0]:.3f})" + (f"; flow_matching {fm[0]:.3f}" if fm else "")
                   + (f"; difference {best[0] - fm[0]:+.3f} bits/dim" if fm else ""))
    return (["Best per data set (lower is better):", ""] + out + [""]) if out else []


def _outlier_table(rows, sets, models) -> list[str]:
    """pdec's models with the outlier-aware scale of the preconditioner off at likelihood time, and medians."""
    pm = [m for m in models if C.BY_NAME[m].family == "pdec"]
    if not pm:
        return []
    lines = ["## The outlier-aware preconditioner and the likelihood", "",
             "pdec's denoiser (runtime/precond.py, the one its sampler uses) inflates its scale s^2 + sd^2 for a row "
             "with rho = |x|^2 / (N (s^2 + sd^2)) above q = max(q_N, 1.25 rho_data): q_N the 1 - 1e-3 quantile of "
             "chi^2_N / N, rho_data the training rows' own largest |y|^2 / (N sd^2), fitted when training starts and "
             "saved with the weights. As sigma -> 0, rho -> |y|^2 / (N sd^2) < q, so no data row is inflated at "
             "small sigma. With q_N alone (before this rule) held-out rows in the data's own tail were (Gaussian "
             "data: about 1 in 1000; digits, whose rows reach rho 1.80 > q_64 = 1.64: 6 of 1400), the flow left "
             "the data there and the mean ran off (diffusion: 46.9 bits/dim on the Gaussian set, 85.7 on digits). "
             "Below: each cell is bits/dim with "
             "the scale off (EDM's plain coefficients, the same network; only the rows the scale ever touched along "
             "their path are solved again, the others are identical) / the table above's median over rows / "
             "[rows touched].", "",
             "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for m in pm:
        cells = []
        for d in sets:
            rs = [r for r in rows if r["kind"] == "model" and r["model"] == m and r["dataset"] == d]
            if not rs:
                cells.append("")
                continue
            plain = float(np.mean([r["bits_per_dim_plain"] for r in rs]))
            med = float(np.mean([r["bits_per_dim_median"] for r in rs]))
            cells.append(f"{plain:.3f} / {med:.3f} / [{sum(r['n_inflated'] for r in rs)}]")
        lines.append(f"| {_label(m)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _check_table(rows, meta) -> list[str]:
    ex = [r for r in rows if r["kind"] == "exact_denoiser"]
    true = _agg(rows, "exact", "true density", "gaussian")
    if not ex:
        return []
    r0 = ex[0]
    lines = ["## Check row: Gaussian data, where the likelihood is known", "",
             f"Data: y ~ N(0, {GAUSS_S:g}^2 I) in 2-D ({r0['n']} held-out rows). The true density's bits/dim on "
             f"these rows: {true[0]:.5f}. With the exact denoiser (pdec.runtime.likelihood.gaussian_denoiser: closed "
             "form for diffusion, a quadrature over S_t otherwise) and the exact normalisation (mean 0, scale "
             f"{GAUSS_S / rdata.SIGMA_DATA:g}), pdec's routine (rk4, 32 steps, the data rule's sigma_max) against the "
             "exact log-density of p_{sigma_min} (the data convolved with the kernel at sigma_min, "
             "prior.log_mixture):", "",
             "| law (model) | sigma_max | rk4 steps | pdec bits/dim | exact bits/dim | max abs error (nats/dim) | "
             "mean error (nats/dim) | solver alone: max abs error (nats/dim) |", "|---|---|---|---|---|---|---|---|"]
    for r in ex:
        tag = " (data rule)" if r.get("sigma_max_rule") else ""
        lines.append(f"| {_label(r['model'])} | {r['sigma_max']:.4g}{tag} | {r['steps']} | {r['bits_per_dim']:.5f} | "
                     f"{r['exact_bits_per_dim']:.5f} | {r['max_abs_err_nats_per_dim']:.1e} | "
                     f"{r['mean_err_nats_per_dim']:+.1e} | {r['solver_max_abs_err_nats_per_dim']:.1e} |")
    lines += ["", "Solver alone: the true marginal at t_max (data convolved with the kernel) in place of the prior "
              "q_T, so the difference to the full error is the prior's mismatch at sigma_max: at the data rule's "
              "sigma_max (a 1 % prior scale error, chosen for sampling) it is the larger part, at sigma_max = "
              f"{CHECK_SIGMA_MAX:g} it is negligible."]
    lines += ["", "The trained models on the same data (their own estimated normalisation) are the `gaussian` "
              f"column of the table above; the true density gives {true[0]:.4f} bits/dim there.", ""]
    return lines


def _cost_table(rows, sets, models) -> list[str]:
    lines = ["## Cost per point", "",
             "Network forward calls and backward (vector-Jacobian) passes per point, counted by a wrapper around "
             "the network (common._Counting plus a backward tap); NFE = their sum. Wall time per 1000 points on "
             "this machine (1 thread), per data set.", "",
             "| model | solver | steps | divergence | " + " | ".join(
                 f"{d} fwd + vjp = NFE" for d in sets) + " | " + " | ".join(f"{d} s/1000" for d in sets) + " |",
             "|---|---|---|---|" + "---|" * (2 * len(sets))]
    for m in models:
        rs = {d: [r for r in rows if r["kind"] == "model" and r["model"] == m and r["dataset"] == d] for d in sets}
        any_r = next((v[0] for v in rs.values() if v), None)
        if any_r is None:
            continue
        nfe = [f"{v[0]['nfe_forward']:.0f} + {v[0]['nfe_vjp']:.0f} = {v[0]['nfe']:.0f}" if v else "" for v in
               rs.values()]
        sec = [f"{np.mean([r['s_per_1000'] for r in v]):.1f}" if v else "" for v in rs.values()]
        divs = "/".join(dict.fromkeys(v[0]["divergence"] for v in rs.values() if v))
        solver = "rk4" + (" (torchdiffeq)" if m == "flow_matching" else "")
        lines.append(f"| {_label(m)} | {solver} | {any_r['steps']} | {divs} | " + " | ".join(nfe) + " | "
                     + " | ".join(sec) + " |")
    return lines + [""]


def _ranks(v):
    return np.argsort(np.argsort(np.asarray(v, dtype=float))).astype(float)


def _agreement(rows, sets, st) -> list[str]:
    """Spearman's rank correlation of bits/dim with quality.md's SW2 at NFE 35 (same networks), per data set."""
    q = C.RESULTS / ("quick" if st["steps"] == 800 and st["seeds"] == [0] else "") / "quality.json"
    if not q.exists():
        return []
    qrows = json.loads(q.read_text())
    lines = []
    for d in sets:
        pairs = []
        key = "fd" if any(r.get("fd") is not None for r in qrows if r["dataset"] == d) else "sw2"
        for m in dict.fromkeys(r["model"] for r in rows if r["kind"] == "model" and r["dataset"] == d):
            sw = [r[key] for r in qrows if r["model"] == m and r["dataset"] == d and r["nfe"] == 35
                  and r["seed"] in st["seeds"] and r.get(key) is not None]
            a = _agg(rows, "model", m, d)
            if sw and a is not None:
                pairs.append((a[0], float(np.mean(sw))))
        if len(pairs) >= 4:
            rb, rs = _ranks([p[0] for p in pairs]), _ranks([p[1] for p in pairs])
            rho = float(np.corrcoef(rb, rs)[0, 1])
            lines.append(f"- {d} ({'Frechet distance' if key == 'fd' else 'sliced W2'}): Spearman's rho = {rho:.2f} "
                         f"over {len(pairs)} models")
    if not lines:
        return []
    return (["## Agreement with sample quality", "",
             f"Rank correlation, across models, of bits/dim (above) with the sliced W2 (digits: the classifier Frechet "
             f"distance) of their samples at NFE 35 in "
             f"{q.relative_to(C.ROOT)} (the same networks): positive = the likelihood ranks the models as the sample "
             "quality does.", ""] + lines + [""])


def _convergence_table(rows) -> list[str]:
    cv = [r for r in rows if r["kind"] == "convergence"]
    if not cv:
        return []
    steps = sorted({r["steps"] for r in cv})
    lines = ["## Solver steps: does 32 suffice?", "",
             f"bits/dim on {cv[0]['dataset']} ({cv[0]['n']} held-out rows, seed {cv[0]['seed']}) against the number "
             "of rk4 steps (NFE = 4 x steps forward calls, each with dim backward passes).", "",
             "| model | " + " | ".join(f"{s} steps" for s in steps) + " | |32 - 64| |",
             "|---|" + "---|" * (len(steps) + 1)]
    for m in dict.fromkeys(r["model"] for r in cv):
        v = {r["steps"]: r["bits_per_dim"] for r in cv if r["model"] == m}
        diff = f"{abs(v[32] - v[64]):.1e}" if 32 in v and 64 in v else ""
        lines.append(f"| {_label(m)} | " + " | ".join(f"{v[s]:.4f}" for s in steps) + f" | {diff} |")
    return lines + [""]


def main(argv=None):
    C.set_command(__file__, argv)
    ap = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), "about 15 minutes")
    ap.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(C.BY_NAME))
    ap.add_argument("--n-rows", type=int, default=None, help="held-out rows per data set (default 2000 on 2-D, "
                    "500 on digits, i.e. all 397)")
    ap.add_argument("--lik-steps", type=int, default=None, help="rk4 steps of the likelihood solve (default 32)")
    ap.add_argument("--batch", type=int, default=512, help="training batch (quality.py's)")
    ap.add_argument("--resume", action="store_true", help="keep the rows already in OUT/likelihood.json (same "
                    "settings; add data sets or seeds)")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
