"""PoseAug baseline (Gong et al. 2021) on the same code: lifter + generator + discriminators,
no camera branch, no 2D-only data.

Runbook
-------
    python -m experiments.run --config=experiments/poseaug.py                   # synthetic
    python -m experiments.run --config=experiments/poseaug.py:refiner,detected  # Table 5 row
    python -m experiments.run --config=experiments/poseaug.py:paper --config.data.source=files ...

Stages (research/poseaug.md §1.6): `pretrain` the lifter supervised (PoseAug's baseline: lr
1e-3, 50 epochs); `warmup` 2 epochs of GAN training (lr 1e-4, no feedback loss; here the lifter
keeps training on real pairs, where PoseAug freezes it); `end_to_end` 48 epochs, lr 1e-4 for
lifter, generator and discriminators, the lifter trained on real and augmented pairs in the
same iteration (PoseAug alternates one epoch of each), feedback loss on. PoseAug's linear lr
decay is not reproduced (constant lr), its bone-length template swap is not used (the real 3D
poses are the discriminators' real samples), and model selection is on the validation split,
not on the test sets as in the released code.

The synthetic default uses the same epoch scale and batch as `joint.py` (an epoch = 0.06
passes over the 2D-3D set, batch 256), so the three methods compare at equal budget.

Variants: paper, smoke, tiny, detected (detected 2D, Table 5), refiner (add the refinement
network: Table 5's "Gong et al. w/ Refinement Network").
"""

from __future__ import annotations

from experiments import configs_common as common


def get_config(arg: str | None = None):
    config = common.base_config()
    config.name = "poseaug"
    config.model.refiner.enabled = False
    config.model.camera.enabled = False
    # PoseAug's Pos2dDiscriminator: an MLP on the raw 2D coordinates, width 100.
    config.model.disc_2d.input_kind = "raw"
    config.model.disc_2d.features = 100
    config.stages.order = "pretrain,warmup,end_to_end"
    st = config.stages
    st.pretrain.epochs = 50
    st.pretrain.lr = 1e-3
    st.pretrain.decay_epochs = ()
    st.pretrain.validate = False
    st.warmup.epochs = 2
    st.warmup.lr = 1e-4
    st.warmup.validate = False
    st.end_to_end.epochs = 48
    st.end_to_end.lr = 1e-4
    st.end_to_end.decay_epochs = ()
    st.end_to_end.use_2d_only = False
    st.end_to_end.train_refiner = False
    common.cpu_budget(config)
    common.apply_variants(config, arg, {**common.VARIANTS, "refiner": common.with_refiner})
    return config
