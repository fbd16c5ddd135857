"""Optimizer groups, schedule, EMA, atomic checkpoints, RNG capture, the command line."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn

from vmix.train import (
    TrainConfig,
    WarmupCosine,
    build_parser,
    capture_rng_state,
    config_from_args,
    load_checkpoint,
    param_groups,
    resolve,
    restore_rng_state,
    save_checkpoint,
)


def test_no_decay_on_norms_biases_and_1d_parameters():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm(4), nn.Linear(4, 2))
    net.register_parameter("scale", nn.Parameter(torch.ones(4)))
    decay, no_decay = param_groups(net, 0.05)
    assert {id(p) for p in decay["params"]} == {id(net[0].weight), id(net[2].weight)}
    assert len(no_decay["params"]) == 5 and no_decay["weight_decay"] == 0.0


def test_warmup_then_cosine_to_the_floor():
    f = WarmupCosine(peak_lr=1e-3, total_steps=100, warmup_steps=10, warmup_lr=1e-6, min_lr=1e-5)
    lrs = [1e-3 * f(s) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-6) and lrs[10] == pytest.approx(1e-3) and lrs[100] == pytest.approx(1e-5)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11], strict=True))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))


def test_per_model_defaults_and_linear_scaling():
    vm, gc = resolve(TrainConfig(model="vmamba_tiny")), resolve(TrainConfig(model="gconvnet_hybrid1_small"))
    assert (vm.drop_path, vm.ema, gc.drop_path, gc.ema) == (0.2, True, 0.3, False)
    assert resolve(TrainConfig(model="vssd_micro", batch_size=128), world_size=8).lr == pytest.approx(1e-3)


def test_every_knob_is_a_documented_flag():
    parser = build_parser()
    helptext = parser.format_help()
    for flag in ("--model", "--data", "--img-size", "--batch-size", "--epochs", "--max-steps", "--lr", "--workers"):
        assert flag in helptext
    for flag in ("--device", "--output", "--resume", "--compile", "--no-compile", "--ema", "--no-ema"):
        assert flag in helptext
    cfg = config_from_args(parser.parse_args(["--no-ema", "--drop-path", "0.1", "--max-steps", "7"]))
    assert (cfg.ema, cfg.drop_path, cfg.max_steps) == (False, 0.1, 7)


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    import random

    import numpy as np

    save_checkpoint({"model_name": "m", "rng": capture_rng_state()}, tmp_path / "last.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1))
    restore_rng_state(load_checkpoint(tmp_path, model_name="m")["rng"])
    assert (random.random(), np.random.rand()) == expected[:2] and torch.equal(torch.rand(1), expected[2])


def test_checkpoint_from_another_model_is_refused(tmp_path):
    save_checkpoint({"model_name": "vmamba_pico"}, tmp_path / "last.pt")
    with pytest.raises(ValueError, match="from model 'vmamba_pico', not 'gconvnet_pico'"):
        load_checkpoint(tmp_path / "last.pt", model_name="gconvnet_pico")


def test_process_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)
    marker = tmp_path / "writing"
    # The child starts writing step 2, flushes half of it, tells us, and waits to be killed.
    child = textwrap.dedent(f"""
        import os, time, torch
        from vmix.train import save_checkpoint
        def partial_save(obj, f):
            f.write(b"x" * 4096); f.flush(); os.fsync(f.fileno())
            open({str(marker)!r}, "w").close()
            time.sleep(60)
        torch.save = partial_save
        save_checkpoint({{"step": 2}}, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", child])
    try:
        for _ in range(600):
            if marker.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), "the child never reached the middle of the save"
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    state = torch.load(path, weights_only=True)
    assert state["step"] == 1 and torch.equal(state["w"], torch.ones(3))
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) == 1  # the half-written temporary file, never the checkpoint itself


def test_train_imagenet_script_documents_its_flags():
    script = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "train_imagenet.py")
    out = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, check=True).stdout
    assert "--resume" in out and "papers' ImageNet recipe" in out
