"""plugstack.conf arguments of shifter_slurm.so (pure).

    required /opt/shifter/lib/shifter_slurm.so shifter_config=/etc/shifter/udiRoot.conf \
        memory_cgroup=/sys/fs/cgroup/memory enable_sshd=1 extern_cgroup=1

Unknown or malformed arguments are errors naming the argument, so a typo in
plugstack.conf fails every hook that starts Python loudly instead of silently
disabling a feature.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CONFIG = "/etc/shifter/udiRoot.conf"
_FLAGS = ("extern_cgroup", "enable_ccm", "enable_sshd")


@dataclass(frozen=True)
class PlugConf:
    """The parsed plugstack.conf line."""

    shifter_config: str = DEFAULT_CONFIG
    extern_setup: str | None = None
    extern_cgroup: bool = False
    memory_cgroup: str | None = None
    enable_ccm: bool = False
    enable_sshd: bool = False
    long_options: bool = False


def parse(args: list[str]) -> PlugConf:
    """Parse the arguments after the plugin path; raise ValueError naming a bad one."""
    values: dict[str, object] = {}
    for arg in args:
        if arg == "long_options":
            values["long_options"] = True
            continue
        key, sep, val = arg.partition("=")
        if not sep:
            raise ValueError(f"plugstack.conf: shifter_slurm.so: unknown argument '{arg}'")
        if key in _FLAGS:
            if val not in ("0", "1"):
                raise ValueError(f"plugstack.conf: shifter_slurm.so: {key} must be 0 or 1, not '{val}'")
            values[key] = val == "1"
        elif key in ("shifter_config", "extern_setup", "memory_cgroup"):
            if not val.startswith("/"):
                raise ValueError(f"plugstack.conf: shifter_slurm.so: {key} must be an absolute path, not '{val}'")
            values[key] = val
        else:
            raise ValueError(f"plugstack.conf: shifter_slurm.so: unknown argument '{arg}'")
    conf = PlugConf(**values)  # type: ignore[arg-type]
    if conf.enable_ccm and not conf.enable_sshd:
        raise ValueError("plugstack.conf: shifter_slurm.so: enable_ccm=1 needs enable_sshd=1")
    return conf
