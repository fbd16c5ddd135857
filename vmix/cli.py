"""The ``vmix`` command: the model table, one model's summary, ERF and m maps, robustness evaluation, run comparison.

Every subcommand has ``--help``; tables go to standard output and, with ``--json``, results to a JSON file.

Example:
    >>> main(["models", "gconvnet_pico", "--no-flops"])  # doctest: +ELLIPSIS
    model ...
    0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def format_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned plain-text table (floats to 4 significant digits, ``None`` as ``-``).

    Example:
        >>> print(format_table([{"a": 1, "b": 0.123456}, {"a": 22, "b": None}]))
        a   b
        --  ------
        1   0.1235
        22  -
    """
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))

    def cell(v: object) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)).rstrip() for b in body]
    return "\n".join(lines)


def _write_json(path: str | None, data: object) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {path}")


def _model_names(patterns: Sequence[str]) -> list[str]:
    from vmix.models import list_models

    names = list(dict.fromkeys(n for p in patterns or ["*"] for n in list_models(p)))
    if not names:
        raise SystemExit(f"vmix: no registered model matches {list(patterns)}; see `vmix models`")
    return names


def _build(name: str, checkpoint: str | None = None, **overrides):
    """Create a registered model, loading a checkpoint (a state dict, or a training checkpoint's ``model``) if given."""
    import torch

    from vmix.models import create_model

    if checkpoint and not Path(checkpoint).is_file():
        raise SystemExit(f"vmix: checkpoint {checkpoint} does not exist")
    try:
        model = create_model(name, **overrides)
    except KeyError as err:
        raise SystemExit(f"vmix: {err.args[0]}") from err
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        for key in ("model", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
                break
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            raise SystemExit(f"vmix: checkpoint {checkpoint} does not fit {name}: {err}") from err
    return model


# ---------------------------------------------------------------------------------------------------------------------
# vmix models / vmix summary


def _counts(name: str, size: int, flops: bool) -> dict[str, object]:
    import torch

    from vmix.analysis.flops import count_flops, count_params

    with torch.device("meta"):  # counting needs shapes only: no memory, no initialisation
        model = _build(name)
    row: dict[str, object] = {"params_m": count_params(model) / 1e6}
    if flops:
        for mode in ("paper", "exact"):
            row[f"gflops_{mode}"] = count_flops(model, (3, size, size), mode=mode) / 1e9
    return row


def cmd_models(args: argparse.Namespace) -> int:
    from vmix.analysis.paper_values import PAPER_VALUES

    rows = []
    for name in _model_names(args.patterns):
        paper = PAPER_VALUES.get(name)
        row = {"model": name, **_counts(name, args.size, not args.no_flops)}
        row |= {
            "paper_params_m": paper and paper.params_m,
            "paper_gflops": paper and paper.gflops,
            "paper_top1": paper and paper.top1,
        }
        rows.append(row)
    print(format_table(rows))
    if not args.no_flops:
        print(f"\nFLOPs at {args.size}x{args.size}: 'paper' counts as the papers do, 'exact' counts all the work.")
    _write_json(args.json, rows)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    import torch

    from vmix.analysis.flops import count_flops, count_params

    with torch.device("meta"):
        model = _build(args.name)
    size = (3, args.size, args.size)
    # Each part's input shape, captured during one forward pass on the meta device, lets it be counted alone.
    parts = [("stem", model.stem)] + [(f"stage{i}", stage) for i, stage in enumerate(model.layers)]
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    hooks = [
        module.register_forward_hook(
            lambda _m, a, out, n=n: shapes.__setitem__(n, (tuple(a[0].shape), tuple(out.shape)))
        )
        for n, module in parts
    ]
    with torch.no_grad():
        model.eval()(torch.empty(1, *size, device="meta"))
    for hook in hooks:
        hook.remove()
    total = count_flops(model, size, mode=args.mode)
    rows = []
    for n, module in parts:
        shape_in, shape_out = shapes[n]
        flops = count_flops(module, shape_in[1:], mode=args.mode)
        rows.append(
            {
                "part": n,
                "input": shape_in,
                "output": shape_out,
                "params_m": count_params(module) / 1e6,
                "gflops": flops / 1e9,
            }
        )
    head_params = count_params(model) - sum(count_params(m) for _, m in parts)
    rows.append(
        {
            "part": "head",
            "input": shapes[parts[-1][0]][1],
            "output": (1, model.num_classes),
            "params_m": head_params / 1e6,
            "gflops": (total - sum(r["gflops"] for r in rows) * 1e9) / 1e9,
        }
    )
    rows.append(
        {
            "part": "total",
            "input": (1, *size),
            "output": (1, model.num_classes),
            "params_m": count_params(model) / 1e6,
            "gflops": total / 1e9,
        }
    )
    print(f"{args.name}  ({args.mode} FLOPs at {args.size}x{args.size}; shapes: stem in NCHW, stages channels-last)")
    print(format_table(rows))
    _write_json(args.json, rows)
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# vmix erf / vmix mmap


def _parse_checkpoints(items: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            if len(names) != 1:
                raise SystemExit("vmix erf: with several models, give checkpoints as NAME=PATH")
            name, path = names[0], item
        if name not in names:
            raise SystemExit(f"vmix erf: checkpoint for {name!r}, which is not among the models {list(names)}")
        out[name] = path
    return out


def cmd_erf(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from vmix.analysis.erf import area_ratios, erf_inputs, erf_map, plot_erf, plot_erf_grid, scale_erf

    names = _model_names(args.models)
    checkpoints = _parse_checkpoints(args.checkpoint, names)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = erf_inputs(args.images, size=args.size, num_images=args.num_images, seed=args.seed)
    torch.manual_seed(args.seed)
    maps: dict[str, dict[str, torch.Tensor]] = {}
    ratios: dict[str, dict[str, dict]] = {}
    results = []
    conditions = [("random init", None)] + ([("trained", "ckpt")] if checkpoints else [])
    for name in names:
        for condition, use in conditions:
            if use and name not in checkpoints:
                continue
            model = _build(name, checkpoints.get(name) if use else None)
            scaled = scale_erf(erf_map(model, inputs, device=args.device))
            r = area_ratios(scaled)
            stem = f"{name}_{'trained' if use else 'init'}"
            np.save(out / f"{stem}.npy", scaled.numpy())
            plot_erf(scaled, out / f"{stem}.png", title=f"{name} ({condition})", ratios=r)
            maps.setdefault(condition, {})[name] = scaled
            ratios.setdefault(condition, {})[name] = r
            results.append({"model": name, "condition": condition, **{f"t={t:g}": v for t, v in r.items()}})
    if len(names) > 1 or checkpoints:
        plot_erf_grid(maps, out / "erf_grid.png", ratios=ratios)
    print(format_table(results))
    print(f"\nhigh-contribution area ratios (higher: larger ERF); maps and PNGs in {out}")
    _write_json(args.json or str(out / "erf.json"), results)
    return 0


def cmd_mmap(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from vmix.analysis.evaluation import center_crop, to_tensor
    from vmix.analysis.token_weights import plot_token_weights, token_weight_maps

    model = _build(args.name, args.checkpoint)
    path = Path(args.image)
    if not path.is_file():
        raise SystemExit(f"vmix mmap: image {args.image} does not exist")
    with Image.open(path) as image:
        crop = np.asarray(center_crop(image.convert("RGB"), args.size, crop_pct=1.0))
    try:
        maps = token_weight_maps(model, to_tensor(crop)[None])
    except ValueError as err:
        raise SystemExit(f"vmix mmap: {args.name}: {err}") from err
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plot_token_weights(crop, maps, args.out)
    print(f"{len(maps)} NC-SSD blocks; wrote {args.out}")
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# vmix robustness


def cmd_robustness(args: argparse.Namespace) -> int:
    from vmix.analysis import evaluation as ev

    if not (args.data or args.imagenet_a or args.imagenet_r or args.imagenet_c):
        raise SystemExit("vmix robustness: give at least one of --data, --imagenet-a, --imagenet-r, --imagenet-c")
    if args.corrupt and not args.data:
        raise SystemExit("vmix robustness: --corrupt corrupts the --data set; give --data")
    model = _build(args.name, args.checkpoint).to(args.device)
    common = dict(batch_size=args.batch_size, size=args.size, limit=args.limit, show_progress=not args.quiet)
    results: dict[str, object] = {"model": args.name, "checkpoint": args.checkpoint}
    rows = []
    clean = None
    try:
        if args.data:
            clean = ev.evaluate_dataset(model, args.data, split=args.split, **common)
            results["clean"] = clean.to_dict()
            rows.append({"benchmark": f"clean ({args.data})", **clean.to_dict()})
        for key, fn, spec, split in (
            ("imagenet_a", ev.evaluate_imagenet_a, args.imagenet_a, args.imagenet_a_split),
            ("imagenet_r", ev.evaluate_imagenet_r, args.imagenet_r, args.imagenet_r_split),
        ):
            if spec:
                acc = fn(model, spec, split=split, **common)
                results[key] = acc.to_dict()
                rows.append({"benchmark": key, **acc.to_dict()})
        corruption_runs = []
        if args.imagenet_c:
            corruption_runs.append(
                (
                    "imagenet_c",
                    ev.evaluate_imagenet_c(
                        model, args.imagenet_c, corruptions=args.corruptions, severities=args.severities, **common
                    ),
                )
            )
        if args.corrupt:
            corruption_runs.append(
                (
                    "corrupted",
                    ev.evaluate_corrupted(
                        model,
                        args.data,
                        split=args.split,
                        corruptions=args.corruptions or ev.ALL_CORRUPTIONS,
                        severities=args.severities,
                        clean=clean,
                        seed=args.seed,
                        **common,
                    ),
                )
            )
    except (FileNotFoundError, ValueError, ImportError) as err:
        raise SystemExit(f"vmix robustness: {err}") from err
    print(format_table(rows, ["benchmark", "top1", "top5", "count"]) if rows else "")
    for key, result in corruption_runs:
        results[key] = result.to_dict()
        print(f"\n{key}: top-1 error per corruption (mean over severities {list(args.severities)})")
        if result.report is None:
            print(format_table([{"corruption": c, "error": e} for c, e in result.errors.items()]))
            print("mCE needs all 15 standard corruptions; CE shown per corruption only when they all ran")
        else:
            print(format_table(result.report.rows()))
            rel = result.report.relative_mce
            print(f"mCE {result.report.mce:.2f}" + ("" if rel is None else f"   relative mCE {rel:.2f}"))
    _write_json(args.json, results)
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# vmix compare


def _run_folders(paths: list[str]) -> list[Path]:
    """Run folders named by ``paths``: a run folder itself, or a folder of runs (``runs/compare``); files that a
    shell glob such as ``runs/compare/*`` adds (a plot beside the runs) are left out."""
    runs: list[Path] = []
    for path in map(Path, paths):
        if (path / "metrics.jsonl").is_file():
            runs.append(path)
        elif path.is_dir() and (inner := sorted(p.parent for p in path.glob("*/metrics.jsonl"))):
            runs.extend(inner)
        elif path.is_dir() or not path.exists():
            raise SystemExit(f"vmix compare: {path}: not a training run folder (no metrics.jsonl in it or below it)")
    if not runs:
        raise SystemExit(f"vmix compare: no training run folder among {paths}")
    return runs


def cmd_compare(args: argparse.Namespace) -> int:
    from vmix.analysis.runs import summarize_run

    runs = _run_folders(args.runs)
    try:
        rows = [summarize_run(run) for run in runs]
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"vmix compare: {err}") from err
    print(format_table(rows))
    if args.plot:
        from vmix.train.plots import plot_runs

        print(f"wrote {plot_runs(runs, args.plot)}")
    _write_json(args.json, rows)
    return 0


# ---------------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vmix`` command.

    Example:
        >>> build_parser().parse_args(["summary", "vmamba_tiny"]).size
        224
    """
    parser = argparse.ArgumentParser(prog="vmix", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="registered models: params, FLOPs (both modes), the papers' values")
    p.add_argument("patterns", nargs="*", help="shell-style name patterns (default: all)")
    p.add_argument("--size", type=int, default=224, help="input side for FLOPs (default 224)")
    p.add_argument("--no-flops", action="store_true", help="skip FLOP counting (fast)")
    p.add_argument("--json", help="also write the table as JSON here")
    p.set_defaults(fn=cmd_models)

    p = sub.add_parser("summary", help="one model: per-stage shapes, params and FLOPs")
    p.add_argument("name", help="a registered model name")
    p.add_argument("--size", type=int, default=224, help="input side (default 224)")
    p.add_argument("--mode", choices=("paper", "exact"), default="paper", help="FLOP counting mode")
    p.add_argument("--json", help="also write the table as JSON here")
    p.set_defaults(fn=cmd_summary)

    p = sub.add_parser("erf", help="effective receptive field maps, area ratios, side-by-side figure (VSSD Fig. 5)")
    p.add_argument("models", nargs="+", help="registered model names or patterns")
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="trained weights; adds a 'trained' row beside 'random init' (repeat per model)",
    )
    p.add_argument("--images", help="dataset of input images (folder or hub id); default: Gaussian noise inputs")
    p.add_argument("--size", type=int, default=1024, help="input side (default 1024, as RepLKNet and VSSD)")
    p.add_argument("--num-images", type=int, default=50, help="images to average over (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random init and of noise inputs")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", default="erf", help="output folder (default ./erf)")
    p.add_argument("--json", help="ratios as JSON (default OUT/erf.json)")
    p.set_defaults(fn=cmd_erf)

    p = sub.add_parser("mmap", help="NC-SSD's token weights m per block, overlaid on an image (VSSD Fig. 3)")
    p.add_argument("name", help="a registered model with NC-SSD mixers (vssd_*)")
    p.add_argument("image", help="an image file")
    p.add_argument("--checkpoint", help="trained weights")
    p.add_argument("--size", type=int, default=224, help="input side (default 224)")
    p.add_argument("--out", default="m_maps.png", help="output PNG (default m_maps.png)")
    p.set_defaults(fn=cmd_mmap)

    p = sub.add_parser("robustness", help="clean, ImageNet-A/R/C and on-the-fly corruption accuracy, mCE")
    p.add_argument("name", help="a registered model name")
    p.add_argument("--checkpoint", help="trained weights")
    p.add_argument("--data", help="clean dataset: folder, parquet folder or hub id (also what --corrupt corrupts)")
    p.add_argument("--split", default="validation", help="split of --data (default validation)")
    p.add_argument("--imagenet-a", help="ImageNet-A: folder or hub id (e.g. barkermrl/imagenet-a)")
    p.add_argument("--imagenet-a-split", default="train", help="split of a hub ImageNet-A (default train)")
    p.add_argument("--imagenet-r", help="ImageNet-R: folder or hub id (e.g. axiong/imagenet-r)")
    p.add_argument("--imagenet-r-split", default="test", help="split of a hub ImageNet-R (default test)")
    p.add_argument("--imagenet-c", help="ImageNet-C folder: <corruption>/<severity>/<wnid>/<image>")
    p.add_argument("--corrupt", action="store_true", help="corrupt --data on the fly (ImageNet-C's 19 corruptions)")
    p.add_argument("--corruptions", nargs="+", help="corruption names (default: all)")
    p.add_argument("--severities", nargs="+", type=int, default=[1, 2, 3, 4, 5], help="severities (default 1-5)")
    p.add_argument("--size", type=int, default=224, help="evaluation resolution (default 224)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images of each set")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruption noise")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", help="write all results as JSON here")
    p.set_defaults(fn=cmd_robustness)

    p = sub.add_parser("compare", help="table (and curves) of training runs")
    p.add_argument("runs", nargs="+", help="run folders holding metrics.jsonl and run.json")
    p.add_argument("--plot", help="write loss/top-1 curves to this image file")
    p.add_argument("--json", help="also write the table as JSON here")
    p.set_defaults(fn=cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vmix`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Example:
        >>> main(["compare", "/nonexistent"])
        Traceback (most recent call last):
        ...
        SystemExit: vmix compare: /nonexistent: not a training run folder (no metrics.jsonl in it or below it)
    """
    args = build_parser().parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
