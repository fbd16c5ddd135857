"""The depthwise convolution on a GPU: Inductor's code for the sum of shifted slices and vmix's Triton kernels
against cuDNN (``F.conv2d``), at the models' shapes.

Every map is what a layer feeds the convolution in a ``*_tiny`` model under bf16 autocast at batch 128, 224²: a dense
bf16 map (a projection's output) for NC-SSD, SS2D, GConvNet and MambaOut; the CPE at float32, as a hybrid's residual
stream feeds it (in ``vssd_tiny`` the stream is bf16 under autocast: its stem ends in BatchNorm, not LayerNorm);
weights and bias are float32 parameters. Forms: ``dwconv_aten`` (cuDNN, what ``impl="auto"`` runs),
``dwconv_triton``, and the reference form compiled alone (``torch.compile`` of ``dwconv(impl="reference")``, static
shapes: Inductor's loop over the shifted slices). Inside a model the forms meet their neighbours (Inductor fuses the
reference form with them; both kernels are calls of their own): the models' ``@cudnn``, ``@shifted`` and ``@triton``
variants in ``bench_models.py`` measure that. First every form is checked against the float64 reference at batch 2
(output and the three gradients); then the forward alone and forward + backward are timed with
``triton.testing.do_bench`` (median, L2 flushed), each against cuDNN on the same input in the same run. The floor
is the interface bytes (input read, output written; backward: ``dy`` and ``x`` read, ``dx`` written) at the copy
rate. ``--warm`` adds the forward on a map its producer has just written (a copy into it before each call, its own
time subtracted), the state the map is in inside a model.

Run on a CUDA machine from the repository root::

    python bench/bench_dwconv.py --out runs/dwconv
    python bench/bench_dwconv.py --forms cuDNN Triton --warm   # the two kernels with the map warm in L2 too
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import torch
from triton.testing import do_bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from autocast_errors import autocast_errors  # noqa: E402

from vmix.ops.dwconv import dwconv, dwconv_aten, dwconv_reference, dwconv_triton  # noqa: E402

COPY_GBPS = 3018.0  # device-to-device copy, bytes read + written (performance.md §2)
BATCH = 128
# name: (side, channels, kernel, width of the tensor the map is a slice of, offset of the slice, input dtype)
SHAPES = {
    "vssd_tiny s1 NC-SSD xBC": (56, 256, 3, 256, 0, torch.bfloat16),
    "vssd_tiny s2 NC-SSD xBC": (28, 384, 3, 384, 0, torch.bfloat16),
    "vssd_tiny s3 NC-SSD xBC": (14, 640, 3, 640, 0, torch.bfloat16),
    "vssd_tiny s1 CPE (float32)": (56, 64, 3, 64, 0, torch.float32),
    "vssd_tiny s3 CPE (float32)": (14, 256, 3, 256, 0, torch.float32),
    "vmamba_tiny s1 SS2D": (56, 192, 3, 192, 0, torch.bfloat16),
    "vmamba_tiny s3 SS2D": (14, 768, 3, 768, 0, torch.bfloat16),
    "gconvnet_tiny s1 v": (56, 192, 7, 192, 0, torch.bfloat16),
    "gconvnet_tiny s3 v": (14, 768, 7, 768, 0, torch.bfloat16),
    "mambaout_tiny s1 c": (56, 96, 7, 96, 0, torch.bfloat16),
}


def make(side, channels, k, width, offset, dtype, batch, seed=0):
    """The map (a channel slice of a wider tensor when ``width > channels``), weight and bias of one shape."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    wide = torch.randn(batch, side, side, width, device="cuda", generator=g).to(dtype)
    x = wide[..., offset : offset + channels]
    weight = torch.randn(channels, 1, k, k, device="cuda", generator=g) / k
    bias = torch.randn(channels, device="cuda", generator=g)
    return x, weight, bias


def errors(form, shape) -> list[float]:
    """Errors of ``form`` against float64 at batch 2 (``autocast_errors``)."""
    return autocast_errors(form, dwconv_reference, make(*shape, batch=2, seed=1))


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


def timed_warm(form, x, w, b) -> float:
    """Forward ms on a map its producer has just written, as inside a model, where the part of it that fits is
    still in L2: (a copy into the map, then the form) minus (the copy alone)."""
    x = x.detach()
    source = x.clone()

    def produce():
        x.copy_(source)

    def step():
        produce()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            form(x, w, b)

    return do_bench(step, warmup=50, rep=300, return_mode="median") - do_bench(
        produce, warmup=50, rep=300, return_mode="median"
    )


def triton_autocast(x, w, b):
    return dwconv_triton(x, w, b, out_dtype=torch.bfloat16)


def inductor_form():
    """The reference form compiled alone, with a fresh Dynamo cache so each shape gets its own static graphs."""
    torch.compiler.reset()
    return torch.compile(partial(dwconv, impl="reference"), dynamic=False)


FORMS = {"cuDNN": lambda: dwconv_aten, "Triton": lambda: triton_autocast, "Inductor": inductor_form}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for dwconv.json")
    parser.add_argument(
        "--forms", nargs="+", default=list(FORMS), choices=list(FORMS), help="forms to time; ratios are to the first"
    )
    parser.add_argument("--warm", action="store_true", help="also time the forward on a map just written (L2 warm)")
    args = parser.parse_args()
    print(f"{torch.cuda.get_device_name(0)} · torch {torch.__version__} · batch {BATCH} · bf16 autocast\n")
    print(
        "| map | k | form | err y / dx / dw / db | fwd ms | cuDNN ÷ form | fwd floor % | fwd+bwd ms | cuDNN ÷ form "
        "| fwd+bwd floor % | warm fwd ms | cuDNN ÷ form |"
    )
    print("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name, shape in SHAPES.items():
        side, channels, k, _, _, dtype = shape
        x, w, b = make(*shape, batch=BATCH)
        elems = BATCH * side * side * channels
        fwd_bytes = elems * (x.element_size() + 2)  # x read, bf16 y written
        bwd_bytes = fwd_bytes + elems * (2 + x.element_size() * 2)  # dy, x read; dx written
        cudnn = {}
        for form_name in args.forms:
            form = FORMS[form_name]()
            row = dict(name=name, k=k, form=form_name, errors=errors(form, shape))
            for mode, backward, moved in (("fwd", False, fwd_bytes), ("fwd_bwd", True, bwd_bytes)):
                row[f"{mode}_ms"] = timed(form, x, w, b, backward)
                row[f"{mode}_floor_ms"] = moved / COPY_GBPS / 1e6
            if args.warm:
                row["warm_fwd_ms"] = timed_warm(form, x, w, b)
            cudnn = cudnn or row
            warm = (
                f"{row['warm_fwd_ms']:.3f} | {cudnn['warm_fwd_ms'] / row['warm_fwd_ms']:.2f}" if args.warm else "— | —"
            )
            rows.append(row)
            print(
                f"| {name} | {k} | {form_name} | {' / '.join(f'{e:.1e}' for e in row['errors'])} | "
                f"{row['fwd_ms']:.3f} | {cudnn['fwd_ms'] / row['fwd_ms']:.2f} | "
                f"{100 * row['fwd_floor_ms'] / row['fwd_ms']:.0f} | {row['fwd_bwd_ms']:.3f} | "
                f"{cudnn['fwd_bwd_ms'] / row['fwd_bwd_ms']:.2f} | "
                f"{100 * row['fwd_bwd_floor_ms'] / row['fwd_bwd_ms']:.0f} | {warm} |",
                flush=True,
            )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "dwconv.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
