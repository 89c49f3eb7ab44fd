"""data_prep.detections on COCO-style results JSON and .npy files written here."""

import json

import numpy as np
import pytest

from cpose_jax.data.joint_maps import COCO17_NAMES, H36M17_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import detections

H = {n: i for i, n in enumerate(H36M17_NAMES)}
C = {n: i for i, n in enumerate(COCO17_NAMES)}


def _det(rng, iid, score):
    k = np.concatenate([rng.uniform(0, 500, (17, 2)), rng.uniform(0.05, 1.05, (17, 1))], -1)
    return {"image_id": iid, "category_id": 1, "keypoints": k.ravel().tolist(), "score": score}


@pytest.fixture
def results(tmp_path):
    rng = np.random.default_rng(0)
    dets = [_det(rng, 1, 0.9), _det(rng, 1, 0.95), _det(rng, 2, 0.2)]
    k0 = np.asarray(dets[0]["keypoints"]).reshape(17, 3)
    k0[C["left_eye"], 2] = 0.0  # score 0 -> missing -> head from the ears
    dets[0]["keypoints"] = k0.ravel().tolist()
    p = tmp_path / "results.json"
    p.write_text(json.dumps(dets))
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "width": 640, "height": 480},
                                          {"id": 2, "width": 320, "height": 240}],
                               "annotations": []}))  # fmt: skip
    return p, ann, dets


def test_results_json_values(results, tmp_path):
    p, ann, dets = results
    out = tmp_path / "d.npz"
    assert detections.main(["--results", str(p), "--coco-ann", str(ann), "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds) == 3
    k0 = np.asarray(dets[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(ds["keypoints_2d"][0, H["LHip"]], k0[C["left_hip"], :2])
    np.testing.assert_allclose(ds["keypoints_2d"][0, H["RWrist"]], k0[C["right_wrist"], :2])
    s = np.clip(k0[:, 2], 0, 1)
    assert ds["confidence"][0, H["RElbow"]] == pytest.approx(s[C["right_elbow"]])
    assert ds["confidence"][0, H["Hip"]] == pytest.approx(
        (s[C["left_hip"]] + s[C["right_hip"]]) / 2
    )
    np.testing.assert_allclose(
        ds["keypoints_2d"][0, H["Head"]], (k0[C["left_ear"], :2] + k0[C["right_ear"], :2]) / 2
    )
    assert ds["confidence"].max() <= 1.0 and ds.meta["scores_clipped"] > 0
    np.testing.assert_array_equal(ds["image_size"], [[640, 480], [640, 480], [320, 240]])
    c = detections.convert_results_json(p, image_size=(1, 1), min_score=0.5, best_per_image=True)
    np.testing.assert_array_equal(c.arrays["subject"], [1])
    np.testing.assert_allclose(
        c.arrays["keypoints_2d"][0, H["LKnee"]],
        np.asarray(dets[1]["keypoints"]).reshape(17, 3)[C["left_knee"], :2],
    )
    assert c.meta["skipped"] == {"low_score": 1, "not_best_in_image": 1}


def test_npy_layouts(tmp_path):
    rng = np.random.default_rng(1)
    arr = np.concatenate([rng.uniform(0, 900, (4, 16, 2)), rng.uniform(0, 1, (4, 16, 1))], -1)
    p = tmp_path / "mpii_dets.npy"
    np.save(p, arr)
    c = detections.convert_npy(p, layout="mpii16", image_size=(1000, 1000))
    np.testing.assert_allclose(c.arrays["keypoints_2d"][:, H["LHip"]], arr[:, 3, :2])
    np.testing.assert_allclose(c.arrays["keypoints_2d"][:, H["RFoot"]], arr[:, 0, :2])
    np.save(p, arr[..., :2])  # no scores -> 1
    c = detections.convert_npy(p, layout="mpii16", image_size=(1000, 1000))
    assert np.all(c.arrays["confidence"] == 1) and c.meta["has_scores"] is False
    with pytest.raises(DatasetError, match=r"mpii_dets\.npy.*\(N, 17, 2\|3\).*coco17"):
        detections.convert_npy(p, layout="coco17", image_size=(1, 1))


def test_errors(results, tmp_path, capsys):
    p, _, _ = results
    out = tmp_path / "o.npz"
    assert detections.main(["--results", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "results.json" in err and "--image-size" in err and len(err.splitlines()) == 1
    assert not out.exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 1, "keypoints": [1, 2, 3] * 16}]))
    with pytest.raises(DatasetError, match=r"bad\.json: entry 0: keypoints: 48 numbers"):
        detections.convert_results_json(bad, image_size=(1, 1))


def test_real_h36m_detection_npy(realdata):
    real = realdata("h36m/test_h36m_2d_detection.npy")
    raw = np.load(real)
    c = detections.convert_npy(real, layout="h36m17", image_size=(1000, 1002))
    np.testing.assert_allclose(c.arrays["keypoints_2d"], raw[..., :2])
    np.testing.assert_allclose(c.arrays["confidence"], np.clip(raw[..., 2], 0, 1))
