"""The options of the training losses, as frozen dataclasses (static under `jit`): the pose
networks' loss weights and options (`LossWeights`, paper Eq. 16-17 and the departures from
it) and PoseAug's generator settings (`GanSettings`). `experiments/build.py` fills them from
the config's `loss_weights` and `gan` sections, key by key."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """λ of paper Eq. 16-17 (defaults: paper §4.3) and the 2D-only adversarial weight.

    refine / refine_2d_only (λref,ϕ / λref,ϕ'): not given in the paper; 1.0 keeps Eq. 4 (whose
    values are already scaled by the normalized confidences, ~1/J) at the size of the 2D terms.
    adversarial_2d_only: weight of the 2D discriminator's LS-GAN judgement of the reprojected
    2D-only poses (paper §3.3 names the term, not its weight).
    """

    refine: float = 1.0
    refine_2d_only: float = 1.0
    camera: float = 0.01
    reprojection: float = 0.5
    reprojection_2d_only: float = 0.2
    pose_3d: float = 1.0
    adversarial_2d_only: float = 0.01
    # Eq. 8 on the generator's augmented pairs is weighted by this (1 = the paper: every
    # pair; 0 = real pairs only). Their root depths span ~1-22 m, so the squared metre error
    # can dominate every other term.
    camera_fakes: float = 1.0
    # Rows of Eq. 7 weighted by (2D extent of the label)^(-2 p) in the mean (`size_weights`):
    # 0 = the paper (normalized screen units: a person counts with their 2D size squared, so
    # far people barely do); 1 = every person's error relative to their size.
    reprojection_balance: float = 0.0
    # Scale of the downstream losses' gradient into a trained refiner (1 = end to end, the
    # paper; 0 = the refiner learns from Eq. 4 alone: with ground-truth input Eq. 4 is ~0 and
    # the downstream gradients alone drive it away from its input).
    refiner_downstream: float = 1.0
    # Bone-length prior on the lifter's predictions for the 2D-only rows (not in the paper;
    # docs/results.md): the mean over bones of (|b| / l - 1)^2, l the mean bone lengths of the
    # batch's 2D-3D pairs (`bone_prior`). Eq. 17 fixes a 2D-only pose only up to depth; known
    # bone lengths fix each bone's depth up to a sign. 0 = off (the paper).
    bone_prior_2d_only: float = 0.0
    # Proportions instead of lengths: the mean over bones of the squared relative error of
    # each bone's share of the total skeleton length against the pairs' shares
    # (`losses.bone_ratio_loss`); leaves the person's size free. 0 = off (the paper).
    bone_ratio_2d_only: float = 0.0
    # Novel views of the 2D-only lifts (not in the paper; after Drover et al. 2018, Chen et
    # al. 2019 and ElePose): each lifted pose is turned about its root by a random azimuth in
    # [-pi, pi] about `novel_view_axis` and a random elevation within +-`novel_view_elevation`
    # degrees, placed at its predicted root and projected with its predicted intrinsics (no
    # gradient into the camera branch). A bone whose depth sign is wrong looks right in the
    # input view and wrong from the side. `novel_view_2d_only`: the 2D discriminator's LS-GAN
    # judgement of the novel views (it also learns to reject them); `relift_2d_only`: the
    # novel view lifted again and turned back, its squared distance to the first lift (m^2
    # per joint). 0 = off (the paper: the discriminator sees the input view only).
    novel_view_2d_only: float = 0.0
    relift_2d_only: float = 0.0
    novel_view_axis: str = "camera"  # 'camera' (its y axis) | 'spine' (pelvis -> thorax)
    novel_view_elevation: float = 20.0
    # The 3D discriminator's LS-GAN judgement of the 2D-only lifts (it also learns to reject
    # them beside the generator's fakes). 0 = off (the paper).
    adversarial_3d_2d_only: float = 0.0

    @property
    def uses_novel_views(self) -> bool:
        return self.novel_view_2d_only != 0 or self.relift_2d_only != 0


NOVEL_VIEW_AXES = ("camera", "spine")  # the values of LossWeights.novel_view_axis
FEEDBACK_BATCHES = ("shared", "separate")  # the values of GanSettings.feedback_batches


@dataclasses.dataclass(frozen=True)
class GanSettings:
    """PoseAug's generator-loss settings and discriminator update interval (its released
    code's defaults; docs/design.md)."""

    adv_2d: float = 1.0
    adv_3d: float = 6.0
    range: float = 3.0
    ba_range_center: float = 0.205
    ba_range_radius: float = 0.165
    bl_range: float = 0.1
    feedback_ba: float = 0.1
    feedback_rt: float = 0.01
    hard_ba_start: float = 3.0
    hard_ba_end: float = 5.0
    hard_ba_radius: float = 2.0
    hard_rt_center: float = 17.0
    hard_rt_radius: float = 15.0
    max_aug_coord: float = 1.0  # augmented pairs with |u| or |v| above this are not used
    min_aug_depth: float = 0.1  # metres
    # Weight of a usable augmented pair in the pose networks' losses, relative to a real pair's
    # 1 (PoseAug: 1, every usable fake counts like a real pair).
    fake_pair_weight: float = 1.0
    # > 0: the generator's poses are projected with X/Z, Y/Z clipped to [-c, c] (PoseAug's
    # project_to_2d_linear: 1.0); 0 = the plain projection.
    project_clip: float = 0.0
    # The discriminators are updated every `disc_every`-th iteration of a GAN stage (the
    # first included); PoseAug's `df`: 2. The paper: silent.
    disc_every: int = 1
    # The feedback loss's three lifter passes (original, BA, RT poses): "shared" = one
    # BatchNorm batch of all three, as the lifter's own update mixes real and augmented rows;
    # "separate" = three batches, the original's without gradient (PoseAug's
    # get_feedback_loss; 4 % fewer FLOPs per joint iteration, but about 1 mm worse MPJPE and
    # PA-MPJPE for joint.py on 5 of 5 seeds).
    feedback_batches: str = "shared"
