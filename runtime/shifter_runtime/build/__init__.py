"""Container assembly as root: turn an image into a container root on ``udiMount``.

``setupRoot`` (and so the Slurm prolog) builds here, in the global mount
namespace, so later ``shifter`` calls can enter the container: the squashfs
image is loop-mounted on ``loopMount``, and root-only features (module
``roothook``, ``perNodeCache``) are allowed.  ``shifter`` without a prepared
container builds its own, unprivileged, in ``shifter_runtime.launch.private``.

API (everything a caller needs is importable from ``shifter_runtime.build``)::

    spec = BuildSpec(
        udi_mount="/var/udiMount", loop_mount="/var/udiLoopMount",
        image=ImageSource(identifier="abc", format="squashfs", path="/images/abc.squashfs"),
        user=UserInfo(name="alice", uid=1001, gid=1001, gids=(1001,), home="/home/alice"),
        site_fs=[Bind("/home", "/home")], volumes=[Bind("/scratch/a", "/data", ro=True)],
        modules=[ModuleSpec("mpich", site_fs=[...], copy_path="/opt/mpich", roothook=None)],
        etc=EtcPolicy(...), state=b'{"identifier":...}',
    )
    build_container(spec)   # BuildError: everything made is already torn down
    destroy_container(udi_mount, loop_mount)   # unsetupRoot: always leaves the node clean

``spec_from_config`` (``build.adapt``) fills a ``BuildSpec`` from the pure
modules' ``UdiRootConfig``/volume maps/modules.  Order of steps follows upstream
``shifter_core.c`` (see ``build.assemble``); every mount target is resolved inside
the container root with ``openat2(RESOLVE_IN_ROOT)`` and every mount is
``nosuid,nodev`` (``/dev`` keeps its devices).
"""
from .spec import (BuildError, BuildSpec, Bind, EtcPolicy, ImageSource, ModuleSpec,
                   PerNodeCache, UserInfo)
from .assemble import build_container
from .teardown import destroy_container

__all__ = [
    "BuildError", "BuildSpec", "Bind", "EtcPolicy", "ImageSource", "ModuleSpec",
    "PerNodeCache", "UserInfo", "build_container", "destroy_container",
]
