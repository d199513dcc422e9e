import pytest

from shifter_slurm import plugconf

pytestmark = pytest.mark.unit


def test_defaults_when_no_arguments():
    conf = plugconf.parse([])
    assert conf == plugconf.PlugConf()
    assert conf.shifter_config == "/etc/shifter/udiRoot.conf"


def test_every_argument_is_parsed():
    conf = plugconf.parse([
        "shifter_config=/s/udiRoot.conf", "extern_setup=/s/ext.sh", "extern_cgroup=1",
        "memory_cgroup=/sys/fs/cgroup/memory", "enable_ccm=1", "enable_sshd=1", "long_options",
    ])
    assert conf == plugconf.PlugConf("/s/udiRoot.conf", "/s/ext.sh", True, "/sys/fs/cgroup/memory", True, True, True)


@pytest.mark.parametrize("arg, message", [
    ("bogus", "unknown argument 'bogus'"),
    ("enable_sshd=yes", "enable_sshd must be 0 or 1, not 'yes'"),
    ("memory_cgroup=sys/fs", "memory_cgroup must be an absolute path, not 'sys/fs'"),
    ("colour=blue", "unknown argument 'colour=blue'"),
])
def test_bad_argument_names_itself(arg, message):
    with pytest.raises(ValueError) as err:
        plugconf.parse([arg])
    assert str(err.value) == f"plugstack.conf: shifter_slurm.so: {message}"


def test_ccm_needs_sshd():
    with pytest.raises(ValueError, match="enable_ccm=1 needs enable_sshd=1"):
        plugconf.parse(["enable_ccm=1"])
