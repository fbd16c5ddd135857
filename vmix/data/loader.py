"""Data loaders whose order and augmentation are functions of (seed, epoch, position), so a run resumes exactly.

The training sampler shuffles with a generator seeded by ``(seed, epoch)``, keeps whole global batches only, gives
each rank every ``world_size``-th sample, and can start mid-epoch. Each sample's augmentation is seeded by
``(seed, epoch, index)``, so it does not depend on which worker process draws it, how many workers there are, or
where a run was interrupted.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one sample's augmentation in one epoch.

    Example:
        >>> sample_seed(0, 1, 2) == sample_seed(0, 1, 2) != sample_seed(0, 2, 2)
        True
    """
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class ClassificationDataset(Dataset):
    """A Hugging Face split seen as ``(image tensor, label)`` pairs through a per-image transform.

    Keys are dataset indices, or ``(index, seed)`` pairs from :class:`ResumableSampler`: the transform then runs
    under that seed (Python, NumPy and torch generators), and the caller's generator states are restored after.

    Args:
        hf_dataset: a ``datasets.Dataset`` (or any sequence of dict rows).
        transform: ``image -> Tensor``.
        image_key: column of the image.
        label_key: column of the integer label.

    Example:
        >>> rows = [{"image": np.zeros((8, 8), np.uint8), "label": 3}]
        >>> ds = ClassificationDataset(rows, lambda im: torch.as_tensor(im).float())
        >>> ds[(0, 123)][1]
        3
    """

    def __init__(self, hf_dataset, transform, *, image_key: str = "image", label_key: str = "label"):
        self.data, self.transform = hf_dataset, transform
        self.image_key, self.label_key = image_key, label_key

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        row = self.data[int(index)]
        if seed is None:
            return self.transform(row[self.image_key]), int(row[self.label_key])
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)
                image = self.transform(row[self.image_key])
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        return image, int(row[self.label_key])


class ResumableSampler(Sampler):
    """Per-rank, whole-batch, seeded sampler that can start in the middle of an epoch.

    Every epoch draws one permutation of the dataset from ``(seed, epoch)``, keeps the largest prefix that fills whole
    global batches (``batch_size × world_size``), and hands rank ``r`` positions ``r, r + world_size, ...``. It yields
    ``(index, sample_seed)`` pairs when training (``seeded=True``) so the augmentation is reproducible.

    Args:
        num_samples: dataset length.
        batch_size: per-rank batch size.
        rank: this process's rank.
        world_size: number of processes.
        seed: base seed of the run.
        shuffle: shuffle (training) or keep the order (evaluation).
        drop_last: keep whole global batches only (training); evaluation keeps every sample exactly once.
        seeded: yield ``(index, seed)`` pairs instead of indices.

    Example:
        >>> s = ResumableSampler(10, batch_size=2, world_size=2, rank=1, shuffle=False, seeded=False)
        >>> list(s)
        [1, 3, 5, 7]
        >>> s.set_epoch(0, start_batch=1); list(s)
        [5, 7]
    """

    def __init__(
        self,
        num_samples: int,
        *,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        seeded: bool = True,
    ):
        self.n, self.batch_size, self.rank, self.world_size = num_samples, batch_size, rank, world_size
        self.seed, self.shuffle, self.drop_last, self.seeded = seed, shuffle, drop_last, seeded
        self.epoch, self.start_batch = 0, 0
        if drop_last and self.batches_per_epoch == 0:
            raise ValueError(
                f"{num_samples} samples do not fill one global batch of {batch_size} x {world_size}; lower --batch-size"
            )

    @property
    def batches_per_epoch(self) -> int:
        """Number of per-rank batches in a full epoch."""
        if self.drop_last:
            return self.n // (self.batch_size * self.world_size)
        return -(-len(range(self.rank, self.n, self.world_size)) // self.batch_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch (its permutation) and the first batch to yield."""
        self.epoch, self.start_batch = epoch, start_batch

    def _positions(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.drop_last:
            order = order[: self.batches_per_epoch * self.batch_size * self.world_size]
        return order[self.rank :: self.world_size][self.start_batch * self.batch_size :]

    def __iter__(self) -> Iterator:
        for index in self._positions():
            yield (index, sample_seed(self.seed, self.epoch, index)) if self.seeded else index

    def __len__(self) -> int:
        return len(self._positions())


def _defer_sigterm(worker_id: int) -> None:
    # A scheduler's SIGTERM reaches the whole process group. The training process answers it by finishing the step
    # and writing a checkpoint, which needs its workers alive until then, so a worker lets the first SIGTERM pass;
    # a second one (the parent's terminate() of a worker that did not stop when asked) ends it. The worker was
    # forked with SIGTERM blocked (_Loader.__iter__), so one sent before this handler existed is delivered now.
    def first(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, first)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


class _Loader(DataLoader):
    """A ``DataLoader`` that starts its workers with SIGTERM blocked.

    Between a worker's fork and its ``worker_init_fn`` a SIGTERM would kill it with the default action (seen when a
    preemption landed just as the validation loader started its workers). The parent's pending SIGTERM, if any,
    reaches it when the mask is restored.
    """

    def __iter__(self):
        if self.num_workers == 0:
            return super().__iter__()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            return super().__iter__()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def close_loader(loader: DataLoader) -> None:
    """Stop a loader's worker processes now.

    Persistent workers otherwise live until the loader's iterator is garbage-collected, which after an exception or
    a ``break`` can be as late as interpreter exit. Safe to call on a loader without workers, or twice.

    Example:
        >>> rows = [{"image": np.zeros((4, 4), np.uint8), "label": 0}] * 4
        >>> ds = ClassificationDataset(rows, lambda im: torch.as_tensor(im).float())
        >>> loader = build_loader(ds, ResumableSampler(4, batch_size=2))
        >>> _ = next(iter(loader))
        >>> close_loader(loader)
    """
    iterator = getattr(loader, "_iterator", None)  # where DataLoader keeps a persistent workers' iterator
    if iterator is not None and hasattr(iterator, "_shutdown_workers"):
        iterator._shutdown_workers()
    loader._iterator = None


def build_loader(
    dataset: Dataset,
    sampler: ResumableSampler,
    *,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A ``DataLoader`` over ``sampler`` that draws nothing from the global torch generator.

    The loader gets a generator of its own: otherwise each new epoch iterator would draw its worker base seed from
    the global generator and shift every later random number, which breaks exact resume. Workers let a first SIGTERM
    pass, so a preemption signal sent to the whole process group is handled by the training process alone; stop
    them with :func:`close_loader`.

    Example:
        >>> rows = [{"image": np.zeros((4, 4), np.uint8), "label": i % 2} for i in range(6)]
        >>> ds = ClassificationDataset(rows, lambda im: torch.as_tensor(im).float())
        >>> x, y = next(iter(build_loader(ds, ResumableSampler(6, batch_size=3))))
        >>> x.shape, y.shape
        (torch.Size([3, 4, 4]), torch.Size([3]))
    """
    return _Loader(
        dataset,
        batch_size=sampler.batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=sampler.drop_last,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(sampler.seed),
        worker_init_fn=_defer_sigterm if workers > 0 else None,
    )
