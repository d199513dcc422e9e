"""From udiRoot.conf records to a BuildSpec: binds, modules, state bytes."""
from __future__ import annotations

import pytest

from shifter_runtime.build import ImageSource, UserInfo
from shifter_runtime.build.adapt import spec_from_config
from shifter_runtime.config import parse_config
from shifter_runtime.volumes import parse_volumes

pytestmark = pytest.mark.unit

CONF = """\
udiMount=/var/udiMount
loopMount=/var/udiLoopMount
imagePath=/images
udiRootPath=/opt/shifter
etcPath=/etc/shifter/etc
rootfsType=tmpfs
siteFs=/home:/home;/scratch:/scratch:ro:rec:slave
mountPropagationStyle=slave
perNodeCacheAllowedFsType=XFS
module_mpi_siteFs=/opt/mpi:/opt/mpi
module_mpi_copyPath=/opt/mpi-libs
module_mpi_roothook=/etc/shifter/mpi.sh
"""


def test_spec_from_config():
    config = parse_config(CONF)
    user = UserInfo("alice", 1001, 1001, (1001,))
    volumes = parse_volumes("/tmp/a:/data:ro;/tmp/b:/cache:perNodeCache=size=1g")
    spec = spec_from_config(config, ImageSource("abc", "squashfs", "/images/abc.squashfs"),
                            user, volumes, [config.modules["mpi"]])
    assert spec.state == (b'{"identifier":"abc","user":"alice","volMap":'
                          b'"/tmp/a:/data:ro;/tmp/b:/cache:perNodeCache=size=1073741824,'
                          b'bs=1048576,method=loop,fstype=xfs","modules":"mpi,"}')
    scratch = spec.site_fs[1]
    assert (scratch.ro, scratch.rec, scratch.propagation) == (True, True, "slave")
    assert spec.propagation_style == "slave"
    assert spec.volumes[1].per_node_cache.size == 1 << 30
    assert spec.modules[0].copy_path == "/opt/mpi-libs"
    assert spec.per_node_cache_fs_types == ("xfs",)
    assert spec.writable is False
