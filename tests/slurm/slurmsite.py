"""The test site of the Slurm tests: plugin path, udiRoot.conf, leftover checks."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from testbed.paths import PREFIX

PLUGIN = f"{PREFIX}/lib/shifter_slurm.so"
SHIFTER = f"{PREFIX}/bin/shifter"
MEMORY_CGROUP = "/sys/fs/cgroup/memory"
USER = "shifteruser"


@dataclass
class Site:
    """The test site's udiRoot.conf and the paths in it."""

    base: Path
    config: Path
    udi_mount: Path
    loop_mount: Path
    image_dir: Path
    busybox: str

    def plugstack(self, *extra: str) -> list[str]:
        return [" ".join(["required", PLUGIN, f"shifter_config={self.config}",
                          f"memory_cgroup={MEMORY_CGROUP}", *extra])]

    def settle(self, timeout: float = 15.0) -> list[str]:
        """Leftovers once epilogs are done and loop devices auto-cleared (empty when clean)."""
        import time

        deadline = time.monotonic() + timeout
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def leftovers(self) -> list[str]:
        """Mounts, loop devices, shifter cgroups and job records the tests must never leave behind."""
        from shifter_slurm import marker

        left = [line for line in Path("/proc/mounts").read_text().splitlines()
                if str(self.udi_mount) in line or str(self.loop_mount) in line]
        if os.path.lexists(marker.path(str(self.udi_mount))):
            left.append(marker.path(str(self.udi_mount)))
        loops = os.popen("losetup -a").read()
        left += [line for line in loops.splitlines() if str(self.image_dir) in line]
        shifter_cg = Path(MEMORY_CGROUP) / "shifter"
        if shifter_cg.exists():
            left += [str(p) for p in shifter_cg.rglob("job_*")]
        return left


def write_config(base: Path, image_dir: Path) -> Path:
    etc = base / "etc"
    etc.mkdir(exist_ok=True)
    for name in ("udiMount", "loopMount"):
        (base / name).mkdir(exist_ok=True)
    config = base / "udiRoot.conf"
    config.write_text(f"""\
udiMount={base}/udiMount
loopMount={base}/loopMount
imagePath={image_dir}
udiRootPath={PREFIX}
etcPath={etc}
modprobePath=/sbin/modprobe
insmodPath=/sbin/insmod
cpPath=/bin/cp
mvPath=/bin/mv
chmodPath=/bin/chmod
ddPath=/bin/dd
rootfsType=tmpfs
allowLocalChroot=1
allowLibcPwdCalls=1
populateEtcDynamically=1
mountUdiRootWritable=1
maxGroupCount=31
siteFs=/home:/home
siteEnv=SHIFTER_RUNTIME=1
imageGateway=http://127.0.0.1:5050
system=testsystem
defaultImageType=docker
""")
    config.chmod(0o644)
    return config
