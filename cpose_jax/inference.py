"""Load a trained model and predict: no experiment code, no config objects.

    from cpose_jax import inference
    model = inference.load_pose_model("runs/joint")                 # best checkpoint
    out = inference.predict_pixels(model, keypoints_px, confidence, image_size)
    out["pose_3d"]   # (N, 17, 3) metres, root-relative, camera frame

A training run (`experiments.run`) writes `model_spec.json` into its work directory: the pose
networks' module classes and constructor arguments, the skeleton and the 2D input convention
(`model_spec`). `load_pose_model` rebuilds the modules from it and restores only their
`params` / `batch_stats` from a checkpoint (`train.checkpoint.restore_networks`).

`predict` is the model-space forward (normalized screen coordinates, `forward.pose_forward` in
inference mode, optional flip augmentation); `make_pixel_predict` / `predict_pixels` wrap it
for pixels; `batched_apply` is THE batched loop (fixed padded sizes, so nothing recompiles)
that inference and evaluation (`evaluation.evaluate_arrays`, `evaluation.evaluate_model`)
share.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry, models
from cpose_jax.forward import pose_forward
from cpose_jax.models import POSE_NETS
from cpose_jax.skeleton import Skeleton, get_skeleton
from cpose_jax.train.checkpoint import CheckpointError, find_checkpoint, restore_networks

SPEC_FILE = "model_spec.json"
SPEC_VERSION = 1
ModelLoadError = CheckpointError

__all__ = [
    "SPEC_FILE",
    "ModelLoadError",
    "PoseModel",
    "batched_apply",
    "bucket_sizes",
    "load_pose_model",
    "make_pixel_predict",
    "make_predict",
    "model_spec",
    "modules_from_spec",
    "predict",
    "predict_pixels",
    "variables_of",
]


# ------------------------------------------------------------------------------ predict


def _unflip(out: dict[str, jax.Array], skeleton: Skeleton) -> dict[str, jax.Array]:
    """Map predictions made on the mirrored input back to the original image."""
    back = {"pose_3d": geometry.flip_pose(out["pose_3d"], skeleton)}
    if "keypoints_2d_refined" in out:
        back["keypoints_2d_refined"] = geometry.flip_pose(out["keypoints_2d_refined"], skeleton)
    if "intrinsics" in out:
        # Mirroring the image negates u: fx, fy unchanged, cx -> -cx; the root's x -> -x.
        back["intrinsics"] = out["intrinsics"] * jnp.asarray([1.0, 1.0, -1.0, 1.0])
        back["translation"] = out["translation"] * jnp.asarray([-1.0, 1.0, 1.0])
    return back


def predict(
    variables: Mapping[str, Any],
    modules: Mapping[str, Any],
    keypoints_2d: jax.Array,
    confidence: jax.Array,
    *,
    skeleton: Skeleton | None = None,
    flip: bool = False,
) -> dict[str, jax.Array]:
    """Run the pose networks in inference mode (pure, jittable).

    Args:
      variables: per network `{'params': ..., 'batch_stats'?: ...}` (`NetState.variables()`).
      modules: flax modules by name; 'lifter' required, 'refiner' and 'camera' optional.
      keypoints_2d: `(B, J, 2)` normalized screen coordinates (GT or detections).
      confidence: `(B, J)` raw confidences in [0, 1] (1 for GT labels, 0 missing).
      skeleton: needed for `flip` (left/right permutation).
      flip: test-time augmentation: also predict on the horizontally mirrored input
        (u -> -u, left/right swapped) and average with the un-mirrored result.

    Returns:
      dict with `pose_3d (B, J, 3)` root-relative metres (camera frame); with a refiner
      `keypoints_2d_refined (B, J, 2)`; with a camera branch `intrinsics (B, 4)` normalized,
      `translation (B, 3)` metres and `reprojection (B, J, 2)` normalized
      (`geometry.reproject`, paper Eq. 7).
    """
    keypoints_2d = jnp.asarray(keypoints_2d)
    confidence = jnp.asarray(confidence)
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[-1] != 2:
        raise ValueError(f"keypoints_2d must be (B, J, 2), got {keypoints_2d.shape}")
    if confidence.shape != keypoints_2d.shape[:-1]:
        raise ValueError(f"confidence must be {keypoints_2d.shape[:-1]}, got {confidence.shape}")
    out, _ = pose_forward(modules, variables, keypoints_2d, confidence)
    if flip:
        if skeleton is None:
            raise ValueError("flip=True needs the skeleton (left/right joint permutation)")
        perm = jnp.asarray(skeleton.flip_perm)
        mirrored, _ = pose_forward(
            modules, variables, geometry.flip_pose(keypoints_2d, skeleton), confidence[:, perm]
        )
        back = _unflip(mirrored, skeleton)
        out = {k: 0.5 * (out[k] + back[k]) for k in out}
    if "intrinsics" in out:
        out["reprojection"] = geometry.reproject(
            out["pose_3d"], out["translation"], out["intrinsics"]
        )
    return out


def variables_of(state: Any, names: Sequence[str] = POSE_NETS) -> dict:
    """Inference variables of the networks in `names` present in a `TrainState`."""
    return {n: state.nets[n].variables() for n in names if n in state.nets}


# --------------------------------------------------------------------------- model spec


def _module_kwargs(module: Any) -> dict[str, Any]:
    """A flax module's constructor arguments (its dataclass fields), JSON-able."""
    out = {}
    for f in dataclasses.fields(module):
        if not f.init or f.name in ("parent", "name"):
            continue
        value = getattr(module, f.name)
        if isinstance(value, Skeleton):
            value = value.name
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def model_spec(
    modules: Mapping[str, Any], *, skeleton: str, input_2d: str = "gt", name: str = ""
) -> dict[str, Any]:
    """The JSON-able description `load_pose_model` needs: the pose networks of `modules`
    (class name and constructor arguments), the skeleton name, the 2D input the model was
    trained on ('gt' | 'detections') and a display name. Inputs are always normalized screen
    coordinates (`u = x / w * 2 - 1, v = y / w * 2 - h / w`, `geometry.normalize_screen`) with
    raw confidences."""
    return {
        "format": "cpose_jax.model_spec",
        "version": SPEC_VERSION,
        "name": name,
        "skeleton": skeleton,
        "keypoints_2d": "normalized_screen",
        "trained_input_2d": input_2d,
        "networks": {
            n: {"class": type(modules[n]).__name__, "kwargs": _module_kwargs(modules[n])}
            for n in POSE_NETS
            if n in modules
        },
    }


def modules_from_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Flax modules by name from a `model_spec`."""
    if spec.get("version") != SPEC_VERSION or "networks" not in spec:
        raise ModelLoadError(f"unsupported model spec (version {spec.get('version')!r})")
    out = {}
    for name, net in spec["networks"].items():
        cls = getattr(models, net["class"], None) if net["class"] in models.__all__ else None
        if name not in POSE_NETS or cls is None:
            raise ModelLoadError(f"model spec: unknown network {name!r} of class {net['class']!r}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in net["kwargs"].items()}
        try:
            out[name] = cls(**kwargs)
        except TypeError as e:
            raise ModelLoadError(f"model spec: cannot build {name!r}: {e}") from None
    if "lifter" not in out:
        raise ModelLoadError("model spec has no lifter")
    return out


# ------------------------------------------------------------------------------- loading


@dataclasses.dataclass
class PoseModel:
    """The inference part of a trained run.

    modules: flax modules by name (a subset of POSE_NETS, in that order); variables: per network
    `{'params', 'batch_stats'?}` on one device; spec: the `model_spec`; step: global training
    step of the checkpoint; kind: 'best' | 'latest' | ...; description: e.g.
    'best checkpoint, step 900, val/mpjpe = 52.10 mm'; run_config: the run's `config.json` as a
    plain dict (None when absent).
    """

    workdir: Path
    spec: dict[str, Any]
    modules: dict[str, Any]
    variables: dict[str, Any]
    skeleton: Skeleton
    step: int
    kind: str
    description: str
    run_config: dict[str, Any] | None = None

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(n for n in POSE_NETS if n in self.modules)

    @property
    def name(self) -> str:
        return self.spec.get("name") or self.workdir.name


def read_spec(workdir: str | Path) -> dict[str, Any] | None:
    """The workdir's `model_spec.json`, or None when it has none."""
    path = Path(workdir) / SPEC_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{path}: cannot read the model spec ({e})") from None


def load_pose_model(
    workdir: str | Path, checkpoint: str = "best", *, spec: Mapping[str, Any] | None = None
) -> PoseModel:
    """Restore the pose networks of a training work directory onto this process's first device.

    checkpoint: 'best' (the model selected by validation; the latest when no validation ran),
      'latest', or a step number.
    spec: a `model_spec` to use instead of the workdir's `model_spec.json` (runs older than
      that file: `experiments.evaluate.load_model` derives one from their config.json).
    Raises `ModelLoadError` (a ValueError) with a one-line message.
    """
    workdir = Path(workdir).resolve()  # orbax reads metadata wrongly from relative paths
    step_dir, kind = find_checkpoint(workdir, str(checkpoint))
    spec = dict(spec) if spec is not None else read_spec(workdir)
    if spec is None:
        raise ModelLoadError(
            f"{workdir}: no {SPEC_FILE} (experiments.run writes one; a run made by an older "
            "version has none); load it with experiments.evaluate.load_model, which derives the "
            "spec from its config.json"
        )
    modules = modules_from_spec(spec)
    variables, meta = restore_networks(step_dir, tuple(modules))
    step = int(meta.get("step", int(step_dir.name)))
    desc = f"{kind} checkpoint, step {step}"
    if "best_metric" in meta:
        desc += f", {meta.get('select_metric', 'val')} = {float(meta['best_metric']):.2f} mm"
    config_file = workdir / "config.json"
    run_config = meta.get("config")
    if config_file.is_file():
        run_config = json.loads(config_file.read_text())
    return PoseModel(
        workdir=workdir,
        spec=spec,
        modules=modules,
        variables=variables,
        skeleton=get_skeleton(spec["skeleton"]),
        step=step,
        kind=kind,
        description=desc,
        run_config=run_config if isinstance(run_config, dict) else None,
    )


# ----------------------------------------------------------------------------- batching


def bucket_sizes(batch_size: int, *, smallest: int = 64) -> tuple[int, ...]:
    """Padded batch sizes: powers of 4 times `smallest`, capped by (and ending at) batch_size."""
    sizes, b = [], smallest
    while b < batch_size:
        sizes.append(b)
        b *= 4
    return (*sizes, batch_size)


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': x}} -> {'a/b': x}."""
    flat = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, f"{prefix}{k}/"))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def batched_apply(
    fn: Callable[[dict[str, Any]], Mapping[str, Any]],
    arrays: Mapping[str, np.ndarray],
    *,
    batch_size: int,
    buckets: Sequence[int] | None = None,
    place_fn: Callable[[dict[str, np.ndarray]], Any] | None = None,
    fetch_fn: Callable[[Any], Any] | None = None,
) -> dict[str, np.ndarray]:
    """THE batched loop: `fn(batch) -> {key: (B, ...)}` (jitted) over `arrays` (leading axis N,
    in order, every row once) in chunks of `batch_size`.

    Each chunk is padded (its last row repeated) to the smallest of `buckets` (default: only
    `batch_size`) that holds it, so `fn` compiles once per bucket; padding is dropped from the
    outputs. place_fn puts a host batch on devices (default: as is; a data-parallel run passes
    its sharded placement); fetch_fn brings outputs to the host (default `jax.device_get`;
    multi-process: an allgather). Returns host arrays `(N, ...)`; nested output dicts come back
    flat (`{'a': {'b': x}}` -> key 'a/b').
    """
    buckets = tuple(sorted(buckets or (batch_size,)))
    if not arrays:
        raise ValueError("batched_apply needs at least one array")
    n = len(next(iter(arrays.values())))
    place_fn = place_fn or (lambda batch: batch)
    fetch_fn = fetch_fn or jax.device_get
    outs: dict[str, list[np.ndarray]] = {}
    pending: list[tuple[int, Any]] = []

    def drain():
        for m, out in zip([m for m, _ in pending], fetch_fn([o for _, o in pending])):
            for k, v in _flatten(out).items():
                outs.setdefault(k, []).append(np.asarray(v)[:m])
        pending.clear()

    for lo in range(0, n, batch_size):
        m = min(batch_size, n - lo)
        size = next(b for b in buckets if b >= m)
        idx = np.minimum(np.arange(lo, lo + size), lo + m - 1)
        pending.append((m, fn(place_fn({k: np.asarray(v[idx]) for k, v in arrays.items()}))))
        if len(pending) >= 4:  # a bounded queue of dispatched batches
            drain()
    drain()
    return {k: np.concatenate(v, 0) for k, v in outs.items()}


# --------------------------------------------------------------------------------- pixels


def make_predict(model: PoseModel, *, flip: bool = False, refiner: bool = True):
    """Jitted `fn(variables, batch) -> predict outputs` in model space (`batch` =
    {keypoints_2d (B, J, 2) normalized, confidence (B, J)}); refiner=False bypasses a refiner
    the model has (the Table 5 ablation on one checkpoint)."""
    modules = {n: m for n, m in model.modules.items() if refiner or n != "refiner"}

    @jax.jit
    def fn(variables, batch):
        vs = {n: variables[n] for n in modules}
        kp, conf = batch["keypoints_2d"], batch["confidence"]
        return predict(vs, modules, kp, conf, skeleton=model.skeleton, flip=flip)

    return fn


def make_pixel_predict(model: PoseModel, *, flip: bool = False, refiner: bool = True):
    """Jitted `fn(variables, batch) -> outputs` for `batch` = {keypoints_2d (B, J, 2) px,
    confidence (B, J), image_size (B, 2) px}: `pose_3d` (metres), and with a camera branch
    `intrinsics` (px), `translation` (m), `reprojection` (px); with a refiner
    `keypoints_2d_refined` (px). refiner=False bypasses a refiner the model has."""
    modules = {n: m for n, m in model.modules.items() if refiner or n != "refiner"}
    skeleton = model.skeleton

    @jax.jit
    def fn(variables, batch):
        size = batch["image_size"]
        out = predict(
            {n: variables[n] for n in modules},
            modules,
            geometry.normalize_screen(batch["keypoints_2d"], size),
            batch["confidence"],
            skeleton=skeleton,
            flip=flip,
        )
        res = {"pose_3d": out["pose_3d"]}
        if "intrinsics" in out:
            res["intrinsics"] = geometry.denormalize_intrinsics(out["intrinsics"], size)
            res["translation"] = out["translation"]
            res["reprojection"] = geometry.denormalize_screen(out["reprojection"], size)
        if "keypoints_2d_refined" in out:
            res["keypoints_2d_refined"] = geometry.denormalize_screen(
                out["keypoints_2d_refined"], size
            )
        return res

    return fn


def predict_pixels(
    model: PoseModel,
    keypoints_2d: np.ndarray,
    confidence: np.ndarray,
    image_size: np.ndarray,
    *,
    batch_size: int = 1024,
    flip: bool = False,
    fn: Callable | None = None,
) -> dict[str, np.ndarray]:
    """3D poses and cameras of N people from pixel keypoints (numpy in, numpy out).

    keypoints_2d `(N, J, 2)` pixels in the model's skeleton order (Human3.6M-17 for the built-in
    runs; `data.joint_maps` converts other layouts), confidence `(N, J)` in [0, 1] (0 =
    missing), image_size `(N, 2)` or `(2,)` width, height in pixels. Returns the outputs of
    `make_pixel_predict` stacked over people (`pose_3d (N, J, 3)` metres, root-relative, camera
    frame). fn: a `make_pixel_predict` function to reuse (keeps its compiled programs).
    """
    keypoints_2d = np.asarray(keypoints_2d, np.float32)
    n, j = keypoints_2d.shape[:2] if keypoints_2d.ndim == 3 else (0, 0)
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[1:] != (model.skeleton.num_joints, 2):
        raise ValueError(
            f"keypoints_2d must be (N, {model.skeleton.num_joints}, 2) pixels, "
            f"got {keypoints_2d.shape}"
        )
    confidence = np.asarray(confidence, np.float32)
    if confidence.shape != (n, j):
        raise ValueError(f"confidence must be {(n, j)}, got {confidence.shape}")
    image_size = np.broadcast_to(np.asarray(image_size, np.float32), (n, 2))
    if n == 0:  # zero people: empty arrays of the right trailing shapes
        out = {"pose_3d": np.zeros((0, j, 3), np.float32)}
        if "camera" in model.modules:
            out |= {
                "intrinsics": np.zeros((0, 4), np.float32),
                "translation": np.zeros((0, 3), np.float32),
                "reprojection": np.zeros((0, j, 2), np.float32),
            }
        return out
    fn = fn or make_pixel_predict(model, flip=flip)
    arrays = {"keypoints_2d": keypoints_2d, "confidence": confidence, "image_size": image_size}
    return batched_apply(
        lambda batch: fn(model.variables, batch),
        arrays,
        batch_size=batch_size,
        buckets=bucket_sizes(batch_size),
    )
