"""What ``shifter`` reads from the caller's environment: which ``udiRoot.conf``,
and the image, volume and module variables (the ``SLURM_SPANK_`` twins are set
by Slurm for jobs submitted with the plugin's options).

No imports: ``shifter``'s prepared launch needs these before anything else is loaded.
"""

DEFAULT_CONFIG = "/etc/shifter/udiRoot.conf"
CONFIG_ENV = "SHIFTER_CONFIG"
IMAGE_TYPE_ENV = ("SHIFTER_IMAGETYPE", "SLURM_SPANK_SHIFTER_IMAGETYPE")
IMAGE_ENV = ("SHIFTER_IMAGE", "SLURM_SPANK_SHIFTER_IMAGE")
IMAGE_REQUEST_ENV = ("SHIFTER_IMAGEREQUEST", "SLURM_SPANK_SHIFTER_IMAGEREQUEST")
VOLUME_ENV = ("SHIFTER_VOLUME", "SLURM_SPANK_SHIFTER_VOLUME")
MODULE_ENV = ("SHIFTER_MODULE", "SLURM_SPANK_SHIFTER_MODULE")


def first_set(environ: dict[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """``(name, value)`` of the first of ``names`` present in ``environ`` (even
    if empty), else None."""
    for name in names:
        value = environ.get(name)
        if value is not None:
            return name, value
    return None


def config_path(for_root: bool, environ: dict[str, str] | None = None,
                cli_path: str | None = None) -> str:
    """Which ``udiRoot.conf`` to read.

    An explicit ``-c/--config`` (``cli_path``) always wins.  Otherwise the
    unprivileged ``shifter`` honours ``$SHIFTER_CONFIG`` (it runs with the
    user's own rights, so a config can gain nothing), while root commands
    (``setupRoot``, ``unsetupRoot``, the Slurm plugin) ignore the environment
    and read :data:`DEFAULT_CONFIG`.  Whatever the path,
    :func:`~shifter_runtime.config.load_config` still demands a root-owned file.
    """
    if cli_path:
        return cli_path
    if not for_root:
        if environ is None:
            import os
            environ = os.environ
        if environ.get(CONFIG_ENV):
            return environ[CONFIG_ENV]
    return DEFAULT_CONFIG
