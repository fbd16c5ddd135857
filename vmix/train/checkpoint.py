"""Atomic checkpoints and the random-number-generator state that makes ``--resume`` exact."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


def capture_rng_state() -> dict:
    """The states of Python's, NumPy's, torch's CPU and every CUDA generator, as tensors and plain types.

    NumPy's key array is stored as a tensor so the checkpoint loads with ``torch.load(weights_only=True)``.

    Example:
        >>> state = capture_rng_state(); a = torch.rand(1)
        >>> restore_rng_state(state); bool(torch.equal(a, torch.rand(1)))
        True
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict) -> None:
    """Restore what :func:`capture_rng_state` captured (CUDA states only where CUDA is present).

    Example:
        >>> restore_rng_state(capture_rng_state())
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: a temporary file in the same folder, fsync, then ``os.replace``.

    A process killed at any moment leaves either the previous file or the new one, never a truncated file.

    Args:
        state: what ``torch.save`` accepts.
        path: destination.

    Returns:
        The destination path.

    Example:
        >>> import tempfile, os
        >>> p = save_checkpoint({"step": 3}, os.path.join(tempfile.mkdtemp(), "last.pt"))
        >>> torch.load(p)["step"]
        3
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Persist the rename itself (the directory entry), so a crash right after cannot lose it.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | os.PathLike, *, model_name: str | None = None) -> dict:
    """Load a training checkpoint on the CPU, checking it belongs to ``model_name``.

    Args:
        path: a checkpoint file, or a run folder (its ``last.pt`` is taken).
        model_name: the model the caller is about to restore; a checkpoint of another model is refused.

    Returns:
        The saved state.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        ValueError: the checkpoint is from another model.

    Example:
        >>> import tempfile, os
        >>> p = save_checkpoint({"model_name": "a"}, os.path.join(tempfile.mkdtemp(), "last.pt"))
        >>> load_checkpoint(p.parent, model_name="a")["model_name"]
        'a'
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state.get("model_name")
    if model_name is not None and saved != model_name:
        raise ValueError(f"checkpoint {path} is from model {saved!r}, not {model_name!r}; pass --model {saved}")
    return state
