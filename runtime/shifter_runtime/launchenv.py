"""The environment at launch, with no imports (``shifter``'s prepared launch
needs it before anything else is loaded).

What ``shifter`` reads from the caller's environment: which ``udiRoot.conf``,
and the image, volume and module variables (the ``SLURM_SPANK_`` twins are set
by Slurm for jobs submitted with the plugin's options).

How the container's environment is layered (``environment`` decides what the
layers are): a layer is an ordered list of ``(op, name, value)`` edits:

* ``set``: ``name=value``;
* ``append``: ``old:value`` (just ``value`` when unset or empty);
* ``prepend``: ``value:old`` (just ``value`` when unset or empty);
* ``unset``: remove ``name`` (``value`` is ignored).
"""

DEFAULT_CONFIG = "/etc/shifter/udiRoot.conf"
CONFIG_ENV = "SHIFTER_CONFIG"
IMAGE_TYPE_ENV = ("SHIFTER_IMAGETYPE", "SLURM_SPANK_SHIFTER_IMAGETYPE")
IMAGE_ENV = ("SHIFTER_IMAGE", "SLURM_SPANK_SHIFTER_IMAGE")
IMAGE_REQUEST_ENV = ("SHIFTER_IMAGEREQUEST", "SLURM_SPANK_SHIFTER_IMAGEREQUEST")
VOLUME_ENV = ("SHIFTER_VOLUME", "SLURM_SPANK_SHIFTER_VOLUME")
MODULE_ENV = ("SHIFTER_MODULE", "SLURM_SPANK_SHIFTER_MODULE")


def path_key(path: str) -> str:
    """``path`` as one file name: ``%`` spelled ``%25``, ``/`` spelled ``%2F``
    (distinct paths give distinct names)."""
    return path.replace("%", "%25").replace("/", "%2F")


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


# glibc's UNSECURE_ENVVARS: removed from a setuid program's environment
# before ``main`` runs, so upstream's container never saw them.
SECURE_MODE_STRIPPED = frozenset({
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LD_AUDIT",
    "LD_DEBUG", "LD_DEBUG_OUTPUT", "LD_DYNAMIC_WEAK", "LD_HWCAP_MASK",
    "LD_LIBRARY_PATH", "LD_ORIGIN_PATH", "LD_PRELOAD", "LD_PROFILE",
    "LD_SHOW_AUXV", "LD_USE_LOAD_BIAS", "LOCALDOMAIN", "LOCPATH",
    "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
    "TMPDIR", "TZDIR"})

Edit = tuple[str, str, str]


def caller_base(caller_env: dict[str, str], image_request: str,
                image_id: str) -> dict[str, str]:
    """The caller's environment minus :data:`SECURE_MODE_STRIPPED`, then
    ``SHIFTER_IMAGEREQUEST`` and ``SHIFTER_IMAGE``."""
    env = {k: v for k, v in caller_env.items() if k not in SECURE_MODE_STRIPPED}
    env["SHIFTER_IMAGEREQUEST"] = image_request
    env["SHIFTER_IMAGE"] = image_id
    return env


def apply_edits(env: dict[str, str], edits: list[Edit]) -> dict[str, str]:
    """Apply ``edits`` in order to ``env`` (in place); returns ``env``."""
    for op, name, value in edits:
        if op == "set":
            env[name] = value
        elif op == "unset":
            env.pop(name, None)
        else:
            old = env.get(name)
            if not old:
                env[name] = value
            elif op == "append":
                env[name] = f"{old}:{value}"
            else:
                env[name] = f"{value}:{old}"
    return env
