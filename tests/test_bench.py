"""The benchmark scripts' model plumbing, on the CPU: what a ``name@variant`` sets, and the gradient check that
guards every timed model (their timings themselves only mean something on the GPU, bench/RESULTS.md)."""

import sys
from pathlib import Path

import pytest
import torch

import vmix

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bench_models  # noqa: E402


@pytest.mark.parametrize(
    ("spec", "layer", "attribute", "value"),
    [
        ("vmamba_pico@composed", vmix.SS2D, "scan_impl", "triton"),
        ("vmamba_pico@cudnn", vmix.SS2D, "conv_impl", "aten"),
        ("gconvnet_pico@triton", vmix.GatedDWConv, "conv_impl", "triton"),
        ("vssd_micro@shifted", vmix.NCSSD, "conv_impl", "reference"),
        ("vssd_micro@atenmlp", vmix.layers.Mlp, "mlp_impl", "aten"),
    ],
)
def test_a_variant_sets_its_attribute_on_every_layer_that_has_it(spec, layer, attribute, value):
    model = bench_models.build_vmix(spec)
    layers = [m for m in model.modules() if isinstance(m, layer)]
    assert layers and all(getattr(m, attribute) == value for m in layers)
    default = bench_models.build_vmix(spec.partition("@")[0])
    assert all(getattr(m, attribute) == "auto" for m in default.modules() if isinstance(m, layer))


def test_the_triton_mlp_variant_leaves_the_blocks_wider_than_the_kernel_on_auto():
    if bench_models.MAX_CHANNELS == 0:
        pytest.skip("needs triton (without it the kernel takes no width)")
    mlps = [m for m in bench_models.build_vmix("vssd_micro@tritonmlp").modules() if isinstance(m, vmix.layers.Mlp)]
    widths = {m.fc1.in_features: m.mlp_impl for m in mlps}
    assert widths and all(
        impl == ("triton" if c <= bench_models.MAX_CHANNELS else "auto") for c, impl in widths.items()
    )
    assert {"triton", "auto"} <= set(widths.values())  # VSSD-Micro's last stage is wider than the kernel takes


def test_an_unknown_variant_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown variant 'fast'.*'composed'"):
        bench_models.build_vmix("vmamba_pico@fast")


def test_gradient_check_is_not_fooled_by_drop_path():
    # At batch 2, drop path at rate 0.9 drops some block for both images almost surely; in training mode that
    # block's parameters would get exact zeros and the check would call a sound model broken.
    torch.manual_seed(0)
    model = vmix.create_model("gconvnet_pico", drop_path_rate=0.9).train()
    x = torch.randn(2, 3, 64, 64)
    bench_models.check_gradients(model, x, torch.tensor([1, 2]))
    assert model.training  # the check hands the model back in the mode it found it


def test_gradient_check_catches_a_parameter_without_gradient():
    model = vmix.create_model("gconvnet_pico")
    model.head.fc.weight.requires_grad_(False)  # a frozen parameter gets no gradient: the check must say so
    with pytest.raises(RuntimeError, match="missing/non-finite.*head"):
        bench_models.check_gradients(model, torch.randn(2, 3, 64, 64), torch.tensor([1, 2]))
