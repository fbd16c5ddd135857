"""Cost against resolution: img/s and peak memory of the ``*_tiny`` models from 224² to detection size, against a ViT.

SS2D and NC-SSD mix a map's tokens in time and memory linear in their number; global attention over all tokens is
quadratic. This measures both where it shows: classification size (224², batch 128), 512² (batch 16) and detection
size (800×1333, batch 2, as detectors train), for vmix's models and timm's ``vit_small_patch16_224`` (plain global
attention at stride 16, run at any size with its position embedding interpolated), each forward-only (inference)
and forward + backward + AdamW (training), bf16 autocast, eager by default (``--modes compiled`` compiles one graph
per model and size; minutes each). Method and timing as ``bench_models.py`` (median of CUDA-event step times).

Throughput is reported as megapixels per second: a model whose cost is linear in its tokens keeps it flat as the
image grows, a quadratic one loses it in proportion to the tokens. A size that runs out of memory is recorded as
such. Writes ``resolution.md``, ``resolution.json`` and ``resolution_scaling.png`` (Mpx/s and peak memory per image
against megapixels per image).

Run on a CUDA machine from the repository root::

    python bench/bench_resolution.py --out runs/resolution

A CPU smoke run of the script itself (no timing meaning)::

    python bench/bench_resolution.py --device cpu --models gconvnet_pico --baselines --sizes 64:2 96x128:1 --steps 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_models import build_vmix, measure  # noqa: E402

DEFAULT_MODELS = ("vmamba_tiny", "vssd_tiny", "gconvnet_tiny", "mambaout_tiny")
DEFAULT_SIZES = ("224:128", "512:16", "800x1333:2")  # HxW:batch (a square side alone for H = W)
BASELINES = ("vit_small_patch16_224",)


def parse_size(spec: str) -> tuple[tuple[int, int], int]:
    """``"800x1333:2"`` → ``((800, 1333), 2)``; ``"224:128"`` → ``((224, 224), 128)``."""
    try:
        dims, batch = spec.split(":")
        h, _, w = dims.partition("x")
        return (int(h), int(w or h)), int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW:BATCH or SIDE:BATCH (e.g. 800x1333:2); got {spec!r}") from None


def build_timm(name: str) -> torch.nn.Module:
    import timm

    # Any input size: the position embedding is interpolated, and sides that are not a multiple of the patch padded.
    return timm.create_model(name, dynamic_img_size=True, dynamic_img_pad=True)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    series = sorted({(r["source"], r["model"], r["mode"]) for r in rows})
    for source, model, mode in series:
        mine = sorted((r for r in rows if (r["source"], r["model"], r["mode"]) == (source, model, mode)), key=_mpx)
        label = f"{model} ({mode})" if source == "vmix" else f"timm {model} ({mode})"
        for ax, key, scale in (
            (axes[0], "infer_img_per_s", lambda r: r["infer_img_per_s"] * _mpx(r)),
            (axes[1], "train_img_per_s", lambda r: r["train_img_per_s"] * _mpx(r)),
            (axes[2], "train_peak_gib", lambda r: r["train_peak_gib"] / r["batch"]),
        ):
            points = [(_mpx(r), scale(r)) for r in mine if isinstance(r.get(key), float) and math.isfinite(r[key])]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=label)
    titles = ("inference, megapixels / s", "training, megapixels / s", "training peak GiB per image")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("megapixels per image")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _mpx(row: dict) -> float:
    return row["height"] * row["width"] / 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help="registered vmix models")
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), help="timm models (none: skip)")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[parse_size(s) for s in DEFAULT_SIZES])
    parser.add_argument("--modes", nargs="+", default=["eager"], choices=["eager", "compiled", "regional"])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=Path("runs/resolution"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    candidates = [("timm", n, lambda n=n: build_timm(n)) for n in args.baselines or ()]
    candidates += [("vmix", n, lambda n=n: build_vmix(n)) for n in args.models]
    rows: list[dict] = []
    args.out.mkdir(parents=True, exist_ok=True)
    for source, name, build in candidates:
        for mode in args.modes:
            if mode == "regional" and source != "vmix":
                continue
            for (height, width), batch in args.sizes:
                row = {"source": source, "model": name, "mode": mode, "height": height, "width": width, "batch": batch}
                for train in (False, True):
                    key = "train" if train else "infer"
                    torch.manual_seed(0)
                    torch._dynamo.reset()
                    try:
                        result = measure(build(), batch, (height, width), args.steps, device, train=train, mode=mode)
                        row.update({f"{key}_{k}": v for k, v in result.items()})
                    except torch.OutOfMemoryError:
                        row[f"{key}_img_per_s"] = row[f"{key}_peak_gib"] = "OOM"
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), flush=True)
                (args.out / "resolution.json").write_text(json.dumps({"rows": rows}, indent=1))  # a cut run keeps it

    def cell(row: dict, key: str, spec: str, per: float = 1.0) -> str:
        value = row.get(key)
        return format(value * per, spec) if isinstance(value, float) else str(value or "—")

    lines = [
        "| model | mode | size | batch | infer img/s | infer Mpx/s | train img/s | train Mpx/s | train peak GiB |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        mpx = _mpx(r)
        lines.append(
            f"| {r['source']}:{r['model']} | {r['mode']} | {r['height']}×{r['width']} | {r['batch']} "
            f"| {cell(r, 'infer_img_per_s', '.1f')} | {cell(r, 'infer_img_per_s', '.1f', mpx)} "
            f"| {cell(r, 'train_img_per_s', '.1f')} | {cell(r, 'train_img_per_s', '.1f', mpx)} "
            f"| {cell(r, 'train_peak_gib', '.2f')} |"
        )
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    header = f"{datetime.date.today()} · {name} · torch {torch.__version__} · bf16 autocast on CUDA"
    table = header + "\n\n" + "\n".join(lines)
    (args.out / "resolution.md").write_text(table + "\n")
    (args.out / "resolution.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    plot(rows, args.out / "resolution_scaling.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
