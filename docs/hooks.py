"""MkDocs hooks: add the generated pages (results, command line) and the benchmark plots to the site.

Nothing is written into ``docs/``: the pages exist only in the build, made from the committed code and files.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

_spec = importlib.util.spec_from_file_location("vmix_docs_gen_results", Path(__file__).with_name("gen_results.py"))
gen = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


def on_config(config):
    # `mkdocs build --strict -q` would drop warnings before strict mode counts them, and pass a broken site: keep
    # warnings flowing whatever the verbosity, so --strict means the same with -q.
    logger = logging.getLogger("mkdocs")
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    return config


def on_files(files: Files, config) -> Files:
    page = gen.results_page(gen.ROOT)
    files.append(File.generated(config, "results.md", content=page.markdown))
    for site_path, disk_path in page.assets.items():
        files.append(File.generated(config, site_path, abs_src_path=str(disk_path)))
    files.append(File.generated(config, "cli.md", content=gen.cli_page()))
    return files
