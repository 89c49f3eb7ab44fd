"""Host-side float64 evaluation of the library's (JAX) geometry for data preparation."""

from __future__ import annotations

import contextlib

import jax


@contextlib.contextmanager
def host_x64():
    """Context: float64 enabled and the default device = the host CPU (when that backend is
    available; with e.g. ``JAX_PLATFORMS=cuda`` the default device is kept). Data work then
    never occupies an accelerator and keeps float64 even on TPU hosts."""
    try:
        # This process's own CPU device: in a multi-process run jax.devices("cpu")[0] is
        # process 0's, whose results other processes cannot read back.
        cpu = jax.local_devices(backend="cpu")[0]
    except RuntimeError:
        cpu = None
    with jax.enable_x64(True):
        if cpu is None:
            yield
        else:
            with jax.default_device(cpu):
                yield
