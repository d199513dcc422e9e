"""Load the site's udiRoot.conf for the plugin (the runtime's parser, errors as one line)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from shifter_slurm.errors import ShifterSlurmError

if TYPE_CHECKING:
    from shifter_runtime.config import UdiRootConfig


def load(path: str) -> "UdiRootConfig":
    """Parse ``path`` (root-owned, as the runtime demands) or raise ShifterSlurmError."""
    from shifter_runtime.config import load_config
    from shifter_runtime.errors import ShifterError

    try:
        return load_config(path)
    except ShifterError as exc:
        raise ShifterSlurmError(f"shifter_config: {exc}") from None
