#!/usr/bin/env bash
# The GPU checks and benchmarks, in one call on a CUDA machine, each part under its own time limit so that a slow
# part cannot starve the rest; every part writes its log and figures under OUT_DIR.
#
#   bash bench/gpu_run.sh OUT_DIR [env] [check] [dwconv] [mlp] [scan] [probe] [core] [loader] [models] [resolution]
#                         [attention] [profile] [imagenette EPOCHS] [ddp]
#
#   env         GPU, torch / triton / timm versions, and which optional packages import
#   check       pytest -m gpu: the Triton scan, every fast form eager and compiled, attention, every *_tiny model
#   dwconv      bench/bench_dwconv.py: the depthwise convolution's kernels against cuDNN at the models' maps
#   mlp         bench/bench_mlp.py: the MLP's one-kernel forward against two GEMMs and a GELU (MLP_ARGS: --sweep)
#   scan        bench/bench_selective_scan.py: correctness against float64, then timing at VMamba-Tiny's stages
#   probe       bench/probe_ss2d_core.py: the fused core's kernels with one part of their work taken out, timed
#   core        bench/bench_ss2d_core.py: the fused SS2D core against the composed form (forward, forward + backward)
#   loader      bench/bench_loader.py: the training recipe's loader img/s with 16 workers (Imagenette at 112² and 224²)
#   models      bench/bench_models.py: the *_tiny models' training / inference img/s against timm's convnext_tiny
#   resolution  bench/bench_resolution.py: img/s and memory from 224² to 800×1333 against a ViT (SS2D's linear cost)
#   attention   bench/bench_attention.py: attention(impl="auto") against SDPA's backends and FlexAttention
#   profile     bench/profile_model.py: kernel time per step of vmamba_tiny, compiled, training and inference
#   imagenette  vmamba_pico, gconvnet_pico, vssd_micro and vmamba_hybrid1_pico trained on Imagenette side by side
#   ddp         bench/bench_ddp.py: the training script on 2 GPUs (torchrun) against 1, and 2×B's loss against 1×2B's
#
# CHECK_TESTS narrows the check to some test files; CORE_SWEEP="1 2" adds the fused core's launch-shape sweep at
# those stages (about two minutes a stage: raise CORE_TIMEOUT); DWCONV_ARGS passes options to bench_dwconv.py (e.g.
# "--forms cuDNN Triton --warm"); DEADLINE_S (seconds from the start) bounds the models,
# resolution and imagenette parts, which take what time is left. PROFILE_MODEL (one or more, NAME@VARIANT too) and
# PROFILE_MODES (default "train infer") pick what the profile part runs. DDP_ARGS passes options to bench_ddp.py.
# Imagenette is read from .data/imagenette2 (an ImageFolder, or .data/imagenette2.tar.gz holding one).
set -u
out=${1:?usage: bench/gpu_run.sh OUT_DIR PART...}
shift
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/inductor-cache}
data=.data/imagenette2
if [ ! -d $data ] && [ -f $data.tar.gz ]; then tar -xzf $data.tar.gz -C .data; fi

while [ $# -gt 0 ]; do
  part=$1
  shift
  start=$SECONDS
  echo "=== $part ($(date -u +%H:%M:%S))"
  case $part in
    env)
      nvidia-smi -L
      python3 - <<'PY'
import importlib, torch, triton
print("torch", torch.__version__, "triton", triton.__version__, torch.cuda.get_device_name(0))
for name in ("timm", "torchvision", "PIL", "matplotlib", "tqdm", "datasets", "kornia", "sklearn", "beartype"):
    try:
        print(name, getattr(importlib.import_module(name), "__version__", "?"))
    except Exception as err:
        print(name, "missing:", type(err).__name__, err)
PY
      ;;
    check)
      timeout ${CHECK_TIMEOUT:-400} python3 -m pytest -q -m gpu -p no:cacheprovider ${CHECK_TESTS:-tests/ops/test_selective_scan_gpu.py \
        tests/ops/test_attention.py tests/ops/test_forms_gpu.py tests/models/test_gpu.py} 2>&1 | tee "$out/check.log" | tail -40
      ;;
    dwconv)
      timeout 300 python3 bench/bench_dwconv.py --out "$out/dwconv" ${DWCONV_ARGS:-}
      ;;
    mlp)
      timeout 300 python3 bench/bench_mlp.py --out "$out/mlp" ${MLP_ARGS:-}
      ;;
    scan)
      timeout 200 python3 bench/bench_selective_scan.py --out "$out/scan" --budget-s 120 | tail -30
      ;;
    core)
      timeout ${CORE_TIMEOUT:-300} python3 bench/bench_ss2d_core.py --out "$out/core" ${CORE_SWEEP:+--sweep $CORE_SWEEP} | tail -60
      ;;
    probe)
      timeout 200 python3 bench/probe_ss2d_core.py | tee "$out/probe_ss2d_core.md"
      ;;
    loader)
      for size in 112 224; do
        timeout 60 python3 bench/bench_loader.py --data $data --img-size $size --workers 16 --batch-size 128 \
          --batches 30 --warmup 5 --device cuda
      done
      ;;
    models)
      # One process per model (the baselines in the first): in one process the second compiled vssd_tiny ran 12-13 %
      # slower than the first, whichever variant it was (bench/RESULTS.md, runs 33-36).
      baselines="${BASELINES:-convnext_tiny mambaout_tiny}"
      append=
      for model in ${MODELS:-vmamba_tiny gconvnet_tiny vssd_tiny mambaout_tiny}; do
        timeout "${MODELS_TIMEOUT:-$((${DEADLINE_S:-900} - SECONDS))}" python3 bench/bench_models.py --out "$out/models" \
          --steps 15 --models $model --modes ${MODES:-eager compiled} --baselines $baselines \
          --measure ${MEASURE:-train infer} $append
        baselines=
        append=--append
      done
      ;;
    resolution)
      timeout "${MODELS_TIMEOUT:-$((${DEADLINE_S:-900} - SECONDS))}" python3 bench/bench_resolution.py \
        --out "$out/resolution" --models ${MODELS:-vmamba_tiny vssd_tiny gconvnet_tiny mambaout_tiny} | tail -20
      ;;
    attention)
      timeout 300 python3 bench/bench_attention.py --out "$out/attention" | tail -30
      ;;
    profile)
      for model in ${PROFILE_MODEL:-vmamba_tiny}; do
        for mode in ${PROFILE_MODES:-train infer}; do
          timeout 240 python3 bench/profile_model.py --model $model --mode $mode --compile --out "$out/profile"
        done
      done
      ;;
    imagenette)
      epochs=${1:?imagenette needs EPOCHS}
      shift
      runs=/tmp/imagenette  # checkpoints stay on the machine; metrics, table and curves come back
      models="vmamba_pico gconvnet_pico vssd_micro vmamba_hybrid1_pico"
      # Past the deadline each run gets SIGTERM: it saves a checkpoint and stops, and its curves still come back.
      limit=$((${DEADLINE_S:-900} - SECONDS - 40))
      for model in $models; do
        timeout -s TERM -k 30 $limit python3 examples/train_imagenet.py --model $model --data $data --img-size 112 --batch-size 128 \
          --epochs "$epochs" --warmup-epochs 3 --lr 1e-3 --clip-grad 5 --mixup 0 --cutmix 0 --no-ema \
          --workers 4 --compile --no-progress --save-every 100000 --output $runs/$model \
          > $runs-$model.log 2>&1 &
      done
      wait
      mkdir -p "$out/imagenette"
      for model in $models; do
        tail -n 3 $runs-$model.log
        cp $runs/$model/metrics.jsonl "$out/imagenette/$model.metrics.jsonl"
      done
      python3 -m vmix.cli compare $runs/* --plot "$out/imagenette/curves.png" --json "$out/imagenette/table.json"
      ;;
    ddp)
      nvidia-smi -L
      timeout 570 python3 bench/bench_ddp.py --data $data --out "$out/ddp" ${DDP_ARGS:-}
      ;;
    *)
      echo "unknown part $part" >&2
      exit 2
      ;;
  esac
  echo "=== $part done in $((SECONDS - start)) s"
done
