"""Batched inference: 2D keypoints (+ confidences) -> refined 2D -> 3D -> camera -> reprojection.

Pure and jittable; the same function serves the training run's evaluation, `experiments/evaluate`
and `experiments/infer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from cpose_jax import geometry, losses
from cpose_jax.skeleton import Skeleton


def _forward(variables, modules, keypoints_2d, confidence):
    out = {}
    x = keypoints_2d
    if "refiner" in modules:
        x = modules["refiner"].apply(
            variables["refiner"],
            keypoints_2d,
            losses.normalize_confidence(confidence),
            train=False,
        )
        out["keypoints_2d_refined"] = x
    out["pose_3d"] = modules["lifter"].apply(variables["lifter"], x, train=False)
    if "camera" in modules:
        out.update(modules["camera"].apply(variables["camera"], x, train=False))
    return out


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
    """Run the model in inference mode.

    Args:
      variables: per network `{'params': ..., 'batch_stats': ...}` (`NetState.variables()`).
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
      (`project(pose_3d + translation, intrinsics)`, paper Eq. 7).
    """
    keypoints_2d = jnp.asarray(keypoints_2d)
    confidence = jnp.asarray(confidence)
    if keypoints_2d.ndim != 3 or keypoints_2d.shape[-1] != 2:
        raise ValueError(f"keypoints_2d must be (B, J, 2), got {keypoints_2d.shape}")
    if confidence.shape != keypoints_2d.shape[:-1]:
        raise ValueError(f"confidence must be {keypoints_2d.shape[:-1]}, got {confidence.shape}")
    out = _forward(variables, modules, keypoints_2d, confidence)
    if flip:
        if skeleton is None:
            raise ValueError("flip=True needs the skeleton (left/right joint permutation)")
        perm = jnp.asarray(skeleton.flip_perm)
        mirrored = _forward(
            variables, modules, geometry.flip_pose(keypoints_2d, skeleton), confidence[:, perm]
        )
        back = _unflip(mirrored, skeleton)
        out = {k: 0.5 * (out[k] + back[k]) for k in out}
    if "intrinsics" in out:
        x_cam = out["pose_3d"] + out["translation"][:, None, :]
        out["reprojection"] = geometry.project(x_cam, out["intrinsics"])
    return out


def variables_of(state: Any, names: tuple[str, ...] = ("refiner", "lifter", "camera")) -> dict:
    """Inference variables of the networks in `names` present in a `TrainState`."""
    return {n: state.nets[n].variables() for n in names if n in state.nets}
