"""Whole-model training and inference img/s, vmix against timm's ConvNeXt-T / MambaOut-T measured in the same run.

The method of ``../shared/specs/performance.md`` §3, so the figures compare with the official code's there:
batch 128 at 224², bf16 autocast, random init, random-normal input; training is ``zero_grad(set_to_none)``,
forward + cross-entropy on random labels, backward, ``torch.optim.AdamW`` (foreach, lr 1e-4, wd 0.05); 3 warm-up
steps, then per-step times from CUDA events recorded between consecutive steps with no host sync inside the loop
(steady-state throughput, launch gaps included); img/s = batch / median; peak memory is ``max_memory_allocated``
over the timed loop (weights and optimizer state included). "first" is the wall time of the first step, compile
included. Each measurement starts from a reset Dynamo cache and a collected heap, so no model's time depends on
those measured before it. Before timing, each vmix model runs one forward + backward and every parameter must get a
finite, non-zero gradient.

Run on a CUDA machine from the repository root::

    python bench/bench_models.py --out runs/models                       # the *_tiny models, eager and compiled
    python bench/bench_models.py --models vmamba_pico vssd_micro --modes compiled
    python bench/bench_models.py --models vmamba_tiny vmamba_tiny@composed --measure infer  # the fused core's gain

A model name with ``@composed`` runs its SS2D layers on the composed core (``scan_impl="triton"``), and one with
``@fused`` on the fused core (``scan_impl="fused"``), instead of what ``scan_impl="auto"`` picks (the fused core on
a GPU, for training too at d_state 1); ``@cudnn``, ``@shifted`` and ``@triton`` run every depthwise convolution
through ``F.conv2d`` (``conv_impl="aten"``, what ``"auto"`` runs), as a sum of shifted slices (``"reference"``) or
in vmix's Triton kernels (``"triton"``); ``@atenmlp`` and ``@tritonmlp`` run every block's MLP as two GEMMs and a
GELU (``mlp_impl="aten"``) or in vmix's kernels (``"triton"``, for training too; the blocks wider than the kernel
takes keep ``"auto"``).

A CPU smoke run of the script itself (no timing meaning)::

    python bench/bench_models.py --device cpu --batch 2 --img-size 64 --steps 2 --models gconvnet_pico --baselines
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vmix  # noqa: E402
from vmix.ops.mlp import MAX_CHANNELS  # noqa: E402

DEFAULT_MODELS = ("vmamba_tiny", "gconvnet_tiny", "vssd_tiny", "mambaout_tiny")
# Measured on the same H100 kind with this method (performance.md §3 and §8): (train img/s, infer img/s, train GiB).
OFFICIAL = {
    "vmamba_tiny": (908, 2883, 15.0),
    "vssd_tiny": (1254, 7672, 16.8),
}
BASELINES = ("convnext_tiny", "mambaout_tiny")  # timm, compiled, timed in the same run


def _timed_steps(step, steps: int, device: torch.device) -> tuple[float, list[float]]:
    """Wall seconds of the first call, then per-step seconds of ``steps`` steady-state calls."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - start
    for _ in range(2):  # warm-up (3 calls in all with the first)
        step()
    sync()
    if device.type != "cuda":
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        return first, times
    events = [torch.cuda.Event(enable_timing=True) for _ in range(steps + 1)]
    events[0].record()
    for i in range(steps):
        step()
        events[i + 1].record()
    torch.cuda.synchronize()
    return first, [events[i].elapsed_time(events[i + 1]) / 1e3 for i in range(steps)]


VARIANTS = {
    "composed": ("scan_impl", "triton"),
    "fused": ("scan_impl", "fused"),
    "cudnn": ("conv_impl", "aten"),
    "shifted": ("conv_impl", "reference"),
    "triton": ("conv_impl", "triton"),
    "atenmlp": ("mlp_impl", "aten"),
    "tritonmlp": ("mlp_impl", "triton"),
}
"""``name@variant``: the layer attribute set and its value."""

VARIANT_TAKES = {"tritonmlp": lambda layer: layer.fc1.in_features <= MAX_CHANNELS}
"""Variants whose form cannot run every layer: the layers they are set on (the others keep ``"auto"``)."""


def check_gradients(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> None:
    """One bf16-autocast forward + backward; every parameter must get a finite, non-zero gradient.

    In eval mode: at batch 2, drop path drops a block for both images with probability rate² (0.16 at rate 0.4),
    and that block's parameters then get an exact zero; in a deep model some block nearly always does."""
    training = model.training
    model.eval()
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        torch.nn.functional.cross_entropy(model(x), labels).backward()
    model.train(training)
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and not p.grad.abs().sum() > 0]
    if bad or zero:
        raise RuntimeError(f"gradient check failed: missing/non-finite {bad[:5]}, zero {zero[:5]}")
    model.zero_grad(set_to_none=True)


def build_vmix(spec: str) -> torch.nn.Module:
    """A registered model, ``name`` or ``name@variant`` (a form forced on every layer that has the attribute)."""
    name, _, variant = spec.partition("@")
    if variant and variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} in {spec!r}; expected NAME or NAME@one of {sorted(VARIANTS)}")
    model = vmix.create_model(name)
    if variant:
        attribute, value = VARIANTS[variant]
        takes = VARIANT_TAKES.get(variant, lambda layer: True)
        for layer in model.modules():
            if hasattr(layer, attribute) and takes(layer):
                setattr(layer, attribute, value)
    return model


def make_step(model, run, x: torch.Tensor, labels: torch.Tensor, *, train: bool):
    """One step as every bench here times it, under bf16 autocast on CUDA: ``run(x)`` alone without gradients, or
    the training step (``zero_grad(set_to_none)``, forward + cross-entropy, backward, AdamW on ``model``'s
    parameters)."""
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda")
    if not train:

        @torch.no_grad()
        def infer():
            with autocast:
                run(x)

        return infer
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, foreach=True)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = torch.nn.functional.cross_entropy(run(x), labels)
        loss.backward()
        opt.step()

    return step


def measure(
    model, batch: int, size: tuple[int, int], steps: int, device: torch.device, *, train: bool, mode: str
) -> dict:
    """img/s, peak GiB and first-step seconds of one model at one input size in one mode (eager, compiled,
    regional)."""
    model = model.to(device).train(train)
    x = torch.randn(batch, 3, *size, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    run = torch.compile(model) if mode == "compiled" else model
    if mode == "regional":
        model.compile_regions()
    step = make_step(model, run, x, labels, train=train)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    first, times = _timed_steps(step, steps, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"img_per_s": batch / statistics.median(times), "peak_gib": peak, "first_s": first}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="*", default=list(DEFAULT_MODELS), help="registered vmix models (none: the baselines only)"
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["eager", "compiled"],
        choices=["eager", "compiled", "regional"],
        help="regional: Backbone.compile_regions (blocks of a stage share one compiled graph)",
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=15, help="timed steps per measurement")
    parser.add_argument("--measure", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--baselines", nargs="*", default=list(BASELINES), help="timm models timed compiled first (none: skip)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/bench_models"))
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the rows already in OUT/models.json (one process per model, its table over all of them)",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    saved = args.out / "models.json"
    rows: list[dict] = json.loads(saved.read_text())["rows"] if args.append and saved.exists() else []
    candidates = []
    if args.baselines:  # first, so a run cut short still has the yardstick its ratios need
        import timm

        candidates += [("timm", n, lambda n=n: timm.create_model(n, drop_path_rate=0.2)) for n in args.baselines]
    candidates += [("vmix", name, lambda n=name: build_vmix(n)) for name in args.models]
    for source, name, build in candidates:
        if source == "vmix":
            model = build().to(device)
            x = torch.randn(2, 3, args.img_size, args.img_size, device=device)
            check_gradients(model, x, torch.randint(0, 1000, (2,), device=device))
        modes = ["compiled"] if source == "timm" else args.modes
        for mode in modes:
            row = {"source": source, "model": name, "mode": mode}
            for train in (True, False):
                if ("train" if train else "infer") not in args.measure:
                    continue
                # Each measurement from the same state: no compiled graphs or guards of earlier models in Dynamo's
                # cache, no freed blocks held. (It does not cure a second vssd_tiny in one process running slow:
                # bench/RESULTS.md, "The channel MLP"; gpu_run.sh runs one model per process.)
                torch._dynamo.reset()
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                torch.manual_seed(0)
                size = (args.img_size, args.img_size)
                result = measure(build(), args.batch, size, args.steps, device, train=train, mode=mode)
                row.update({f"{'train' if train else 'infer'}_{k}": v for k, v in result.items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.out.mkdir(parents=True, exist_ok=True)  # after every row, so a run cut short keeps what it measured
            (args.out / "models.json").write_text(json.dumps({"rows": rows}, indent=1))
            if device.type == "cuda":
                torch.cuda.empty_cache()

    convnext = next((r for r in rows if r["model"] == "convnext_tiny"), None)
    lines = [
        "| model | mode | train img/s | infer img/s | train peak GiB | first train step s | × convnext_tiny "
        "train / infer | × official train / infer |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]

    def ratio(r, other, key):
        return f"{r[key] / other[key]:.2f}" if key in r and other and key in other else "—"

    def figure(r, key, spec):
        return format(r[key], spec) if key in r else "—"

    for r in rows:
        off = OFFICIAL.get(r["model"].partition("@")[0]) if r["source"] == "vmix" else None
        off = dict(zip(("train_img_per_s", "infer_img_per_s"), off[:2], strict=True)) if off else None
        vs_cnx = f"{ratio(r, convnext, 'train_img_per_s')} / {ratio(r, convnext, 'infer_img_per_s')}"
        vs_off = f"{ratio(r, off, 'train_img_per_s')} / {ratio(r, off, 'infer_img_per_s')}" if off else "—"
        lines.append(
            f"| {r['source']}:{r['model']} | {r['mode']} | {figure(r, 'train_img_per_s', '.0f')} | "
            f"{figure(r, 'infer_img_per_s', '.0f')} | {figure(r, 'train_peak_gib', '.1f')} | "
            f"{figure(r, 'train_first_s', '.0f')} | {vs_cnx} | {vs_off} |"
        )
    header = (
        f"{datetime.date.today()} · {platform.node()} · "
        f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'} · torch {torch.__version__} · "
        f"batch {args.batch} · {args.img_size}² · {'bf16 autocast' if device.type == 'cuda' else 'fp32'}"
    )
    table = header + "\n\n" + "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    (args.out / "models.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
