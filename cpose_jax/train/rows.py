"""The rows each update of a GAN iteration sees (`steps.make_gan_step`): the real pairs with
the generator's usable augmented pairs, the 2D-only rows appended for a single update, and the
2D discriminator's real and fake rows."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cpose_jax import geometry
from cpose_jax.forward import pose_forward
from cpose_jax.train import objectives
from cpose_jax.train.objectives import GanSettings


def concat(*trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *trees)


def lift_2d_only(pose_modules, nets, wild, rng) -> dict[str, jax.Array]:
    """The current pose networks' outputs (inference mode, no gradient) on a 2D-only batch,
    with their 'reprojection': the fakes the discriminators learn to reject."""
    out, _ = pose_forward(
        pose_modules,
        objectives.variables(nets, {}, pose_modules),
        wild["keypoints_2d"],
        wild["confidence"],
        rng=rng,
    )
    out["reprojection"] = geometry.reproject(out["pose_3d"], out["translation"], out["intrinsics"])
    return jax.lax.stop_gradient(out)


def disc_2d_data(paired, fake_2d, wild=None, novel_2d=None):
    """(real 2D, its (B,) mask, fake 2D, its mask) for the 2D discriminator: the paired batch's
    labels (rows with every joint labelled) vs. the pooled fakes and, with `wild` (a 2D-only
    batch plus its 'reprojection'), its labels vs. its reprojections and, with `novel_2d`
    (B', J, 2), vs. the novel views of its lifts too."""
    real_2d = paired["keypoints_2d_gt"]
    real_2d_mask = jnp.all(paired["valid"] > 0, axis=-1).astype(jnp.float32)
    fake_2d_mask = jnp.ones((fake_2d.shape[0],), jnp.float32)
    if wild is not None:
        wild_full = jnp.all(wild["valid"] > 0, axis=-1).astype(jnp.float32)
        real_2d = jnp.concatenate([real_2d, wild["keypoints_2d_gt"]], axis=0)
        real_2d_mask = jnp.concatenate([real_2d_mask, wild_full])
        fake_2d = jnp.concatenate([fake_2d, wild["reprojection"]], axis=0)
        fake_2d_mask = jnp.concatenate([fake_2d_mask, wild_full])
        if novel_2d is not None:
            fake_2d = jnp.concatenate([fake_2d, novel_2d], axis=0)
            fake_2d_mask = jnp.concatenate([fake_2d_mask, wild_full])
    return real_2d, real_2d_mask, fake_2d, fake_2d_mask


def usable_fakes(fake_abs, fake_2d, gan: GanSettings):
    """`(B,)` bool: the fakes `fake_abs (B, J, 3)` (camera frame, projected to `fake_2d`)
    usable as augmented pairs: every joint in view (|u|, |v| <= `gan.max_aug_coord`), deeper
    than `gan.min_aug_depth` and finite."""
    ok = jnp.all(jnp.abs(fake_2d) <= gan.max_aug_coord, axis=(-2, -1)) & jnp.all(
        fake_abs[..., 2] > gan.min_aug_depth, axis=-1
    )
    return ok & jnp.all(jnp.isfinite(fake_2d), axis=(-2, -1))


def with_augmented(data, fake_abs, fake_2d, paired, gan: GanSettings):
    """Real pairs followed by the generator's augmented pairs `fake_abs (B, J, 3)` (camera
    frame, projected to `fake_2d`), and the `(2B,)` sample mask. An unusable fake
    (`usable_fakes`: out of view, behind the camera, non-finite) is replaced by its real
    source pair with weight 0: the row still feeds BatchNorm realistic statistics. Also
    returns the usable fraction."""
    aug_rel, aug_root = geometry.split_root(fake_abs)
    ok = usable_fakes(fake_abs, fake_2d, gan)
    aug = {
        "keypoints_2d": fake_2d,
        "confidence": jnp.ones_like(paired["confidence"]),
        "keypoints_2d_gt": fake_2d,
        "valid": jnp.ones_like(paired["valid"]),
        "pose_3d": aug_rel,
        "translation": aug_root,
        "intrinsics": paired["intrinsics"],
    }
    aug = {
        k: jnp.where(ok.reshape(ok.shape + (1,) * (v.ndim - 1)), v, data[k]) for k, v in aug.items()
    }
    fake_w = ok.astype(jnp.float32) * gan.fake_pair_weight
    mask = jnp.concatenate([jnp.ones((len(ok),), jnp.float32), fake_w])
    return concat(data, aug), mask, jnp.mean(ok.astype(jnp.float32))


def with_2d_only(data, paired_mask, wild):
    """The pair rows `data (B, ...)` followed by the 2D-only batch `wild (B', ...)` (its
    missing pair keys filled with zeros, masked out), the `(B + B',)` pair mask and the
    `(B + B',)` 2D-only mask."""
    n = wild["keypoints_2d"].shape[0]
    filled = {
        k: wild[k] if k in wild else jnp.zeros((n, *v.shape[1:]), v.dtype) for k, v in data.items()
    }
    zeros_w, zeros_p = jnp.zeros((n,), jnp.float32), jnp.zeros_like(paired_mask)
    wild_mask = jnp.concatenate([zeros_p, jnp.ones((n,), jnp.float32)])
    return concat(data, filled), jnp.concatenate([paired_mask, zeros_w]), wild_mask
