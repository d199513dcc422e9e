"""udiRoot.conf: every key typed, the upstream example, and every bad input
rejected with ``file:line: key: problem``."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from shifter_runtime.config import (DEFAULT_CONFIG, UdiRootConfig,
                                    check_file_owner, config_path,
                                    load_config, parse_config)
from shifter_runtime.errors import ConfigError
from shifter_runtime.volumes import PerNodeCache, VolumeMount

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data"
BASE = """udiMount=/var/udiMount
loopMount=/var/udiLoopMount
imagePath=/images
udiRootPath=/opt/shifter
etcPath=/etc/shifter/etc_files
rootfsType=tmpfs
"""


def parse(extra: str = "") -> UdiRootConfig:
    return parse_config(BASE + extra, "u.conf")


def error(extra: str, base: str = BASE) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(base + extra, "u.conf")
    return str(info.value)


def test_upstream_example_parses_unchanged():
    config = load_config(str(DATA / "udiRoot.conf.example"),
                         check_owner=False)
    assert config.udi_mount == "/var/udiMount"
    assert config.loop_mount == "/var/udiLoopMount"
    assert config.image_path == "/images"
    assert config.mount_udi_root_writable is True
    assert config.populate_etc_dynamically is True
    assert config.allow_libc_pwd_calls is True
    assert config.max_group_count == 31
    assert config.site_fs == [VolumeMount("/home", "/home")]
    assert config.site_env == [("SHIFTER_RUNTIME", "1")]
    assert config.site_env_append == [("PATH", "/opt/udiImage/bin")]
    assert config.site_env_prepend == []
    assert config.image_gateway == ["http://imagegwapi:5000"]
    assert config.system == "mycluster"
    assert config.default_image_type == "docker"
    assert config.mkfs_xfs_path == "/sbin/mkfs.xfs"
    assert config.warnings == []


def test_minimal_config_defaults():
    config = parse()
    assert config.rootfs_type == "tmpfs"
    assert config.allow_local_chroot is False
    assert config.mount_udi_root_writable is False
    assert config.mount_propagation_style == "private"
    assert config.max_group_count == 0
    assert config.gateway_timeout is None
    assert config.modules == {}
    assert config.path == "u.conf"


def test_every_scalar_key_typed():
    config = parse("""modprobePath=/sbin/modprobe
insmodPath=/sbin/insmod
cpPath=/bin/cp
mvPath=/bin/mv
chmodPath=/bin/chmod
ddPath=/bin/dd
mkfsXfsPath=/sbin/mkfs.xfs
optUdiImage=/opt/udi
sitePreMountHook=/etc/pre.sh
sitePostMountHook=/etc/post.sh
system=cluster
defaultImageType=docker
gatewayTimeout=30
allowLocalChroot=1
allowLibcPwdCalls=1
populateEtcDynamically=1
mountUdiRootWritable=1
maxGroupCount=31
mountPropagationStyle=slave
perNodeCachePath=/scratch/pnc
perNodeCacheSizeLimit=10G
perNodeCacheAllowedFsType=xfs ext4
batchType=slurm
usersToImport=alice bob
""")
    assert (config.modprobe_path, config.insmod_path, config.cp_path,
            config.mv_path, config.chmod_path, config.dd_path) == (
        "/sbin/modprobe", "/sbin/insmod", "/bin/cp", "/bin/mv", "/bin/chmod",
        "/bin/dd")
    assert config.opt_udi_image == "/opt/udi"
    assert config.site_pre_mount_hook == "/etc/pre.sh"
    assert config.site_post_mount_hook == "/etc/post.sh"
    assert config.system == "cluster"
    assert config.gateway_timeout == 30
    assert config.allow_local_chroot and config.allow_libc_pwd_calls
    assert config.populate_etc_dynamically and config.mount_udi_root_writable
    assert config.max_group_count == 31
    assert config.mount_propagation_style == "slave"
    assert config.per_node_cache_path == "/scratch/pnc"
    assert config.per_node_cache_size_limit == 10 * 1024 ** 3
    assert config.per_node_cache_allowed_fs_type == ["xfs", "ext4"]
    assert config.batch_type == "slurm"
    assert config.users_to_import == ["alice", "bob"]


def test_whitespace_around_key_and_value_is_trimmed():
    config = parse("  system =  cluster  \n\tmaxGroupCount\t=\t4\n")
    assert config.system == "cluster"
    assert config.max_group_count == 4


def test_comments_and_blank_lines_ignored():
    config = parse("# system=nope\n\n   # indented comment\nsystem=yes\n")
    assert config.system == "yes"


def test_continuation_joins_with_one_space():
    config = parse("siteEnv=A=1 \\\n   B=2\\\n C=3\n")
    assert config.site_env == [("A", "1"), ("B", "2"), ("C", "3")]


def test_continuation_error_reports_first_line():
    text = BASE + "siteEnv=A=1 \\\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "u.conf")
    assert str(info.value) == ("u.conf:7: continuation '\\' at end of file")


def test_repeated_list_keys_append():
    config = parse("siteEnv=A=1\nsiteEnv=B=2 C=3\nimageGateway=http://a:5000"
                   "\nimageGateway=https://b/\nsiteFs=/a:/a\nsiteFs=/b\n"
                   "siteEnvUnset=X\nsiteEnvUnset=Y Z\n")
    assert config.site_env == [("A", "1"), ("B", "2"), ("C", "3")]
    assert config.image_gateway == ["http://a:5000", "https://b"]
    assert [m.target for m in config.site_fs] == ["/a", "/b"]
    assert config.site_env_unset == ["X", "Y", "Z"]


def test_site_fs_semicolons_spaces_and_flags():
    config = parse("siteFs=/global/u1:/global/u1:rec;/cvmfs_nfs:/cvmfs:ro:"
                   "slave /scratch\n")
    assert config.site_fs == [
        VolumeMount("/global/u1", "/global/u1", ("rec",)),
        VolumeMount("/cvmfs_nfs", "/cvmfs", ("ro", "slave")),
        VolumeMount("/scratch", "/scratch"),
    ]


def test_site_fs_may_not_use_per_node_cache():
    """Upstream's parser accepts it and its setupRoot then ignores it; it is refused here."""
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + "siteFs=/x:/pnc:perNodeCache=size=1g\n", "u.conf")
    assert str(info.value) == ("u.conf:7: siteFs: volume '/x:/pnc:perNodeCache=size=1g': "
                               "perNodeCache is only for user volumes (--volume), not siteFs")


def test_repeated_scalar_last_wins_with_warning():
    config = parse("system=a\nsystem=b\n")
    assert config.system == "b"
    assert config.warnings == [
        "u.conf:8: system: repeated (line 7), last value wins"]


@pytest.mark.parametrize("key", ["autoLoadKernelModule", "kmodBasePath",
                                 "kmodCacheFile", "optionalSshdAsRoot",
                                 "kmodPath", "nodeContextPrefix"])
def test_deprecated_keys_warn(key):
    config = parse(f"{key}=1\n")
    assert config.warnings == [f"u.conf:7: {key}: deprecated, ignored"]


def test_empty_value_leaves_key_unset():
    config = parse("sitePreMountHook=\ngatewayTimeout=\nsiteFs=\n")
    assert config.site_pre_mount_hook is None
    assert config.gateway_timeout is None
    assert config.site_fs == []


@pytest.mark.parametrize("extra, message", [
    ("bogusKey=1\n", "u.conf:7: bogusKey: unknown key"),
    ("justtext\n", "u.conf:7: justtext: expected key=value"),
    ("=value\n", "u.conf:7: =value: expected key=value"),
    ("allowLocalChroot=yes\n",
     "u.conf:7: allowLocalChroot: expected 0 or 1, got 'yes'"),
    ("mountUdiRootWritable=2\n",
     "u.conf:7: mountUdiRootWritable: expected 0 or 1, got '2'"),
    ("maxGroupCount=-1\n",
     "u.conf:7: maxGroupCount: expected a non-negative integer, got '-1'"),
    ("gatewayTimeout=ten\n",
     "u.conf:7: gatewayTimeout: expected a non-negative integer, got 'ten'"),
    ("perNodeCacheSizeLimit=lots\n",
     "u.conf:7: perNodeCacheSizeLimit: invalid size 'lots'"),
    ("mountPropagationStyle=shared\n",
     "u.conf:7: mountPropagationStyle: expected private or slave, got "
     "'shared'"),
    ("defaultImageType=oci\n",
     "u.conf:7: defaultImageType: unknown image type 'oci' (expected one of "
     "docker, custom, id, local)"),
    ("optUdiImage=relative/dir\n",
     "u.conf:7: optUdiImage: 'relative/dir' is not an absolute path"),
    ("system=two words\n", "u.conf:7: system: 'two words' must be a single "
     "word"),
    ("siteEnv=NOVALUE\n",
     "u.conf:7: siteEnv: 'NOVALUE': expected NAME=VALUE with a non-empty "
     "value"),
    ("siteEnv=EMPTY=\n",
     "u.conf:7: siteEnv: 'EMPTY=': expected NAME=VALUE with a non-empty "
     "value"),
    ("siteEnvAppend==x\n",
     "u.conf:7: siteEnvAppend: '=x': expected NAME=VALUE with a non-empty "
     "value"),
    ("siteEnvUnset=A=1\n",
     "u.conf:7: siteEnvUnset: 'A=1': expected a variable name"),
    ("imageGateway=imagegw:5000\n",
     "u.conf:7: imageGateway: 'imagegw:5000' is not an http(s) URL"),
    ("siteFs=/home:/etc\n",
     "u.conf:7: siteFs: volume '/home:/etc': site mount target '/etc' not "
     "allowed"),
    ("siteFs=home:/home\n",
     "u.conf:7: siteFs: volume 'home:/home': source 'home' is not an "
     "absolute path"),
    ("defaultModules=nope\n",
     "u.conf:7: defaultModules: module 'nope' is not defined"),
])
def test_bad_values_name_file_line_key(extra, message):
    assert error(extra) == message


def test_bad_value_line_number_counts_comments():
    assert error("# a\n\n# b\nrootfsType=ext4\n") == (
        "u.conf:10: rootfsType: expected tmpfs or ramfs, got 'ext4'")


@pytest.mark.parametrize("key", ["udiMount", "loopMount", "imagePath",
                                 "udiRootPath", "etcPath", "rootfsType"])
def test_required_keys(key):
    base = "".join(line + "\n" for line in BASE.splitlines()
                   if not line.startswith(key + "="))
    assert error("", base=base) == (
        f"u.conf: {key}: required key is not defined")


def test_ramfs_root():
    config = parse_config(BASE.replace("tmpfs", "ramfs"), "u.conf")
    assert config.rootfs_type == "ramfs"


# ---- modules ------------------------------------------------------------

def test_module_keys_all_subkeys():
    config = parse("""module_mpich_siteEnvPrepend = LD_LIBRARY_PATH=/opt/udiImage/modules/mpich/lib64
module_mpich_copyPath = /usr/lib/shifter/opt/mpich
module_mpich_userhook = /opt/udiImage/modules/mpich/bin/init.sh
module_mpich_roothook = /etc/shifter/mpich_root.sh
module_mpich_siteEnv = SHIFTER_MODULE_MPICH=1
module_mpich_siteEnvAppend = PATH=/opt/udiImage/modules/mpich/bin
module_mpich_siteEnvUnset = MPICH_X MPICH_Y
module_mpich_siteFs = /var/opt/cray/alps:/var/opt/cray/alps:rec
module_mpich_conflict = openmpi
module_openmpi_enabled = 0
module_cvmfs_siteFs = /cvmfs_nfs:/cvmfs
defaultModules = mpich
""")
    mpich = config.modules["mpich"]
    assert mpich.site_env_prepend == [
        ("LD_LIBRARY_PATH", "/opt/udiImage/modules/mpich/lib64")]
    assert mpich.copy_path == "/usr/lib/shifter/opt/mpich"
    assert mpich.userhook == "/opt/udiImage/modules/mpich/bin/init.sh"
    assert mpich.roothook == "/etc/shifter/mpich_root.sh"
    assert mpich.site_env == [("SHIFTER_MODULE_MPICH", "1")]
    assert mpich.site_env_append == [("PATH",
                                      "/opt/udiImage/modules/mpich/bin")]
    assert mpich.site_env_unset == ["MPICH_X", "MPICH_Y"]
    assert mpich.site_fs == [VolumeMount("/var/opt/cray/alps",
                                         "/var/opt/cray/alps", ("rec",))]
    assert mpich.conflict == ["openmpi"]
    assert mpich.enabled is True
    assert config.modules["openmpi"].enabled is False
    assert config.modules["cvmfs"].site_fs == [
        VolumeMount("/cvmfs_nfs", "/cvmfs")]
    assert config.default_modules == ["mpich"]
    assert list(config.modules) == ["mpich", "openmpi", "cvmfs"]


def test_default_modules_comma_list():
    config = parse("module_a_enabled=1\nmodule_b_enabled=1\n"
                   "defaultModules=a, b\n")
    assert config.default_modules == ["a", "b"]


@pytest.mark.parametrize("extra, message", [
    ("module_a_bogus=1\n",
     "u.conf:7: module_a_bogus: expected module_<name>_<subkey> with subkey "
     "one of userhook, roothook, siteEnv, siteEnvPrepend, siteEnvAppend, "
     "siteEnvUnset, conflict, siteFs, copyPath, enabled"),
    ("module_my_mod_siteEnv=A=1\n",
     "u.conf:7: module_my_mod_siteEnv: expected module_<name>_<subkey> with "
     "subkey one of userhook, roothook, siteEnv, siteEnvPrepend, "
     "siteEnvAppend, siteEnvUnset, conflict, siteFs, copyPath, enabled"),
    ("module_a-b_enabled=1\n",
     "u.conf:7: module_a-b_enabled: module name 'a-b' must be letters and "
     "digits"),
    ("module_none_enabled=1\n",
     "u.conf:7: module_none_enabled: 'none' is not a module name"),
    ("module_a_conflict=ghost\n",
     "u.conf:7: module_a_conflict: conflicting module 'ghost' is not "
     "defined"),
    ("module_a_enabled=maybe\n",
     "u.conf:7: module_a_enabled: expected 0 or 1, got 'maybe'"),
    ("module_a_copyPath=rel\n",
     "u.conf:7: module_a_copyPath: 'rel' is not an absolute path"),
    ("module_a_siteFs=/x:/etc/passwd\n",
     "u.conf:7: module_a_siteFs: volume '/x:/etc/passwd': site mount target "
     "'/etc/passwd' not allowed"),
    ("module_a_siteEnv=BAD\n",
     "u.conf:7: module_a_siteEnv: 'BAD': expected NAME=VALUE with a "
     "non-empty value"),
])
def test_bad_module_keys(extra, message):
    assert error(extra) == message


def test_conflict_may_name_module_defined_later():
    config = parse("module_a_conflict=b\nmodule_b_enabled=1\n")
    assert config.modules["a"].conflict == ["b"]


# ---- file checks and location ----------------------------------------------

def test_load_config_missing_file(tmp_path):
    path = tmp_path / "none.conf"
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == (
        f"{path}: cannot read: No such file or directory")


def test_check_file_owner_refuses_non_root():
    with pytest.raises(ConfigError) as info:
        check_file_owner("/x/udiRoot.conf", 1000, 0o100644)
    assert str(info.value) == (
        "/x/udiRoot.conf: must be owned by root (owner uid is 1000)")


@pytest.mark.parametrize("mode", [0o100664, 0o100646, 0o100666])
def test_check_file_owner_refuses_writable(mode):
    with pytest.raises(ConfigError) as info:
        check_file_owner("/x/udiRoot.conf", 0, mode)
    assert str(info.value) == (
        f"/x/udiRoot.conf: must not be group or world writable "
        f"(mode {mode & 0o7777:04o})")


def test_check_file_owner_accepts_root_0644():
    check_file_owner("/x/udiRoot.conf", 0, 0o100644)
    check_file_owner("/x/udiRoot.conf", 0, 0o100600)


def test_load_config_checks_owner_of_real_file(tmp_path):
    path = tmp_path / "u.conf"
    path.write_text(BASE)
    os.chmod(path, 0o644)
    if os.geteuid() == 0:
        assert load_config(str(path)).udi_mount == "/var/udiMount"
        os.chmod(path, 0o664)
        expect = f"{path}: must not be group or world writable (mode 0664)"
    else:
        expect = (f"{path}: must be owned by root (owner uid is "
                  f"{os.geteuid()})")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert str(info.value) == expect


def test_load_config_rejects_non_utf8(tmp_path):
    path = tmp_path / "u.conf"
    path.write_bytes(BASE.encode() + b"system=\xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), check_owner=False)
    assert str(info.value) == f"{path}: not UTF-8 text (byte {len(BASE) + 7})"


def test_config_path_user_may_use_env():
    assert config_path(False, {"SHIFTER_CONFIG": "/t/u.conf"}) == "/t/u.conf"
    assert config_path(False, {}) == DEFAULT_CONFIG


def test_config_path_root_ignores_env():
    assert config_path(True, {"SHIFTER_CONFIG": "/t/u.conf"}) == \
        DEFAULT_CONFIG
    assert config_path(True, {"SHIFTER_CONFIG": "/t/u.conf"},
                       cli_path="/c.conf") == "/c.conf"
    assert DEFAULT_CONFIG == "/etc/shifter/udiRoot.conf"


def test_trailing_slash_dropped_from_paths():
    config = parse_config(BASE.replace("/images", "/images/"), "u.conf")
    assert config.image_path == "/images"


@pytest.mark.parametrize("udi, loop, message", [
    ("/", "/var/udiLoopMount", "u.conf:1: udiMount: must not be '/'"),
    ("/var/udiMount", "//", "u.conf:2: loopMount: must not be '/'"),
    ("/var/udiMount", "/var/udiMount/", "u.conf:2: loopMount: "
     "'/var/udiMount' and udiMount '/var/udiMount' must be separate "
     "directories"),
    ("/var/udiMount", "/var/udiMount/loop", "u.conf:2: loopMount: "
     "'/var/udiMount/loop' and udiMount '/var/udiMount' must be separate "
     "directories"),
    ("/var/a/b", "/var/a", "u.conf:2: loopMount: '/var/a' and udiMount "
     "'/var/a/b' must be separate directories"),
])
def test_mount_points_must_be_separate(udi, loop, message):
    text = BASE.replace("/var/udiMount", udi).replace("/var/udiLoopMount",
                                                      loop)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "u.conf")
    assert str(info.value) == message


def test_similar_prefix_mount_points_fine():
    text = BASE.replace("/var/udiLoopMount", "/var/udiMount2")
    assert parse_config(text, "u.conf").loop_mount == "/var/udiMount2"
