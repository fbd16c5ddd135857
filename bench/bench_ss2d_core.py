"""SS2D's core forward on a GPU: the fused Triton kernel against the composed form, at VMamba-Tiny's four stages.

Inputs as SS2D produces them under bf16 autocast: the map ``z (128, H, W, E)`` and ``x_dbl (128, 4, R + 2, H·W)`` in
bf16, ``dt_weight``, ``dt_bias``, ``A``, ``D`` in float32; d_state 1, dt rank ``ceil(C / 16)``. First each form is
checked against the float64 reference at batch 2; then the forward (no gradients: the fused form is for inference)
is timed with ``triton.testing.do_bench`` (median, L2 flushed): the composed form compiled (Inductor's cross-scan
and merge around the Triton scan, what SS2D runs today) and the fused kernel. The floor is the fused kernel's
interface bytes (``z`` and ``x_dbl`` read once, the float32 output written once) at the copy rate.

Run on a CUDA machine from the repository root::

    python bench/bench_ss2d_core.py --out runs/ss2d_core
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vmix.testing as vt  # noqa: E402
from vmix.ops.ss2d_core import ss2d_core_composed, ss2d_core_fused, ss2d_core_reference  # noqa: E402
from vmix.ops.ss2d_core.triton import _fwd_tuned  # noqa: E402

COPY_GBPS = 3018.0  # device-to-device copy, bytes read + written (performance.md §2)
STAGES = {1: (56, 96), 2: (28, 192), 3: (14, 384), 4: (7, 768)}  # stage: (side, C); E = 2C
BATCH = 128


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the table (.md) and numbers (.json)")
    args = parser.parse_args(argv)
    # Static shapes: after a second stage's shapes Dynamo would otherwise recompile with dynamic sizes, which is
    # not what a model (four stages, four static graphs) runs.
    composed = torch.compile(ss2d_core_composed, fullgraph=True, dynamic=False)
    forms = {"composed (compiled)": composed, "fused": ss2d_core_fused}

    results, lines = {}, []
    lines.append(
        "| stage | map, E | form | rel-RMS vs float64 | fwd ms | composed ÷ this | floor ms | this ÷ floor | launch |"
    )
    lines.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for stage, (side, channels) in STAGES.items():
        small = inputs(side, channels, batch=2, seed=1)
        with torch.no_grad():
            want = ss2d_core_reference(**{k: v.double() for k, v in small.items()})
        big = inputs(side, channels, batch=BATCH)
        rows = {}
        for name, form in forms.items():
            with torch.no_grad():
                err = vt.rel_rms_error(form(**small), want)

                def run(form=form, big=big):
                    with torch.no_grad():
                        form(**big)

                rows[name] = {"rel_rms": err, "fwd_ms": do_bench(run, warmup=25, rep=100)}
                if form is ss2d_core_fused:  # the launch shape the autotuner chose at this stage's size
                    rows[name]["launch"] = str(_fwd_tuned.best_config)
        results[stage] = rows
        base = rows["composed (compiled)"]["fwd_ms"]
        floor = floor_ms(side, channels)
        for name, row in rows.items():
            lines.append(
                f"| {stage} | {side}², {2 * channels} | {name} | {row['rel_rms']:.1e} | {row['fwd_ms']:.3f} "
                f"| {base / row['fwd_ms']:.2f}× | {floor:.3f} | {row['fwd_ms'] / floor:.2f}× "
                f"| {row.get('launch', '')} |"
            )
        print("\n".join(lines[-len(rows) :]), flush=True)
    header = f"{torch.cuda.get_device_name()} · torch {torch.__version__} · batch {BATCH} · bf16 map, forward only"
    table = header + "\n\n" + "\n".join(lines)
    print("\n" + table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ss2d_core.md").write_text(table + "\n")
        (args.out / "ss2d_core.json").write_text(json.dumps({"header": header, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
