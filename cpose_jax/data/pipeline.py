"""Model-space batches for training and evaluation: the batch dicts every train step reads.

A dataset in the schema (pixels, absolute camera-frame metres) is normalised ONCE into float32
model-space arrays (:func:`to_model_space`); batches are then cut by fancy indexing with no
per-sample Python work:

* paired (ϕ, 2D-3D): ``keypoints_2d (B,J,2)`` normalized input 2D (GT or detections),
  ``confidence (B,J)``, ``keypoints_2d_gt (B,J,2)``, ``valid (B,J)``, ``pose_3d (B,J,3)``
  root-relative metres (root exactly 0), ``translation (B,3)`` root in the camera frame,
  metres, ``intrinsics (B,4)`` normalized fx, fy, cx, cy;
* 2D-only (ϕ'): the first four keys.

Normalisation (VideoPose3D's): ``u = x/w*2 - 1, v = y/w*2 - h/w`` (``geometry.normalize_screen``);
intrinsics the same way (``geometry.normalize_intrinsics``), so
``u = f_n X/Z + c_n`` with ``X_cam = pose_3d + translation``.

Order and sharding: global batch ``s`` (counted from step 0 of epoch 0) is a fixed function of
``(seed, epoch, s)``: epoch ``e`` is ``np.random.default_rng([seed, e]).permutation(N)`` cut into
``N // global_batch_size`` batches (remainder dropped, so shapes never change and jit compiles
once). With ``process_count`` P, process ``p`` takes rows ``[p*B/P, (p+1)*B/P)`` of every
global batch: the shards partition the global batch exactly, whatever P. Resuming at a step
reproduces the same batches as an uninterrupted run.

Typical use (training on 2D-3D pairs plus 2D-only data, multi-host aware)::

    paths = synthetic.make_world(seed)                      # or data_prep outputs
    lab = to_model_space(load_dataset(paths["lab_train"]), input_2d="detections")
    wild = to_model_space(load_dataset(paths["wild_2d"]))
    shard = dict(process_index=jax.process_index(), process_count=jax.process_count())
    paired = Loader(lab, global_batch_size=1024, seed=seed, keys=PAIRED_KEYS, **shard)
    unpaired = Loader(wild, global_batch_size=1024, seed=seed + 1, keys=UNPAIRED_KEYS, **shard)
    mixed = MixedLoader(paired, unpaired)
    for epoch in range(start_epoch, num_epochs):
        for phi, phi_prime in prefetch(mixed.epoch(epoch), size=2):
            ...  # phi: paired batch dict, phi_prime: 2D-only batch dict (local rows)

Evaluation: ``Loader(arrays, global_batch_size=B, shuffle=False, drop_remainder=False)``
keeps the dataset order (ids such as ``subject``/``action`` stay on the host, in
``Dataset`` order).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping

import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.data._host import host_x64
from cpose_jax.data.schema import Dataset

__all__ = [
    "INPUT_2D",
    "PAIRED_KEYS",
    "UNPAIRED_KEYS",
    "Loader",
    "MixedLoader",
    "epoch_permutation",
    "from_model_space",
    "prefetch",
    "to_model_space",
]

UNPAIRED_KEYS = ("keypoints_2d", "confidence", "keypoints_2d_gt", "valid")
PAIRED_KEYS = (*UNPAIRED_KEYS, "pose_3d", "translation", "intrinsics")
INPUT_2D = ("detections", "gt")


def _host(fn, *args):
    """Runs a (jax) geometry function on the host CPU in float64; returns numpy float32."""
    with host_x64():
        args = [jnp.asarray(np.asarray(a, dtype=np.float64)) for a in args]
        return np.asarray(fn(*args), dtype=np.float32)


def to_model_space(ds: Dataset | Mapping, *, input_2d: str = "detections") -> dict[str, np.ndarray]:
    """Normalises a whole dataset into model-space float32 arrays (leading axis N).

    Args:
      ds: a :class:`Dataset` (or a mapping with the schema's keys, pixels / metres).
      input_2d: ``'detections'``: the model input is ``keypoints_2d`` with its ``confidence``;
        ``'gt'``: the input is the ground-truth 2D (``keypoints_2d_gt`` where present) and the
        confidence is 1 on labelled joints, 0 on missing ones.

    Returns:
      ``keypoints_2d, confidence, keypoints_2d_gt, valid`` always; ``pose_3d`` (root-relative,
      root exactly 0) and ``translation`` when the dataset has 3D; ``intrinsics`` (normalized)
      when it has them.
    """
    if input_2d not in INPUT_2D:
        raise ValueError(f"input_2d must be one of {INPUT_2D}, got {input_2d!r}")
    if not isinstance(ds, Dataset):
        ds = Dataset(dict(ds), skeleton_name="h36m17")
    size = np.asarray(ds["image_size"])
    gt_px = ds.keypoints_2d_gt
    valid = np.asarray(ds.valid_2d, dtype=np.float32)
    gt = _host(geometry.normalize_screen, gt_px, size)
    if input_2d == "gt":
        kp, conf = gt, valid.copy()
    else:
        kp = _host(geometry.normalize_screen, ds["keypoints_2d"], size)
        conf = np.asarray(ds["confidence"], dtype=np.float32)
    out = dict(keypoints_2d=kp, confidence=conf, keypoints_2d_gt=gt, valid=valid)
    if "pose_3d" in ds:
        p = np.asarray(ds["pose_3d"])
        out["translation"] = p[:, 0].astype(np.float32)
        rel = (p - p[:, :1]).astype(np.float32)  # float64 subtraction: root exactly 0
        out["pose_3d"] = rel
    if "intrinsics" in ds:
        out["intrinsics"] = _host(geometry.normalize_intrinsics, ds["intrinsics"], size)
    return out


def from_model_space(batch: Mapping[str, np.ndarray], image_size) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_model_space` for checks and outputs: back to pixels and absolute
    camera-frame metres. ``image_size`` is ``(B, 2)`` w, h px."""
    size = np.asarray(image_size)
    out = {}
    for k in ("keypoints_2d", "keypoints_2d_gt"):
        if k in batch:
            out[k] = _host(geometry.denormalize_screen, batch[k], size)
    if "pose_3d" in batch and "translation" in batch:
        out["pose_3d"] = np.asarray(batch["pose_3d"]) + np.asarray(batch["translation"])[:, None]
    if "intrinsics" in batch:
        out["intrinsics"] = _host(geometry.denormalize_intrinsics, batch["intrinsics"], size)
    return out


def epoch_permutation(n: int, *, seed: int, epoch: int) -> np.ndarray:
    """The sample order of ``epoch``: a permutation of ``range(n)`` fixed by ``(seed, epoch)``."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


class _Stepwise:
    """Iteration for loaders defined by ``at_step(step)``: a pure function of the step."""

    steps_per_epoch: int

    def at_step(self, step: int):
        raise NotImplementedError

    def epoch(self, epoch: int) -> Iterator:
        """The batches of one epoch (of the 2D-3D data), in order."""
        start = epoch * self.steps_per_epoch
        for s in range(start, start + self.steps_per_epoch):
            yield self.at_step(s)

    def iterate(self, start_step: int = 0) -> Iterator:
        """Endless batches from ``start_step`` on (cycling through epochs 0, 1, ...)."""
        step = int(start_step)
        while True:
            yield self.at_step(step)
            step += 1

    def __iter__(self):
        return self.iterate(0)


class Loader(_Stepwise):
    """Fixed-size batches of model-space arrays, shuffled per (seed, epoch), sharded by process.

    Args:
      arrays: model-space arrays (from :func:`to_model_space`), leading axis N.
      global_batch_size: B, the batch over all processes; must be a multiple of
        ``process_count``. Each process yields ``B // process_count`` rows.
      seed: shuffling seed.
      shuffle: False keeps the dataset order (evaluation).
      drop_remainder: True (training): ``N // B`` batches per epoch, all of size B. False
        (evaluation): also a last, smaller batch (its rows split across processes as evenly
        as possible).
      process_index, process_count: this process and the number of processes
        (``jax.process_index()``, ``jax.process_count()`` in a multi-host run).
      keys: which arrays to serve (default: all given).
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        global_batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_remainder: bool = True,
        process_index: int = 0,
        process_count: int = 1,
        keys: tuple[str, ...] | None = None,
    ):
        keys = tuple(arrays) if keys is None else tuple(keys)
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise ValueError(f"arrays lack keys {missing}; have {sorted(arrays)}")
        self.arrays = {k: arrays[k] for k in keys}
        lens = {k: len(v) for k, v in self.arrays.items()}
        if len(set(lens.values())) > 1:
            raise ValueError(f"arrays differ in length: {lens}")
        self.num_samples = next(iter(lens.values())) if lens else 0
        if global_batch_size <= 0 or global_batch_size % process_count:
            raise ValueError(
                f"global_batch_size {global_batch_size} must be a positive multiple of "
                f"process_count {process_count}"
            )
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index {process_index} not in [0, {process_count})")
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // process_count
        self.seed, self.shuffle, self.drop_remainder = seed, shuffle, drop_remainder
        self.process_index, self.process_count = process_index, process_count
        if drop_remainder and self.num_samples < global_batch_size:
            raise ValueError(
                f"dataset has {self.num_samples} samples, fewer than one global batch "
                f"({global_batch_size}) with drop_remainder=True"
            )
        self._perm_cache: tuple[int, np.ndarray] | None = None

    @property
    def steps_per_epoch(self) -> int:
        full, rest = divmod(self.num_samples, self.global_batch_size)
        return full + (0 if self.drop_remainder or rest == 0 else 1)

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_samples)
        if self._perm_cache is None or self._perm_cache[0] != epoch:
            self._perm_cache = (
                epoch,
                epoch_permutation(self.num_samples, seed=self.seed, epoch=epoch),
            )
        return self._perm_cache[1]

    def batch_indices(self, epoch: int, index: int) -> np.ndarray:
        """Dataset rows of this process's part of batch ``index`` of ``epoch``."""
        order = self._order(epoch)
        g = order[index * self.global_batch_size : (index + 1) * self.global_batch_size]
        if len(g) == self.global_batch_size:
            lo = self.process_index * self.local_batch_size
            return g[lo : lo + self.local_batch_size]
        bounds = np.linspace(0, len(g), self.process_count + 1).astype(int)
        return g[bounds[self.process_index] : bounds[self.process_index + 1]]

    def get_batch(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        idx = self.batch_indices(epoch, index)
        return {k: v[idx] for k, v in self.arrays.items()}

    def at_step(self, step: int) -> dict[str, np.ndarray]:
        """The batch of global step ``step`` counted over consecutive epochs from epoch 0."""
        e, i = divmod(int(step), self.steps_per_epoch)
        return self.get_batch(e, i)


class MixedLoader(_Stepwise):
    """Pairs each 2D-3D batch with a 2D-only batch; the 2D-only set cycles independently.

    Step ``s`` yields ``(paired.at_step(s), unpaired.at_step(s))``: the unpaired loader runs
    through its own epochs at its own length, so a small 2D-only set repeats and a large one
    is never exhausted. ``epoch(e)`` covers one epoch of the paired data.
    """

    def __init__(self, paired: Loader, unpaired: Loader):
        self.paired, self.unpaired = paired, unpaired

    @property
    def steps_per_epoch(self) -> int:
        return self.paired.steps_per_epoch

    def at_step(self, step: int) -> tuple[dict, dict]:
        return self.paired.at_step(step), self.unpaired.at_step(step)


_END = object()


class prefetch:
    """Runs ``iterator`` (and ``transform``, e.g. ``jax.device_put``) in a background thread,
    keeping up to ``size`` items ready in a bounded queue so the device never waits on the host.

    Exceptions in the producer are re-raised in the consumer. ``close()`` (or leaving a ``with``
    block, or garbage collection) stops the thread.
    """

    def __init__(self, iterator, *, size: int = 2, transform: Callable | None = None):
        if size < 1:
            raise ValueError(f"prefetch size must be >= 1, got {size}")
        self._queue: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._run, args=(iter(iterator), transform), daemon=True
        )
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it, transform):
        try:
            for item in it:
                if transform is not None:
                    item = transform(item)
                if not self._put(item):
                    return
        except BaseException as e:  # handed to the consumer
            self._put(_Raised(e))
            return
        self._put(_END)

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END or isinstance(item, _Raised):
            self._done = True
            self._stop.set()
            if item is _END:
                raise StopIteration
            raise item.error
        return item

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self._stop.set()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error
