"""Every ``vmix`` subcommand runs on a small registered model, answers --help, and fails clearly on bad input."""

import json
from pathlib import Path

import pytest

from vmix.cli import build_parser, format_table, main

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

SUBCOMMANDS = ["models", "summary", "erf", "mmap", "robustness", "compare"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: vmix {command}" in capsys.readouterr().out


def test_no_command_is_an_error(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "COMMAND" in capsys.readouterr().err


def test_models_table_and_json(tmp_path, capsys):
    assert main(["models", "gconvnet_pico", "--size", "32", "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "gflops_paper" in out and "gflops_exact" in out and "78.4" in out  # the paper's top-1 beside
    (row,) = json.loads((tmp_path / "m.json").read_text())
    assert row["model"] == "gconvnet_pico" and row["paper_params_m"] == 8.0 and row["gflops_paper"] > 0
    with pytest.raises(SystemExit, match="no registered model matches"):
        main(["models", "no_such_model*"])


def test_summary(capsys):
    assert main(["summary", "gconvnet_pico", "--size", "32"]) == 0
    out = capsys.readouterr().out
    for part in ("stem", "stage0", "stage3", "head", "total"):
        assert part in out
    with pytest.raises(SystemExit, match="unknown model 'gconvnet_pcio'; did you mean"):
        main(["summary", "gconvnet_pcio"])


def test_erf(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import torch

    import vmix

    checkpoint = tmp_path / "pico.pt"  # a training checkpoint: the weights under "model"
    torch.save({"model": vmix.create_model("gconvnet_pico").state_dict()}, checkpoint)
    argv = ["erf", "gconvnet_pico", "--size", "32", "--num-images", "1", "--out", str(tmp_path / "erf")]
    assert main([*argv, "--checkpoint", str(checkpoint)]) == 0
    assert "t=0.99" in capsys.readouterr().out
    for name in ("gconvnet_pico_init.png", "gconvnet_pico_trained.png", "erf_grid.png", "erf.json"):
        assert (tmp_path / "erf" / name).is_file(), name
    with pytest.raises(SystemExit, match="does not exist"):
        main([*argv, "--checkpoint", str(tmp_path / "missing.pt")])


def test_mmap(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (the photos' terms keep them out of the repository)")
    image = next((SHARED_DATA / "imagenette2-224-samples" / "n01440764").iterdir())
    status = main(["mmap", "vssd_micro", str(image), "--size", "32", "--out", str(tmp_path / "m.png")])
    assert status == 0 and (tmp_path / "m.png").is_file()
    assert "NC-SSD blocks" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="token_weights"):
        main(["mmap", "gconvnet_pico", str(image), "--size", "32", "--out", str(tmp_path / "x.png")])


def test_robustness(tmp_path, capsys):
    pytest.importorskip("imagecorruptions")
    from PIL import Image

    for wnid in ("n01440764", "n02102040"):
        (tmp_path / "data" / wnid).mkdir(parents=True)
        Image.new("RGB", (48, 40), (90, 120, 30)).save(tmp_path / "data" / wnid / "0.png")
    argv = ["robustness", "gconvnet_pico", "--data", str(tmp_path / "data"), "--size", "32", "--quiet"]
    assert main([*argv, "--corrupt", "--corruptions", "fog", "pixelate", "--severities", "1",
                 "--json", str(tmp_path / "r.json")]) == 0  # fmt: skip
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["clean"]["count"] == 2 and set(results["corrupted"]["errors"]) == {"fog", "pixelate"}
    assert "fog" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="give at least one of"):
        main(["robustness", "gconvnet_pico"])
    with pytest.raises(SystemExit, match="unknown corruption"):
        main([*argv, "--corrupt", "--corruptions", "fogg"])


def _run(folder, model, top1s):
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"model": model, "params": 123, "args": {}}))
    lines = [{"kind": "step", "step": 10 * e + 5, "epoch": e + 0.5, "loss": 3.0 - e, "lr": 1e-3, "img_per_s": 50.0}
             for e in range(len(top1s))]  # fmt: skip
    lines += [{"kind": "eval", "step": 10 * (e + 1), "epoch": e + 1, "top1": t, "top5": t + 20, "time": 9.0 * (e + 1)}
              for e, t in enumerate(top1s)]  # fmt: skip
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return folder


def test_compare(tmp_path, capsys):
    a = _run(tmp_path / "a", "gconvnet_pico", [10.0, 30.0, 25.0])
    b = _run(tmp_path / "b", "vmamba_pico", [12.0, 35.0])
    assert main(["compare", str(a), str(b), "--json", str(tmp_path / "c.json")]) == 0
    rows = json.loads((tmp_path / "c.json").read_text())
    assert [(r["model"], r["best_top1"], r["top1"], r["best_epoch"]) for r in rows] == [
        ("gconvnet_pico", 30.0, 25.0, 2),
        ("vmamba_pico", 35.0, 35.0, 2),
    ]
    assert "best_top1" in capsys.readouterr().out
    (a / "metrics.jsonl").write_text("not json\n")
    with pytest.raises(SystemExit, match="metrics.jsonl:1: not JSON"):
        main(["compare", str(a)])


def test_compare_takes_a_folder_of_runs_or_a_glob_with_files_in_it(tmp_path):
    runs = tmp_path / "compare"
    runs.mkdir()
    _run(runs / "a", "gconvnet_pico", [10.0])
    _run(runs / "b", "vmamba_pico", [12.0])
    (runs / "curves.png").write_bytes(b"not a run")  # what examples/compare.py leaves beside its runs
    for argv in ([str(runs)], [str(p) for p in sorted(runs.iterdir())]):
        assert main(["compare", *argv, "--json", str(tmp_path / "c.json")]) == 0
        assert [r["model"] for r in json.loads((tmp_path / "c.json").read_text())] == ["gconvnet_pico", "vmamba_pico"]
    with pytest.raises(SystemExit, match="no metrics.jsonl in it or below it"):
        main(["compare", str(tmp_path / "missing")])
    with pytest.raises(SystemExit, match="no training run folder"):
        main(["compare", str(runs / "curves.png")])


def test_compare_curves(tmp_path):
    pytest.importorskip("matplotlib")
    run = _run(tmp_path / "a", "gconvnet_pico", [10.0, 30.0])
    assert main(["compare", str(run), "--plot", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").is_file()


def test_format_table_and_parser():
    assert format_table([{"a": None}]).splitlines()[-1] == "-"
    assert build_parser().parse_args(["erf", "vssd_micro"]).size == 1024
