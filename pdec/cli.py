"""The ``pdec`` command line: ``check`` (analyse a PDE), ``generate`` and ``plot`` (emit / draw).

Every user error (a :class:`pdec.errors.PdecError`) becomes one line on stderr and exit code 2.
``check`` never imports torch; ``generate`` and ``plot`` are loaded only when called.
"""

from __future__ import annotations

import json
import re
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
    from .numfmt import exact_and_decimal

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
                          + (f";  t < {exact_and_decimal(result.kernel.t_max_bound)}" if kern["t_max"] else "")))
        if kern["note"]:
            lines.append(_row("", click.style(kern["note"], dim=True)))
    if j["green"]["real"]:
        lines.append(_row("green", f"G(r, t) = {j['green']['real']}"))
    lines.append(_row("verdict", "s-generative: " + _badge(j["s_generative"]).strip()))
    return "\n".join(lines)


class _ExprCommand(click.Command):
    """A command whose one argument is a PDE, which may start with '-' (``-phi_t + lap(phi)``).

    Before click parses, an argument that starts with '-' and is neither one of the command's options
    (``--json``, ``-p m=1``, ``--dim=2``, ...) nor the value of the option before it is the PDE: it is
    moved behind ``--``. A lone '-' (standard input) and everything after ``--`` are left alone.
    """

    def _options(self, ctx) -> tuple[set[str], set[str]]:
        """(option strings that take a value, option strings that are flags)."""
        valued, flags = set(), set()
        for p in self.get_params(ctx):
            if isinstance(p, click.Option):
                names = set(p.opts) | set(p.secondary_opts)
                (flags if p.is_flag or p.count else valued).update(names)
        return valued, flags

    def parse_args(self, ctx, args):
        valued, flags = self._options(ctx)
        opts: list[str] = []
        exprs: list[str] = []
        rest: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--":
                rest = args[i + 1:]
                break
            if a in valued:
                opts += args[i:i + 2]
                i += 2
                continue
            if a in flags or (a.startswith("--") and a.split("=", 1)[0] in valued):
                opts.append(a)
            elif a.startswith("-") and a != "-" and not _SHORT_VALUE.match(a):
                exprs.append(a)
            else:
                opts.append(a)
            i += 1
        new = opts + (["--"] + exprs + rest if exprs or rest else [])
        return super().parse_args(ctx, new)


#: ``-pNAME=VALUE``: the short parameter option with its value attached (a number, not a PDE)
_SHORT_VALUE = re.compile(r"-p[A-Za-z][A-Za-z0-9_]*=[0-9.eE+/-]+\Z")


def read_expr(expr: str | None, file: str | None) -> str:
    """The PDE text: EXPR itself, '-' (standard input), '@PATH' or --file PATH (a file).

    Raises PdecError (one line) for a missing or unreadable file, empty input, too long input, or no input."""
    from .errors import ParseError
    from .parse import MAX_LENGTH

    if expr is not None and file is not None:
        raise ParseError("give the PDE either as EXPR or with --file, not both")
    if expr is None and file is None:
        raise ParseError("no PDE given: write it as EXPR, '-' (standard input), @FILE or --file FILE")
    if file is None and expr != "-" and not expr.startswith("@"):
        return expr
    source = "standard input" if (file or expr) == "-" else (file if file is not None else expr[1:])
    try:
        if source == "standard input":
            with click.open_file("-", "rb") as stream:
                data = stream.read(4 * MAX_LENGTH + 1)
        else:
            if not source:
                raise ParseError("'@' must be followed by a file name, e.g. @pde.txt")
            with open(source, "rb") as f:
                data = f.read(4 * MAX_LENGTH + 1)
    except OSError as e:
        raise ParseError(f"cannot read the PDE from {source}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(f"the PDE in {source} is not text (UTF-8)") from None
    text = text.strip()
    if not text:
        raise ParseError(f"the PDE read from {source} is empty")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the PDE read from {source} is too long: more than {MAX_LENGTH} characters")
    return text


@main.command(cls=_ExprCommand)
@click.argument("expr", required=False)
@click.option("--file", "-f", "file", metavar="FILE", default=None, help="read the PDE from FILE ('-': stdin)")
@click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE", help="a parameter value, e.g. m=1")
@click.option("--dim", type=click.IntRange(1, 10**6), default=None, help="data dimension N (for positivity)")
@click.option("--augment-dim", "augment_dim", type=click.IntRange(1, 10**7), default=None,
              help="PFGM++'s D: t is the radius of D extra dimensions")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def check(expr: str | None, file: str | None, params: tuple[str, ...], dim: int | None, augment_dim: int | None,
          as_json: bool) -> None:
    """Analyse EXPR (a PDE L[phi] = 0, or lhs = rhs): dispersion, C1/C2, flow, kernel, Green function.

    EXPR may start with a minus sign; '-' reads the PDE from standard input, @FILE (or --file FILE)
    from a file."""
    from .compiler import compile_pde

    try:
        text = read_expr(expr, file)
        result = compile_pde(text, params=_params(params), dim=dim, augment_dim=augment_dim)
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
