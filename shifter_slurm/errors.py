"""The error type of the Slurm integration: one line, shown to the user or in slurmd's log."""
from __future__ import annotations

from shifter_runtime.errors import ShifterError


class ShifterSlurmError(ShifterError):
    """A refused submission, a bad plugstack.conf argument or a failed node setup."""
