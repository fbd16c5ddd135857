"""Summaries of training runs for side-by-side comparison: one row per run folder (``run.json`` + ``metrics.jsonl``).

A run folder, as ``vmix.train`` writes it, holds ``run.json`` (model name, parameters, arguments) and
``metrics.jsonl`` (one JSON object per line, ``"kind"`` being ``"step"``, ``"epoch"`` or ``"eval"``).
"""

from __future__ import annotations

import json
from pathlib import Path


def read_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """``(run.json contents, metrics.jsonl records)`` of a run folder.

    Raises:
        FileNotFoundError: the folder or its ``metrics.jsonl`` is missing.
        ValueError: a line of ``metrics.jsonl`` is not a JSON object with a ``kind``.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "metrics.jsonl").write_text('{"kind": "eval", "step": 5, "epoch": 1, "top1": 40.0}\\n')
        >>> read_run(d)
        ({}, [{'kind': 'eval', 'step': 5, 'epoch': 1, 'top1': 40.0}])
    """
    run = Path(run_dir)
    metrics = run / "metrics.jsonl"
    if not metrics.is_file():
        raise FileNotFoundError(f"{run}: not a training run folder (expected {metrics})")
    records = []
    for number, line in enumerate(metrics.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{metrics}:{number}: not JSON ({err.msg})") from err
        if not isinstance(record, dict) or "kind" not in record:
            raise ValueError(f'{metrics}:{number}: expected a JSON object with a "kind", got {line[:80]!r}')
        records.append(record)
    info_path = run / "run.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    return info, records


def summarize_run(run_dir: str | Path) -> dict[str, object]:
    """One comparison row: model, parameters, epochs, final and best top-1/top-5, final loss, throughput, time.

    Args:
        run_dir: a run folder.

    Returns:
        ``run``, ``model``, ``params``, ``epochs``, ``steps``, ``top1`` / ``top5`` (last eval), ``best_top1``,
        ``best_epoch``, ``final_loss`` (last step or epoch line), ``img_per_s`` (median of the step lines) and
        ``time`` (training seconds); ``None`` where the run has no such record.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> lines = ['{"kind": "step", "step": 1, "epoch": 0.5, "loss": 2.0, "img_per_s": 100}',
        ...          '{"kind": "eval", "step": 2, "epoch": 1, "top1": 40.0, "top5": 80.0, "time": 9.0}']
        >>> _ = (d / "metrics.jsonl").write_text("\\n".join(lines))
        >>> row = summarize_run(d)
        >>> row["best_top1"], row["final_loss"], row["img_per_s"]
        (40.0, 2.0, 100.0)
    """
    info, records = read_run(run_dir)
    evals = [r for r in records if r["kind"] == "eval" and "top1" in r]
    losses = [r for r in records if r["kind"] in ("step", "epoch") and "loss" in r]
    speeds = sorted(float(r["img_per_s"]) for r in records if r["kind"] == "step" and "img_per_s" in r)
    times = [r["time"] for r in records if "time" in r]
    best = max(evals, key=lambda r: r["top1"]) if evals else None
    return {
        "run": Path(run_dir).name,
        "model": info.get("model"),
        "params": info.get("params"),
        "epochs": max((r.get("epoch", 0) for r in records), default=None),
        "steps": max((r.get("step", 0) for r in records), default=None),
        "top1": evals[-1]["top1"] if evals else None,
        "top5": evals[-1].get("top5") if evals else None,
        "best_top1": None if best is None else best["top1"],
        "best_epoch": None if best is None else best.get("epoch"),
        "final_loss": losses[-1]["loss"] if losses else None,
        "img_per_s": speeds[len(speeds) // 2] if speeds else None,
        "time": max(times) if times else None,
    }
