"""Apply environment layers (no imports: ``shifter``'s prepared launch uses it
before anything else is loaded; ``environment`` decides what the layers are).

A layer is an ordered list of ``(op, name, value)`` edits:

* ``set``: ``name=value``;
* ``append``: ``old:value`` (just ``value`` when unset or empty);
* ``prepend``: ``value:old`` (just ``value`` when unset or empty);
* ``unset``: remove ``name`` (``value`` is ignored).
"""

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
