"""Loss and accuracy curves from ``metrics.jsonl``, one run or several side by side (the papers' Figures 4-6)."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(run: str | Path) -> list[dict]:
    """The records of a run's ``metrics.jsonl`` (``run`` is the folder or the file).

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "metrics.jsonl").write_text('{"kind": "step", "step": 1}\\n')
        >>> read_metrics(d)
        [{'kind': 'step', 'step': 1}]
    """
    path = Path(run)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_runs(runs: dict[str, str | Path] | list[str | Path], output: str | Path) -> Path:
    """Plot training loss (step lines) and top-1 (eval lines, EMA dashed) against epochs for each run.

    Args:
        runs: run folders, or ``{label: folder}`` to name them in the legend (default label: the folder name).
        output: image file to write (``.png``, ``.pdf``, ``.svg``).

    Returns:
        The written path.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> lines = ['{"kind": "step", "step": 1, "epoch": 0.5, "loss": 2.0}',
        ...          '{"kind": "eval", "step": 2, "epoch": 1.0, "top1": 40.0, "top5": 90.0}']
        >>> _ = (d / "metrics.jsonl").write_text("\\n".join(lines))
        >>> plot_runs([d], d / "curves.png").name
        'curves.png'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not isinstance(runs, dict):
        runs = {Path(r).name: r for r in runs}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, run) in enumerate(runs.items()):
        color = f"C{i}"
        records = read_metrics(run)
        steps = [r for r in records if r["kind"] == "step" and "loss" in r]
        evals = [r for r in records if r["kind"] == "eval"]
        ax_loss.plot([r["epoch"] for r in steps], [r["loss"] for r in steps], color=color, label=label)
        if evals:
            ax_acc.plot([r["epoch"] for r in evals], [r["top1"] for r in evals], "o-", color=color, label=label)
            if "top1_ema" in evals[0]:
                ema = [r["top1_ema"] for r in evals]
                ax_acc.plot([r["epoch"] for r in evals], ema, "s--", color=color, label=f"{label} (EMA)")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="top-1 (%)", title="Validation top-1")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return output
