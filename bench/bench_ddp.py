"""Multi-GPU training: N GPUs against one at the same per-GPU batch, and an N×B run's loss curve against 1×NB.

Every run is ``examples/train_imagenet.py`` itself (under ``torchrun`` for the N-GPU one), so what is timed is what a
user runs: the loader, DDP's gradient all-reduce overlapped with the backward, the per-step loss reduction, the EMA.
Four runs, same recipe and flags except where named:

- ``multi``: ``torchrun --nproc_per_node N``, batch B per GPU, seed 0, the whole schedule;
- ``single``: one GPU, batch B, ``--throughput-steps`` steps (only its img/s is used);
- ``ref`` and ``ref_seed1``: one GPU, batch N·B (the same global batch as ``multi``), seeds 0 and 1, the whole
  schedule, side by side on GPUs 0 and 1.

Throughput is the median of the ``img_per_s`` step lines of ``metrics.jsonl`` after the first ``--skip-steps``
steps (compilation, warm-up); the scaling is ``multi``'s over ``single``'s. The loss curves match "within noise" when
the mean absolute gap between ``multi``'s and ``ref``'s windowed training losses is no larger than the gap between
``ref_seed1`` and ``ref``: two runs of the same configuration that differ only in their seed. ``multi`` and ``ref``
see the same images in the same global batches with the same per-image augmentation (the sampler hands rank r the
positions r, r + N, ... of each global batch); they differ in Mixup/CutMix draws, which each rank makes for its own
half, and in floating-point summation order.

Run on a machine with N GPUs from the repository root (``NCCL_NVLS_ENABLE=0`` etc. stay as the environment sets
them)::

    python bench/bench_ddp.py --data .data/imagenette2 --out runs/ddp    # vmamba_tiny, 224², 2 × 128, compiled

A CPU smoke run of the script itself (gloo, no timing meaning)::

    python bench/bench_ddp.py --device cpu --data digits --model gconvnet_pico --img-size 32 --batch-size 16 \\
        --epochs 2 --workers 0 --no-compile --throughput-steps 4 --skip-steps 0 --out /tmp/ddp
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vmix.train import plot_runs, read_metrics  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="--data of the training script (a local folder keeps it offline)")
    p.add_argument("--model", default="vmamba_tiny")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=128, help="per-GPU batch B of the multi and single runs")
    p.add_argument("--gpus", type=int, default=2, help="N, processes of the multi run")
    p.add_argument("--epochs", type=int, default=6, help="schedule of the multi and ref runs")
    p.add_argument("--warmup-epochs", type=float, default=1)
    p.add_argument("--throughput-steps", type=int, default=120, help="steps of the single run")
    p.add_argument("--skip-steps", type=int, default=30, help="steps left out of the img/s median (compile, warm-up)")
    p.add_argument("--workers", type=int, default=12, help="loader workers per process")
    p.add_argument("--log-every", type=int, default=5)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--timeout", type=float, default=300, help="seconds allowed to each run (or pair of runs)")
    p.add_argument(
        "--runs",
        nargs="+",
        default=["multi", "single", "ref"],
        choices=["multi", "single", "ref"],
        help="which runs to make (ref also makes ref_seed1); the order is kept",
    )
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def train_command(args, name: str, *, batch: int, seed: int, processes: int, max_steps: int | None) -> list[str]:
    """The command line of one run (``torchrun`` when ``processes`` > 1)."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    cmd = launcher + [
        str(ROOT / "examples" / "train_imagenet.py"),
        "--model", args.model, "--data", args.data, "--img-size", str(args.img_size),
        "--batch-size", str(batch), "--epochs", str(args.epochs), "--warmup-epochs", str(args.warmup_epochs),
        "--seed", str(seed), "--workers", str(args.workers), "--device", args.device,
        "--log-every", str(args.log_every), "--eval-every", "2", "--save-every", "1000000",
        "--output", str(args.out / name), "--no-progress", "--compile" if args.compile else "--no-compile",
    ]  # fmt: skip
    if max_steps is not None:
        cmd += ["--max-steps", str(max_steps)]
    return cmd


def launch(args, name: str, cmd: list[str], gpus: str | None) -> subprocess.Popen:
    """Start one run, its output in ``OUT/NAME.log``, on the GPUs listed in ``gpus``."""
    env = dict(os.environ)
    # NVLink multicast stays off on shared hosts: a program that uses it can take the host's GPUs out of service.
    env.update(NCCL_NVLS_ENABLE="0", TORCH_SYMM_MEM_DISABLE_MULTICAST="1", NVSHMEM_DISABLE_NVLS="1")
    if gpus is not None and args.device == "cuda":
        env["CUDA_VISIBLE_DEVICES"] = gpus
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd)}", flush=True)
    with open(args.out / f"{name}.log", "w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_all(args, procs: dict[str, subprocess.Popen]) -> dict[str, int]:
    """Wait for the runs under one shared time limit; a run past it is terminated (it saves and stops)."""
    deadline, codes = time.monotonic() + args.timeout, {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.terminate()
            codes[name] = proc.wait()
            print(f"{name}: past --timeout {args.timeout:.0f} s, terminated", flush=True)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: exit {codes[name]}; last lines of its log:", flush=True)
        print("".join((args.out / f"{name}.log").read_text().splitlines(keepends=True)[-4:]), flush=True)
    return codes


def throughput(records: list[dict], skip_steps: int) -> float | None:
    """Median img/s of the step lines past ``skip_steps``."""
    ips = [r["img_per_s"] for r in records if r["kind"] == "step" and r["step"] > skip_steps]
    return statistics.median(ips) if ips else None


def loss_curve(records: list[dict]) -> dict[int, float]:
    """Windowed training loss by step."""
    return {r["step"]: r["loss"] for r in records if r["kind"] == "step"}


def mean_gap(a: dict[int, float], b: dict[int, float]) -> tuple[float | None, int]:
    """Mean absolute difference over the steps both curves have, and how many those are."""
    steps = sorted(a.keys() & b.keys())
    return (statistics.fmean(abs(a[s] - b[s]) for s in steps) if steps else None), len(steps)


def last_eval(records: list[dict]) -> dict:
    evals = [r for r in records if r["kind"] == "eval"]
    return evals[-1] if evals else {}


def main(argv=None) -> None:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    n, b = args.gpus, args.batch_size
    codes: dict[str, int] = {}
    for run in args.runs:
        if run == "multi":
            cmd = train_command(args, "multi", batch=b, seed=0, processes=n, max_steps=None)
            codes |= wait_all(args, {"multi": launch(args, "multi", cmd, ",".join(map(str, range(n))))})
        elif run == "single":
            cmd = train_command(args, "single", batch=b, seed=0, processes=1, max_steps=args.throughput_steps)
            codes |= wait_all(args, {"single": launch(args, "single", cmd, "0")})
        else:  # the two references side by side, one per GPU: only their losses are used
            procs = {
                f"ref{tag}": launch(
                    args, f"ref{tag}",
                    train_command(args, f"ref{tag}", batch=n * b, seed=seed, processes=1, max_steps=None),
                    str(seed % n),
                )
                for tag, seed in (("", 0), ("_seed1", 1))
            }  # fmt: skip
            codes |= wait_all(args, procs)

    metrics = {name: read_metrics(args.out / name) for name in codes if (args.out / name / "metrics.jsonl").exists()}
    ips = {name: throughput(rec, args.skip_steps) for name, rec in metrics.items()}
    curves = {name: loss_curve(rec) for name, rec in metrics.items()}
    result = {
        "model": args.model, "img_size": args.img_size, "batch_per_gpu": b, "gpus": n, "compile": args.compile,
        "exit_codes": codes, "img_per_s": ips, "final_eval": {k: last_eval(v) for k, v in metrics.items()},
    }  # fmt: skip
    lines = [
        f"`{args.model}`, {args.img_size}², bf16 autocast, {'compiled' if args.compile else 'eager'}, "
        f"{args.workers} loader workers per process; img/s: median of the step lines past step {args.skip_steps}",
        "",
        "| run | processes × batch | img/s | vs single |",
        "| --- | --- | ---: | ---: |",
    ]
    shapes = {"multi": f"{n} × {b}", "single": f"1 × {b}", "ref": f"1 × {n * b}", "ref_seed1": f"1 × {n * b}"}
    for name, value in ips.items():
        base = ips.get("single")
        ratio = f"{value / base:.2f}×" if value and base else "—"
        lines.append(f"| {name} | {shapes[name]} | {value:.0f} | {ratio} |" if value else f"| {name} | | — | |")
    if "multi" in curves and "ref" in curves:
        gap, k = mean_gap(curves["multi"], curves["ref"])
        noise, k_noise = mean_gap(curves.get("ref_seed1", {}), curves["ref"])
        result |= {"loss_gap_multi_ref": gap, "loss_gap_seed": noise, "loss_points": k}
        lines += [
            "",
            f"mean |loss(multi) − loss(ref)| = {gap:.4f} over {k} windows of {args.log_every} steps"
            if gap is not None else "no common loss windows",
            f"mean |loss(ref_seed1) − loss(ref)| = {noise:.4f} over {k_noise} windows (the seed's noise)"
            if noise is not None else "no seed-noise reference",
        ]  # fmt: skip
        for name in ("multi", "ref", "ref_seed1"):
            ev = result["final_eval"].get(name, {})
            if ev:
                lines.append(
                    f"{name}: final top-1 {ev['top1']:.2f}"
                    + (f", EMA {ev['top1_ema']:.2f}" if "top1_ema" in ev else "")
                )
        labels = {"multi": f"{n} GPUs × {b}", "ref": f"1 GPU × {n * b}", "ref_seed1": f"1 GPU × {n * b}, seed 1"}
        plot_runs({labels[k]: args.out / k for k in labels if k in metrics}, args.out / "ddp_curves.png")
    (args.out / "ddp.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "ddp.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
