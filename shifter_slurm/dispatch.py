"""Hand a SPANK hook to the module of the Slurm context it runs in.

    local / allocator (srun, sbatch, salloc as the user)  -> allocator
    job_script (slurmstepd spank prolog|epilog, root)      -> prolog / epilog
    remote (slurmstepd of a step, root)                    -> stepd
The C shim never starts Python in slurmd, and calls here only when a hook has
work to do (see spank_plugin/shifter_slurm.c).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shifter_slurm import plugconf
from shifter_slurm.errors import ShifterSlurmError

if TYPE_CHECKING:
    from shifter_slurm.spank import Spank


def run(hook: str, spank: "Spank", args: list[str]) -> int:
    """Run ``hook``; raise ShifterSlurmError with a one-line reason on failure."""
    try:
        conf = plugconf.parse(args)
    except ValueError as exc:
        raise ShifterSlurmError(str(exc)) from None
    ctx = spank.context()
    if ctx in ("local", "allocator") and hook == "init_post_opt":
        from shifter_slurm import allocator

        return allocator.init_post_opt(spank, conf)
    if ctx == "job_script" and hook == "job_prolog":
        from shifter_slurm import prolog

        return prolog.job_prolog(spank, conf)
    if ctx == "job_script" and hook == "job_epilog":
        from shifter_slurm import epilog

        return epilog.job_epilog(spank, conf)
    if ctx == "remote" and hook == "task_post_fork":
        from shifter_slurm import extern

        return extern.adopt(spank, conf)
    if ctx == "remote":
        from shifter_slurm import stepd

        return stepd.run(hook, spank, conf)
    return 0
