"""``pdec generate`` and ``pdec plot`` (click commands registered by pdec.cli; they import torch / matplotlib).

- ``generate CONFIG -o OUT [--force]``: render the package (pdec.emit), print the warnings (a
  conditional PDE's regime), the kernel and the sigma_max that was chosen and why.
- ``plot EXPR --param m=1 -o FILE.png``: three panels: Im omega(k) and Re omega(k) of every branch
  (the C2 failing band shaded: where the dominant kept branch does not decay faster than k = 0),
  and the kernel's radial law at a few t: the density of r = |x - y| in N dimensions,
  |S^(N-1)| r^(N-1) q_t(r), from pdec.green's numerical inverse Fourier transform.
"""

from __future__ import annotations

import math

import click

from .errors import PdecError


def _fail(message: str) -> None:
    from .cli import fail

    fail(message)


@click.command("generate")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False), help="the package folder to write")
@click.option("--force", is_flag=True, help="replace OUT if it is a package pdec generated")
def generate_command(config: str, out: str, force: bool) -> None:
    """Emit a self-contained PyTorch package (train, sample, tests) from the YAML file CONFIG."""
    from .emit import generate

    try:
        g = generate(config, out, force=force)
    except PdecError as e:
        _fail(str(e))
    except RecursionError:
        _fail("the configuration is too deeply nested")
    p = g.plan
    for w in p.warnings:
        click.echo(f"pdec: warning: {w}", err=True)
    click.echo(f"PDE        {p.pde_text}   (s-generative: {p.verdict})")
    if p.law_table:
        click.echo("kernel     x = y + rho_t xi/|xi|,  rho_t from a tabulated radial law (law_table.json)")
    else:
        click.echo(f"kernel     x = y + sqrt(S_t) xi,  S_t ~ {p.law_source}")
    click.echo(f"sigma_max  {p.sigma_max_why}")
    click.echo(f"wrote {len(g.files)} files to {g.out}")
    click.echo(f"next:      python -m pytest {out} && python {out}/train.py && "
               f"python {out}/sample.py -n 5000 --out samples.npy --plot samples.png")


# ----------------------------------------------------------------------------------------------
# plot


def _lambdify_k(expr, values):
    import numpy as np
    import sympy as sp

    from .pde import k

    f = sp.lambdify(k, sp.sympify(expr).subs(values), modules=["scipy", "numpy"])
    return lambda kk: np.broadcast_to(np.asarray(f(np.asarray(kk, dtype=complex)), dtype=complex), np.shape(kk))


def plot_pde(compiled, path: str, dim: int = 2, k_max: float | None = None, times=None) -> dict:
    """Draw the dispersion branches and the kernel's radial law of a compiled PDE into ``path`` (PNG).

    Returns what was drawn: {"band": (k_lo, k_hi) or None, "times": [...], "negative": the lowest radial
    density, "curves": [(t, r, density of |x - y| at r)]}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import sympy as sp

    from . import green
    from .pde import k as k_sym
    from .pde import t as t_sym

    values = dict(compiled.values)
    kern = compiled.kernel
    params = sorted((s.name, float(v)) for s, v in values.items())
    scale = max([1.0] + [v for _, v in params])
    k_max = float(k_max) if k_max else 4.0 * scale
    kk = np.linspace(k_max / 2000, k_max, 2000)
    s_all = compiled.dispersion.numeric_s(values, kk)  # [branches, len(kk)]
    omega = 1j * s_all

    # the dominant kept branch (or all branches when there is no kernel): C2 fails where Re s(k) >= Re s(0)
    kept = [_lambdify_k(sj, values) for sj in kern.kept] if kern is not None and kern.kept else None
    if kept:
        re_dom = np.max([f(kk).real for f in kept], 0)
        re_0 = max(float(f(np.array([1e-9]))[0].real) for f in kept)
    else:
        re_dom = s_all.real.max(0)
        re_0 = float(compiled.dispersion.numeric_s(values, np.array([1e-9])).real.max())
    fails = re_dom >= re_0 - 1e-9 * max(1.0, abs(re_0))
    band = None
    if fails.any():
        band = (float(kk[fails].min()), float(kk[fails].max()))

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for j in range(omega.shape[0]):
        axes[0].plot(kk, omega[j].imag, lw=1.6, label=f"branch {j + 1}")
        axes[1].plot(kk, omega[j].real, lw=1.6, label=f"branch {j + 1}")
    if kept:
        axes[0].plot(kk, re_dom, "k--", lw=1.0, label="kept (dominant)")
    for ax, title in ((axes[0], "Im omega(k)  (growth rate)"), (axes[1], "Re omega(k)  (oscillation)")):
        ax.axhline(0.0, color="grey", lw=0.6)
        if fails.any():
            ax.fill_between(kk, 0, 1, where=fails, color="red", alpha=0.15, transform=ax.get_xaxis_transform(),
                            label="C2 fails")
        ax.set_xlabel("k")
        ax.set_title(title)
        ax.legend(fontsize=8)
    ptxt = ", ".join(f"{n}={v:g}" for n, v in params)
    fig.suptitle(f"{compiled.source.text}    {ptxt}    C1 {compiled.c1.verdict}, C2 {compiled.c2.verdict}, "
                 f"s-generative: {compiled.verdict}", fontsize=10)

    ax = axes[2]
    info = {"band": band, "times": [], "negative": None, "curves": []}
    if kern is None:
        ax.text(0.5, 0.5, "no kernel", ha="center", va="center", transform=ax.transAxes)
    else:
        t_bound = float(kern.t_max_bound) if kern.t_max_bound is not None else None
        if times is None:
            times = [0.25, 0.5, 1.0, 2.0]
            if t_bound is not None:
                times = [f * t_bound for f in (0.1, 0.3, 0.6, 0.9)]
        qfun = sp.lambdify((k_sym, t_sym), kern.q.subs(values), modules=["scipy", "numpy"])

        def q(kv, tv):
            return np.real(np.asarray(qfun(np.asarray(kv, dtype=complex), tv), dtype=complex))

        r_max = 4.0 * max(max(times), math.sqrt(2.0 * max(times))) * math.sqrt(dim)
        rr = np.linspace(0.0, r_max, 400)
        area = green.sphere_area(dim)
        mollify = 0.0 if kern.positive else 0.02 * r_max
        low = 0.0
        for tv in times:
            dens = green.radial_inverse_fourier(q, float(tv), rr, dim, mollify=mollify)
            radial = area * rr ** (dim - 1) * dens
            low = min(low, float(radial.min()))
            info["curves"].append((float(tv), rr, radial))
            ax.plot(rr, radial, lw=1.6, label=f"t = {tv:.3g}")
        info["times"] = [float(v) for v in times]
        info["negative"] = low
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_xlabel("r = |x - y|")
        law = str(kern.law) if kern.law is not None else "no Gaussian-mixture law"
        ax.set_title(f"radial law of |x - y| in N = {dim}" + (" (mollified)" if mollify else ""), fontsize=10)
        ax.text(0.98, 0.95, law, ha="right", va="top", fontsize=8, transform=ax.transAxes)
        ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return info


@click.command("plot")
@click.argument("expr")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="a parameter value, e.g. m=1")
@click.option("--augment-dim", "augment_dim", type=click.IntRange(1, 10**7), default=None, help="PFGM++'s D")
@click.option("--dim", type=click.IntRange(1, 64), default=2, show_default=True,
              help="the data dimension N of the radial law")
@click.option("--kmax", type=click.FloatRange(0.0, 1e6, min_open=True), default=None, help="largest k drawn")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="the PNG to write")
def plot_command(expr: str, params: tuple[str, ...], augment_dim: int | None, dim: int, kmax: float | None,
                 out: str) -> None:
    """Draw EXPR's dispersion branches (C2 failing band shaded) and its kernel's radial law at a few t."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        _fail("pdec plot needs matplotlib (pip install matplotlib)")
    from .compiler import compile_pde
    from .parse import parse_params

    try:
        compiled = compile_pde(expr, params=parse_params(list(params)), dim=dim, augment_dim=augment_dim)
        info = plot_pde(compiled, out, dim=dim, k_max=kmax)
    except PdecError as e:
        _fail(str(e))
    except RecursionError:
        _fail("the expression is too deeply nested")
    band = info["band"]
    msg = f"wrote {out}: dispersion branches"
    if band:
        msg += f" (C2 fails for k in [{band[0]:.3g}, {band[1]:.3g}])"
    if info["times"]:
        msg += "; radial law at t = " + ", ".join(f"{v:.3g}" for v in info["times"])
    click.echo(msg)
