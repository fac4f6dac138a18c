"""Why Yukawa (m = 1, no D) and mixed diffusion-Poisson stall at NFE 35 (issue 12): the measurements.

    python benchmarks/stall.py            # < 10 min on one core; writes benchmarks/results/stall.md

1. The law: E[S_t]/sigma^2 and the extra target noise E[(1 - c/a)^2 S_t]/sigma^2 of y_eff = x - u/a
   (0 for self-similar laws), per sigma.
2. The final-time mismatch: SW2(data * kernel(t_min), data) on moons at sigma_min = 0.002 and 2e-5.
3. Exact transport: Gaussian data N(0, s^2 I_2), s = 0.06; the radial ODE d ln r / d ln sigma = g
   with the quadrature denoiser of tests/test_solvers.py (DOP853) against the marginal's radius quantiles.
4. The exact generalised denoiser on a known distribution: a 16-component spherical Gaussian mixture
   fitted to normalised moons (sum over components and a grid in ln S): Heun at NFE 35 from the prior,
   SW2 over seeds, against the mixture's own 2000-draw SW2 spread.
5. Training: diffusion and Yukawa trained (800 steps, benchmarks/common.py protocol) on that mixture;
   RMS |D_net - D*| per sigma, split into bulk (S < 10 sigma^2) and tail draws, and the weighted
   irreducible loss lambda(sigma) E|y_eff - D*(x)|^2 / N (diffusion's is <= 1).
6. Moons (the trained 800-step models of the benchmark cache): distance of NFE-35 samples to the
   training set (off-manifold samples).
7. Training-side remedies (``--remedies``, about 25 min on one core): moons, Heun NFE 35 SW2 of Yukawa and
   mixed with the batch-posterior target (train.target: batch_posterior), EDM's training sigmas moved down
   (ln sigma ~ N(-2, 1.2^2), since made the default of these laws) and a 2x wider MLP, each against EDM's
   training sigmas (the baseline) and diffusion in the same run.
8. The anchored scale (``--anchored``, pdec.runtime.precond; about 50 min on one core at 4000 steps and one
   seed, or fill the cache first with ``--anchored --datasets ...`` in parallel): every 2-D set, diffusion,
   Yukawa, mixed and PFGM (D = 1) trained with and without it, SW2 at NFE 5, 11 (Euler / Heun) and 35 (Heun),
   and the ratio to diffusion at NFE 35; means over training seeds and ``--draws`` sample draws per model
   (one draw of 5000 moves SW2 by up to 1.5x: diffusion on moons 0.0166 / 0.0246 for sample seeds 0 / 1).
9. The training sigmas under the anchored scale (``--p-mean``, moons, 4000 steps, seed 0; about 8 min on one
   core): Yukawa and mixed at ln sigma ~ N(p_mean, 1.2^2) for p_mean -1.2 (EDM), -2.0 (their default) and -2.6,
   SW2 at Heun NFE 11, 35 and 101 (101 against 35 separates the solver's error from the network's).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common as C  # noqa: E402
from pdec.runtime import sampler as rs  # noqa: E402
from pdec.runtime.data import sliced_w2  # noqa: E402
from pdec.runtime.laws import Deterministic  # noqa: E402
from pdec.runtime.precond import P_MEAN  # noqa: E402

F64 = torch.float64
SIGMAS = (0.002, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
MODELS = ("diffusion", "yukawa", "mixed", "pfgm")


def law_table(out):
    out += ["## 1. Target noise of the law (Monte Carlo, 4e5 draws)", "",
            "| model | law | " + " | ".join(f"sigma {s:g}" for s in SIGMAS) + " |", "|---|---|" + "---:|" * len(SIGMAS)]
    for name in MODELS:
        k = C.pdec_kernel(C.BY_NAME[name])
        if isinstance(k.law, Deterministic):
            continue
        cells = []
        for s in SIGMAS:
            t = k.sigma_inv(torch.tensor(s, dtype=F64))
            S, dS = k.law.sample_with_rate(t.expand(400000).clone(), torch.Generator().manual_seed(0))
            ca = dS / (2 * S) / k.law.dlog_sigma_dt(t)
            cells.append(f"{float(S.mean()) / s**2:.3g} / {float(((1 - ca) ** 2 * S).mean()) / s**2:.3g}")
        out.append(f"| {name} | {k.law!r} | " + " | ".join(cells) + " |")
    out += ["", "Each cell: E[S_t]/sigma^2 / E[(1 - c/a)^2 S_t]/sigma^2 (the second is y_eff - y's variance per "
            "coordinate in units of sigma^2; 0 for diffusion and every self-similar law).", ""]


def final_time(out, ds):
    out += ["## 2. The marginal at sigma_min against the data (moons, 5000 training points, data units)", "",
            "| model | SW2 at sigma_min 0.002 | at 2e-5 | t_min (0.002) | q99.9 of sqrt(S) (0.002) |",
            "|---|---:|---:|---:|---:|"]
    y = ds.train[:5000].double()
    for name in MODELS:
        k = C.pdec_kernel(C.BY_NAME[name])
        row = []
        for smin in (0.002, 2e-5):
            t = float(k.sigma_inv(torch.tensor(smin, dtype=F64)))
            tt = torch.full((len(y),), t, dtype=F64)
            x, _ = k.perturb(y, tt, generator=torch.Generator().manual_seed(0))
            row.append(sliced_w2(ds.denormalise(x), ds.denormalise(y)))
            if smin == 0.002:
                t0 = t
                S = k.sample_scale(torch.full((200000,), t, dtype=F64), generator=torch.Generator().manual_seed(1))
                q = float(S.sqrt().quantile(0.999))
        out.append(f"| {name} | {row[0]:.4f} | {row[1]:.4f} | {t0:.3g} | {q:.3g} |")
    out += ["", "Against the stall (Yukawa 0.089 vs diffusion 0.045 at 800 steps) the final-time mismatch is small.",
            ""]


def transport(out):
    sys.path.insert(0, str(C.ROOT / "tests"))
    from scipy.integrate import solve_ivp
    from scipy.stats import chi2
    from test_solvers import QuadratureDenoiser

    out += ["## 3. Exact transport (Gaussian data s = 0.06, N = 2; radius quantiles 0.5 / 0.9 / 0.99 / 0.999)", "",
            "| model | sigma | ODE radius | marginal quantiles |", "|---|---:|---|---|"]
    s, qs, smax = 0.06, [0.5, 0.9, 0.99, 0.999], 4.58
    for name in ("yukawa", "mixed"):
        k = C.pdec_kernel(C.BY_NAME[name])
        den = QuadratureDenoiser(k.law, s, 2)

        def marg(sig, k=k):
            t = float(k.sigma_inv(torch.tensor(sig, dtype=F64)))
            S = k.law.sample(torch.full((1_000_000,), t, dtype=F64), torch.Generator().manual_seed(0))
            r = ((s * s + S) * torch.from_numpy(chi2.rvs(2, size=len(S), random_state=1))).sqrt()
            return torch.quantile(r, torch.tensor(qs, dtype=F64)).numpy()

        def rhs(u, yy, den=den):
            return den.g(torch.from_numpy(np.exp(2.0 * yy)), math.exp(u)).numpy()

        r0 = marg(smax)
        for smin in (0.1, 0.01, 0.002):
            sol = solve_ivp(rhs, (math.log(smax), math.log(smin)), np.log(r0), method="DOP853", rtol=1e-8, atol=1e-10)
            ode = np.exp(sol.y[:, -1]).round(4).tolist()
            out.append(f"| {name} | {smin:g} | {ode} | {marg(smin).round(4).tolist()} |")
    out += ["", "The generalised flow transports the marginals (quantiles agree to the Monte-Carlo error).", ""]


class GMM:
    """A spherical Gaussian mixture fitted to normalised data, and the exact generalised denoiser of a kernel."""

    def __init__(self, x, k=16):
        from sklearn.mixture import GaussianMixture

        gm = GaussianMixture(k, covariance_type="spherical", random_state=0).fit(x.numpy())
        self.mu, self.s2, self.pi = (torch.tensor(a, dtype=F64) for a in (gm.means_, gm.covariances_, gm.weights_))

    def sample(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        k = torch.multinomial(self.pi, n, replacement=True, generator=g)
        return self.mu[k] + self.s2[k].sqrt()[:, None] * torch.randn(n, 2, generator=g, dtype=F64)


class ExactDenoiser:
    """D*(x, sigma) = x - sum_{k, S} w (c/a) S/(s_k^2 + S) (x - mu_k), w the posterior of (k, S) given x (ln S grid)."""

    def __init__(self, gmm, kernel, n=400, lo=-32.0, hi=6.0):
        self.g, self.k, self.cache = gmm, kernel, {}
        self.u = torch.linspace(lo, hi, n, dtype=F64)

    def _at(self, sigma):
        if sigma not in self.cache:
            law = self.k.law
            t = self.k.sigma_inv(torch.tensor(sigma, dtype=F64))
            if isinstance(law, Deterministic):
                S, lw, ca = torch.tensor([sigma**2], dtype=F64), torch.zeros(1, dtype=F64), torch.ones(1, dtype=F64)
            else:
                S = self.u.exp()
                lw = law.log_pdf(S, t) + self.u
                ca = law.rate(S, t) / (2 * S) / law.dlog_sigma_dt(t)
                ok = torch.isfinite(lw) & torch.isfinite(ca)
                lw, ca = torch.where(ok, lw, torch.full_like(lw, -1e300)), torch.where(ok, ca, torch.zeros_like(ca))
            self.cache[sigma] = (S, lw, ca)
        return self.cache[sigma]

    def __call__(self, x, sigma):
        x = x.double()
        S, lw, ca = self._at(float(sigma[0]))
        mu, s2, pi = self.g.mu, self.g.s2, self.g.pi
        v = s2[:, None] + S[None, :]
        d2 = (x[:, None, :] - mu[None]).square().sum(-1)
        logw = pi.log()[None, :, None] + lw[None, None, :] - v.log()[None] - d2[:, :, None] / (2 * v[None])
        w = torch.softmax(logw.reshape(len(x), -1), 1).reshape(logw.shape)
        coef = (w * (ca[None] * S[None] / v)[None]).sum(-1)
        return x - (coef[:, :, None] * (x[:, None, :] - mu[None])).sum(1)


def exact_sampling(out, ds, gmm, seeds):
    ref = gmm.sample(5000, 1)
    lam = rs.top_eigenvalue(gmm.sample(20000, 3))

    def score(x):
        return sliced_w2(ds.denormalise(x), ds.denormalise(ref))

    fl = [score(gmm.sample(2000, 100 + i)) for i in range(len(seeds) * 3)]
    out += ["## 4. Exact generalised denoiser on a 16-component Gaussian mixture fitted to moons (Heun, NFE 35)", "",
            f"SW2 (data units) of 2000 samples against 5000 mixture draws. The mixture's own 2000-draw SW2 over "
            f"{len(fl)} seeds: mean {np.mean(fl):.4f}, range {min(fl):.4f}-{max(fl):.4f} (the metric's noise).", "",
            "| model | sigma_max | SW2 per seed | mean |", "|---|---:|---|---:|"]
    for name in ("diffusion", "yukawa", "mixed"):
        k = C.pdec_kernel(C.BY_NAME[name])
        E = ExactDenoiser(gmm, k)
        smax, _ = rs.choose_sigma_max(k, lam)
        t_max = float(k.sigma_inv(torch.tensor(smax, dtype=F64)))
        res = []
        for seed in seeds:
            x0 = rs.prior(k, 2000, (2,), t_max, generator=torch.Generator().manual_seed(seed), dtype=F64)
            res.append(score(rs.solve(E, x0, rs.edm_sigmas(18, rs.SIGMA_MIN, smax), "heun")))
        out.append(f"| {name} | {smax:.3g} | {', '.join(f'{r:.4f}' for r in res)} | {np.mean(res):.4f} |")
    out += ["", "With the exact denoiser Yukawa and mixed sample as well as diffusion (within the metric's noise): "
            "the ODE, the target's definition and sigma_min are not the cause.", ""]


def trained_vs_exact(out, ds, gmm, steps):
    yg = gmm.sample(20000, 11).float()
    gds = replace(ds, name="gmm16moons", train=yg, train_raw=ds.denormalise(yg).astype(np.float32),
                  lam_max=rs.top_eigenvalue(yg))
    out += [f"## 5. Trained ({steps} steps) against exact on the mixture", "",
            "RMS |D_net - D*| (normalised units) at x from the marginal (2000 draws), all / bulk (S < 10 sigma^2) / "
            "tail draws (count); mean |x - D| on the tail for D* and D_net; the weighted irreducible loss "
            "lambda E|y_eff - D*|^2 / N.", "",
            "| model | sigma | all | bulk | tail (n) | tail mean abs(x - D*) / abs(x - D_net) | irreducible loss |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name in ("diffusion", "yukawa"):
        tr = C.train(C.BY_NAME[name], gds, C.TrainConfig(steps=steps), 0, cache=None)
        k, E, net = tr.kernel, ExactDenoiser(gmm, tr.kernel), tr.denoiser()
        for sig in SIGMAS:
            t = k.sigma_inv(torch.tensor(sig, dtype=F64))
            y = gmm.sample(2000, 12)
            g = torch.Generator().manual_seed(3)
            x, u = k.perturb(y, t.expand(2000).clone(), generator=g)
            S = (x - y).square().sum(1)  # abs(x - y)^2 = S chi^2_2, a proxy of 2 S
            tail = S > 20 * sig**2  # S > 10 sigma^2, roughly
            sv = torch.full((2000,), sig, dtype=F64)
            Dx = E(x, sv)
            with torch.no_grad():
                Dn = net(x.float(), sv.float()).double()
            err = (Dn - Dx).norm(dim=1)

            def rms(v, m):
                return float(v[m].square().mean().sqrt()) if bool(m.any()) else 0.0

            lam = (sig**2 + 0.25) / (sig**2 * 0.25)
            irr = lam * float((k.denoiser_target(x, u, t) - Dx).square().sum(1).mean()) / 2
            ta = f"{float((x - Dx)[tail].norm(dim=1).mean()):.4f} / {float((x - Dn)[tail].norm(dim=1).mean()):.4f}" \
                if bool(tail.any()) else "-"
            out.append(f"| {name} | {sig:g} | {rms(err, err == err):.4f} | {rms(err, ~tail):.4f} | "
                       f"{rms(err, tail):.4f} ({int(tail.sum())}) | {ta} | {irr:.3g} |")
    out += [""]


def off_manifold(out, ds, steps):
    out += [f"## 6. Moons, trained ({steps} steps, seed 0): NFE-35 samples' distance to the training set", "",
            "| model | SW2 | quantiles 0.5 / 0.9 / 0.99 / 0.999 of the distance (normalised) | samples > 0.1 |",
            "|---|---:|---|---:|"]
    tr_pts = ds.train.double()
    q = torch.tensor([0.5, 0.9, 0.99, 0.999], dtype=F64)
    for name in ("diffusion", "yukawa", "mixed"):
        tr = C.train(C.BY_NAME[name], ds, C.TrainConfig(steps=steps), 0)
        x = tr.sample(2000, 35, 0, normalised=True).double()
        d = torch.cdist(x, tr_pts).min(1).values
        sw2 = sliced_w2(ds.denormalise(x), ds.test_raw)
        out.append(f"| {name} | {sw2:.4f} | {d.quantile(q).numpy().round(3).tolist()} | {int((d > 0.1).sum())} |")
    ref = torch.cdist(torch.from_numpy(ds.test_raw[:2000]).double(), torch.from_numpy(ds.train_raw).double())
    out.append(f"| held-out data | - | {(ref.min(1).values / ds.scale).quantile(q).numpy().round(3).tolist()} | - |")
    out += [""]


#: section 7's changes: (label, TrainConfig overrides); the baseline is EDM's protocol, without the anchored scale
REMEDIES = tuple((label, {**over, "anchored": False}) for label, over in (  # measured before the anchored scale
    ("none (baseline)", {"p_mean": P_MEAN}),
    ("batch-posterior target", {"target": "batch_posterior", "p_mean": P_MEAN}),
    ("ln sigma ~ N(-2.0, 1.2^2)", {"p_mean": -2.0}), ("MLP width 512", {"width": 512, "p_mean": P_MEAN})))


def remedies(out, ds, seeds=(0, 1), steps=800, long_steps=4000):
    """SW2 at Heun NFE 35 on moons per change, model and seed; the long rows skip the slow batch posterior."""
    out += [f"## 7. Training-side remedies (moons, Heun NFE 35, SW2 in data units; {steps} steps seeds "
            f"{', '.join(map(str, seeds))}, and {long_steps} steps seed 0)", "",
            "| model | change | " + " | ".join(f"{steps} steps s{s}" for s in seeds) + f" | {long_steps} steps s0 |",
            "|---|---|" + "---:|" * (len(seeds) + 1)]
    scorer = C.Scorer(ds)

    def sw2(name, over, n_steps, seed):
        tr = C.train(C.BY_NAME[name], ds, replace(C.TrainConfig(steps=n_steps), **over), seed)
        return scorer.score(tr.sample(5000, 35, seed), mmd=False)["sw2"]

    for name in ("diffusion", "yukawa", "mixed"):
        for label, over in REMEDIES if name != "diffusion" else REMEDIES[:1]:
            if name == "mixed" and "width" in over:
                continue
            cells = [f"{sw2(name, over, steps, s):.4f}" for s in seeds]
            cells.append("-" if "target" in over else f"{sw2(name, over, long_steps, 0):.4f}")
            out.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
            print(out[-1], flush=True)
    out += [""]


def _nn_median(x, train) -> float:
    """The median distance of the rows of x to their nearest training row (data units)."""
    return float(torch.cdist(torch.as_tensor(np.asarray(x), dtype=F64), torch.as_tensor(train, dtype=F64))
                 .min(1).values.median())


def anchored_table(out, datasets, seeds, steps=4000, draws=1, plain_seeds=None):
    """SW2 at NFE 5, 11, 35 per set, model and anchored scale (off / on, the default), means over training seeds
    and ``draws`` sample draws of each model (the draw's noise is of the size of the differences measured); and the
    NFE-35 samples' median distance to the nearest training row over the held-out rows' (copying gives << 1).
    ``plain_seeds`` (default ``seeds``): the training seeds of the models without the anchored scale."""
    nfes = (5, 11, 35)
    plain_seeds = seeds if plain_seeds is None else plain_seeds
    which = (f"seeds {', '.join(map(str, seeds))}" if plain_seeds == seeds else
             f"seeds {', '.join(map(str, seeds))} with it, {', '.join(map(str, plain_seeds))} without")
    out += [f"## 8. The anchored scale on the 2-D sets ({steps} steps, {which}, {draws} draws of 5000 samples "
            "per model; SW2 in data units, means over seeds and draws)", "",
            "The last column: the NFE-35 samples' median distance to their nearest training row over the "
            "held-out rows' (a model that copies its training rows scores << 1).", "",
            "| data | model | anchored | " + " | ".join(f"NFE {k}" for k in nfes) + " | NFE 35 / diffusion's | "
            "nearest-row distance / held-out's |", "|---|---|---|" + "---:|" * (len(nfes) + 2)]
    costs = []
    for name, path in datasets:
        ds = C.load_data(name, path)
        scorer = C.Scorer(ds)
        held_out = _nn_median(ds.test_raw, ds.train_raw)
        cells, runs_train_s = {}, {}
        for model in MODELS:
            for anchored in (False, True):
                sw2 = {k: [] for k in nfes}
                near = []
                for seed in seeds if anchored else plain_seeds:
                    tr = C.train(C.BY_NAME[model], ds, C.TrainConfig(steps=steps, anchored=anchored), seed)
                    for draw in range(draws):  # draw 0 is the sample seed of the single-draw runs
                        for k in nfes:
                            x = tr.sample(5000, k, seed + 100 * draw)
                            sw2[k].append(scorer.score(x, mmd=False)["sw2"])
                        near.append(_nn_median(x, ds.train_raw) / held_out)
                    runs_train_s.setdefault(anchored, []).append(tr.train_s)
                cells[model, anchored] = [float(np.mean(sw2[k])) for k in nfes] + [float(np.mean(near))]
        base = cells["diffusion", True][len(nfes) - 1]
        costs.append(_anchor_cost(ds, runs_train_s))
        for (model, anchored), v in cells.items():
            out.append(f"| {name} | {model} | {'yes' if anchored else 'no'} | "
                       + " | ".join(f"{x:.4f}" for x in v[:-1]) + f" | {v[-2] / base:.2f} | {v[-1]:.2f} |")
            print(out[-1], flush=True)
    out += ["", "The anchored scale's cost: its time per denoiser call (a search among 256 coarse anchors, then "
            "among all for the rows that may be inflated; exact) against one backbone call (batch 10000, one "
            "thread, median of 5), at sigma_min and averaged over EDM's 18-step grid; and the training time with / "
            "without it (a cached model's time is that of its own run):", "",
            "| data | anchors | scale / backbone at sigma_min | mean over the grid | training time with / without |",
            "|---|---:|---:|---:|---:|", *costs, ""]


PMEANS = (P_MEAN, -2.0, -2.6)


def pmean_table(out, ds, p_means=PMEANS, steps=4000, seed=0):
    """SW2 at Heun NFE 11, 35, 101 of the anchored Yukawa and mixed models per training mean of ln sigma."""
    nfes = (11, 35, 101)
    out += [f"## 9. The training sigmas under the anchored scale ({ds.name}, {steps} steps, seed {seed}, Heun, "
            "SW2 in data units)", "",
            "| model | ln sigma ~ N(p_mean, 1.2^2) | " + " | ".join(f"NFE {k}" for k in nfes)
            + " | NFE 35 / diffusion's |", "|---|---:|" + "---:|" * (len(nfes) + 1)]
    scorer = C.Scorer(ds)
    base = None
    for name in ("diffusion", "yukawa", "mixed"):
        for p_mean in (None,) if name == "diffusion" else p_means:
            tr = C.train(C.BY_NAME[name], ds, C.TrainConfig(steps=steps, p_mean=p_mean), seed)
            sw2 = [scorer.score(tr.sample(5000, k, seed), mmd=False)["sw2"] for k in nfes]
            base = sw2[1] if base is None else base
            label = f"{P_MEAN:g} (default)" if p_mean is None else f"{p_mean:g}"
            out.append(f"| {name} | {label} | " + " | ".join(f"{x:.4f}" for x in sw2) + f" | {sw2[1] / base:.2f} |")
            print(out[-1], flush=True)
    out += [""]


def _anchor_cost(ds, train_s) -> str:
    """A table row: the anchored scale's time (coarse search, then the full one where needed) over the MLP
    backbone's at batch 10000, at sigma_min and averaged over EDM's 18-step grid (x = a data row + sigma noise),
    and the training-time ratio of the anchored runs over the others."""
    from pdec.runtime.model import MLP
    from pdec.runtime.precond import Precond

    pre = Precond(MLP(ds.dim), ds.dim, data=ds.train)
    g = torch.Generator().manual_seed(0)
    y = ds.train[torch.randint(ds.train.shape[0], (10000,), generator=g)]
    c = torch.zeros(10000)

    def median_s(fn):
        fn()
        times = []
        for _ in range(5):
            a = time.perf_counter()
            fn()
            times.append(time.perf_counter() - a)
        return float(np.median(times))

    ratios = []
    with torch.no_grad():
        backbone = median_s(lambda: pre.backbone(y, c))
        for sigma in rs.edm_sigmas(18, sigma_max=4.5)[:-1].tolist():
            x = y + sigma * torch.randn(y.shape, generator=g)
            s = torch.full((10000,), sigma)
            ratios.append(median_s(lambda x=x, s=s: pre.anchored_sigma2(x, s)) / backbone)
    train = np.mean(train_s.get(True, [np.nan])) / np.mean(train_s.get(False, [np.nan]))
    return f"| {ds.name} | {pre.anchors.shape[0]} | {ratios[-1]:.3f} | {np.mean(ratios):.3f} | {train:.2f} |"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=C.RESULTS / "stall.md")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--seeds", type=int, default=3, help="exact-sampling seeds (section 4)")
    ap.add_argument("--remedies", action="store_true", help="run section 7 alone and replace it in OUT")
    ap.add_argument("--anchored", action="store_true", help="run section 8 alone and replace it in OUT")
    ap.add_argument("--p-mean", action="store_true", help="run section 9 alone and replace it in OUT")
    ap.add_argument("--datasets", default=",".join(C.TOY_SETS), help="section 8's data sets")
    ap.add_argument("--anchored-seeds", default="0", help="section 8's training seeds, comma-separated")
    ap.add_argument("--plain-seeds", default=None, help="section 8's training seeds without the anchored scale "
                    "(default: --anchored-seeds)")
    ap.add_argument("--draws", type=int, default=5, help="section 8's sample draws per trained model")
    args = ap.parse_args(argv)
    C.set_command(__file__, argv)
    torch.set_num_threads(1)
    t0 = time.time()
    ds = C.load_data("moons")
    gmm = GMM(ds.train)
    out: list[str] = []
    sections = {"remedies": ("## 7. ", lambda: remedies(out, ds)),
                "anchored": ("## 8. ", lambda: anchored_table(
                    out, [(n, None) for n in args.datasets.split(",")], C.int_list(args.anchored_seeds),
                    draws=args.draws, plain_seeds=C.int_list(args.plain_seeds or args.anchored_seeds))),
                "p_mean": ("## 9. ", lambda: pmean_table(out, ds))}
    for flag, (head, run) in sections.items():
        if getattr(args, flag):
            run()
            _replace_section(args.out, head, out)
            print(f"-> {args.out}")
            return
    for step in (lambda: law_table(out), lambda: final_time(out, ds), lambda: transport(out),
                 lambda: exact_sampling(out, ds, gmm, list(range(5, 5 + args.seeds))),
                 lambda: trained_vs_exact(out, ds, gmm, args.steps), lambda: off_manifold(out, ds, args.steps)):
        step()
        print("\n".join(out[-12:]), flush=True)
    text = "\n".join(C.header("Why Yukawa and mixed diffusion-Poisson stall at NFE 35 (measurements)", [0],
                              time.time() - t0) + out) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.exists() and FINDINGS in args.out.read_text(encoding="utf-8"):
        text += FINDINGS + args.out.read_text(encoding="utf-8").split(FINDINGS, 1)[1]  # keep the written findings
    args.out.write_text(text, encoding="utf-8")
    print(f"-> {args.out}")


#: the heading of the hand-written interpretation in results/stall.md (kept when the tables are rewritten)
FINDINGS = "## Findings"


def _replace_section(path: Path, head: str, lines: list[str]) -> None:
    """Put ``lines`` (a section starting with ``head``) into the file at path, in place of an older one, before
    the findings; the command that produced it is written under its heading."""
    text = path.read_text(encoding="utf-8")
    body, findings = (text.split(FINDINGS, 1) + [""])[:2]
    if head in body:
        start = body.index(head)
        end = body.find("\n## ", start + 1)
        body = body[:start] + body[len(body) if end < 0 else end + 1:]
    section = [lines[0], "", f"Command: `{C.command()}`  ", *lines[1:]]
    path.write_text(body.rstrip("\n") + "\n\n" + "\n".join(section) + "\n" +
                    (FINDINGS + findings if findings else ""), encoding="utf-8")

if __name__ == "__main__":
    main()
