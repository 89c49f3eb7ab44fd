"""The data a config names: the synthetic world or prepared files, as model-space arrays.

`load_data(config)` gives the 2D-3D training pairs, the 2D-only set, the validation set and the
test sets (`test_sets`); evaluation and inference find the run's synthetic world with
`synthetic_world(config)`. Also the config checks shared by `experiments.build`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ml_collections
import numpy as np

from cpose_jax.data import pipeline, schema, synthetic
from cpose_jax.train import recipe

# The synthetic world's evaluation splits (one list, in the world module).
SYNTHETIC_TESTS = synthetic.TEST_SPLITS
SYNTHETIC_ROLES = {"paired": "lab_train", "two_d_only": "wild_2d", "val": "lab_val"}


class ConfigError(ValueError):
    """A config value that cannot work; the message says which key and why."""


def stage_names(config) -> list[str]:
    names = [s.strip() for s in config.stages.order.split(",") if s.strip()]
    for name in names:
        if name not in config.stages or not isinstance(
            config.stages[name], ml_collections.ConfigDict
        ):
            raise ConfigError(f"stages.order names unknown stage {name!r}")
        kind = config.stages[name].kind
        if kind not in recipe.STAGE_KINDS:
            raise ConfigError(f"stages.{name}.kind must be refiner|supervised|gan, got {kind!r}")
    if not names:
        raise ConfigError("stages.order is empty")
    return names


@dataclasses.dataclass
class Data:
    paired: dict[str, np.ndarray]
    two_d_only: dict[str, np.ndarray] | None
    val: dict[str, np.ndarray] | None
    tests: dict[str, dict[str, np.ndarray]]
    pck_sets: tuple[str, ...]
    sources: dict[str, str]


def _load(path: str | Path, input_2d: str) -> dict[str, np.ndarray]:
    return pipeline.to_model_space(schema.load_dataset(path), input_2d=input_2d)


def needs_two_d_only(config) -> bool:
    return any(
        config.stages[s].kind == "gan" and config.stages[s].use_2d_only for s in stage_names(config)
    )


def synthetic_sizes(config) -> dict[str, int]:
    """{split: number of samples} of the synthetic world `config.data.synthetic` describes."""
    scale = config.data.synthetic.scale
    return {k: max(1, round(v * scale)) for k, v in synthetic.DEFAULT_SIZES.items()}


def synthetic_world(config, *, verbose: bool = False) -> dict[str, Path]:
    """{split: path} of the synthetic world `config.data.synthetic` describes (generated once,
    then read from the cache; training, evaluation and inference all call this)."""
    s = config.data.synthetic
    world = synthetic.make_world(
        s.seed,
        sizes=synthetic_sizes(config),
        cache_dir=s.cache_dir or None,
        wild_rare_fraction=s.rare_fraction,
        lab_rare=s.get("lab_rare", True),  # (absent from run configs before the option)
        held_out=s.get("held_out", ""),
        verbose=verbose,
    )
    return {k: Path(v) for k, v in world.items()}


def test_sets(config, *, world=None) -> tuple[dict[str, str], tuple[str, ...]]:
    """({name: path} of the config's test sets, names of its 3DHP-like (PCK) sets): the
    `data.tests` items, else the synthetic world's test splits (none for file runs)."""
    d = config.data
    pck = tuple(s.strip() for s in d.pck_sets.split(",") if s.strip())
    tests = {}
    for item in filter(None, d.tests.split(",")):
        name, sep, path = item.partition("=")
        if not sep:
            raise ConfigError(f"data.tests items must be name=path, got {item!r}")
        tests[name.strip()] = path.strip()
    if not tests and d.source == "synthetic":
        world = world or synthetic_world(config)
        tests = {s: str(world[s]) for s in SYNTHETIC_TESTS}
    return tests, pck


def load_data(config, *, verbose: bool = False) -> Data:
    d = config.data
    if d.source not in ("synthetic", "files"):
        raise ConfigError(f"data.source must be synthetic|files, got {d.source!r}")
    if d.input_2d not in pipeline.INPUT_2D:
        raise ConfigError(f"data.input_2d must be one of {pipeline.INPUT_2D}, got {d.input_2d!r}")
    paths: dict[str, str] = {}
    world = synthetic_world(config, verbose=verbose) if d.source == "synthetic" else None
    if world is not None:
        paths = {k: str(world[s]) for k, s in SYNTHETIC_ROLES.items()}
    for role in ("paired", "two_d_only", "val"):
        if d[role]:
            paths[role] = d[role]
    tests, pck = test_sets(config, world=world)
    if "paired" not in paths:
        raise ConfigError("data.paired (a prepared 2D-3D .npz) is required with data.source=files")
    if needs_two_d_only(config) and "two_d_only" not in paths:
        raise ConfigError("a stage uses 2D-only data (use_2d_only) but data.two_d_only is empty")
    inp = d.input_2d
    paired = _load(paths["paired"], inp)
    for key in pipeline.PAIRED_KEYS:
        if key not in paired:
            raise ConfigError(f"{paths['paired']}: the 2D-3D training set lacks {key!r}")
    two = _load(paths["two_d_only"], inp) if needs_two_d_only(config) else None
    if two is not None:
        two = {k: two[k] for k in pipeline.UNPAIRED_KEYS}
    val = _load(paths["val"], inp) if "val" in paths else None
    test_arrays = {name: _load(p, inp) for name, p in tests.items()}
    return Data(
        paired,
        two,
        val,
        test_arrays,
        pck,
        dict(paths, **{f"test:{k}": v for k, v in tests.items()}),
    )
