"""The shape-checking decorator: checks when enabled, steps aside under torch.compile, one Dynamo cache per function."""

import pytest
import torch
from jaxtyping import Float, TypeCheckError
from torch import Tensor

from vmix._shapecheck import set_shapecheck, shapecheck, shapecheck_enabled


def _scaled(factor: float):
    @shapecheck
    def scale(x: Float[Tensor, "b l"]) -> Float[Tensor, "b l"]:
        return factor * x

    return scale


def test_checks_shapes_when_enabled():
    scale = _scaled(2.0)
    assert shapecheck_enabled()  # the suite's conftest turns checking on
    with pytest.raises(TypeCheckError):
        scale(torch.ones(2, 3, 4))
    set_shapecheck(False)
    try:
        assert scale(torch.ones(2, 3, 4)).shape == (2, 3, 4)  # unchecked: the body runs as written
    finally:
        set_shapecheck(True)


def test_each_checked_function_compiles_into_its_own_cache():
    # Nine functions with one shared wrapper code object would need nine entries in one cache of at most eight.
    torch._dynamo.reset()
    x = torch.randn(2, 3)
    for i in range(9):
        fn = _scaled(float(i))
        compiled = torch.compile(fn, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(x), i * x)
    assert _scaled(1.0).__name__ == "scale" and _scaled(1.0).__code__.co_name == "scale"
