"""Every converter's command line starts and documents its main options (`python -m
data_prep.<name> --help`)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# converter -> words its --help must show
HELP = {
    "coco": ["--ann"],
    "detections": ["--results", "--npy"],
    "h36m": ["--data-3d", "S9,S11"],
    "mpi_inf_3dhp": ["--root", "--joints3d"],
    "mpii": ["--mat", "--json"],
    "pw3d": ["--root", "campose_valid"],
    "skipose": ["--labels"],
}


@pytest.mark.parametrize("name", sorted(HELP))
def test_cli_help(name):
    r = subprocess.run([sys.executable, "-m", f"data_prep.{name}", "--help"], cwd=REPO,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    for word in HELP[name]:
        assert word in r.stdout, (name, word)
