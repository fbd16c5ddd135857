"""Selective scan on a GPU: the Triton kernels checked against float64, then timed at VMamba-Tiny's stage shapes.

Run on a CUDA machine from the repository root::

    python bench/bench_selective_scan.py --out runs/scan [--sweep] [--no-chunked]

1. Correctness. Small random shapes (odd lengths, length 1, lengths that are not a multiple of the tile, batch 1,
   groups > 1, d_state > 1; float32 and bfloat16 inputs) against the float64 recurrence, forward and every
   gradient; every buffer the kernels write is first filled with NaN, so an element left unwritten shows. Then the
   full stage-1 shape (batch 128) against the float64 recurrence and against the float32 chunked form.
2. Timing with ``triton.testing.do_bench`` (median, 25 ms warm-up, 100 ms of repeats, L2 flushed before each, random
   data) of forward, backward and forward+backward at the four stage shapes (batch 128, K = 4, d_state 1, bf16
   ``u``/``delta``/``B``/``C``, fp32 ``A``/``D``/``delta_bias``, softplus), for the Triton kernels and for
   ``torch.compile``d ``selective_scan_chunked``; ratios to VMamba's CUDA kernel as measured on the same GPU kind
   (its numbers are constants here: the kernel cannot be built in this environment) and to the bytes floor.
   ``--sweep`` also times each kernel over a grid of launch shapes.
3. A markdown table last; the full log and a JSON of every number under ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch
import triton
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vmix.testing as vt  # noqa: E402
from vmix.ops.selective_scan import selective_scan_chunked, selective_scan_reference  # noqa: E402
from vmix.ops.selective_scan import triton as T  # noqa: E402

COPY_GBPS = 3018.0  # device-to-device copy, bytes read + written (performance.md §2)
# VMamba's selective_scan_cuda_oflex on the same H100 kind, batch 128 (performance.md §4): fwd, bwd, fwd+bwd in ms.
CUDA_KERNEL_MS = {
    1: (2.183, 5.191, 7.369),
    2: (1.098, 2.714, 3.806),
    3: (0.608, 1.727, 2.333),
    4: (0.566, 1.501, 2.065),
}
# VMamba-Tiny at 224²: stage -> (K·E channels, L tokens); K = 4 directions, d_state 1.
STAGES = {1: (768, 3136), 2: (1536, 784), 3: (3072, 196), 4: (6144, 49)}
BATCH, GROUPS = 128, 4
GRADS = ("u", "delta", "A", "B", "C", "D", "delta_bias")

LOG_FILE: Path | None = None  # the log is appended line by line, so a run cut short still leaves it


def log(*parts) -> None:
    line = " ".join(str(p) for p in parts)
    print(line, flush=True)
    if LOG_FILE is not None:
        with LOG_FILE.open("a") as f:
            f.write(line + "\n")


def floor_ms(dim: int, length: int, y_bytes: int = 4) -> tuple[float, float]:
    """Bytes floor of forward and backward at the interface: each input read once, each output written once."""
    big, small = BATCH * dim * length, BATCH * GROUPS * length
    fwd = big * (2 + 2 + y_bytes) + small * (2 + 2)  # u, delta, y; B, C
    bwd = big * (2 + 2 + y_bytes + 2 + 2) + small * (2 + 2 + 4 + 4)  # u, delta, dy, du, ddelta; B, C, dB, dC (fp32)
    return fwd / COPY_GBPS / 1e6, bwd / COPY_GBPS / 1e6


def stage_inputs(dim: int, length: int, seed: int = 0, batch: int = BATCH) -> dict:
    """VMamba's interface: bf16 u, delta, B, C; fp32 A, D, delta_bias drawn like its initialisation."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    kw = dict(device="cuda", generator=g)
    dt = torch.empty(dim, device="cuda").uniform_(math.log(1e-3), math.log(1e-1), generator=g).exp()
    return dict(
        u=torch.randn(batch, dim, length, **kw).bfloat16(),
        delta=(0.1 * torch.randn(batch, dim, length, **kw)).bfloat16(),
        A=-torch.empty(dim, 1, device="cuda").uniform_(0.5, 1.5, generator=g),
        B=torch.randn(batch, GROUPS, 1, length, **kw).bfloat16(),
        C=torch.randn(batch, GROUPS, 1, length, **kw).bfloat16(),
        D=torch.randn(dim, **kw),
        delta_bias=dt + torch.log(-torch.expm1(-dt)),  # softplus⁻¹ of Δ in [1e-3, 1e-1]
        delta_softplus=True,
    )


def small_inputs(batch, dim, groups, d_state, length, dtype, seed, softplus=True, with_dd=True) -> dict:
    g = torch.Generator(device="cuda").manual_seed(seed)
    kw = dict(device="cuda", dtype=torch.float64, generator=g)
    dt = torch.empty(batch, dim, length, device="cuda", dtype=torch.float64).uniform_(-6.9, 0.0, generator=g).exp()
    return dict(
        u=torch.randn(batch, dim, length, **kw).to(dtype),
        delta=(dt + torch.log(-torch.expm1(-dt)) if softplus else dt).to(dtype),
        A=-torch.empty(dim, d_state, device="cuda").uniform_(0.3, 2.0, generator=g),
        B=torch.randn(batch, groups, d_state, length, **kw).to(dtype),
        C=torch.randn(batch, groups, d_state, length, **kw).to(dtype),
        D=torch.randn(dim, **kw).float() if with_dd else None,
        delta_bias=(0.3 * torch.randn(dim, **kw)).float() if with_dd else None,
        delta_softplus=softplus,
    )


def with_grad(inputs: dict, dtype: torch.dtype | None = None) -> dict:
    out = {}
    for k, v in inputs.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().clone() if dtype is None else v.detach().to(dtype)
            v.requires_grad_(True)
        out[k] = v
    return out


def forward_backward(fn, inputs: dict, dy: torch.Tensor) -> dict:
    """Output and the gradients of every tensor input, for upstream gradient ``dy``."""
    y = fn(**inputs)
    names = [k for k in GRADS if inputs.get(k) is not None]
    grads = torch.autograd.grad(y, [inputs[k] for k in names], dy.to(y.dtype))
    return {"y": y.detach(), **{f"d{k}": g for k, g in zip(names, grads, strict=True)}}


def errors(got: dict, want: dict, floor: float = 1e-4) -> dict:
    """rel-RMS error of every entry; ``floor`` as in ``vmix.testing.TOLERANCES`` (float32's by default)."""
    return {k: vt.rel_rms_error(got[k], want[k], floor=floor) for k in want}


def poisoned_kernels_write_everything(inputs: dict, out_dtype: torch.dtype) -> list[str]:
    """Run both kernels into NaN-filled buffers; return the names of buffers with an element left unwritten."""
    u, delta, A, B, C, D, bias, softplus = (inputs[k] for k in (*GRADS, "delta_softplus"))
    batch, dim, length = u.shape
    groups, d_state = B.shape[1], B.shape[2]
    fwd, bwd = (T.scan_config(b, dim // groups, d_state) for b in (False, True))
    nan = dict(fill_value=float("nan"), device="cuda")
    y = torch.full((batch, dim, length), dtype=out_dtype, **nan)
    states = torch.full((batch, T._num_tiles(length), dim, d_state), dtype=torch.float32, **nan)
    T._launch_fwd(u, delta, A, B, C, D, bias, softplus, y, states, fwd)
    bufs = dict(
        du=torch.full(u.shape, dtype=u.dtype, **nan),
        ddelta=torch.full(u.shape, dtype=delta.dtype, **nan),
        dA=torch.full((batch, dim, d_state), dtype=torch.float32, **nan),
        dB=torch.full((batch, dim // bwd.block_d, d_state, length), dtype=torch.float32, **nan),
        dC=torch.full((batch, dim // bwd.block_d, d_state, length), dtype=torch.float32, **nan),
        dD=torch.full((batch, dim), dtype=torch.float32, **nan),
        dbias=torch.full((batch, dim), dtype=torch.float32, **nan),
    )
    dy = torch.randn(batch, dim, length, device="cuda").to(out_dtype)
    T._launch_bwd(dy, u, delta, A, B, C, D, bias, states, softplus, *bufs.values(), bwd)
    bufs.update(y=y, states=states)
    return [k for k, v in bufs.items() if not torch.isfinite(v).all()]


SMALL = [  # (batch, dim, groups, d_state, length)
    (1, 4, 1, 1, 1),
    (2, 8, 2, 1, 17),
    (1, 12, 3, 3, 100),
    (2, 16, 4, 1, 49),
    (1, 8, 1, 16, 33),
    (3, 48, 4, 1, 196),
    (2, 32, 4, 1, 1000),
    (1, 6, 3, 2, 257),
]


def check_small() -> list[dict]:
    rows = []
    for i, dims in enumerate(SMALL):
        for dtype in (torch.float32, torch.bfloat16):
            for softplus, with_dd in ((True, True), (False, False)):
                inputs = small_inputs(*dims, dtype, seed=i, softplus=softplus, with_dd=with_dd)
                unwritten = poisoned_kernels_write_everything(inputs, torch.float32)
                dy = torch.randn(inputs["u"].shape, device="cuda", dtype=torch.float64)
                got = forward_backward(
                    functools.partial(T.selective_scan_triton, out_dtype=torch.float32),
                    with_grad(inputs),
                    dy,
                )
                want = forward_backward(selective_scan_reference, with_grad(inputs, torch.float64), dy)
                err = errors(got, want, vt.tolerance_for(dtype).floor)
                tol = vt.tolerance_for(dtype).rel
                ok = not unwritten and all(e <= tol for e in err.values())
                name = "B{}-D{}-G{}-N{}-L{}".format(*dims) + f"-{str(dtype)[6:]}-sp{int(softplus)}"
                rows.append(dict(case=name, ok=ok, unwritten=unwritten, tol=tol, **err))
                worst = max(err, key=err.get)
                log(f"  {name:32s} {'ok ' if ok else 'FAIL'} worst {worst}={err[worst]:.2e} (tol {tol:.0e})", unwritten)
    return rows


def check_stage1() -> dict:
    """Full stage-1 shape: Triton against the float64 recurrence and against the float32 chunked form."""
    dim, length = STAGES[1]
    inputs = stage_inputs(dim, length, seed=11)
    dy = torch.randn(BATCH, dim, length, device="cuda")
    unwritten = poisoned_kernels_write_everything(inputs, torch.float32)
    tri = forward_backward(lambda **kw: T.selective_scan_triton(**kw, out_dtype=torch.float32), with_grad(inputs), dy)
    tri = {k: v.double() for k, v in tri.items()}
    t0 = time.time()
    ref = forward_backward(selective_scan_reference, with_grad(inputs, torch.float64), dy.double())
    log(f"  float64 recurrence at full size: {time.time() - t0:.1f} s")
    vs_ref = errors(tri, ref)
    del ref
    torch.cuda.empty_cache()
    # The chunked form materialises (chunk x chunk) decays: run it on slices of the batch, summing the parameter
    # gradients over the slices.
    parts: dict[str, list] = {}
    f32 = with_grad(inputs, torch.float32)
    for s in range(0, BATCH, 8):
        sl = {k: (v[s : s + 8] if k in ("u", "delta", "B", "C") else v) for k, v in f32.items()}
        sl = with_grad(sl)
        out = forward_backward(lambda **kw: selective_scan_chunked(**kw, chunk_size=64), sl, dy[s : s + 8])
        for k, v in out.items():
            parts.setdefault(k, []).append(v.double())
    chunked = {k: torch.cat(v) if k in ("y", "du", "ddelta", "dB", "dC") else sum(v) for k, v in parts.items()}
    vs_chunked = errors(tri, chunked)
    log("  triton vs float64:", {k: f"{v:.2e}" for k, v in vs_ref.items()}, "unwritten:", unwritten)
    log("  triton vs float32 chunked:", {k: f"{v:.2e}" for k, v in vs_chunked.items()})
    return dict(vs_float64=vs_ref, vs_chunked=vs_chunked, unwritten=unwritten)


def bench(fn) -> float:
    return do_bench(fn, warmup=25, rep=100, return_mode="median")


def time_form(fn, inputs: dict, dy: torch.Tensor) -> dict:
    """fwd (no autograd), bwd (one recorded forward, backward replayed), fwd+bwd, in ms."""
    grad_inputs = with_grad(inputs)
    leaves = [grad_inputs[k] for k in GRADS]
    with torch.no_grad():
        fwd = bench(lambda: fn(**inputs))
    y = fn(**grad_inputs)
    bwd = bench(lambda: torch.autograd.grad(y, leaves, dy, retain_graph=True))
    both = bench(lambda: torch.autograd.grad(fn(**grad_inputs), leaves, dy))
    return dict(fwd=fwd, bwd=bwd, fwd_bwd=both)


def time_stages(chunked: bool, budget_s: float, t_start: float) -> dict:
    results = {}
    for stage, (dim, length) in STAGES.items():
        inputs = stage_inputs(dim, length, seed=stage)
        dy = torch.randn(BATCH, dim, length, device="cuda")
        res = {}
        res["triton"] = time_form(functools.partial(T.selective_scan_triton, out_dtype=torch.float32), inputs, dy)
        with torch.no_grad():
            res["triton"]["fwd_bf16_out"] = bench(functools.partial(T.selective_scan_triton, **inputs))
        if chunked and time.time() - t_start < budget_s:
            compiled = torch.compile(selective_scan_chunked)
            try:
                res["chunked"] = time_form(functools.partial(compiled, out_dtype=torch.float32), inputs, dy)
            except torch.OutOfMemoryError as err:
                res["chunked"] = dict(error=f"out of memory: {str(err).splitlines()[0]}")
            torch.cuda.empty_cache()
        results[stage] = res
        log(f"  stage {stage}:", json.dumps(res))
    return results


def sweep(stage: int) -> list[dict]:
    """Each kernel alone over a grid of launch shapes (tile values, warps, pipeline depth)."""
    dim, length = STAGES[stage]
    inputs = stage_inputs(dim, length, seed=stage)
    u, delta, A, B, C, D, bias, softplus = (inputs[k] for k in (*GRADS, "delta_softplus"))
    dy = torch.randn(BATCH, dim, length, device="cuda")
    f32 = dict(device="cuda", dtype=torch.float32)
    rows = []
    for block_l in (16, 32, 64):
        if block_l > max(16, T._next_pow2(length)):
            continue
        states = torch.empty(BATCH, triton.cdiv(length, block_l), dim, 1, **f32)
        y = torch.empty(BATCH, dim, length, **f32)
        for kind, tile, warps, stages in (
            ("fwd", 2048, 4, 3), ("fwd", 2048, 4, 1), ("fwd", 1024, 4, 3), ("fwd", 4096, 8, 3),
            ("bwd", 1024, 4, 3), ("bwd", 1024, 4, 1), ("bwd", 512, 4, 3), ("bwd", 2048, 8, 3),
        ):  # fmt: skip
            block_d = min(dim // GROUPS & -(dim // GROUPS), tile // block_l)
            cfg = T.ScanConfig(block_d, 1, block_l, warps, stages)
            fwd_cfg = T.ScanConfig(min(block_d, 2048 // block_l), 1, block_l, 4, 3)
            T._launch_fwd(u, delta, A, B, C, D, bias, softplus, y, states, fwd_cfg)
            if kind == "fwd":
                k = T._launch_fwd(u, delta, A, B, C, D, bias, softplus, y, states, cfg)
                ms = bench(lambda: T._launch_fwd(u, delta, A, B, C, D, bias, softplus, y, states, cfg))  # noqa: B023
            else:
                nb = dim // block_d
                bufs = (
                    torch.empty_like(u), torch.empty_like(delta), torch.empty(BATCH, dim, 1, **f32),
                    torch.empty(BATCH, nb, 1, length, **f32), torch.empty(BATCH, nb, 1, length, **f32),
                    torch.empty(BATCH, dim, **f32), torch.empty(BATCH, dim, **f32),
                )  # fmt: skip
                args = (dy, u, delta, A, B, C, D, bias, states, softplus, *bufs, cfg)
                k = T._launch_bwd(*args)
                ms = bench(lambda: T._launch_bwd(*args))  # noqa: B023
            row = dict(stage=stage, kind=kind, block_d=block_d, block_l=block_l, warps=warps, stages=stages, ms=ms)
            row.update(regs=getattr(k, "n_regs", None), spills=getattr(k, "n_spills", None))  # None when interpreted
            rows.append(row)
            log("  ", json.dumps(row))
    return rows


def table(results: dict) -> str:
    lines = [
        "| stage | D·K, L | form | fwd ms (fp32 y) | fwd ms (bf16 y) | bwd ms | fwd+bwd ms | CUDA kernel ÷ this "
        "| fwd+bwd ÷ floor | fwd % of copy BW |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage, res in results.items():
        dim, length = STAGES[stage]
        f_fwd, f_bwd = floor_ms(dim, length)
        k_fwd, k_bwd, k_both = CUDA_KERNEL_MS[stage]
        lines.append(
            f"| {stage} | {dim}, {length} | CUDA kernel (perf.md) | {k_fwd:.3f} | — | {k_bwd:.3f} | {k_both:.3f} "
            f"| 1.00× | {k_both / (f_fwd + f_bwd):.2f}× | {100 * f_fwd / k_fwd:.0f} % |"
        )
        for form, r in res.items():
            if "error" in r:
                lines.append(f"| {stage} | {dim}, {length} | {form} | {r['error']} |||||||")
                continue
            bf16 = f"{r['fwd_bf16_out']:.3f}" if "fwd_bf16_out" in r else "—"
            lines.append(
                f"| {stage} | {dim}, {length} | {form} | {r['fwd']:.3f} | {bf16} | {r['bwd']:.3f} "
                f"| {r['fwd_bwd']:.3f} | {k_both / r['fwd_bwd']:.2f}× | {r['fwd_bwd'] / (f_fwd + f_bwd):.2f}× "
                f"| {100 * f_fwd / r['fwd']:.0f} % |"
            )
        lines.append(
            f"| {stage} | {dim}, {length} | bytes floor | {f_fwd:.3f} | {floor_ms(dim, length, 2)[0]:.3f} "
            f"| {f_bwd:.3f} | {f_fwd + f_bwd:.3f} | | 1.00× | 100 % |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench_selective_scan"))
    parser.add_argument("--sweep", action="store_true", help="also time each kernel over a grid of launch shapes")
    parser.add_argument("--no-chunked", action="store_true", help="skip the compiled chunked form")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip the chunked form after this many seconds")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    global LOG_FILE
    LOG_FILE = args.out / "bench_selective_scan.log"
    LOG_FILE.write_text("")
    t_start = time.time()
    props = torch.cuda.get_device_properties(0)
    env = dict(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        device=f"{props.name}, {props.multi_processor_count} SMs",
        torch=torch.__version__,
        triton=triton.__version__,
        python=platform.python_version(),
        command=" ".join(sys.argv),
    )
    log("#", json.dumps(env))
    log("## correctness, small shapes vs float64 recurrence (rel-RMS)")
    small = check_small()
    log("## correctness, stage 1 at batch 128")
    full = check_stage1()
    torch.cuda.empty_cache()
    log("## timing (ms, do_bench median)")
    results = time_stages(not args.no_chunked, args.budget_s, t_start)
    sweeps = []
    if args.sweep:
        log("## sweep of launch shapes (kernel alone)")
        for stage in STAGES:
            sweeps += sweep(stage)
    ok = all(r["ok"] for r in small) and not full["unwritten"]
    md = table(results)
    (args.out / "bench_selective_scan.json").write_text(
        json.dumps(dict(env=env, small=small, stage1=full, timing=results, sweep=sweeps), indent=1)
    )
    log("## summary", "correctness ok" if ok else "CORRECTNESS FAILED", f"({time.time() - t_start:.0f} s)")
    log(md)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
