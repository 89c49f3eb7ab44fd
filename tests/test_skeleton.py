"""Skeletons: joint order pinned by name, flip, bones, PoseAug parts, static under jit."""

import jax
import jax.numpy as jnp
import pytest

from cpose_jax import skeleton as sk
from cpose_jax.skeleton import H36M16, H36M17, JOINTS_3DHP14, Skeleton


class TestJointOrder:
    def test_h36m17_matches_contract(self):
        # DESIGN §1 / VideoPose3D, copied by hand.
        assert H36M17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
        assert H36M17.num_joints == 17 and H36M17.num_bones == 16
        assert H36M17.joint_names[0] == "Hip" and H36M17.joint_names[9] == "Neck/Nose"

    def test_h36m16_is_poseaug_order(self):
        # poseaug.md §1.2 table.
        assert H36M16.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14)
        assert "Neck/Nose" not in H36M16.joint_names
        assert H36M16.joint_names[H36M16.parents[H36M16.joint_index("Head")]] == "Thorax"

    def test_right_side_at_1_3_and_14_16(self):
        # Other libraries (mmhuman3d, SPIN) put the LEFT leg at 1-3: pin ours by name.
        assert H36M17.joint_names[1:4] == ("RHip", "RKnee", "RFoot")
        assert H36M17.joint_names[14:17] == ("RShoulder", "RElbow", "RWrist")
        assert H36M17.joint_names[4:7] == ("LHip", "LKnee", "LFoot")
        assert H36M17.joint_names[11:14] == ("LShoulder", "LElbow", "LWrist")
        assert H36M17.right_joints == (1, 2, 3, 14, 15, 16)
        assert H36M17.left_joints == (4, 5, 6, 11, 12, 13)
        # PoseAug's flip pairs (poseaug.md §1.2).
        assert H36M16.right_joints == (1, 2, 3, 13, 14, 15)
        assert H36M16.left_joints == (4, 5, 6, 10, 11, 12)


class TestFlip:
    @pytest.mark.parametrize("skel", [H36M17, H36M16], ids=lambda s: s.name)
    def test_flip_perm_swaps_sides_by_name(self, skel):
        for i, name in enumerate(skel.joint_names):
            flipped = skel.joint_names[skel.flip_perm[i]]
            if name[0] in "LR" and name[1].isupper():
                assert flipped == {"L": "R", "R": "L"}[name[0]] + name[1:]
            else:
                assert flipped == name
        assert tuple(skel.flip_perm[j] for j in skel.flip_perm) == tuple(range(skel.num_joints))


class TestBones:
    def test_bone_pairs_and_indices(self):
        assert H36M17.bone_pairs[0] == (0, 1)
        assert H36M17.bone_pairs[9] == (9, 10)  # Neck/Nose -> Head
        assert H36M17.bone_index("RKnee") == 1
        assert H36M17.bone_names[H36M17.bone_index("LWrist")] == "LElbow-LWrist"
        with pytest.raises(ValueError, match="root"):
            H36M17.bone_index("Hip")

    def test_unknown_joint_raises(self):
        with pytest.raises(ValueError, match="no joint 'Nose'"):
            H36M16.joint_index("Nose")
        with pytest.raises(ValueError, match="Neck/Nose"):
            H36M16.subset(["Neck/Nose"])

    def test_chain_bones(self):
        assert H36M17.chain_bones("Thorax", "Head") == (8, 9)
        assert H36M16.chain_bones("Thorax", "Head") == (8,)
        with pytest.raises(ValueError, match="not an ancestor"):
            H36M17.chain_bones("LHip", "RFoot")


class TestParts:
    def test_h36m16_parts_equal_poseaug_lists(self):
        # The hard-coded bone lists of PoseAug's PosDiscriminator (poseaug.md §1.4).
        assert H36M16.part_bones == {
            "left_arm": (7, 9, 10, 11),
            "right_arm": (7, 12, 13, 14),
            "right_leg": (0, 1, 2, 3, 6),
            "left_leg": (0, 3, 4, 5, 6),
            "torso": (0, 3, 6, 7, 8, 9, 12),
        }
        assert tuple(H36M16.part_bones) == sk.PART_NAMES

    def test_h36m17_parts_same_bones_by_name_plus_neck_chain(self):
        names16 = {p: {H36M16.bone_names[k] for k in b} for p, b in H36M16.part_bones.items()}
        names17 = {p: {H36M17.bone_names[k] for k in b} for p, b in H36M17.part_bones.items()}
        for part in sk.PART_NAMES:
            if part != "torso":
                assert names17[part] == names16[part]
        # Thorax-Head becomes the two-bone neck chain on H36M17.
        assert names16["torso"] - names17["torso"] == {"Thorax-Head"}
        assert names17["torso"] - names16["torso"] == {"Thorax-Neck/Nose", "Neck/Nose-Head"}


class TestSubsets:
    @pytest.mark.parametrize("skel", [H36M17, H36M16], ids=lambda s: s.name)
    def test_3dhp14(self, skel):
        idx = skel.subset(JOINTS_3DHP14)
        assert len(set(idx)) == 14
        left_out = set(skel.joint_names) - {skel.joint_names[i] for i in idx}
        assert left_out <= {"Hip", "Spine", "Neck/Nose"} and {"Hip", "Spine"} <= left_out


class TestStatic:
    def test_hashable_and_equal_by_value(self):
        copy = Skeleton.from_names("h36m17", H36M17.joint_names, H36M17.parents)
        assert copy == H36M17 and hash(copy) == hash(H36M17)
        assert len({H36M17, H36M16, copy}) == 2

    def test_static_argument_under_jit(self):
        calls = []

        def f(x, skel):
            calls.append(skel.name)
            return x[..., jnp.asarray(skel.flip_perm)]

        g = jax.jit(f, static_argnums=1)
        x = jnp.arange(17.0)
        assert jnp.array_equal(g(x, H36M17), x[jnp.asarray(H36M17.flip_perm)])
        g(x + 1, Skeleton.from_names("h36m17", H36M17.joint_names, H36M17.parents))
        assert calls == ["h36m17"]  # the equal copy hit the cache: traced once

    def test_get_skeleton(self):
        assert sk.get_skeleton("h36m17") is H36M17 and sk.get_skeleton("h36m16") is H36M16
        with pytest.raises(ValueError, match="Unknown skeleton"):
            sk.get_skeleton("coco")

    @pytest.mark.parametrize(
        "names,parents,flip,match",
        [
            (("a", "b"), (-1,), (0, 1), "must match"),
            (("a", "b"), (-1, 1), (0, 1), "parent before"),
            (("a", "a"), (-1, 0), (0, 1), "duplicate"),
            (("a", "b", "c"), (-1, 0, 0), (1, 2, 0), "involution"),
        ],
    )
    def test_invalid_skeletons_raise(self, names, parents, flip, match):
        with pytest.raises(ValueError, match=match):
            Skeleton("bad", names, parents, flip)
