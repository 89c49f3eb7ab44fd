"""The report's settings: what each row trains (config and overrides), its table, the budget
and the columns; and the facts the text states about them, read from their configs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from experiments import datasets

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class World:
    """A synthetic world the report trains in: its name (`--worlds`; the runs of a world other
    than the default live in `<runs-dir>/<name>/`) and the overrides that make it."""

    name: str
    label: str  # what sets it apart, in the tables
    overrides: tuple[str, ...] = ()


DEFAULT_WORLD = World("default", "default world")
#: The world whose lab (lab_train, lab_val) never shows the rare (floor and inverted)
#: movements: they reach training only through the 2D-only web data; the test sets still
#: show them.
LAB_RARE_FALSE = World(
    "lab_rare_false", "lab without rare movements", ("--config.data.synthetic.lab_rare=False",)
)
WORLDS = (DEFAULT_WORLD, LAB_RARE_FALSE)
WORLD_BY_NAME = {w.name: w for w in WORLDS}


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str  # run directory (under `<runs-dir>`) and row key
    label: str  # row label in the tables
    config: str  # experiments/<file>.py[:variants]
    group: str  # 'table4' (methods) | 'ablation' (Table 4's controls) | 'table5' (detected 2D)
    overrides: tuple[str, ...] = ()  # the world's, then the setting's
    world: str = DEFAULT_WORLD.name

    @property
    def full_label(self) -> str:
        """The label outside its own table (Table 5 rows share names with Table 4's, and the
        rows of another world with the default world's)."""
        label = self.label + (", detected 2D" if self.group == "table5" else "")
        return label if self.world == DEFAULT_WORLD.name else f"{label} ({self.world})"

    @property
    def by_movement(self) -> bool:
        """Whether the run is also scored per movement (`experiments.evaluate`, ground-truth
        2D): every Table 4 row, methods and controls, in every world."""
        return self.group in ("table4", "ablation")


def named_in(world: World, name: str) -> str:
    """The name of the default world's setting `name` trained in `world`: `<world>/<name>`
    (the default world's: `name`)."""
    return name if world == DEFAULT_WORLD else f"{world.name}/{name}"


def in_world(setting: Setting, world: World) -> Setting:
    """`setting` trained in `world` (`named_in`), the world's overrides first."""
    return dataclasses.replace(
        setting,
        name=named_in(world, setting.name),
        overrides=(*world.overrides, *setting.overrides),
        world=world.name,
    )


#: The methods the report compares: PoseAug as released (`poseaug.py:faithful`), the paper's
#: method as written (`joint.py:paper_method`) and ours (`joint.py`, the README's main command:
#: the paper plus departures A-F of its docstring).
POSEAUG = "experiments/poseaug.py:faithful"
JOINT = "experiments/joint.py"
PAPER = "experiments/joint.py:paper_method"
SIZE_BLIND = "--config.model.lifter.input_norm=root_scale"
NO_2D_ONLY = "--config.stages.end_to_end.use_2d_only=False"

DEFAULT_SETTINGS: tuple[Setting, ...] = (
    Setting("supervised", "supervised (lifter only)", "experiments/supervised.py", "table4"),
    Setting("poseaug", "PoseAug (as released)", POSEAUG, "table4"),
    Setting("joint_paper", "CameraPose (the paper as written)", PAPER, "table4"),
    Setting("joint", "CameraPose (ours, the default)", JOINT, "table4"),
    # Controls: is ours' gain the size-blind input (D) or the camera branch and the 2D-only
    # data? PoseAug with the same input; ours without the 2D-only batches.
    Setting("poseaug_blind", "PoseAug, size-blind lifter", POSEAUG, "ablation", (SIZE_BLIND,)),
    Setting(
        "joint_no2d", "CameraPose (ours) without 2D-only data", JOINT, "ablation", (NO_2D_ONLY,)
    ),
    Setting("poseaug_det", "PoseAug (as released)", f"{POSEAUG},detected", "table5"),
    Setting("poseaug_det_ref", "PoseAug + refiner", f"{POSEAUG},detected,refiner", "table5"),
    Setting(
        "joint_det_noref",
        "CameraPose (ours) without refiner",
        f"{JOINT}:detected,no_refiner",
        "table5",
    ),
    Setting("joint_det", "CameraPose (ours)", f"{JOINT}:detected", "table5"),
)
#: The default world's settings trained again in the world whose lab never shows the rare
#: movements: does ours' 2D-only data (compare ours without it) reach the movements the lab
#: lacks, and does the camera branch do more than the size-blind input (PoseAug with it)?
IN_BOTH_WORLDS = ("joint", "joint_no2d", "poseaug_blind")
_DEFAULT_SETTINGS = {s.name: s for s in DEFAULT_SETTINGS}
SETTINGS: tuple[Setting, ...] = (
    *DEFAULT_SETTINGS,
    *(in_world(_DEFAULT_SETTINGS[n], LAB_RARE_FALSE) for n in IN_BOTH_WORLDS),
)
BY_NAME = {s.name: s for s in SETTINGS}

#: The report's budget (applied to every setting alike): 3% of a pass over the 40k lab pairs
#: per "epoch" (4-5 steps of 256), every stage keeping its length in epochs.
EPOCH_SCALE = 0.03
TEST_SAMPLES_EACH_EPOCH = 1024
SETS = datasets.SYNTHETIC_TESTS
# Table columns: (set, metric, header).
COLUMNS = (
    ("lab_val", "mpjpe", "lab MPJPE"),
    ("lab_val", "pa_mpjpe", "lab PA"),
    ("rig2_test", "mpjpe", "rig2 MPJPE"),
    ("rig2_test", "pck", "rig2 PCK"),
    ("rig2_test", "auc", "rig2 AUC"),
    ("wild_test", "mpjpe", "wild MPJPE"),
    ("wild_test", "pa_mpjpe", "wild PA"),
)

#: Rows of Table 4 (methods, then controls) and of Table 5 in the default world, in SETTINGS
#: order; Table 4's rows in every other world.
TABLE4_ROWS = tuple(s.name for s in DEFAULT_SETTINGS if s.group in ("table4", "ablation"))
TABLE5_ROWS = tuple(s.name for s in DEFAULT_SETTINGS if s.group == "table5")
WORLD_TABLE4_ROWS = {
    w.name: tuple(s.name for s in SETTINGS if s.world == w.name and s.by_movement)
    for w in WORLDS[1:]
}
#: The methods the budget check ranks.
RANKED = tuple(s.name for s in DEFAULT_SETTINGS if s.group == "table4")


def setting_facts(settings: Sequence[Setting] = SETTINGS) -> dict:
    """What the text states about the settings, read from the configs `experiments.run` trains
    (loaded with each setting's overrides): stage lengths in epochs per setting, the validation
    subset, the world's split sizes and the number of validations (epochs of the last stage)."""
    from experiments import configs_common

    configs = {st.name: configs_common.load_config(st.config, st.overrides) for st in settings}
    stages = {
        name: {s: (c.stages[s].epochs, c.stages[s].lr) for s in datasets.stage_names(c)}
        for name, c in configs.items()
    }
    sizes = {datasets.synthetic_sizes(c)["lab_val"] for c in configs.values()}
    train_sizes = {datasets.synthetic_sizes(c)["lab_train"] for c in configs.values()}
    return {
        "stages": stages,
        "val_samples": sorted({c.eval.val_max_samples for c in configs.values()}),
        "lab_val": sorted(sizes),
        "lab_train": sorted(train_sizes),
        "validations": sorted({list(st.values())[-1][0] for st in stages.values()}),
    }
