"""The depthwise convolution on a GPU: vmix's Triton kernels against cuDNN (``F.conv2d``), at the models' shapes.

Every map is what a layer feeds the convolution in a ``*_tiny`` model under bf16 autocast at batch 128, 224²:
NC-SSD's ``xBC`` and GConvNet's ``v`` and MambaOut's ``c`` are channel slices of a projection's bf16 output (cuDNN
copies them to a dense tensor first; the kernels read them in place), SS2D's input is a dense bf16 map, the CPE's
is the float32 residual stream; weights and bias are float32 parameters. First the kernels are checked against the
float64 reference at batch 2 (output and the three gradients); then the forward alone and forward + backward are
timed with ``triton.testing.do_bench`` (median, L2 flushed), each against ``dwconv_aten`` (cuDNN) on the same input
in the same run. The floor is the interface bytes (input read, output written; backward: ``dy`` and ``x`` read,
``dx`` written) at the copy rate.

Run on a CUDA machine from the repository root::

    python bench/bench_dwconv.py --out runs/dwconv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vmix.testing as vt  # noqa: E402
from vmix.ops.dwconv import dwconv_aten, dwconv_reference, dwconv_triton  # noqa: E402

COPY_GBPS = 3018.0  # device-to-device copy, bytes read + written (performance.md §2)
BATCH = 128
# name: (side, channels, kernel, width of the tensor the map is a slice of, offset of the slice, input dtype)
SHAPES = {
    "vssd_tiny s1 NC-SSD xBC": (56, 256, 3, 386, 128, torch.bfloat16),
    "vssd_tiny s2 NC-SSD xBC": (28, 384, 3, 644, 256, torch.bfloat16),
    "vssd_tiny s3 NC-SSD xBC": (14, 640, 3, 1160, 512, torch.bfloat16),
    "vssd_tiny s1 CPE": (56, 64, 3, 64, 0, torch.float32),
    "vssd_tiny s3 CPE": (14, 256, 3, 256, 0, torch.float32),
    "vmamba_tiny s1 SS2D": (56, 192, 3, 192, 0, torch.bfloat16),
    "vmamba_tiny s3 SS2D": (14, 768, 3, 768, 0, torch.bfloat16),
    "gconvnet_tiny s1 v": (56, 192, 7, 384, 0, torch.bfloat16),
    "gconvnet_tiny s3 v": (14, 768, 7, 1536, 0, torch.bfloat16),
    "mambaout_tiny s1 c": (56, 96, 7, 512, 416, torch.bfloat16),
    "convnext_tiny s1 (dense, bf16)": (56, 96, 7, 96, 0, torch.bfloat16),
}


def make(side, channels, k, width, offset, dtype, batch, seed=0):
    """The map (a channel slice of a wider tensor when ``width > channels``), weight and bias of one shape."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    wide = torch.randn(batch, side, side, width, device="cuda", generator=g).to(dtype)
    x = wide[..., offset : offset + channels]
    weight = torch.randn(channels, 1, k, k, device="cuda", generator=g) / k
    bias = torch.randn(channels, device="cuda", generator=g)
    return x, weight, bias


def errors(shape) -> list[float]:
    """Rel-RMS errors against float64 at batch 2: output, dx, dweight, dbias."""
    x, w, b = make(*shape, batch=2, seed=1)
    ours = [t.detach().clone().requires_grad_() for t in (x, w, b)]
    exact = [t.detach().double().requires_grad_() for t in (x, w, b)]
    got, want = dwconv_triton(*ours), dwconv_reference(*exact)
    upstream = torch.randn(want.shape, device="cuda", dtype=torch.float64)
    got.backward(upstream.to(got.dtype))
    want.backward(upstream)
    return [vt.rel_rms_error(got.detach(), want.detach())] + [
        vt.rel_rms_error(o.grad, e.grad) for o, e in zip(ours, exact, strict=True)
    ]


def timed(form, x, w, b, backward: bool) -> float:
    x = x.detach().requires_grad_(backward)
    w = w.detach().requires_grad_(backward)
    b = b.detach().requires_grad_(backward)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = form(x, w, b)
        if backward:
            torch.autograd.backward(y, dy)

    with torch.autocast("cuda", dtype=torch.bfloat16):
        dy = torch.randn_like(form(x, w, b))
    return do_bench(step, warmup=50, rep=300, return_mode="median")


def triton_autocast(x, w, b):
    return dwconv_triton(x, w, b, out_dtype=torch.bfloat16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for dwconv.json")
    args = parser.parse_args()
    print(f"{torch.cuda.get_device_name(0)} · torch {torch.__version__} · batch {BATCH} · bf16 autocast\n")
    print(
        "| map | k | err y / dx / dw / db | fwd ms cuDNN | fwd ms triton | × | fwd floor % | fwd+bwd ms cuDNN "
        "| fwd+bwd ms triton | × | fwd+bwd floor % |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name, shape in SHAPES.items():
        side, channels, k, _, _, dtype = shape
        err = errors(shape)
        x, w, b = make(*shape, batch=BATCH)
        elems = BATCH * side * side * channels
        fwd_bytes = elems * (x.element_size() + 2)  # x read, bf16 y written
        bwd_bytes = fwd_bytes + elems * (2 + x.element_size() * 2)  # dy, x read; dx written
        row = dict(name=name, k=k, errors=err)
        for mode, backward, moved in (("fwd", False, fwd_bytes), ("fwd_bwd", True, bwd_bytes)):
            row[f"{mode}_cudnn_ms"] = timed(dwconv_aten, x, w, b, backward)
            row[f"{mode}_triton_ms"] = timed(triton_autocast, x, w, b, backward)
            row[f"{mode}_floor_ms"] = moved / COPY_GBPS / 1e6
        rows.append(row)
        print(
            f"| {name} | {k} | {' / '.join(f'{e:.1e}' for e in err)} | {row['fwd_cudnn_ms']:.3f} | "
            f"{row['fwd_triton_ms']:.3f} | {row['fwd_cudnn_ms'] / row['fwd_triton_ms']:.2f} | "
            f"{100 * row['fwd_floor_ms'] / row['fwd_triton_ms']:.0f} | {row['fwd_bwd_cudnn_ms']:.3f} | "
            f"{row['fwd_bwd_triton_ms']:.3f} | {row['fwd_bwd_cudnn_ms'] / row['fwd_bwd_triton_ms']:.2f} | "
            f"{100 * row['fwd_bwd_floor_ms'] / row['fwd_bwd_triton_ms']:.0f} |",
            flush=True,
        )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "dwconv.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
