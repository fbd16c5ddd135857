"""Generated pages of the docs site: the results page and the command-line reference.

The docs build calls these through ``docs/hooks.py``, so the pages always show the committed numbers: the
parameter/FLOP table is counted from the registered models at build time (on the ``meta`` device, no weights), the
benchmark section is ``bench/RESULTS.md`` as its authors wrote it, and the plots are those under ``bench/``. Run by
hand, ``python docs/gen_results.py`` prints the results page.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
PUBLISHED = "results"  # site folder of the benchmark images

_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,5}) ", re.M)
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)


@dataclass
class ResultsPage:
    """The results page's markdown and the files it shows: site path → path on disk."""

    markdown: str
    assets: dict[str, Path] = field(default_factory=dict)


@functools.cache
def model_rows() -> tuple[dict, ...]:
    """Parameters and FLOPs (the papers' counting, 224²) of every model whose numbers the papers print."""
    import torch

    import vmix
    from vmix.analysis.flops import count_flops, count_params
    from vmix.analysis.paper_values import PAPER_VALUES

    rows = []
    for name, paper in PAPER_VALUES.items():
        with torch.device("meta"):  # shapes only: no memory, no initialisation
            model = vmix.create_model(name)
        rows.append(
            {
                "name": name,
                "params": count_params(model) / 1e6,
                "gflops": count_flops(model, (3, 224, 224), mode="paper") / 1e9,
                "paper": paper,
            }
        )
    return tuple(rows)


def _bench_tables(root: Path):
    """``bench/tables.py`` as a module (it regenerates the papers' tables), or ``None`` where there is none."""
    import importlib.util

    path = root / "bench" / "tables.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("vmix_bench_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module if callable(getattr(module, "table", None)) else None


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _gap(ours: float, paper: float | None) -> str:
    return "" if not paper else f" ({100 * (ours - paper) / paper:+.1f}%)"


def model_table(rows) -> str:
    """The rows as a markdown table: vmix's counts beside the papers' printed values."""
    lines = [
        "| model | params (M) | paper | GFLOPs | paper | paper top-1 (%) | source |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        paper = row["paper"]
        lines.append(
            f"| `{row['name']}` | {row['params']:.2f}{_gap(row['params'], paper.params_m)} | "
            f"{_number(paper.params_m, 1)} | {row['gflops']:.2f}{_gap(row['gflops'], paper.gflops)} | "
            f"{_number(paper.gflops, 2)} | {_number(paper.top1, 1)} | {paper.source} |"
        )
    return "\n".join(lines)


def _demote(markdown: str) -> str:
    """Push every heading down one level (outside code fences), so the file sits under a section of the page."""
    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(_HEADING.sub(r"#\1 ", markdown[last : fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(_HEADING.sub(r"#\1 ", markdown[last:]))
    return "".join(out)


def bench_section(root: Path) -> ResultsPage:
    """``bench/RESULTS.md`` with its headings demoted and its relative links made to work on the site.

    Images under ``bench/`` are published beside the page; a relative link to any other file of the repository
    becomes its path in code, so the strict build never fails on a link the site cannot serve.
    """
    bench = root / "bench"
    source = bench / "RESULTS.md"
    if not source.is_file():
        return ResultsPage(
            "No benchmark results are committed yet. The scripts under `bench/` write them to `bench/RESULTS.md`, "
            "and this section shows that file as soon as it exists.\n"
        )
    assets: dict[str, Path] = {}

    def relink(match: re.Match) -> str:
        target = match.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):  # a URL or an anchor: keep it
            return match.group(0)
        path, _, anchor = target.partition("#")
        file = (bench / path).resolve()
        if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES and file.is_relative_to(bench.resolve()):
            site = f"{PUBLISHED}/{file.relative_to(bench.resolve()).as_posix()}"
            assets[site] = file
            return f"{match.group('bang')}[{match.group('text')}]({site}{match.group('title') or ''})"
        shown = file.relative_to(root.resolve()).as_posix() if file.is_relative_to(root.resolve()) else path
        return f"{match.group('text')} (`{shown}`)" if match.group("text") else f"`{shown}`"

    text = _LINK.sub(relink, source.read_text())
    return ResultsPage(_demote(_demote(text)), assets)  # its "#" headings sit under "## Benchmarks"


def plots_section(root: Path, shown: set[str]) -> ResultsPage:
    """Every image under ``bench/plots/`` that ``bench/RESULTS.md`` does not already show."""
    plots = root / "bench" / "plots"
    if not plots.is_dir():
        return ResultsPage("")
    assets = {}
    parts = []
    for image in sorted(p for p in plots.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        site = f"{PUBLISHED}/{image.relative_to(root / 'bench').as_posix()}"
        if site in shown:
            continue
        assets[site] = image
        parts.append(f"![{image.stem}]({site})\n\n*{image.relative_to(root).as_posix()}*\n")
    if not parts:
        return ResultsPage("")
    return ResultsPage("## Plots\n\n" + "\n".join(parts), assets)


def results_page(root: Path = ROOT, *, count: bool = True) -> ResultsPage:
    """The whole results page; ``count=False`` leaves the model table out (it instantiates every model)."""
    intro = (
        "# Results\n\n"
        "Generated when the site is built, from the code and the files it is built from: nothing on this page is "
        "typed by hand.\n\n"
    )
    models = "## Parameters and FLOPs against the papers\n\n"
    if count:
        models += (
            "Counted by [`count_params`][vmix.analysis.flops.count_params] and "
            "[`count_flops`][vmix.analysis.flops.count_flops] (the papers' counting: fvcore's conventions, the scans "
            "and attention by the papers' formulas) at 224 × 224 with 1000 classes, on the `meta` device, beside "
            "the values the papers print. `vmix models` prints the same counts from the shell.\n\n"
        )
        tables = _bench_tables(root)
        if tables is not None:  # bench/tables.py: every registered model, the ablations' printed values included
            models += f"Every registered model, as `python bench/tables.py` prints it:\n\n{tables.table()}\n\n"
        else:
            models += (
                "The models whose numbers the papers print "
                "([`PAPER_VALUES`][vmix.analysis.paper_values.PAPER_VALUES]); in brackets the difference from the "
                "paper.\n\n" + model_table(model_rows()) + "\n\n"
            )
    else:
        models += "(left out of this build)\n\n"
    bench = bench_section(root)
    plots = plots_section(root, set(bench.assets))
    body = intro + models + "## Benchmarks\n\n" + bench.markdown.rstrip() + "\n\n" + plots.markdown
    return ResultsPage(body.rstrip() + "\n", {**bench.assets, **plots.assets})


def cli_page() -> str:
    """The ``vmix`` command's ``--help`` and that of each subcommand."""
    from vmix.cli import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "110"  # argparse wraps to the terminal: pin it so the page does not depend on one
    try:
        parser = build_parser()
        parts = [
            "# Command line\n",
            "Installing vmix installs the `vmix` command. Every subcommand prints its tables to standard output and, "
            "with `--json`, writes its results to a file. This page is generated from the command's own `--help`.\n",
            "```text\n" + parser.format_help().rstrip() + "\n```\n",
        ]
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, sub in commands.choices.items():
            parts.append(f"## vmix {name}\n\n```text\n{sub.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns


if __name__ == "__main__":
    print(results_page().markdown)
