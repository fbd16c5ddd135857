"""Regenerate the parameter / FLOP tables of the GConvNet ("Demystify Mamba in Vision") and VSSD papers.

Every registered model is built on the meta device (no weights allocated) and counted at 224² with 1000 classes the
papers' way (``count_flops(mode="paper")``), next to the value the paper (or the official code, where the paper
prints none) gives. Prints a markdown table; ``--exact`` adds the all-work FLOP count.

Usage::

    python bench/tables.py            # markdown table on stdout
    python bench/tables.py --exact    # plus mode="exact"
"""

from __future__ import annotations

import argparse

import torch

import vmix
from vmix.analysis import count_flops, count_params

# name: (table, params in M, GFLOPs) as printed. GConvNet paper Table 1 / 4 / 5 (hybrids: the spec's reference counts,
# the paper prints none), VSSD paper Table 1 / 5. Printed precision is kept as the string.
PRINTED = {
    "vmamba_pico": ("GConvNet T1", "7.9", "1.27"),
    "vmamba_tiny": ("GConvNet T1", "30.7", "4.86"),
    "vmamba_small": ("GConvNet T1", "50.1", "8.72"),
    "gconvnet_pico": ("GConvNet T1", "8.0", "1.27"),
    "gconvnet_tiny": ("GConvNet T1", "30.8", "4.88"),
    "gconvnet_small": ("GConvNet T1", "50.8", "8.79"),
    "vmamba_hybrid1_pico": ("spec 4.2", "7.731", "1.2612"),
    "vmamba_hybrid1_tiny": ("spec 4.2", "29.913", "4.8201"),
    "vmamba_hybrid1_small": ("spec 4.2", "49.023", "8.6621"),
    "vmamba_hybrid2_pico": ("spec 4.2", "7.611", "1.2505"),
    "vmamba_hybrid2_tiny": ("spec 4.2", "29.452", "4.7987"),
    "gconvnet_hybrid1_pico": ("spec 4.2", "7.932", "1.2774"),
    "gconvnet_hybrid1_tiny": ("spec 4.2", "30.565", "4.8959"),
    "gconvnet_hybrid1_small": ("spec 4.2", "50.427", "8.8526"),
    "gconvnet_hybrid2_pico": ("spec 4.2", "7.916", "1.2664"),
    "gconvnet_hybrid2_tiny": ("spec 4.2", "30.532", "4.8738"),
    "mambaout_tiny": ("GConvNet T4", "26.5", "4.47"),
    "mambaout_tiny_linear_head": ("GConvNet T4", "30.6", "4.81"),
    "vmamba_tiny_mlp_head": ("GConvNet T4", "26.2", "4.50"),
    "mambaout_femto": ("MambaOut", "7.3", "1.2"),
    "mambaout_kobe": ("MambaOut", "9.1", "1.5"),
    "mambaout_small": ("MambaOut", "48.5", "9.0"),
    "mambaout_base": ("MambaOut", "84.8", "15.8"),
    "vssd_micro": ("VSSD T1/T5", "13.5", "2.3"),
    "vssd_tiny": ("VSSD T1", "24", "4.5"),
    "vssd_small": ("VSSD T1", "40", "7.4"),
    "vssd_base": ("VSSD T1", "89", "16.1"),
    "vssd_micro_ssd": ("VSSD T5", "14.8", "2.1"),
    "vssd_micro_bissd": ("VSSD T5", "15.2", "2.2"),
    "vssd_micro_ncssd": ("VSSD T5", "14.8", "2.1"),
    "vssd_micro_hybrid_patch": ("VSSD T5", "13.4", "2.1"),
}


def measure(name: str, exact: bool) -> tuple[int, int, int | None]:
    """Parameters, paper-mode FLOPs and (optionally) exact-mode FLOPs of ``name`` at 224²."""
    with torch.device("meta"):
        model = vmix.create_model(name)
    paper = count_flops(model)
    return count_params(model), paper, count_flops(model, mode="exact") if exact else None


def table(exact: bool = False) -> str:
    """The markdown table of every registered model: measured beside printed."""
    header = "| model | source | params (M) | printed | GFLOPs | printed |" + (" GFLOPs exact |" if exact else "")
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for name in vmix.list_models():
        source, params_printed, flops_printed = PRINTED.get(name, ("—", "—", "—"))
        params, paper, full = measure(name, exact)
        row = f"| {name} | {source} | {params / 1e6:.3f} | {params_printed} | {paper / 1e9:.4f} | {flops_printed} |"
        lines.append(row + (f" {full / 1e9:.4f} |" if exact else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exact", action="store_true", help="add the all-work FLOP count (mode='exact')")
    print(table(exact=parser.parse_args().exact))


if __name__ == "__main__":
    main()
