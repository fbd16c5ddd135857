"""The documentation runs: every ```python block of docs/ and README.md and every docstring Example of vmix is executed.

- Pages: the ```python blocks of one page run in order in one namespace (later blocks build on earlier ones), in a
  temporary working directory. A block preceded by ``<!-- docs-test: skip -->`` is not run (commands that need a
  GPU, a dataset or the network); one preceded by ``<!-- docs-test: slow -->`` runs only with ``-m slow``.
- Docstrings: doctest over every module of the package, with the examples' own imports; a module whose import or
  examples need an optional dependency that is not installed (or a vmix module not written yet) is skipped, and says
  which.
- Coverage: every public name of the documented packages appears on an API page, and every API page has a runnable
  example.
"""

from __future__ import annotations

import doctest
import importlib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "vmix"

# The packages whose every public name must have an entry in the API reference.
DOCUMENTED_PACKAGES = ["vmix", "vmix.ops", "vmix.layers", "vmix.models", "vmix.testing", "vmix.analysis"]

# Modules whose docstring examples take long enough on CPU to keep out of the default run.
SLOW_DOCTEST_MODULES: set[str] = set()

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
_MARK = re.compile(r"<!--\s*docs-test:\s*(?P<mark>skip|slow)\s*-->\s*$")


@dataclass
class Block:
    page: str
    line: int
    code: str
    mark: str | None  # None, "skip" or "slow"


def _pages() -> list[Path]:
    readme = ROOT / "README.md"  # the front door's example runs too
    return sorted(DOCS.rglob("*.md")) + ([readme] if readme.is_file() else [])


def _blocks(page: Path) -> list[Block]:
    text = page.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        if match.group("info").strip().split(" ")[0] != "python":
            continue
        before = text[: match.start()].rstrip().splitlines()
        mark = _MARK.search(before[-1]) if before else None
        line = text.count("\n", 0, match.start()) + 2
        code = textwrap.dedent(match.group("body"))
        blocks.append(Block(str(page.relative_to(ROOT)), line, code, mark.group("mark") if mark else None))
    return blocks


def _seed() -> None:
    """Examples draw random tensors: start each page and each module from the same state, so runs repeat exactly."""
    import random

    import torch

    random.seed(0)
    torch.manual_seed(0)


def _run_page(page: Path, include_slow: bool) -> None:
    _seed()
    namespace: dict = {"__name__": "__docs__"}
    for block in _blocks(page):
        if block.mark == "skip" or (block.mark == "slow" and not include_slow):
            continue
        code = compile(block.code, f"{block.page}:{block.line}", "exec")
        try:
            exec(code, namespace)
        except ModuleNotFoundError as err:
            if err.name and not err.name.startswith("vmix"):  # an optional extra (train, analysis) not installed
                pytest.skip(f"code block at {block.page}:{block.line} needs {err.name!r}, which is not installed")
            raise
        except Exception as err:
            where = f"{block.page}:{block.line}"
            raise AssertionError(f"code block at {where} failed: {type(err).__name__}: {err}") from err


_PAGES = [p for p in _pages() if _blocks(p)]
_SLOW_PAGES = [p for p in _PAGES if any(b.mark == "slow" for b in _blocks(p))]


def _page_id(page: Path) -> str:
    return str(page.relative_to(DOCS if page.is_relative_to(DOCS) else ROOT))


@pytest.mark.parametrize("page", _PAGES, ids=_page_id)
def test_page_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_page(page, include_slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", _SLOW_PAGES, ids=_page_id)
def test_page_code_blocks_run_with_slow_ones(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_page(page, include_slow=True)


# ---------------------------------------------------------------------------------------------------------------------
# docstring examples


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    return names


def _import_or_skip(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if missing == "vmix" or missing.startswith("vmix."):
            raise
        pytest.skip(f"{name} needs {missing!r}, which is not installed")


class _Runner(doctest.DocTestRunner):
    """Collects the exceptions of failing examples next to doctest's usual report."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.exceptions: list[BaseException] = []

    def report_unexpected_exception(self, out, test, example, exc_info):
        self.exceptions.append(exc_info[1])
        super().report_unexpected_exception(out, test, example, exc_info)


def _doctest_params():
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW_DOCTEST_MODULES else name for name in _module_names()
    ]


@pytest.mark.parametrize("module_name", _doctest_params())
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = _import_or_skip(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(module, module_name) if t.examples]
    if not tests:
        pytest.skip(f"{module_name} has no docstring examples")
    report: list[str] = []
    _seed()
    runner = _Runner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test, out=report.append)
    failed = runner.summarize(verbose=False).failed
    missing = sorted(
        {
            e.name
            for e in runner.exceptions
            if isinstance(e, ModuleNotFoundError) and e.name and e.name.split(".")[0] != "vmix"
        }
    )
    if failed and missing:  # later examples of the same docstring fail in turn: skip the whole module
        pytest.skip(f"examples of {module_name} need packages that are not installed: {missing}")
    assert not failed, "".join(report)


# ---------------------------------------------------------------------------------------------------------------------
# API reference coverage

_DIRECTIVE = re.compile(r"^::: (?P<path>[\w.]+)\n(?P<options>(?:[ \t]+.*\n?)*)", re.M)


def _api_directives() -> dict[str, bool]:
    """``{identifier: documents_members}`` for every ``::: identifier`` on the API pages."""
    found: dict[str, bool] = {}
    for page in sorted((DOCS / "api").glob("*.md")):
        for match in _DIRECTIVE.finditer(page.read_text()):
            members = not re.search(r"members:\s*(false|\[\])", match.group("options"))
            found[match.group("path")] = found.get(match.group("path"), False) or members
    return found


def _documented(path: str, directives: dict[str, bool]) -> bool:
    if path in directives:
        return True
    parts = path.split(".")
    return any(directives.get(".".join(parts[:i]), False) for i in range(1, len(parts)))


def _public_names():
    for package in DOCUMENTED_PACKAGES:
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", []):
            yield package, name


@pytest.mark.parametrize(("package", "name"), list(_public_names()), ids=lambda v: v)
def test_public_name_is_in_the_api_reference(package, name):
    module = importlib.import_module(package)
    obj = getattr(module, name)
    directives = _api_directives()
    if isinstance(obj, type(module)):
        where = obj.__name__
    else:
        where = f"{getattr(obj, '__module__', None) or package}.{getattr(obj, '__qualname__', name)}"
    if _documented(where, directives) or _documented(f"{package}.{name}", directives):
        return
    # A constant or a re-export: documented when a page renders the members of a module that holds the same object.
    for path, members in directives.items():
        if not members:
            continue
        try:
            holder = importlib.import_module(path)
        except ImportError:
            continue
        if getattr(holder, name, None) is obj:
            return
    raise AssertionError(f"{package}.{name} (defined as {where}) has no entry on docs/api/*.md; add '::: {where}'")


@pytest.mark.parametrize("page", sorted((DOCS / "api").glob("*.md")), ids=_page_id)
def test_api_page_has_a_runnable_example(page):
    runnable = [b for b in _blocks(page) if b.mark is None]
    assert runnable, f"{page.relative_to(ROOT)} needs a ```python example that runs on CPU"


# ---------------------------------------------------------------------------------------------------------------------
# generated pages (docs/gen_results.py, run by the docs build through docs/hooks.py)


def _gen_results():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("vmix_docs_gen_results", DOCS / "gen_results.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_shows_bench_results_with_working_links(tmp_path):
    gen = _gen_results()
    (tmp_path / "bench" / "plots").mkdir(parents=True)
    (tmp_path / "bench" / "plots" / "speed.png").write_bytes(b"png")
    (tmp_path / "bench" / "plots" / "extra.svg").write_text("<svg/>")
    (tmp_path / "bench" / "RESULTS.md").write_text(
        "# Benchmarks\n\n## Speed\n\n![speed](plots/speed.png)\n\nSee [the script](cpu_scan.py) and "
        "[the spec](https://example.org/spec#x).\n\n```bash\n# a comment, not a heading\n```\n"
    )
    page = gen.results_page(tmp_path, count=False)
    assert "### Benchmarks" in page.markdown and "#### Speed" in page.markdown  # under "## Benchmarks"
    assert "# a comment, not a heading" in page.markdown and "## a comment" not in page.markdown
    assert "![speed](results/plots/speed.png)" in page.markdown
    assert "the script (`bench/cpu_scan.py`)" in page.markdown  # a file the site cannot serve becomes its path
    assert "(https://example.org/spec#x)" in page.markdown
    assert page.assets == {
        "results/plots/speed.png": tmp_path / "bench" / "plots" / "speed.png",
        "results/plots/extra.svg": tmp_path / "bench" / "plots" / "extra.svg",  # plots RESULTS.md does not show
    }


def test_results_page_without_bench_results_says_so(tmp_path):
    page = _gen_results().results_page(tmp_path, count=False)
    assert "No benchmark results are committed yet" in page.markdown
    assert page.assets == {}


def test_model_table_puts_counts_beside_the_papers():
    gen = _gen_results()
    from vmix.analysis.paper_values import PaperValues

    table = gen.model_table(
        [{"name": "m", "params": 30.0, "gflops": 5.0, "paper": PaperValues(31.0, None, 80.0, "T1")}]
    )
    assert "| `m` | 30.00 (-3.2%) | 31.0 | 5.00 | – | 80.0 | T1 |" in table


def test_cli_page_documents_every_subcommand():
    from vmix.cli import build_parser

    page = _gen_results().cli_page()
    commands = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in commands.choices:
        assert f"## vmix {name}" in page


def test_results_page_takes_the_model_table_from_bench_tables(tmp_path, monkeypatch):
    gen = _gen_results()
    assert gen._bench_tables(tmp_path) is None  # no script: the page counts PAPER_VALUES' models itself
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "tables.py").write_text("def table():\n    return '| model |\\n| --- |\\n| m |'\n")
    page = gen.results_page(tmp_path, count=True)
    assert "| model |\n| --- |\n| m |" in page.markdown
