"""Job steps (slurmstepd, root): extern-step sshd adoption and CCM task placement."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shifter_slurm.plugconf import PlugConf
    from shifter_slurm.spank import Spank


def run(hook: str, spank: "Spank", conf: "PlugConf") -> int:
    """Remote-context hooks; nothing to do until sshd/ccm support lands."""
    return 0
