"""README's main job, at a budget of one step per model: both models train, the table and the curves come out."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "compare.py"


@pytest.mark.slow  # about a minute on 2 shared cores, most of it VMamba's first steps
def test_compare_prints_the_table_and_writes_the_curves(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("compare", SCRIPT)
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    argv = ["--data", "digits", "--max-steps", "1", "--batch-size", "8", "--val-subset", "16", "--no-progress"]
    assert compare.main([*argv, "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| model | params (M) | FLOPs (M) | train img/s | top-1 (%) |" in out
    assert "| vmamba_pico |" in out and "| gconvnet_pico |" in out
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert (tmp_path / "vmamba_pico" / "metrics.jsonl").exists()
