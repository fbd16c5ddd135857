"""The channel MLP on a GPU: vmix's one-kernel forward against the two GEMMs and a GELU that torch.compile runs.

Every shape is a block's MLP in a ``*_tiny`` model at batch 128, 224²: the tokens of one stage (``x`` in bf16, as the
norm before it writes them under bf16 autocast), float32 ``nn.Linear`` parameters, hidden width 4C (3C in
GConvNet). Forms: ``aten`` (``mlp(impl="aten")`` compiled: cuBLAS's GEMMs and Inductor's GELU, what every model ran
before the kernel) and ``triton`` (``mlp(impl="triton")`` compiled: the kernel, autotuned). First both are checked
against the float64 reference at 2 images' tokens (output and every gradient); then the forward alone and forward +
backward are timed with ``triton.testing.do_bench`` (median, L2 flushed), against ``aten`` on the same input in the
same run. The kernel's floor is the larger of its bytes (``x`` read, ``y`` written) at the copy rate and its
products at the tensor cores' dense bf16 rate.

``--sweep`` then times the kernel's forward at every launch shape of :data:`SWEEP`, forced one at a time: the figures
that say which shapes the autotuner should be offered.

Run on a CUDA machine from the repository root::

    python bench/bench_mlp.py --out runs/mlp [--sweep]
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import torch
import triton
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from autocast_errors import autocast_errors  # noqa: E402

from vmix.ops.mlp import mlp, mlp_reference  # noqa: E402
from vmix.ops.mlp.triton import _launch  # noqa: E402

COPY_GBPS = 3018.0  # device-to-device copy, bytes read + written (performance.md §2)
BF16_TFLOPS = 989.0  # H100 SXM dense bf16 tensor-core peak
BATCH = 128
# name: (tokens per image, C, hidden)
SHAPES = {
    "vssd_tiny s1": (3136, 64, 256),
    "vssd_tiny s2": (784, 128, 512),
    "vssd_tiny s3": (196, 256, 1024),
    "vmamba_tiny s1": (3136, 96, 384),
    "vmamba_tiny s2": (784, 192, 768),
    "gconvnet_tiny s1": (3136, 96, 288),
    "gconvnet_tiny s2": (784, 192, 576),
}
SWEEP = [  # (BLOCK_M, BLOCK_H, warps, stages)
    (64, 32, 4, 2), (64, 64, 4, 2), (64, 64, 4, 3), (64, 128, 4, 2), (64, 128, 8, 2), (128, 32, 4, 3),
    (128, 64, 4, 2), (128, 64, 8, 2), (128, 64, 8, 3), (128, 128, 8, 2), (256, 64, 8, 2),
    (32, 32, 4, 2), (32, 32, 2, 2), (32, 64, 4, 3), (64, 32, 4, 3), (64, 16, 4, 2), (64, 32, 2, 2),
]  # fmt: skip


def make(tokens: int, c: int, hidden: int, batch: int, seed: int = 0) -> tuple:
    """``x`` (bf16) and the two Linears' float32 parameters, initialised as ``vmix.layers.Mlp`` does (with biases
    drawn, not zero, so that they are checked)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    kw = dict(device="cuda", generator=g)
    x = torch.randn(batch, tokens, c, **kw).bfloat16()
    return (
        x, torch.randn(hidden, c, **kw) * 0.02, torch.randn(hidden, **kw) * 0.1, torch.randn(c, hidden, **kw) * 0.02,
        torch.randn(c, **kw) * 0.1,
    )  # fmt: skip


def errors(form, shape) -> list[float]:
    """Errors of ``form`` against float64 at batch 2 (``autocast_errors``)."""
    return autocast_errors(form, mlp_reference, make(*shape, batch=2, seed=1))


def timed(form, args: tuple, backward: bool) -> float:
    args = tuple(t.detach().requires_grad_(backward) for t in args)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = form(*args)
        if backward:
            torch.autograd.backward(y, dy)

    with torch.autocast("cuda", dtype=torch.bfloat16):
        dy = torch.randn_like(form(*args))
    return do_bench(step, warmup=50, rep=300, return_mode="median")


def compiled(impl: str):
    """``mlp(impl=...)`` compiled with static shapes and a fresh Dynamo cache (each shape gets its own graphs)."""
    torch.compiler.reset()
    return torch.compile(partial(mlp, impl=impl), dynamic=False)


def sweep() -> list[str]:
    """The kernel's forward at every launch shape of SWEEP, on bf16 weights (ms; best in bold; — where it cannot
    launch)."""
    lines = ["| shape | " + " | ".join(f"{m}×{h}, {w}w, {s}s" for m, h, w, s in SWEEP) + " |"]
    lines.append("| --- |" + " ---: |" * len(SWEEP))
    for name, shape in SHAPES.items():
        x, w1, b1, w2, b2 = make(*shape, batch=BATCH)
        w1, b1, w2, b2 = (t.bfloat16() for t in (w1, b1, w2, b2))
        times = []
        for m, h, w, s in SWEEP:
            config = triton.Config({"BLOCK_M": m, "BLOCK_H": h}, num_warps=w, num_stages=s)
            run = partial(_launch, x, w1, b1, w2, b2, torch.bfloat16, config)
            try:
                times.append(do_bench(run, warmup=25, rep=150))
            except triton.runtime.errors.OutOfResources:  # shared memory: the shape cannot launch at this width
                times.append(None)
        best = min(t for t in times if t is not None)
        cells = ["—" if t is None else (f"**{t:.3f}**" if t == best else f"{t:.3f}") for t in times]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for mlp.json and mlp_sweep.md")
    parser.add_argument("--sweep", action="store_true", help="also time the kernel at every launch shape of SWEEP")
    args = parser.parse_args()
    header = (
        f"{torch.cuda.get_device_name(0)} · torch {torch.__version__} · triton {triton.__version__} · batch {BATCH}"
    )
    print(header + " · bf16 autocast\n")
    print(
        "| shape | C, hidden | form | err y / dx / dW₁ / db₁ / dW₂ / db₂ | fwd ms | aten ÷ form | fwd ÷ floor "
        "| fwd+bwd ms | aten ÷ form |"
    )
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name, shape in SHAPES.items():
        tokens, c, hidden = shape
        args_ = make(*shape, batch=BATCH)
        rows_m = BATCH * tokens
        floor_ms = max(rows_m * c * 4 / COPY_GBPS / 1e6, 4 * rows_m * c * hidden / BF16_TFLOPS / 1e9)
        base = {}
        for impl in ("aten", "triton"):
            form = compiled(impl)
            row = dict(name=name, c=c, hidden=hidden, form=impl, errors=errors(form, shape), floor_ms=floor_ms)
            row["fwd_ms"] = timed(form, args_, backward=False)
            row["fwd_bwd_ms"] = timed(form, args_, backward=True)
            base = base or row
            rows.append(row)
            print(
                f"| {name} | {c}, {hidden} | {impl} | {' / '.join(f'{e:.1e}' for e in row['errors'])} | "
                f"{row['fwd_ms']:.3f} | {base['fwd_ms'] / row['fwd_ms']:.2f} | {row['fwd_ms'] / floor_ms:.1f} | "
                f"{row['fwd_bwd_ms']:.3f} | {base['fwd_bwd_ms'] / row['fwd_bwd_ms']:.2f} |",
                flush=True,
            )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "mlp.json").write_text(json.dumps(rows, indent=1))
    if args.sweep:
        print()
        lines = sweep()
        if args.out:
            (args.out / "mlp_sweep.md").write_text(header + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
