"""Supervised baseline: the lifter alone on 2D-3D pairs (Eq. 9), no refiner, camera or GAN.

Runbook
-------
    python -m experiments.run --config=experiments/supervised.py            # synthetic world
    python -m experiments.run --config=experiments/supervised.py:smoke      # seconds
    python -m experiments.run --config=experiments/supervised.py:paper \\
        --config.data.source=files --config.data.paired=h36m_train.npz \\
        --config.data.val=h36m_val.npz --config.data.tests=h36m=h36m_val.npz,3dhp=3dhp_test.npz \\
        --config.data.pck_sets=3dhp

Settings: PoseAug's baseline recipe for the Martinez lifter (lr 1e-3, batch 1024, 50 epochs,
gradient clipping at norm 1; its exponential decay 0.96 per 100k steps is replaced by one x0.1
step at epoch 40). The synthetic default uses the same epoch scale and batch as `joint.py` (an
epoch = 0.06 passes over the 2D-3D set, batch 256). World v5, seed 0, that budget: MPJPE /
PA-MPJPE lab_val 69.6 / 51.6 mm, wild_test 278.7 / 79.7 mm (the lifter reads 3D size from 2D
size: the report's scale diagnostic). Five seeds: experiments/RESULTS.md.

Variants: paper, smoke, tiny (tests), detected (detected 2D input), refiner (add the
refinement network: its own stage first, then frozen in front of the lifter).
"""

from __future__ import annotations

from experiments import configs_common as common


def get_config(arg: str | None = None):
    config = common.base_config()
    config.name = "supervised"
    config.model.refiner.enabled = False
    config.model.camera.enabled = False
    config.stages.order = "pretrain"
    config.stages.pretrain.epochs = 50
    config.stages.pretrain.lr = 1e-3
    config.stages.pretrain.decay_epochs = (40,)
    config.stages.pretrain.train_camera = False
    common.cpu_budget(config)
    common.apply_variants(config, arg, {**common.VARIANTS, "refiner": common.with_refiner})
    return config
