"""Test-wide set-up: four fake CPU devices, so sharded code can be checked against one device.

This must run before JAX initialises its backend; pytest imports conftest.py first.
Unsharded code still runs on device 0 exactly as it would on a one-device machine.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
