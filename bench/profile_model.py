"""Where a model's step time goes: torch.profiler kernel time per step, by kernel and by kind of work.

The whole-model figures of ``bench/bench_models.py`` say how fast; this says what to fix. It runs the same step
(batch 128 at 224², bf16 autocast, forward + cross-entropy + backward + AdamW, or the forward alone), warms up
(compilation included), then profiles ``--steps`` steps and prints, per step:

- the kernel time of each kind of work (the selective scan, matrix products, convolutions, norms, Inductor's fused
  kernels, copies and layout changes, the optimizer, ...), with its share of the total;
- the ``--top`` kernels by time, with their calls per step;
- the GPU's span per step (first kernel's start to last kernel's end, over the profiled steps) and the share of it
  that kernels fill: well below 100 %, the GPU waits for the host to launch work;
- with ``--out``, also the last step's kernels in launch order with their times (``*_timeline.md``), which tells the
  calls of one kernel apart (a depthwise convolution at stage 1 from one at stage 3, say).

Run on a CUDA machine from the repository root::

    python bench/profile_model.py --model vmamba_tiny --compile --out runs/profile
    python bench/profile_model.py --model vmamba_tiny --mode infer --compile

A CPU smoke run of the script itself (operator times, no GPU meaning)::

    python bench/profile_model.py --model vmamba_pico --device cpu --batch 2 --img-size 64 --steps 1
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import build_vmix, make_step  # noqa: E402

# First match wins: a kernel's kind from its name (CUDA kernels) or its operator name (CPU).
KINDS = (
    ("selective scan", r"selective_scan|_scan_fwd|_scan_bwd"),
    ("attention", r"flash|fmha|attention|flex"),
    ("optimizer", r"adam|foreach|multi_tensor"),
    ("matrix product", r"gemm|xmma|cutlass|cublas|\bmm\b|addmm|bmm|matmul|linear|sm90_"),
    ("convolution", r"conv|cudnn|implicit_convolve|depthwise"),
    ("norm", r"layer_norm|layernorm|rms_norm|group_norm|batch_norm|welford|native_layer_norm"),
    ("layout / copy", r"copy|transpose|permute|contiguous|nchw|nhwc|cat|clone|index"),
    ("inductor fused", r"^triton_"),
    ("elementwise / reduction", r"elementwise|vectorized|reduce|softmax|gelu|silu|exp|mul|add|sum|mean"),
)


def kind_of(name: str) -> str:
    """The kind of work a kernel or operator does, from its name (``"other"`` when none matches).

    Example:
        >>> kind_of("triton_poi_fused_add_mul_0"), kind_of("sm90_xmma_gemm_bf16bf16_bf16f32")
        ('inductor fused', 'matrix product')
    """
    lowered = name.lower()
    for kind, pattern in KINDS:
        if re.search(pattern, lowered):
            return kind
    return "other"


def build_step(model, args, device: torch.device):
    x = torch.randn(args.batch, 3, args.img_size, args.img_size, device=device)
    labels = torch.randint(0, 1000, (args.batch,), device=device)
    model.train(args.mode == "train")
    return make_step(model, torch.compile(model) if args.compile else model, x, labels, train=args.mode == "train")


def kernel_times(prof, device: torch.device) -> dict[str, tuple[float, int]]:
    """name → (total µs, calls) of device kernels (CUDA) or of leaf operators' self time (CPU)."""
    times: dict[str, list] = defaultdict(lambda: [0.0, 0])
    for event in prof.key_averages():
        if device.type == "cuda":
            us = event.self_device_time_total if event.device_type == torch.autograd.DeviceType.CUDA else 0.0
        else:
            us = event.self_cpu_time_total
        if us > 0:
            times[event.key][0] += us
            times[event.key][1] += event.count
    return {k: (v[0], v[1]) for k, v in times.items()}


def timeline(prof, steps: int) -> list[tuple[str, float]]:
    """The last step's device kernels in launch order, as (name, µs); empty on the CPU."""
    kernels = sorted(
        (e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA),
        key=lambda e: e.time_range.start,
    )
    return [(e.name, e.time_range.elapsed_us()) for e in kernels[len(kernels) - len(kernels) // steps :]]


def gpu_span_us(prof) -> float:
    """Microseconds from the first device kernel's start to the last one's end (0 on the CPU)."""
    kernels = [e.time_range for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return max((r.end for r in kernels), default=0) - min((r.start for r in kernels), default=0)


def report(times: dict[str, tuple[float, int]], steps: int, top: int, span_us: float = 0.0) -> tuple[str, dict]:
    total = sum(us for us, _ in times.values()) or 1.0
    by_kind: dict[str, float] = defaultdict(float)
    for name, (us, _) in times.items():
        by_kind[kind_of(name)] += us
    lines = [f"kernel time per step: {total / steps / 1e3:.2f} ms"]
    if span_us:
        lines.append(f"GPU span per step: {span_us / steps / 1e3:.2f} ms (kernels fill {100 * total / span_us:.0f} %)")
    lines += ["", "| kind | ms / step | share |"]
    lines.append("| --- | ---: | ---: |")
    for kind, us in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {us / steps / 1e3:.2f} | {100 * us / total:.1f} % |")
    lines += ["", "| kernel | kind | ms / step | calls / step |", "| --- | --- | ---: | ---: |"]
    for name, (us, calls) in sorted(times.items(), key=lambda kv: -kv[1][0])[:top]:
        short = name if len(name) <= 90 else name[:87] + "..."
        lines.append(f"| `{short}` | {kind_of(name)} | {us / steps / 1e3:.3f} | {calls / steps:g} |")
    summary = {
        "ms_per_step": total / steps / 1e3,
        "span_ms_per_step": span_us / steps / 1e3,
        "by_kind_ms": {k: v / steps / 1e3 for k, v in by_kind.items()},
        "kernels": {k: {"ms": us / steps / 1e3, "calls": c / steps} for k, (us, c) in times.items()},
    }
    return "\n".join(lines), summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="vmamba_tiny", help="registered vmix model, or NAME@VARIANT as bench_models.py takes"
    )
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model first")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=3, help="steps before profiling (compilation included)")
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    parser.add_argument("--top", type=int, default=30, help="kernels listed")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables (.md) and numbers (.json)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    torch.manual_seed(0)
    model = build_vmix(args.model).to(device)
    step = build_step(model, args, device)
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    table, summary = report(kernel_times(prof, device), args.steps, args.top, gpu_span_us(prof))
    mode = f"{args.mode}, {'compiled' if args.compile else 'eager'}"
    header = f"{args.model} · {mode} · batch {args.batch} · {args.img_size}² · {device} · torch {torch.__version__}"
    print(header + "\n\n" + table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"profile_{args.model.replace('@', '-')}_{args.mode}{'_compiled' if args.compile else ''}"
        (args.out / f"{stem}.md").write_text(header + "\n\n" + table + "\n")
        (args.out / f"{stem}.json").write_text(json.dumps({"header": header, **summary}, indent=1))
        rows = [
            f"| {i} | `{name[:100]}` | {kind_of(name)} | {us:.1f} |"
            for i, (name, us) in enumerate(timeline(prof, args.steps))
        ]
        table = "| # | kernel | kind | µs |\n| ---: | --- | --- | ---: |\n" + "\n".join(rows)
        (args.out / f"{stem}_timeline.md").write_text(header + ", the last profiled step\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
