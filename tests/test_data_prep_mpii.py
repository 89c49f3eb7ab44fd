"""data_prep.mpii on an official-style .mat release and an HRNet JSON written here."""

import json
import struct

import numpy as np
import pytest
import scipy.io

from cpose_jax.data.joint_maps import H36M17_NAMES, MPII16_NAMES
from cpose_jax.data.schema import DatasetError, load_dataset
from data_prep import mpii

H = {n: i for i, n in enumerate(H36M17_NAMES)}
M = {n: i for i, n in enumerate(MPII16_NAMES)}


def _joints(rng):
    return rng.uniform(50, 600, size=(16, 2)).round(2)


def _struct_array(records, fields):
    a = np.empty((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, r in enumerate(records):
        for f in fields:
            a[f][0, i] = r.get(f, np.zeros((0, 0)))
    return a


def _points(j, ids, vis):
    recs = [
        {"x": float(j[i, 0]), "y": float(j[i, 1]), "id": int(i), "is_visible": v}
        for i, v in zip(ids, vis)
    ]
    return {"point": _struct_array(recs, ["x", "y", "id", "is_visible"])}


RECT_FIELDS = ["x1", "y1", "x2", "y2", "scale", "objpos", "annopoints"]


def _rect(annopoints=None):
    r = {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 40.0, "scale": 3.0,
         "objpos": {"x": 100.0, "y": 200.0}}  # fmt: skip
    if annopoints is not None:
        r["annopoints"] = annopoints
    return r


@pytest.fixture
def mat_file(tmp_path):
    rng = np.random.default_rng(0)
    ja, jb, jc, jd = (_joints(rng) for _ in range(4))
    all16 = list(range(16))
    # vis: numbers, '1'/'0' strings and empty [] (unknown) mixed.
    vis_a = [1, "1", np.zeros((0, 0)), 0] * 4
    missing_c = [M["r_ankle"], M["pelvis"]]
    ids_c = [i for i in all16 if i not in missing_c]
    annolist = [
        # img 1 (train): person 1 complete & single; person 2 not in single_person.
        {"image": {"name": "a.jpg"},
         "annorect": _struct_array([_rect(_points(ja, all16, vis_a)),
                                    _rect(_points(jb, all16, [1] * 16))], RECT_FIELDS)},
        # img 2 (train): one person with 14 joints (r ankle, pelvis missing), single.
        {"image": {"name": "b.jpg"},
         "annorect": _struct_array([_rect(_points(jc, ids_c, ["1"] * 14))], RECT_FIELDS)},
        # img 3 (train): empty annorect.
        {"image": {"name": "c.jpg"}, "annorect": np.zeros((0, 0))},
        # img 4 (train): a rect without annopoints.
        {"image": {"name": "d.jpg"}, "annorect": _struct_array([_rect()], RECT_FIELDS)},
        # img 5 (test): has points but img_train = 0.
        {"image": {"name": "e.jpg"},
         "annorect": _struct_array([_rect(_points(jd, all16, [1] * 16))], RECT_FIELDS)},
    ]  # fmt: skip
    single = np.empty((1, 5), dtype=object)
    single[0, 0] = np.array([[1]])
    single[0, 1] = np.array([[1]])
    single[0, 2] = np.zeros((0, 0))
    single[0, 3] = np.array([[1]])
    single[0, 4] = np.array([[1]])
    release = {
        "annolist": _struct_array(annolist, ["image", "annorect"]),
        "img_train": np.array([[1, 1, 1, 1, 0]]),
        "single_person": single,
        "video_list": np.array(["vid"], dtype=object),
    }
    p = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    scipy.io.savemat(p, {"RELEASE": release})
    return p, ja, jb, jc


def test_mat_values_and_filters(mat_file, tmp_path):
    p, ja, jb, jc = mat_file
    out = tmp_path / "mpii.npz"
    rc = mpii.main(["--mat", str(p), "--image-size", "1280", "720", "--out", str(out),
                    "--min-joints", "14"])  # fmt: skip
    assert rc == 0
    ds = load_dataset(out)
    assert list(ds["subject"]) == ["a.jpg", "b.jpg"]
    assert ds.meta["skipped"] == {
        "not_single_person": 1, "no_annorect": 1, "no_annopoints": 1, "test_image": 1,
    }  # fmt: skip
    kp, conf = ds["keypoints_2d"], ds["confidence"]
    # 1-based -> 0-based; names pin left/right; occluded (vis 0 / '0' / []) joints are labels.
    np.testing.assert_allclose(kp[0, H["LHip"]], ja[M["l_hip"]] - 1)
    np.testing.assert_allclose(kp[0, H["RWrist"]], ja[M["r_wrist"]] - 1)
    np.testing.assert_allclose(kp[0, H["Hip"]], ja[M["pelvis"]] - 1)
    np.testing.assert_allclose(kp[0, H["Spine"]], (ja[M["pelvis"]] + ja[M["thorax"]]) / 2 - 1)
    np.testing.assert_allclose(kp[0, H["Neck/Nose"]], ja[M["upper_neck"]] - 1)
    np.testing.assert_array_equal(conf[0], 1.0)
    # Person c: r ankle missing -> RFoot conf 0; pelvis missing -> Hip = mid-hip.
    assert conf[1, H["RFoot"]] == 0
    np.testing.assert_allclose(kp[1, H["Hip"]], (jc[M["l_hip"]] + jc[M["r_hip"]]) / 2 - 1)
    assert conf[1, H["Hip"]] == 1
    np.testing.assert_array_equal(ds["image_size"], [[1280, 720]] * 2)
    # Defaults: all 16 joints required -> person c dropped.
    c = mpii.convert_mat(p, image_size=(1280, 720))
    assert len(c) == 1 and c.meta["skipped"]["too_few_joints"] == 1
    # --all-people --include-test keeps person 2 of image a and image e (c still has 14 joints).
    c = mpii.convert_mat(p, image_size=(1280, 720), single_person=False, include_test=True)
    assert list(c.arrays["subject"]) == ["a.jpg", "a.jpg", "e.jpg"]
    assert list(c.arrays["camera"]) == [0, 1, 0]
    np.testing.assert_allclose(c.arrays["keypoints_2d"][1, H["RHip"]], jb[M["r_hip"]] - 1)


def _write_jpeg_header(path, w, h):
    # SOI, an APP0 segment, then SOF0 with the frame size: enough for the header reader.
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    path.write_bytes(b"\xff\xd8" + app0 + sof + b"\xff\xd9")


@pytest.fixture
def json_file(tmp_path):
    rng = np.random.default_rng(1)
    ja, jb, jc = _joints(rng), _joints(rng), _joints(rng)
    jb_m = jb.copy()
    jb_m[M["l_ankle"]] = -1
    data = [
        {"image": "x.jpg", "center": [1, 2], "scale": 2.0, "joints": ja.tolist(),
         "joints_vis": ["1"] * 15 + [""]},  # string-typed visibility, one empty
        {"image": "y.jpg", "center": [1, 2], "scale": 2.0, "joints": jb_m.tolist(),
         "joints_vis": [0 if i == M["l_ankle"] else 1 for i in range(16)]},
        {"image": "z.jpg", "center": [1, 2], "scale": 2.0, "joints": jc.tolist(),
         "joints_vis": [1] * 16},
        {"image": "z.jpg", "center": [1, 2], "scale": 2.0, "joints": jc.tolist(),
         "joints_vis": [1] * 16},  # two people in z.jpg: not single-person
        {"image": "t.jpg", "center": [5, 5], "scale": 1.0},  # test-split entry: no joints
    ]  # fmt: skip
    p = tmp_path / "train.json"
    p.write_text(json.dumps(data))
    imgs = tmp_path / "images"
    imgs.mkdir()
    for n, (w, h) in {"x.jpg": (1280, 720), "y.jpg": (720, 1280), "z.jpg": (640, 480)}.items():
        _write_jpeg_header(imgs / n, w, h)
    return p, imgs, ja, jb_m


def test_json_values_filters_and_image_headers(json_file):
    p, imgs, ja, _ = json_file
    c = mpii.convert_json(p, image_dir=imgs, min_joints=15)
    a = c.arrays
    assert list(a["subject"]) == ["x.jpg", "y.jpg"]
    assert c.meta["skipped"] == {"no_joints": 1, "not_single_person": 2}
    np.testing.assert_array_equal(a["image_size"], [[1280, 720], [720, 1280]])
    np.testing.assert_allclose(a["keypoints_2d"][0, H["RKnee"]], ja[M["r_knee"]] - 1)
    np.testing.assert_allclose(a["keypoints_2d"][0, H["LShoulder"]], ja[M["l_shoulder"]] - 1)
    assert a["confidence"][1, H["LFoot"]] == 0 and a["keypoints_2d"][1, H["LFoot"]].tolist() == [
        0,
        0,
    ]
    assert a["confidence"][1, H["RFoot"]] == 1
    # Default needs all 16: y.jpg (l ankle missing) dropped.
    assert len(mpii.convert_json(p, image_size=(1280, 720))) == 1


def test_errors_name_file(json_file, tmp_path, capsys):
    p, *_ = json_file
    out = tmp_path / "o.npz"
    # No image size source: clear error, exit 2, nothing written.
    assert mpii.main(["--json", str(p), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "train.json" in err and "--image-size" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".o.npz*"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image": "q.jpg", "joints": [[1, 2]] * 15}]))
    with pytest.raises(DatasetError, match=r"bad\.json.*\(16, 2\)"):
        mpii.convert_json(bad, image_size=(10, 10))
    notmat = tmp_path / "x.mat"
    notmat.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"x\.mat"):
        mpii.convert_mat(notmat, image_size=(10, 10))
    scipy.io.savemat(tmp_path / "y.mat", {"OTHER": 1})
    with pytest.raises(DatasetError, match=r"y\.mat: no 'RELEASE'"):
        mpii.convert_mat(tmp_path / "y.mat", image_size=(10, 10))


def test_real_mpii_json(tmp_path, realdata):
    real = realdata("mpii/test_mpii.json")
    raw = json.loads(real.read_text())
    c_all = mpii.convert_json(real, image_size=(1280, 720), min_joints=1)
    assert len(c_all) == len(raw) == 5
    c = mpii.convert_json(real, image_size=(1280, 720))  # clean: all 16 labelled
    assert len(c) == 3  # two people lack both ankles
    kp, conf = c_all.arrays["keypoints_2d"], c_all.arrays["confidence"]
    lab = conf > 0
    assert np.all((kp[..., 0][lab] >= 0) & (kp[..., 0][lab] < 1280))
    assert np.all((kp[..., 1][lab] >= 0) & (kp[..., 1][lab] < 720))
    for i, d in enumerate(raw):
        j = np.asarray(d["joints"]) - 1
        np.testing.assert_allclose(kp[i, H["LHip"]], j[3])  # MPII id 3 = l hip
        np.testing.assert_allclose(kp[i, H["RHip"]], j[2])  # MPII id 2 = r hip
        np.testing.assert_allclose(kp[i, H["RWrist"]], j[10])
        # Anatomy: head top above the thorax, the pelvis below the thorax (y down).
        assert kp[i, H["Head"], 1] < kp[i, H["Thorax"], 1] < kp[i, H["Hip"], 1]
        assert conf[i, H["RFoot"]] == float(d["joints_vis"][0])
    out = tmp_path / "real.npz"
    assert mpii.main(["--json", str(real), "--image-size", "1280", "720",
                      "--out", str(out)]) == 0  # fmt: skip
    assert len(load_dataset(out)) == 3
