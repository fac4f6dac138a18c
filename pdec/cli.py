"""The ``pdec`` command line: ``check`` (analyse a PDE), ``generate`` and ``plot`` (emit / draw).

Every user error (a :class:`pdec.errors.PdecError`) becomes one line on stderr and exit code 2.
``check`` never imports torch; ``generate`` and ``plot`` are loaded only when called.
"""

from __future__ import annotations

import json
import sys

import click

from .errors import PdecError

_COLOURS = {"yes": "green", "no": "red", "conditional": "yellow"}
_LAZY = {"generate": ("pdec.cli_generate", "generate_command"), "plot": ("pdec.cli_generate", "plot_command")}


class _LazyGroup(click.Group):
    """A group whose heavy subcommands (they import torch, matplotlib) load on first use."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx, name):
        if name in _LAZY:
            import importlib

            mod, attr = _LAZY[name]
            try:
                return getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as e:  # pragma: no cover - a broken install
                raise click.ClickException(f"the {name} command is unavailable: {e}") from None
        return super().get_command(ctx, name)


def fail(message: str) -> None:
    """Print one line on stderr and exit with code 2."""
    click.echo(f"pdec: error: {message}", err=True)
    sys.exit(2)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdec")
def main() -> None:
    """pdec: compile a physical PDE into a generative model."""


def _params(items: tuple[str, ...]) -> dict:
    from .parse import parse_params

    return parse_params(list(items))


def _badge(verdict: str) -> str:
    return click.style(f"{verdict:<12}", fg=_COLOURS.get(verdict, "white"), bold=True)


def _row(label: str, text: str) -> str:
    return f"{click.style(f'{label:<11}', bold=True)}{text}"


def render_text(result) -> str:
    """The human-readable report of a compile result."""
    j = result.to_json()
    params = ", ".join(f"{n}={v if v is not None else '?'}" for n, v in j["params"].items()) or "none"
    lines = [
        _row("PDE", j["pde"] if "=" in j["pde"] else f"{j['pde']} = 0"),
        _row("", click.style(f"order {j['order_t']} in t; parameters: {params}"
                             + (f"; N = {j['dim']}" if j["dim"] else "")
                             + (f"; augment_dim D = {j['augment_dim']}" if j["augment_dim"] else ""), dim=True)),
        _row("dispersion", "omega(k) = " + "  |  ".join(j["dispersion"])),
        _row("C1", _badge(j["c1"]["verdict"]) + j["c1"]["reason"]),
    ]
    c2 = j["c2"]
    band = f"  [fails for k in ({c2['band'][0]}, {c2['band'][1]})]" if c2["band"] else ""
    lines.append(_row("C2", _badge(c2["verdict"]) + c2["reason"] + band))
    if j["flow"]:
        f = j["flow"]
        lines.append(_row("flow", f"p = {f['p']}    v = {f['v']}    R = {f['R']}"))
        if f.get("note"):
            lines.append(_row("", click.style(f["note"], dim=True)))
    kern = j["kernel"]
    if kern:
        lines.append(_row("kernel", f"p^(k,t) = {kern['fourier']}    M(t) = {kern['mass']}    ({kern['regime']})"))
        law = kern["law"] or "none (not a Gaussian scale mixture)"
        pos = {True: "positive", False: "signed", None: "conditional"}[kern["positive"]]
        lines.append(_row("", f"law of S_t: {law};  kernel {pos}"
                          + (f";  t < {kern['t_max']}" if kern["t_max"] else "")))
        if kern["note"]:
            lines.append(_row("", click.style(kern["note"], dim=True)))
    if j["green"]["real"]:
        lines.append(_row("green", f"G(r, t) = {j['green']['real']}"))
    lines.append(_row("verdict", "s-generative: " + _badge(j["s_generative"]).strip()))
    return "\n".join(lines)


@main.command()
@click.argument("expr")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="a parameter value, e.g. m=1")
@click.option("--dim", type=click.IntRange(1, 10**6), default=None, help="data dimension N (for positivity)")
@click.option("--augment-dim", "augment_dim", type=click.IntRange(1, 10**7), default=None,
              help="PFGM++'s D: t is the radius of D extra dimensions")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def check(expr: str, params: tuple[str, ...], dim: int | None, augment_dim: int | None, as_json: bool) -> None:
    """Analyse EXPR (a PDE L[phi] = 0, or lhs = rhs): dispersion, C1/C2, flow, kernel, Green function."""
    from .compiler import compile_pde

    try:
        result = compile_pde(expr, params=_params(params), dim=dim, augment_dim=augment_dim)
    except PdecError as e:
        fail(str(e))
    except RecursionError:
        fail("the expression is too deeply nested")
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(render_text(result))


def entry() -> None:
    """Console-script entry: any PdecError that escapes a command is one line and exit code 2."""
    try:
        main()
    except PdecError as e:
        fail(str(e))
    except KeyboardInterrupt:  # pragma: no cover
        fail("interrupted")


if __name__ == "__main__":  # pragma: no cover
    entry()
