"""The augmentation recipe (kornia on CPU; timm where it imports), Mixup/CutMix and the resumable loader."""

import multiprocessing

import numpy as np
import pytest
import torch

from vmix.data import (
    AugmentConfig,
    ClassificationDataset,
    MixupCutmix,
    ResumableSampler,
    build_loader,
    build_transforms,
    close_loader,
    load_image_dataset,
    timm_available,
)

BACKENDS = ["kornia", pytest.param("timm", marks=pytest.mark.skipif(not timm_available(), reason="timm/torchvision"))]


@pytest.mark.parametrize("backend", BACKENDS)
def test_recipe_on_real_photos(imagefolder, backend):
    splits = load_image_dataset(str(imagefolder))
    cfg = AugmentConfig(img_size=64, backend=backend)
    image_tf, batch_tf = build_transforms(cfg, train=True, num_classes=10)
    images = torch.stack([image_tf(splits.train[i]["image"]) for i in range(4)])
    assert images.shape == (4, 3, 64, 64)
    x, target = batch_tf(images, torch.tensor([0, 1, 2, 3]))
    assert x.dtype == torch.float32 and target.shape == (4, 10)
    torch.testing.assert_close(target.sum(1), torch.ones(4))
    assert target.min() > 0  # label smoothing reaches every class

    eval_tf, eval_batch_tf = build_transforms(cfg, train=False, num_classes=10)
    a = eval_tf(splits.val[0]["image"])
    torch.testing.assert_close(a, eval_tf(splits.val[0]["image"]))  # evaluation is deterministic
    if eval_batch_tf is not None:
        a, _ = eval_batch_tf(a[None], torch.tensor([0]))
    assert a.shape[-2:] == (64, 64) and a.dtype == torch.float32


def test_eval_crop_is_the_center_of_the_256_over_224_resize():
    cfg = AugmentConfig(img_size=8, backend="kornia")  # resize to floor(8 / 0.875) = 9, then crop 8
    image = np.zeros((18, 27, 3), np.uint8)
    image[:, :12] = 255  # left 12 of 27 columns white -> 4 of 13.5 -> the crop's first 3.5 columns
    out, _ = build_transforms(cfg, train=False, num_classes=2)
    crop = out(image)
    assert crop.shape == (3, 8, 8)
    assert crop[0, 4, 0] > 200 and crop[0, 4, 5] < 50


@pytest.mark.parametrize("seed", range(5))
def test_mixup_cutmix_targets_follow_the_mixed_area(seed):
    np.random.seed(seed)
    mix = MixupCutmix(4, mixup=0.8, cutmix=1.0, switch_prob=0.5, smoothing=0.0)
    x = torch.stack([torch.zeros(1, 10, 10), torch.ones(1, 10, 10)])  # image 0 black, image 1 white
    mixed, target = mix(x.clone(), torch.tensor([0, 1]))
    # Whatever was drawn (a blend or a pasted box), the share of image 1's pixels in image 0 is its target weight.
    torch.testing.assert_close(mixed[0].mean(), target[0, 1])
    torch.testing.assert_close(target.sum(1), torch.ones(2))


def _toy_rows(n):
    return [{"image": np.full((12, 12), i, np.uint8), "label": i % 3} for i in range(n)]


def test_sampler_shards_disjoint_whole_batches_and_resumes_mid_epoch():
    shards = [list(ResumableSampler(23, batch_size=4, rank=r, world_size=2, seed=1, seeded=False)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 8 and not set(shards[0]) & set(shards[1])
    s = ResumableSampler(23, batch_size=4, seed=1, seeded=False)
    s.set_epoch(3)
    full = list(s)
    s.set_epoch(3, start_batch=2)
    assert list(s) == full[8:]
    s.set_epoch(4)
    assert list(s) != full


def test_augmentation_depends_on_the_sample_not_on_the_worker():
    cfg = AugmentConfig(img_size=8, backend="kornia")
    image_tf, _ = build_transforms(cfg, train=True, num_classes=3)
    ds = ClassificationDataset(_toy_rows(12), image_tf)
    batches = {}
    for workers in (0, 2):
        sampler = ResumableSampler(12, batch_size=4, seed=7)
        sampler.set_epoch(1, start_batch=1)
        batches[workers] = torch.cat([x for x, _ in build_loader(ds, sampler, workers=workers)])
    torch.testing.assert_close(batches[0], batches[2])
    state = torch.get_rng_state()
    ds[(0, 123)]
    assert torch.equal(state, torch.get_rng_state())  # the caller's generator is untouched


def test_close_loader_stops_persistent_workers_left_by_a_break():
    ds = ClassificationDataset(_toy_rows(12), lambda im: torch.as_tensor(im).float())
    before = set(multiprocessing.active_children())
    loader = build_loader(ds, ResumableSampler(12, batch_size=2, seed=0), workers=2)
    for _ in loader:
        break  # a preempted epoch: the persistent workers stay alive
    assert len(set(multiprocessing.active_children()) - before) == 2
    close_loader(loader)
    close_loader(loader)  # idempotent
    assert set(multiprocessing.active_children()) - before == set()
