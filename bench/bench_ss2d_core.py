"""SS2D's core on a GPU: the fused Triton kernels against the composed form, at VMamba-Tiny's four stages.

Inputs as SS2D produces them under bf16 autocast: the map ``z (128, H, W, E)`` and ``x_dbl (128, 4, R + 2, H·W)`` in
bf16, ``dt_weight``, ``dt_bias``, ``A``, ``D`` in float32; d_state 1, dt rank ``ceil(C / 16)``. First each form is
checked against the float64 reference at batch 2, output and every gradient; then the forward alone (no gradients:
what inference runs) and forward + backward (every input wanting a gradient: what training runs) are timed with
``triton.testing.do_bench`` (median, L2 flushed): the composed form compiled with static shapes (Inductor's
cross-scan and merge around the Triton scan) and the fused kernels. The floor is the fused forward's interface
bytes (``z`` and ``x_dbl`` read once, the float32 output written once) at the copy rate.

``--sweep STAGE...`` then times the fused kernels at those stages at every launch shape of :data:`SWEEP`
(channels per program, warps, and a register cap), forced one at a time instead of autotuned: the figures that
say which shapes the autotuner should be offered, and whether capping the backward's registers (255 uncapped: 8
warps per SM) buys occupancy worth its spills (``bench/NOTES_ss2d_core.md``).

Run on a CUDA machine from the repository root::

    python bench/bench_ss2d_core.py --out runs/ss2d_core [--sweep 1 2]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import triton
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vmix.testing as vt  # noqa: E402
from vmix.ops.ss2d_core import ss2d_core_composed, ss2d_core_fused, ss2d_core_reference  # noqa: E402
from vmix.ops.ss2d_core.triton import _bwd_tuned, _fwd_tuned  # noqa: E402

COPY_GBPS = 3018.0  # device-to-device copy, bytes read + written (performance.md §2)
STAGES = {1: (56, 96), 2: (28, 192), 3: (14, 384), 4: (7, 768)}  # stage: (side, C); E = 2C
BATCH = 128
SWEEP = [  # (channels per program, warps, register cap or None)
    (16, 1, None), (16, 2, None), (32, 1, None), (32, 2, None), (64, 2, None), (32, 4, None), (64, 4, None),
    (16, 1, 168), (16, 2, 128),
]  # fmt: skip


def inputs(side: int, channels: int, batch: int, seed: int = 0) -> dict:
    """SS2D's core inputs at one stage, drawn like VMamba's initialisation."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    e, r, length = 2 * channels, math.ceil(channels / 16), side * side
    kw = dict(device="cuda", generator=g)
    dt = torch.empty(4, e, device="cuda").uniform_(math.log(1e-3), math.log(1e-1), generator=g).exp()
    return dict(
        z=torch.randn(batch, side, side, e, **kw).bfloat16(),
        x_dbl=torch.randn(batch, 4, r + 2, length, **kw).bfloat16(),
        dt_weight=torch.empty(4, e, r, device="cuda").uniform_(-(r**-0.5), r**-0.5, generator=g),
        dt_bias=dt + torch.log(-torch.expm1(-dt)),
        A=-torch.ones(4 * e, 1, device="cuda"),
        D=torch.ones(4 * e, device="cuda"),
    )


def floor_ms(side: int, channels: int) -> float:
    length, e, r = side * side, 2 * channels, math.ceil(channels / 16)
    moved = BATCH * length * (e * 2 + 4 * (r + 2) * 2 + e * 4)  # z, x_dbl (bf16) read; float32 map written
    return moved / COPY_GBPS / 1e6


def errors(form, small: dict) -> tuple[float, float]:
    """Rel-RMS error against the float64 reference of the output and of the worst of the six gradients."""
    upstream = torch.randn(small["z"].shape, device="cuda", dtype=torch.float64)
    leaves = {k: v.detach().requires_grad_() for k, v in small.items()}
    exact = {k: v.detach().double().requires_grad_() for k, v in small.items()}
    got, want = form(**leaves), ss2d_core_reference(**exact)
    got.backward(upstream.float())
    want.backward(upstream)
    worst = max(vt.rel_rms_error(leaves[k].grad, exact[k].grad) for k in small)
    return vt.rel_rms_error(got.detach(), want.detach()), worst


def time_forms(form, big: dict, upstream: torch.Tensor) -> tuple[float, float]:
    """Median ms of ``form`` forward only (no gradients) and forward + backward (every input wanting one)."""

    def infer():
        with torch.no_grad():
            form(**big)

    leaves = {k: v.detach().requires_grad_() for k, v in big.items()}

    def train():
        form(**leaves).backward(upstream)

    return do_bench(infer, warmup=25, rep=100), do_bench(train, warmup=25, rep=100, grad_to_none=list(leaves.values()))


def sweep(stages: list[int]) -> list[str]:
    """The fused kernels at each launch shape of :data:`SWEEP`, forced on both, at ``stages``: table lines."""
    offered = (_fwd_tuned.configs, _bwd_tuned.configs)
    lines = [
        "| stage | channels, warps, register cap | fwd ms | fwd+bwd ms | bwd ms (difference) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    try:
        for stage in stages:
            side, channels = STAGES[stage]
            big = inputs(side, channels, batch=BATCH)
            upstream = torch.randn(big["z"].shape, device=big["z"].device)
            for block_e, warps, cap in SWEEP:
                config = triton.Config({"BLOCK_E": block_e}, num_warps=warps, maxnreg=cap)
                for tuned in (_fwd_tuned, _bwd_tuned):
                    tuned.configs = [config]
                    tuned.cache.clear()
                fwd, fwd_bwd = time_forms(ss2d_core_fused, big, upstream)
                lines.append(
                    f"| {stage} | {block_e}, {warps}, {cap or '—'} | {fwd:.3f} | {fwd_bwd:.3f} | {fwd_bwd - fwd:.3f} |"
                )
                print(lines[-1], flush=True)
    finally:
        for tuned, configs in zip((_fwd_tuned, _bwd_tuned), offered, strict=True):
            tuned.configs = configs
            tuned.cache.clear()
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the table (.md) and numbers (.json)")
    parser.add_argument(
        "--sweep", type=int, nargs="+", choices=sorted(STAGES), metavar="STAGE",
        help="then time the fused kernels at every launch shape at these stages",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # Static shapes: after a second stage's shapes Dynamo would otherwise recompile with dynamic sizes, which is
    # not what a model (four stages, four static graphs) runs.
    # Each stage, batch and grad mode is its own static graph (12 here), past Dynamo's default 8 per function.
    torch._dynamo.config.recompile_limit = 32
    composed = torch.compile(ss2d_core_composed, fullgraph=True, dynamic=False)
    forms = {"composed (compiled)": composed, "fused": ss2d_core_fused}

    results, lines = {}, []
    lines.append(
        "| stage | map, E | form | rel-RMS fwd / worst grad | fwd ms | composed ÷ this | this ÷ floor (ms) "
        "| fwd+bwd ms | composed ÷ this | launch fwd / bwd |"
    )
    lines.append("| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | --- |")
    for stage, (side, channels) in STAGES.items():
        small = inputs(side, channels, batch=2, seed=1)
        big = inputs(side, channels, batch=BATCH)
        upstream = torch.randn(BATCH, side, side, 2 * channels, device="cuda")
        rows = {}
        for name, form in forms.items():
            err, grad_err = errors(form, small)
            fwd, fwd_bwd = time_forms(form, big, upstream)
            rows[name] = {"rel_rms": err, "grad_rel_rms": grad_err, "fwd_ms": fwd, "fwd_bwd_ms": fwd_bwd}
            if form is ss2d_core_fused:  # the launch shapes the autotuner chose at this stage's size
                rows[name]["launch"] = f"{_fwd_tuned.best_config} / {_bwd_tuned.best_config}"
        results[stage] = rows
        base = rows["composed (compiled)"]
        floor = floor_ms(side, channels)
        for name, row in rows.items():
            lines.append(
                f"| {stage} | {side}², {2 * channels} | {name} | {row['rel_rms']:.1e} / {row['grad_rel_rms']:.1e} "
                f"| {row['fwd_ms']:.3f} | {base['fwd_ms'] / row['fwd_ms']:.2f}× "
                f"| {row['fwd_ms'] / floor:.1f}× ({floor:.3f}) | {row['fwd_bwd_ms']:.3f} "
                f"| {base['fwd_bwd_ms'] / row['fwd_bwd_ms']:.2f}× | {row.get('launch', '')} |"
            )
        print("\n".join(lines[-len(rows) :]), flush=True)
    header = f"{torch.cuda.get_device_name()} · torch {torch.__version__} · batch {BATCH} · bf16 map"
    table = header + "\n\n" + "\n".join(lines)
    print("\n" + table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ss2d_core.md").write_text(table + "\n")
        (args.out / "ss2d_core.json").write_text(json.dumps({"header": header, "results": results}, indent=1))
    if args.sweep:
        shapes = header + "\n\n" + "\n".join(sweep(args.sweep))
        print("\n" + shapes)
        if args.out is not None:
            (args.out / "ss2d_core_sweep.md").write_text(shapes + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
