"""Learning-rate schedules of cpose_jax.train.optim (values worked out by hand)."""

import numpy as np
import pytest

from cpose_jax.train import optim


def test_linear_decay_schedule_is_poseaug_lambda_rule():
    # PoseAug: lr0 * (1 - epoch / (epochs + 1)), stepped once per epoch. 3 epochs of 4 steps:
    # epoch 0 -> 1.0, epoch 1 -> 1 - 1/4 = 0.75, epoch 2 -> 0.5; held at the last epoch's value.
    sched = optim.linear_decay_schedule(2.0, steps_per_epoch=4, epochs=3)
    got = [float(sched(c)) for c in (0, 3, 4, 7, 8, 11, 12, 100)]
    np.testing.assert_allclose(got, [2.0, 2.0, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0], rtol=1e-6)
    ramp = optim.linear_decay_schedule(2.0, steps_per_epoch=4, epochs=3, warmup_steps=2)
    np.testing.assert_allclose([float(ramp(c)) for c in (0, 1, 4)], [1.0, 2.0, 1.5], rtol=1e-6)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        optim.linear_decay_schedule(1.0, steps_per_epoch=0, epochs=3)
