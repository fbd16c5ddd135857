"""CPU timing of the selective-scan forms (eager and compiled), forward and forward+backward.

Not a test: run ``python bench/cpu_selective_scan.py [--length 784] [--dim 384]`` and read the table. Shapes default
to a VMamba stage-2 scan at batch 1 (K·E = 4·96 channels, 4 groups, d_state 1, 28×28 tokens).
"""

from __future__ import annotations

import argparse
import time

import torch

from vmix.ops.selective_scan import selective_scan_chunked, selective_scan_reference


def _time(fn, repeat: int) -> float:
    fn()  # warm-up (and compilation)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--d-state", type=int, default=1)
    parser.add_argument("--length", type=int, default=784)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunks", type=int, nargs="+", default=[16, 32, 64])
    args = parser.parse_args()

    b, d, g, n, length = args.batch, args.dim, args.groups, args.d_state, args.length
    inputs = dict(
        u=torch.randn(b, d, length),
        delta=torch.randn(b, d, length) - 3,
        A=-torch.rand(d, n),
        B=torch.randn(b, g, n, length),
        C=torch.randn(b, g, n, length),
        D=torch.ones(d),
        delta_softplus=True,
    )
    leaves = [v.requires_grad_() for v in inputs.values() if isinstance(v, torch.Tensor)]

    def fwd(form, **kw):
        def run():
            with torch.no_grad():
                form(**inputs, **kw)

        return run

    def fwd_bwd(form, **kw):
        return lambda: torch.autograd.grad(form(**inputs, **kw).sum(), leaves)

    rows = [("reference", selective_scan_reference, {})]
    for chunk in args.chunks:
        rows.append((f"chunked T={chunk}", selective_scan_chunked, {"chunk_size": chunk}))
        rows.append(
            (f"chunked T={chunk} compiled", torch.compile(selective_scan_chunked, dynamic=False), {"chunk_size": chunk})
        )

    print(f"batch {b}, dim {d}, groups {g}, d_state {n}, length {length}, {torch.get_num_threads()} threads")
    print(f"{'form':<28}{'fwd ms':>10}{'fwd+bwd ms':>12}")
    for name, form, kw in rows:
        forward_ms = 1e3 * _time(fwd(form, **kw), args.repeat)
        backward_ms = 1e3 * _time(fwd_bwd(form, **kw), args.repeat)
        print(f"{name:<28}{forward_ms:>10.1f}{backward_ms:>12.1f}")


if __name__ == "__main__":
    main()
