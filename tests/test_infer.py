"""experiments.infer and cpose_jax.io_keypoints: a projection round trip through the CLI with
the session's tiny trained model, pixel-scale equivariance, and COCO inputs with missing
keypoints, zero-area boxes, images of different sizes, empty / malformed files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.image import imsave

from cpose_jax.data import synthetic_motion
from cpose_jax.io_keypoints import KeypointInputError, Keypoints, load_keypoints


def _project(x_cam, k):
    """Pinhole projection in numpy (pixels): x = fx X/Z + cx, y = fy Y/Z + cy."""
    return np.stack(
        [
            k[:, None, 0] * x_cam[..., 0] / x_cam[..., 2] + k[:, None, 2],
            k[:, None, 1] * x_cam[..., 1] / x_cam[..., 2] + k[:, None, 3],
        ],
        -1,
    )


def test_round_trip_known_camera(trained, tmp_path):
    from cpose_jax.data import schema
    from experiments import infer

    ds = schema.load_dataset(trained["world"] / "lab_val.npz")
    n = 24
    # Everyday movements: the tiny model's accuracy is checked where it has data to learn from.
    i = np.flatnonzero(np.isin(ds["action"], synthetic_motion.EVERYDAY))[:n]
    pose, k, size = ds["pose_3d"][i], ds["intrinsics"][i], ds["image_size"][i]
    px = _project(pose, k)  # the known 3D through the known camera
    np.savez(
        tmp_path / "in.npz",
        keypoints=np.concatenate([px, np.ones((n, 17, 1))], -1),
        image_size=size,
        layout="h36m17",
        image_id=np.arange(100, 100 + n),
    )
    rc = infer.main(
        [
            f"--workdir={trained['workdir']}",
            f"--input={tmp_path / 'in.npz'}",
            f"--output={tmp_path / 'pred.json'}",
            f"--figures={tmp_path / 'figs'}",
            "--max-figures=3",
            "--batch-size=16",  # two chunks: 16 + 8 padded to the 16 bucket
        ]
    )
    assert rc == 0
    out = np.load(tmp_path / "pred.npz")
    doc = json.loads((tmp_path / "pred.json").read_text())
    assert doc["num_people"] == n and doc["model"]["refiner_applied"]
    assert doc["people"][3]["image_id"] == "103"
    np.testing.assert_allclose(doc["people"][5]["pose_3d"], out["pose_3d"][5], atol=1e-4)
    np.testing.assert_array_equal(out["keypoints_2d"], px.astype(np.float32))

    # Outputs are mutually consistent in pixels: reprojection = project(pose_3d + t, camera).
    cam = out["intrinsics"]
    x_cam = out["pose_3d"] + out["translation"][:, None]
    np.testing.assert_allclose(out["reprojection"], _project(x_cam, cam), atol=2e-2)
    cam_json = doc["people"][0]["camera"]
    np.testing.assert_allclose(
        [cam_json["fx"], cam_json["fy"], cam_json["cx"], cam_json["cy"]], cam[0], rtol=1e-5
    )
    assert np.all(out["translation"][:, 2] > 0) and np.all(out["pose_3d"][:, 0] == 0)

    # Sensible: the trained model recovers the known 3D far better than a zero pose would, and
    # its camera reprojects near the input (pixels scaled back correctly).
    rel = pose - pose[:, :1]
    err = np.linalg.norm(out["pose_3d"] - rel, axis=-1).mean() * 1000
    zero = np.linalg.norm(rel, axis=-1).mean() * 1000
    assert err < 0.4 * zero, (err, zero)
    spread = np.linalg.norm(px - px.mean(1, keepdims=True), axis=-1).mean()
    assert out["reprojection_error_px"].mean() < 0.35 * spread

    png = sorted((tmp_path / "figs").glob("*.png"))
    assert len(png) == 1 and png[0].stat().st_size > 20_000


def test_pixel_scale_equivariance(trained):
    from experiments import evaluate, infer

    model = evaluate.load_model(trained["workdir"])
    rng = np.random.default_rng(0)
    kp = rng.uniform(200, 700, (5, 17, 2)).astype(np.float32)
    conf = rng.uniform(0.2, 1.0, (5, 17)).astype(np.float32)
    size = np.tile([[900.0, 1000.0]], (5, 1)).astype(np.float32)

    def run(scale):
        k = Keypoints(
            kp * scale, conf, size * scale, np.arange(5).astype(str), np.arange(5), {}, "h36m17"
        )
        return infer.infer(model, k, batch_size=8)

    a, b = run(1.0), run(2.0)  # the same image at twice the resolution
    np.testing.assert_allclose(b["pose_3d"], a["pose_3d"], atol=1e-4)
    np.testing.assert_allclose(b["translation"], a["translation"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b["intrinsics"], 2 * a["intrinsics"], rtol=1e-4)
    np.testing.assert_allclose(b["reprojection"], 2 * a["reprojection"], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(b["keypoints_2d_refined"], 2 * a["keypoints_2d_refined"], atol=1e-2)


def _coco17(center, scale=100.0):
    """A plausible standing COCO-17 person (pixels) around `center`."""
    pts = np.array(
        [
            [0, -1.6], [-0.08, -1.66], [0.08, -1.66], [-0.16, -1.6], [0.16, -1.6],  # face
            [-0.35, -1.3], [0.35, -1.3], [-0.45, -0.8], [0.45, -0.8], [-0.5, -0.35], [0.5, -0.35],
            [-0.2, -0.3], [0.2, -0.3], [-0.22, 0.4], [0.22, 0.4], [-0.24, 1.1], [0.24, 1.1],
        ]
    )  # fmt: skip
    return pts * scale + np.asarray(center, float)


def _triplets(xy, vis):
    return np.concatenate([xy, np.asarray(vis, float)[:, None]], -1).reshape(-1).tolist()


def test_coco_inputs(trained, tmp_path, capsys):
    from experiments import infer

    vis = np.full(17, 2)
    vis_missing = vis.copy()
    vis_missing[[0, 1, 2, 9, 15]] = 0  # nose, an eye, a wrist, an ankle not labelled
    coco = {
        "images": [
            {"id": 1, "width": 640, "height": 480, "file_name": "one.png"},
            {"id": 2, "width": 1920, "height": 1080},
        ],
        "annotations": [
            {
                "image_id": 1,
                "keypoints": _triplets(_coco17((320, 260)), vis),
                "bbox": [2, 8, 24, 38],
            },
            {"image_id": 1, "keypoints": _triplets(_coco17((150, 260), 60), vis_missing)},
            {"image_id": 2, "keypoints": [0] * 51, "bbox": [10, 10, 0, 0], "num_keypoints": 0},
            {"image_id": 2, "keypoints": _triplets(_coco17((1200, 560), 250), vis)},
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    kp = load_keypoints(path)
    assert len(kp) == 3 and kp.skipped["no_keypoints"] == 1
    assert kp.skipped["zero_area_box (kept if keypoints)"] == 1
    np.testing.assert_array_equal(kp.image_size, [[640, 480], [640, 480], [1920, 1080]])
    np.testing.assert_array_equal(kp.source_index, [0, 1, 3])
    # Visibility 0 -> confidence 0 on the mapped joints (RWrist = COCO 10 is present; LWrist
    # = COCO 9 and LFoot = COCO 15 are missing); the Hip is the mid-hip.
    assert kp.confidence[1, 13] == 0 and kp.confidence[1, 6] == 0 and kp.confidence[1, 16] == 1
    np.testing.assert_allclose(kp.keypoints_2d[0, 0], _coco17((320, 260))[[11, 12]].mean(0))

    assert list(kp.file_name) == ["one.png", "one.png", ""]
    imsave(tmp_path / "one.png", np.random.default_rng(0).uniform(size=(480, 640, 3)))
    argv = [f"--workdir={trained['workdir']}", f"--input={path}", f"--output={tmp_path / 'o'}"]
    rc = infer.main([*argv, f"--figures={tmp_path / 'f.png'}", f"--image-dir={tmp_path}"])
    assert rc == 0
    assert (tmp_path / "f.png").stat().st_size > 50_000  # 3 rows, the noise image under row 1-2
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc["people"][1]["file_name"] == "one.png"
    assert [p["image_size"] for p in doc["people"]] == [[640, 480], [640, 480], [1920, 1080]]
    for p in doc["people"]:
        assert np.all(np.isfinite(p["pose_3d"])) and np.all(np.isfinite(p["reprojection_2d"]))
    assert doc["input"]["skipped"]["no_keypoints"] == 1

    # A results list (detector output) with one image size for all, and an empty detection list.
    person = _triplets(_coco17((300, 300)), np.full(17, 0.9))
    results = [{"image_id": 7, "category_id": 1, "keypoints": person, "score": 0.8}]
    (tmp_path / "res.json").write_text(json.dumps(results))
    kp = load_keypoints(tmp_path / "res.json", image_size=(800, 600))
    assert len(kp) == 1 and np.allclose(kp.confidence[0, 1:4], 0.9)
    (tmp_path / "none.json").write_text("[]")
    capsys.readouterr()
    argv = [f"--workdir={trained['workdir']}", f"--input={tmp_path / 'none.json'}"]
    assert infer.main([*argv, f"--output={tmp_path / 'n'}"]) == 0
    assert json.loads((tmp_path / "n.json").read_text())["num_people"] == 0


_ANN = {"image_id": 1, "keypoints": [1] * 51}
_SIZE = ["--image-size", "9", "9"]


def _coco(size, image_id=1):
    image = {"id": 1, "width": size[0], "height": size[1]}
    return json.dumps({"images": [image], "annotations": [dict(_ANN, image_id=image_id)]})


@pytest.mark.parametrize(
    "name,content,extra,message",
    [
        ("empty.json", "", [], "empty file"),
        ("bad.json", '[{"image_id": 1, "keypoints": [1, 2', [], "not valid JSON (line 1"),
        ("short.json", json.dumps([_ANN]).replace("[1, 1", "[1"), _SIZE, "expected 17 (x, y, s"),
        ("nosize.json", json.dumps([_ANN]), [], "no image sizes"),
        ("unknown_img.json", _coco([5, 5], image_id=3), [], "entry 0: image_id: 3 is not in"),
        ("zero_size.json", _coco([0, 5]), [], "images[0]: width: must be a positive"),
        ("obj.json", json.dumps({"foo": 1}), [], "'annotations'"),
        ("arr.npy", None, [], "pass --image-size"),
        ("arr2.npy", None, ["--image-size", "100", "100", "--layout", "mpii16"], "(N, 16, 2)"),
        ("empty.npz", "", [], "empty file"),
        ("pic.png", "x", [], "unsupported input type"),
        ("missing.json", None, [], "no such file"),
    ],
)  # fmt: skip
def test_bad_inputs_clean_error(tmp_path, capsys, name, content, extra, message):
    from experiments import infer

    path = tmp_path / name
    if name.startswith("arr"):
        np.save(path, np.ones((3, 17, 3)))
    elif content is not None:
        path.write_text(content)
    with pytest.raises(KeypointInputError, match=None):
        load_keypoints(
            path,
            image_size=(9, 9) if "short" in name else None,
            layout="mpii16" if name == "arr2.npy" else None,
        )
    # The CLI turns it into one line on stderr and exit status 2, before loading any model.
    argv = [f"--workdir={tmp_path / 'no_model'}", f"--input={path}", f"--output={tmp_path / 'o'}"]
    rc = infer.main([*argv, *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert message in err, err
