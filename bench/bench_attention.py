"""Attention at the shapes vmix's models run it: ``attention(impl="auto")`` against the best of SDPA and FlexAttention.

The shapes (bf16, no mask, head_dim 32) are those of the hybrids' Transformer stages and VSSD's last stage at 224²
(batch 128: L = 196 with 12 heads, L = 49 with 24 and with 16 heads) and of a detection-size map (batch 2, L = 4096,
12 heads). Every form runs inside ``torch.compile`` of a function that calls it, as it does inside a compiled model:

- ``auto``: ``vmix.ops.attention(q, k, v)`` (what the models call; FlexAttention there on CUDA);
- ``sdpa:<backend>``: ``F.scaled_dot_product_attention`` restricted to one backend (flash, efficient, cudnn, math);
- ``flex``: ``torch.nn.attention.flex_attention``.

Each form is first checked against the float64 reference (forward and the three gradients, relative RMS), then
timed forward and forward + backward two ways: ``triton.testing.do_bench`` of the compiled call (median, L2
flushed; host overhead and launch gaps included, which at these sizes move a form's time by up to 2× between runs),
and its GPU kernel time per call from ``torch.profiler`` (20 calls after 3 warm-up ones, L2 not flushed), which is
what the forms' kernels cost inside a model whose host keeps ahead. The table gives ``auto``'s kernel time over the
best other form's (the goal: ≥ 0.9× its speed, i.e. a ratio ≤ 1.11).

Run on a CUDA machine from the repository root::

    python bench/bench_attention.py --out runs/attention

A CPU smoke run of the script itself (no timing meaning)::

    python bench/bench_attention.py --device cpu --shapes tiny
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_model import kernel_times  # noqa: E402

import vmix.testing as vt  # noqa: E402
from vmix.ops.attention import attention, attention_reference  # noqa: E402
from vmix.ops.attention.sdpa import BACKENDS  # noqa: E402

SHAPES = {  # name: (batch, heads, length, head_dim)
    "hybrid stage 3 (224²)": (128, 12, 196, 32),
    "hybrid stage 4 (224²)": (128, 24, 49, 32),
    "VSSD-T stage 4 (224²)": (128, 16, 49, 32),
    "detection map (L 4096)": (2, 12, 4096, 32),
}
TINY = {"tiny": (2, 2, 49, 16)}


def forms(device: torch.device) -> dict:
    """name → compiled callable ``(q, k, v) -> out`` for every form that exists on ``device``."""
    out = {"auto": lambda q, k, v: attention(q, k, v)}
    for name, backend in BACKENDS.items():

        def sdpa(q, k, v, backend=backend):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v)

        out[f"sdpa:{name}"] = sdpa
    if device.type == "cuda":  # FlexAttention has no backward on CPU
        out["flex"] = lambda q, k, v: flex_attention(q, k, v)
    # The four SDPA closures share one code object: 4 backends × 4 shapes × 2 grad modes static graphs, past
    # Dynamo's default of 8 per code object.
    torch._dynamo.config.recompile_limit = 64
    return {name: torch.compile(fn, fullgraph=True, dynamic=False) for name, fn in out.items()}


def bench(fn, device: torch.device) -> float:
    """Median milliseconds of ``fn()``."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=100)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def kernel_ms(fn, steps: int = 20) -> float:
    """GPU kernel time per call of ``fn`` in milliseconds (torch.profiler's device time, summed over kernels)."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            fn()
        torch.cuda.synchronize()
    return sum(us for us, _ in kernel_times(prof, torch.device("cuda")).values()) / steps / 1e3


def measure(name: str, fn, shape: tuple, device: torch.device, dtype: torch.dtype) -> dict:
    q, k, v = (t.to(device=device, dtype=dtype).requires_grad_() for t in torch.randn(3, *shape).unbind(0))
    try:
        vt.assert_forms_agree(fn, attention_reference, {"q": q, "k": k, "v": v}, vt.tolerance_for(dtype))
    except AssertionError as err:
        return {"form": name, "error": f"disagrees with the reference: {err}"}
    except Exception as err:  # a backend that does not support this shape, dtype or device
        return {"form": name, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"}
    dout = torch.randn_like(q)

    def forward():
        with torch.no_grad():
            fn(q, k, v)

    def forward_backward():
        torch.autograd.grad(fn(q, k, v), (q, k, v), dout)

    row = {"form": name, "fwd_ms": bench(forward, device), "fwd_bwd_ms": bench(forward_backward, device)}
    if device.type == "cuda":
        row.update(fwd_kernel_ms=kernel_ms(forward), fwd_bwd_kernel_ms=kernel_ms(forward_backward))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shapes", choices=["models", "tiny"], default="models")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (.md) and numbers (.json)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    shapes = SHAPES if args.shapes == "models" else TINY

    results, lines = {}, []
    kernel = "kernel_" if device.type == "cuda" else ""  # the ratio is of kernel time where there is a profile
    lines.append(
        "| shape (B, heads, L, d) | form | fwd ms | fwd+bwd ms | fwd kernel ms | fwd+bwd kernel ms "
        "| auto ÷ best other, fwd / fwd+bwd |"
    )
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for label, shape in shapes.items():
        rows = [measure(name, fn, shape, device, dtype) for name, fn in forms(device).items()]
        results[label] = {"shape": shape, "rows": rows}
        timed = [r for r in rows if "error" not in r]
        auto = next((r for r in timed if r["form"] == "auto"), None)
        others = [r for r in timed if r["form"] != "auto"]
        for r in rows:
            if "error" in r:
                lines.append(f"| {label} {shape} | {r['form']} | — | — | — | — | {r['error']} |")
                continue
            ratio = ""
            if r is auto and others:
                best_f = min(o[f"fwd_{kernel}ms"] for o in others)
                best_fb = min(o[f"fwd_bwd_{kernel}ms"] for o in others)
                ratio = f"{r[f'fwd_{kernel}ms'] / best_f:.2f} / {r[f'fwd_bwd_{kernel}ms'] / best_fb:.2f}"
            kernels = " | ".join(f"{r[k]:.3f}" if k in r else "—" for k in ("fwd_kernel_ms", "fwd_bwd_kernel_ms"))
            lines.append(
                f"| {label} {shape} | {r['form']} | {r['fwd_ms']:.3f} | {r['fwd_bwd_ms']:.3f} | {kernels} | {ratio} |"
            )
        print("\n".join(lines[-len(rows) :]), flush=True)
    header = f"{device} · {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'} · torch "
    header += f"{torch.__version__} · {dtype} · compiled, no mask"
    table = header + "\n\n" + "\n".join(lines)
    print("\n" + table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "attention.md").write_text(table + "\n")
        (args.out / "attention.json").write_text(json.dumps({"header": header, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
