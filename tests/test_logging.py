"""metrics.jsonl after a crash: partial lines and records past the resumed checkpoint go."""

import json

from cpose_jax.train.logging import MetricWriter


def _steps(path):
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_resume_drops_records_after_the_checkpoint_and_a_cut_line(tmp_path):
    w = MetricWriter(tmp_path, enabled=True, tensorboard=False, keep_until=0)
    for step in (4, 8, 12):
        w.write(step, {"train/loss": step / 10})
    w.close()
    path = tmp_path / "metrics.jsonl"
    with open(path, "a") as f:
        f.write('{"step": 16, "train/lo')  # killed mid-record
    w = MetricWriter(tmp_path, enabled=True, tensorboard=False, keep_until=8)
    w.write(12, {"train/loss": 9.0})
    w.close()
    assert _steps(path) == [4, 8, 12]
    assert json.loads(path.read_text().splitlines()[-1])["train/loss"] == 9.0


def test_fresh_start_clears_and_none_appends(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 3, "x": 1.0}\n')
    MetricWriter(tmp_path, enabled=True, tensorboard=False, keep_until=None).close()
    assert _steps(path) == [3]
    MetricWriter(tmp_path, enabled=True, tensorboard=False, keep_until=0).close()
    assert path.read_text() == ""
