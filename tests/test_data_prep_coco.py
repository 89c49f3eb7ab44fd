"""data_prep.coco on a COCO keypoints JSON written here (and on the real sample if present)."""

import json

import numpy as np
import pytest

from cpose_jax.data.joint_maps import COCO17_NAMES, H36M17_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import coco

H = {n: i for i, n in enumerate(H36M17_NAMES)}
C = {n: i for i, n in enumerate(COCO17_NAMES)}


def _person(rng, v=None):
    k = np.zeros((17, 3))
    k[:, 0] = rng.uniform(10, 600, 17).round(1)
    k[:, 1] = rng.uniform(10, 400, 17).round(1)
    k[:, 2] = 2 if v is None else v
    k[k[:, 2] == 0, :2] = 0
    return k


def _ann(aid, iid, k, **kw):
    d = {
        "id": aid,
        "image_id": iid,
        "category_id": 1,
        "keypoints": k.ravel().tolist(),
        "num_keypoints": int((k[:, 2] > 0).sum()),
        "bbox": [1.0, 2.0, 100.0, 200.0],
        "area": 20000.0,
        "iscrowd": 0,
        "segmentation": [[0, 0, 1, 1]],
    }
    d.update(kw)
    return d


@pytest.fixture
def coco_file(tmp_path):
    rng = np.random.default_rng(0)
    full = _person(rng)
    partial_v = np.full(17, 2)
    partial_v[[C["right_hip"], C["left_eye"], C["right_eye"]]] = 0
    partial_v[C["left_knee"]] = 1  # labelled but occluded: still a label
    partial = _person(rng, partial_v)
    anns = [
        _ann(10, 1, full),
        _ann(11, 2, partial),
        _ann(12, 1, _person(rng), iscrowd=1),  # crowd
        _ann(13, 1, _person(rng, np.zeros(17))),  # num_keypoints == 0
        _ann(14, 2, _person(rng), bbox=[5.0, 5.0, 0.0, 30.0], area=0.0),  # zero-area box
        _ann(15, 2, _person(rng), category_id=2),  # not a person
    ]
    data = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 640, "height": 480},
            {"id": 2, "file_name": "b.jpg", "width": 500, "height": 333},
        ],
        "annotations": anns,
        "categories": [
            {"id": 1, "name": "person", "keypoints": list(COCO17_NAMES), "skeleton": []},
            {"id": 2, "name": "dog"},
        ],
    }
    p = tmp_path / "person_keypoints_val.json"
    p.write_text(json.dumps(data))
    return p, full, partial


def test_values_and_edge_cases(coco_file, tmp_path):
    path, full, partial = coco_file
    out = tmp_path / "coco.npz"
    assert coco.main(["--ann", str(path), "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds) == 2  # crowd, empty, zero-area and non-person skipped
    assert ds.meta["skipped"] == {
        "crowd": 1, "no_keypoints": 1, "zero_area_box": 1, "other_category": 1,
        "too_few_keypoints": 0,
    }  # fmt: skip
    kp, conf = ds["keypoints_2d"], ds["confidence"]
    # Full person: hand-computed values from the COCO names.
    np.testing.assert_allclose(kp[0, H["LHip"]], full[C["left_hip"], :2])
    np.testing.assert_allclose(kp[0, H["RWrist"]], full[C["right_wrist"], :2])
    np.testing.assert_allclose(
        kp[0, H["Hip"]], (full[C["left_hip"], :2] + full[C["right_hip"], :2]) / 2
    )
    np.testing.assert_allclose(
        kp[0, H["Thorax"]], (full[C["left_shoulder"], :2] + full[C["right_shoulder"], :2]) / 2
    )
    np.testing.assert_array_equal(conf[0], 1.0)
    # Partial: v=0 right hip -> RHip, Hip, Spine missing; eyes missing -> head from the ears.
    for j in ("RHip", "Hip", "Spine"):
        assert conf[1, H[j]] == 0, j
    assert conf[1, H["LKnee"]] == 1  # v=1 counts as labelled
    np.testing.assert_allclose(
        kp[1, H["Head"]], (partial[C["left_ear"], :2] + partial[C["right_ear"], :2]) / 2
    )
    np.testing.assert_array_equal(ds["image_size"], [[640, 480], [500, 333]])
    np.testing.assert_array_equal(ds["subject"], [1, 2])
    np.testing.assert_array_equal(ds["camera"], [10, 11])


def test_min_keypoints_filter(coco_file):
    path, _, _ = coco_file
    c = coco.convert(path, min_keypoints=17)
    assert len(c) == 1 and c.meta["skipped"]["too_few_keypoints"] == 1


def test_bad_inputs_one_line_exit_2_nothing_written(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    data = {
        "images": [{"id": 1, "width": 10, "height": 10}],
        "annotations": [_ann(1, 1, _person(np.random.default_rng(0)))],
    }
    data["annotations"][0]["keypoints"] = [1, 2, 2] * 16  # 48 numbers
    bad.write_text(json.dumps(data))
    out = tmp_path / "o.npz"
    assert coco.main(["--ann", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "51" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [bad]  # nothing written, no temp files
    # Unknown image id, missing file, invalid JSON: DatasetError naming the file.
    data["annotations"][0]["keypoints"] = [1, 2, 2] * 17
    data["annotations"][0]["image_id"] = 7
    bad.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"bad\.json: entry 0: image_id: 7 is not in"):
        coco.convert(bad)
    with pytest.raises(DatasetError, match=r"nope\.json: no such file"):
        coco.convert(tmp_path / "nope.json")
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        coco.convert(bad)


def test_existing_output_refused(coco_file, tmp_path):
    path, _, _ = coco_file
    out = tmp_path / "o.npz"
    out.write_bytes(b"keep")
    assert coco.main(["--ann", str(path), "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep"
    assert coco.main(["--ann", str(path), "--out", str(out), "--overwrite"]) == 0
    assert len(load_dataset(out)) == 2


def test_real_coco_sample(tmp_path, realdata):
    real = realdata("coco/test_coco.json")
    raw = json.loads(real.read_text())
    c = coco.convert(real)
    anns = [a for a in raw["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
    assert len(c) == len(anns) == 12 and c.meta["skipped"]["no_keypoints"] == 2
    kp, conf, size = c.arrays["keypoints_2d"], c.arrays["confidence"], c.arrays["image_size"]
    lab = conf > 0
    assert np.all(kp[..., 0][lab] >= 0) and np.all(
        kp[..., 0][lab] <= size[:, None, 0].repeat(17, 1)[lab]
    )
    assert np.all(kp[..., 1][lab] >= 0) and np.all(
        kp[..., 1][lab] <= size[:, None, 1].repeat(17, 1)[lab]
    )
    names = raw["categories"][0]["keypoints"]
    for i, a in enumerate(anns):
        k = np.asarray(a["keypoints"], float).reshape(17, 3)
        for coco_name, h36m in (("left_hip", "LHip"), ("right_hip", "RHip"),
                                ("left_wrist", "LWrist"), ("right_wrist", "RWrist")):  # fmt: skip
            j = names.index(coco_name)
            if k[j, 2] > 0:
                np.testing.assert_allclose(kp[i, H[h36m]], k[j, :2])
            else:
                assert conf[i, H[h36m]] == 0
    # First person (image 785, skier facing the camera): left hip is right of the right hip in
    # the image, and the pelvis lies between them.
    i0 = [a["id"] for a in anns].index(442619)
    assert kp[i0, H["LHip"], 0] > kp[i0, H["RHip"], 0]
    assert kp[i0, H["RHip"], 0] < kp[i0, H["Hip"], 0] < kp[i0, H["LHip"], 0]
    out = tmp_path / "real.npz"
    assert coco.main(["--ann", str(real), "--out", str(out)]) == 0
    assert len(load_dataset(out)) == 12


def test_drop_unusable_applies_the_one_rule():
    from cpose_jax.data.coco_json import drop_unusable

    kp = np.arange(3 * 3 * 2, dtype=np.float64).reshape(3, 3, 2) + 1.0
    conf = np.array([[0.9, 0.0, 0.5], [0.0, 0.0, 0.0], [0.8, np.nan, 0.0]])
    kp[0, 2, 1] = np.nan  # person 0: joint 2 has a NaN coordinate
    out_kp, out_conf, keep, skipped = drop_unusable(kp, conf, min_keypoints=2)
    # person 0 keeps joint 0 only, person 1 has none, person 2 keeps joint 0 only
    np.testing.assert_array_equal(out_conf, [[0.9, 0, 0], [0, 0, 0], [0.8, 0, 0]])
    np.testing.assert_array_equal(out_kp[0, 1:], 0.0)
    np.testing.assert_array_equal(out_kp[0, 0], kp[0, 0])
    np.testing.assert_array_equal(keep, [False, False, False])
    assert skipped == {"no_keypoints": 1, "too_few_keypoints": 2}
    _, _, keep1, skipped1 = drop_unusable(kp, conf)
    np.testing.assert_array_equal(keep1, [True, False, True])
    assert skipped1 == {"no_keypoints": 1}
