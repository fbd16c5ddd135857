"""The training loop end to end on real images: resume equality, preemption, non-finite loss, DDP, bad input."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from vmix.train import NonFiniteLossError, load_checkpoint, plot_runs, read_metrics, train

sys.path.insert(0, os.path.dirname(__file__))
from toy_model import Toy  # noqa: E402


def _script(tmp_path, cfg, *, exit_on_preempt=143):
    """A Python file that trains ``Toy`` with ``cfg`` (for subprocesses: torchrun, signals)."""
    path = tmp_path / "train_toy.py"
    path.write_text(
        textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            import torch
            from toy_model import Toy
            from vmix.train import TrainConfig, train
            torch.manual_seed(0)
            result = train(TrainConfig(**{cfg.__dict__!r}), model=Toy())
            sys.exit({exit_on_preempt} if result.status == "preempted" else 0)
        """)
    )
    return path


def _losses(run_dir):
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if r["kind"] == "step"}


class PreemptAt(Toy):
    """Sends itself SIGTERM during training forward number ``n``: preemption at a known step."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.n:
                os.kill(os.getpid(), signal.SIGTERM)
        return super().forward(x)


def test_resume_continues_exactly(fast_config, tmp_path):
    torch.manual_seed(0)
    straight = train(fast_config(output=str(tmp_path / "straight")), model=Toy())
    assert straight.status == "done" and straight.step == 12  # 96 images / 16 = 6 steps per epoch, 2 epochs

    # Preempted mid-way through the second epoch (after an evaluation and a best.pt), then resumed.
    cfg = fast_config(output=str(tmp_path / "split"))
    torch.manual_seed(0)  # the same initial weights
    first = train(cfg, model=PreemptAt(8))
    assert first.status == "preempted" and first.step == 8
    assert load_checkpoint(tmp_path / "split", model_name="toy")["batch_in_epoch"] == 2
    resumed = train(fast_config(output=str(tmp_path / "split"), resume=str(tmp_path / "split")), model=Toy())
    assert resumed.status == "done" and resumed.step == 12
    assert _losses(tmp_path / "split") == _losses(tmp_path / "straight")  # bit-identical, step by step
    assert resumed.top1 == straight.top1
    kinds = [r["kind"] for r in read_metrics(tmp_path / "split")]
    assert kinds.count("eval") == 2 and kinds.count("epoch") == 2
    assert {"best.pt", "last.pt", "run.json", "metrics.jsonl"} <= set(os.listdir(tmp_path / "split"))
    assert plot_runs({"a": tmp_path / "straight", "b": tmp_path / "split"}, tmp_path / "curves.png").stat().st_size


def test_non_finite_loss_stops_naming_the_step(fast_config):
    class NaNAt(Toy):
        calls = 0

        def forward(self, x):
            self.calls += self.training
            out = super().forward(x)
            return out * float("nan") if self.calls == 3 else out

    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 3 .*last good checkpoint .*\(step 2\)"):
        train(fast_config(save_every=2), model=NaNAt())
    state = load_checkpoint(fast_config().output, model_name="toy")
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())


@pytest.mark.parametrize("group", [False, True], ids=["process", "process-group-with-workers"])
def test_sigterm_to_the_process_writes_a_checkpoint(fast_config, tmp_path, group):
    # A scheduler (SLURM, `timeout`) signals the whole process group: the loader's workers get SIGTERM too, and
    # their death must not turn the orderly stop into a crash.
    cfg = fast_config(epochs=50, output=str(tmp_path / "run"), workers=2 if group else 0)
    proc = subprocess.Popen([sys.executable, str(_script(tmp_path, cfg))], start_new_session=group)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.1)
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    state = load_checkpoint(tmp_path / "run", model_name="toy")
    assert state["step"] >= 2 and state["step"] == max(_losses(tmp_path / "run"))


def test_a_real_model_on_real_photos(fast_config, imagenette_parquet, tmp_path):
    result = train(
        fast_config(
            model="gconvnet_pico",
            data=str(imagenette_parquet),
            img_size=32,
            batch_size=4,
            max_steps=2,
            train_subset=16,
            val_subset=8,
            output=str(tmp_path / "real"),
        )
    )
    assert result.status == "done" and result.step == 2 and result.top1 is not None
    run = json.loads((tmp_path / "real" / "run.json").read_text())
    assert run["model"] == "gconvnet_pico" and run["num_classes"] == 10 and run["args"]["ema"] is False
    assert run["args"]["drop_path"] == 0.025


def test_unknown_model_name(fast_config):
    with pytest.raises(ValueError, match="unknown model 'vmamba_pic'; did you mean \\['vmamba_pico'"):
        train(fast_config(model="vmamba_pic"))


def test_compiling_by_regions_needs_a_backbone(fast_config):
    with pytest.raises(ValueError, match="--compile-mode regions needs a vmix Backbone; got Toy"):
        train(fast_config(compile=True, compile_mode="regions"), model=Toy())


def test_resuming_another_models_checkpoint_is_refused(fast_config, tmp_path):
    train(fast_config(max_steps=1, output=str(tmp_path / "a")), model=Toy())
    with pytest.raises(ValueError, match="from model 'toy', not 'other'"):
        train(fast_config(model="other", resume=str(tmp_path / "a")), model=Toy())


def test_torchrun_ddp_gloo_two_processes(fast_config, tmp_path):
    cfg = fast_config(batch_size=8, max_steps=4, output=str(tmp_path / "ddp"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    subprocess.run([*cmd, str(_script(tmp_path, cfg))], check=True, env=env, timeout=300)
    run = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert run["world_size"] == 2 and run["steps_per_epoch"] == 6  # 96 images / (8 per rank x 2 ranks)
    state = load_checkpoint(tmp_path / "ddp", model_name="toy")
    assert state["step"] == 4 and len(state["rng"]) == 2  # every rank's generators are saved
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # ranks draw different randomness
    evals = [r for r in read_metrics(tmp_path / "ddp") if r["kind"] == "eval"]
    assert len(evals) == 1 and 0 <= evals[0]["top1"] <= 100
