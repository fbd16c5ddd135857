"""What bounds the fused SS2D core: its kernels timed with one part of their work taken out (CUDA only).

Each variant is the kernel source of ``vmix/ops/ss2d_core/triton.py`` with one line rewritten, so its *results are
wrong*; only its time means something. Against the unchanged kernel (``base``), at VMamba-Tiny's stages 1 and 2
(batch 128, bf16 map), at a fixed launch shape:

- forward ``store``: the atomic adds into the output map as plain stores (what the adds' contention costs);
- forward ``nowrite``: the output stores masked off at run time (what writing the map costs at all);
- forward ``noload_nowrite``: that, and ``u`` made from the cell index instead of loaded from the map;
- backward ``dz_store`` / ``all_store``: ``dz``'s atomic adds, or all of them, as plain stores.

Run from the repository root on a CUDA machine::

    python bench/probe_ss2d_core.py
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import tempfile
from pathlib import Path

import torch
import triton
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ss2d_core import STAGES, inputs  # noqa: E402

fused = importlib.import_module("vmix.ops.ss2d_core.triton")
_ATOMIC = 'tl.atomic_add(out_map + cells, y, mask=mask, sem="relaxed")'
_DZ = 'tl.atomic_add(dz_map + cells, gdt * Bv[:, None] + Dv[None, :] * dyf, mask=mask, sem="relaxed")'
FORWARD = {
    "base": [],
    "store": [(_ATOMIC, "tl.store(out_map + cells, y, mask=mask)")],
    "nowrite": [(_ATOMIC, "tl.store(out_map + cells, y, mask=mask & (cells < 0))")],
    "noload_nowrite": [
        (_ATOMIC, "tl.store(out_map + cells, y, mask=mask & (cells < 0))"),
        ("u = tl.load(z_map + cells, mask=mask, other=0.0)", "u = (cells * 1e-9).to(z_map.dtype.element_ty)"),
    ],
}
_SOURCE = Path(fused.__file__).read_text()
_BWD_ATOMICS = re.findall(r'tl\.atomic_add\((.*?), sem="relaxed"\)', _SOURCE[_SOURCE.index("def _bwd_kernel") :])
BACKWARD = {
    "base": [],
    "dz_store": [(_DZ, _DZ.replace("tl.atomic_add(", "tl.store(").replace(', sem="relaxed"', ""))],
    "all_store": [(f'tl.atomic_add({a}, sem="relaxed")', f"tl.store({a})") for a in _BWD_ATOMICS],
}


def kernels(name: str, edits: list[tuple[str, str]]):
    """The kernels' module with ``edits`` applied (Triton compiles from source files, so it is written to one)."""
    source = _SOURCE[: _SOURCE.index("# The batch is in the keys")]  # the kernels, not the ops registered after them
    for old, new in edits:
        if old not in source:
            raise RuntimeError(f"variant {name}: the kernel no longer contains {old!r}")
        source = source.replace(old, new)
    path = Path(tempfile.mkdtemp()) / f"probe_{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_launch(kernel, grid: tuple, args: tuple, kwargs: dict) -> float:
    """Median ms of one launch (``triton.testing.do_bench``: warm-up, L2 flushed)."""
    return do_bench(lambda: kernel[grid](*args, **kwargs), warmup=10, rep=50)


def main() -> int:
    if not torch.cuda.is_available():
        print("probe_ss2d_core.py needs a CUDA device", file=sys.stderr)
        return 1
    print("| stage | kernel | variant | channels, warps | ms |\n| --- | --- | --- | --- | ---: |")
    for stage in (1, 2):
        side, c = STAGES[stage]
        big = inputs(side, c, batch=128)
        b, h, w, e = big["z"].shape
        length, tiles = h * w, fused._num_tiles(h * w)
        ops = fused._operands(*big.values())
        order, even = fused._walk(h, w, big["z"].device)
        meta = dict(fused._dot_meta(big["x_dbl"], ops[2].shape[2]), **even, FAST=True, BLOCK_L=fused._BLOCK_L)
        f32 = dict(device="cuda", dtype=torch.float32)
        out, states = torch.zeros(b, h, w, e, **f32), torch.empty(b, 4, tiles, e, **f32)
        grads = (
            torch.zeros(b, h, w, e, **f32), torch.zeros(big["x_dbl"].shape, **f32),
            torch.empty(b, 4, e, ops[2].shape[2], **f32), *(torch.empty(b, 4, e, **f32) for _ in range(3)),
        )  # fmt: skip
        dout = torch.randn(b, h, w, e, **f32)
        tail = (order, b, length, e, tiles)
        for direction, variants in (("forward", FORWARD), ("backward", BACKWARD)):
            for name, edits in variants.items():
                module = kernels(name, edits)
                for block_e, warps in [(16, 1), (16, 2)] if direction == "forward" else [(16, 1)]:
                    if direction == "forward":
                        kernel, args = module._fwd_kernel, (*ops, out, states, *tail)
                        extra = dict(meta, N=1, SAVE_STATES=True)
                    else:
                        kernel, args, extra = module._bwd_kernel, (*ops, dout, states, *grads, *tail), meta
                    grid = (triton.cdiv(e, block_e), 4, b)
                    ms = time_launch(kernel, grid, args, dict(extra, BLOCK_E=block_e, num_warps=warps))
                    print(f"| {stage} | {direction} | {name} | {block_e}, {warps} | {ms:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
