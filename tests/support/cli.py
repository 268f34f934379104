"""The ``locator`` command the tests and benchmarks run as a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

LOCATOR = str(Path(sys.executable).parent / "locator")
"""The console script installed beside the interpreter running the tests (or the bench):
the command as an operator types it, from the same environment."""
