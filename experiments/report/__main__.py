"""`python -m experiments.report`: see the package docstring and `--help`."""

import sys

from experiments.report.cli import main

sys.exit(main())
