"""Fixtures shared by the operator tests."""

import pytest


@pytest.fixture
def hopper_compiler():
    """``(triton, target, ASTSource)``: Triton's compiler for an H100 (sm_90), which runs without a GPU; the test is
    skipped where triton or its NVIDIA backend is missing."""
    try:
        import triton
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
    except ImportError:
        pytest.skip("needs triton")
    if "nvidia" not in triton.backends.backends:
        pytest.skip("needs triton's NVIDIA backend")
    return triton, GPUTarget("cuda", 90, 32), ASTSource
