"""Datasets: the on-disk schema, the synthetic world, and the model-space batch pipeline.

Submodules: ``schema`` (format, validation, atomic save/load), ``synthetic`` (the deterministic
synthetic world written in the schema), ``pipeline`` (normalised, shuffled, sharded batches),
``joint_maps`` (mappings from the real datasets' joint orders to H36M17).
"""

from cpose_jax.data.schema import (
    FORMAT_VERSION,
    Dataset,
    DatasetError,
    load_dataset,
    save_dataset,
    validate,
)

__all__ = [
    "FORMAT_VERSION",
    "Dataset",
    "DatasetError",
    "load_dataset",
    "save_dataset",
    "validate",
]
