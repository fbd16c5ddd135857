"""Every ``*_tiny`` model on a GPU: bf16-autocast forward and backward give finite gradients on every parameter, and
logits close to the float32 forward of the same weights."""

import pytest
import torch

import vmix
import vmix.testing as vt

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = torch.device("cuda")


@pytest.mark.parametrize("name", vmix.list_models("*_tiny"))
def test_tiny_model_trains_under_bf16_autocast(name):
    torch.manual_seed(0)
    model = vmix.create_model(name).to(CUDA).eval()  # drop path off: both forwards must compute the same function
    x = torch.randn(2, 3, 224, 224, device=CUDA)
    labels = torch.tensor([3, 7], device=CUDA)
    with torch.no_grad():
        want = model(x)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x)
    torch.nn.functional.cross_entropy(logits, labels).backward()

    assert logits.dtype == torch.bfloat16 and logits.shape == (2, 1000)
    # A whole network in bf16 drifts further than one operator (TOLERANCES): 10 % catches a wrong kernel, not rounding.
    vt.assert_close(logits.float(), want, vt.Tolerance(rel=0.1, floor=1e-3), name=f"{name} bf16 logits")
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: no finite gradient for {missing[:5]}"
