"""Volume maps: syntax, upstream's validation rules, perNodeCache, and the
exact signature written into shifterConfig.json."""
from __future__ import annotations

import pytest

from shifter_runtime.errors import VolumeError
from shifter_runtime.volumes import (PerNodeCache, VolumeMount, check_target,
                                     check_per_node_cache, parse_bytes,
                                     parse_entry, parse_volumes,
                                     volume_signature)

pytestmark = pytest.mark.unit


def user_error(text: str) -> str:
    with pytest.raises(VolumeError) as info:
        parse_volumes(text)
    return str(info.value)


def test_simple_user_volume():
    assert parse_volumes("/scratch/data:/data") == [
        VolumeMount("/scratch/data", "/data")]


def test_readonly_flag_case_insensitive():
    mount = parse_entry("/a:/b:RO")
    assert mount.flags == ("ro",) and mount.readonly
    assert not mount.recursive and mount.propagation is None


def test_semicolon_separated_and_quoted():
    mounts = parse_volumes('"/a:/b";/c:/d:ro; ;"/e:/f";')
    assert [m.signature() for m in mounts] == ["/a:/b", "/c:/d:ro", "/e:/f"]


def test_trailing_slash_and_double_slash_normalised():
    assert parse_entry("/a//b/:/mnt/x/").signature() == "/a/b:/mnt/x"


@pytest.mark.parametrize("target", ["/opt/myStuff", "/mnt", "/var/tmp",
                                    "/data/etc", "/home/u/var", "/optx"])
def test_user_targets_allowed(target):
    assert parse_entry(f"/x:{target}").target == target


@pytest.mark.parametrize("target", ["/etc", "/etc/foo", "/etcetera", "/var",
                                    "/var/log", "/variable", "/opt/udiImage",
                                    "/opt/udiImage/bin", "/opt/udiImagefoo",
                                    "/opt"])
def test_user_targets_forbidden_upstream(target):
    assert user_error(f"/x:{target}") == (
        f"volume '/x:{target}': target '{target}' not allowed (no mounts on "
        f"/etc*, /var* except /var/tmp, /opt, /opt/udiImage*)")


@pytest.mark.parametrize("target", ["/proc", "/proc/1", "/sys", "/dev",
                                    "/dev/shm"])
def test_user_targets_forbidden_kernel_trees(target):
    assert user_error(f"/x:{target}") == (
        f"volume '/x:{target}': target '{target}' not allowed (no mounts on "
        f"/proc, /sys, /dev)")


def test_var_tmp_subdir_forbidden_like_upstream():
    assert "not allowed" in user_error("/x:/var/tmp/sub")


def test_trailing_slash_cannot_dodge_rules():
    assert user_error("/x:/opt/") == (
        "volume '/x:/opt/': target '/opt' not allowed (no mounts on /etc*, "
        "/var* except /var/tmp, /opt, /opt/udiImage*)")


@pytest.mark.parametrize("text, message", [
    ("/x:/", "volume '/x:/': cannot mount over '/'"),
    ("/x:///", "volume '/x:///': cannot mount over '/'"),
    ("/x", "volume '/x': expected from:to[:flags]"),
    ("/x:", "volume '/x:': expected from:to[:flags]"),
    ("x:/y", "volume 'x:/y': source 'x' is not an absolute path"),
    ("/x:y", "volume '/x:y': target 'y' is not an absolute path"),
    ("/a/../etc:/y", "volume '/a/../etc:/y': '..' not allowed in source "
     "'/a/../etc'"),
    ("/x:/mnt/../etc", "volume '/x:/mnt/../etc': '..' not allowed in target "
     "'/mnt/../etc'"),
    ("/x y:/z", "volume '/x y:/z': invalid character ' ' in source '/x y'"),
    ("/x:/z$", "volume '/x:/z$': invalid character '$' in target '/z$'"),
    ("/a:/b:rec", "volume '/a:/b:rec': flag 'rec' not allowed in user "
     "volumes (only ro, perNodeCache)"),
    ("/a:/b:slave", "volume '/a:/b:slave': flag 'slave' not allowed in user "
     "volumes (only ro, perNodeCache)"),
    ("/a:/b:shared", "volume '/a:/b:shared': unknown flag 'shared'"),
    ("/a:/b:ro:ro", "volume '/a:/b:ro:ro': flag 'ro' given twice"),
    ("/a:/b;/c:/b", "volume '/c:/b': target '/b' mapped twice"),
    ('"/a:/b', "volume '\"/a:/b': unbalanced quote"),
    ('/a:"/b"', "volume '/a:\"/b\"': unbalanced quote"),
    ('/a"x:/b', "volume '/a\"x:/b': unexpected quote"),
])
def test_bad_user_volumes(text, message):
    assert user_error(text) == message


def test_dot_dot_inside_name_is_fine():
    assert parse_entry("/data/file..bak:/mnt").source == "/data/file..bak"


# ---- site maps ----------------------------------------------------------

def test_site_map_source_only():
    assert parse_entry("/global/u1", site=True) == VolumeMount(
        "/global/u1", "/global/u1")


def test_site_flags_canonical_order():
    mount = parse_entry("/a:/b:private:rec:ro", site=True)
    assert mount.flags == ("ro", "rec", "private")
    assert mount.propagation == "private"


@pytest.mark.parametrize("target", ["/opt", "/etc", "/var", "/etc/passwd",
                                    "/etc/group", "/etc/nsswitch.conf"])
def test_site_forbidden_targets(target):
    with pytest.raises(VolumeError) as info:
        parse_entry(f"/x:{target}", site=True)
    assert str(info.value) == (
        f"volume '/x:{target}': site mount target '{target}' not allowed")


@pytest.mark.parametrize("target", ["/var/opt/cray/alps", "/etc/opt/cray",
                                    "/opt/site", "/var/spool/alps"])
def test_site_may_mount_under_etc_var_opt(target):
    assert parse_entry(f"/x:{target}", site=True).target == target


def test_site_slave_and_private_exclusive():
    with pytest.raises(VolumeError) as info:
        parse_entry("/a:/b:slave:private", site=True)
    assert str(info.value) == (
        "volume '/a:/b:slave:private': flags slave and private are exclusive")


def test_check_target_reapplied_after_resolution():
    check_target("/data", site=False)
    with pytest.raises(VolumeError) as info:
        check_target("/etc/x", site=False)
    assert str(info.value).startswith("volume '/etc/x': target '/etc/x' not")


# ---- perNodeCache ---------------------------------------------------------

def test_per_node_cache_defaults():
    mount = parse_entry("/x:/pnc:perNodeCache=size=320M")
    assert mount.per_node_cache == PerNodeCache(size=320 * 1024 ** 2)
    assert mount.signature() == (
        "/x:/pnc:perNodeCache=size=335544320,bs=1048576,method=loop,"
        "fstype=xfs")


def test_per_node_cache_all_options():
    mount = parse_entry("/x:/pnc:ro:perNodeCache=size=1G,bs=4k,"
                        "method=loop,fs=XFS")
    assert mount.per_node_cache == PerNodeCache(1 << 30, 4096, "loop", "xfs")
    assert mount.signature() == (
        "/x:/pnc:ro:perNodeCache=size=1073741824,bs=4096,method=loop,"
        "fstype=xfs")


@pytest.mark.parametrize("flag, message", [
    ("perNodeCache", "perNodeCache needs size=<bytes>"),
    ("perNodeCache=bs=1M", "perNodeCache needs size=<bytes>"),
    ("perNodeCache=size=big", "perNodeCache invalid size 'big'"),
    ("perNodeCache=size=0", "perNodeCache size and bs must be positive"),
    ("perNodeCache=size=1G,colour=red", "bad perNodeCache option "
     "'colour=red'"),
    ("perNodeCache=size=1G,size=2G", "perNodeCache option 'size' given "
     "twice"),
    ("perNodeCache=size=1G,method=nfs", "perNodeCache method 'nfs' "
     "unsupported (only loop)"),
    ("perNodeCache=size=1G,fs=ext4", "perNodeCache fs 'ext4' unsupported "
     "(only xfs)"),
])
def test_bad_per_node_cache(flag, message):
    assert user_error(f"/x:/pnc:{flag}") == f"volume '/x:/pnc:{flag}': " \
        + message


def test_per_node_cache_limit_enforced():
    mount = parse_entry("/x:/pnc:perNodeCache=size=2G")
    check_per_node_cache(mount, 2 << 30, [])
    check_per_node_cache(mount, 0, ["xfs"])
    with pytest.raises(VolumeError) as info:
        check_per_node_cache(mount, 1 << 30, [])
    assert str(info.value) == (
        f"volume '{mount.signature()}': perNodeCache size 2147483648 exceeds "
        f"perNodeCacheSizeLimit 1073741824")


def test_per_node_cache_allowed_fs_enforced():
    mount = parse_entry("/x:/pnc:perNodeCache=size=2G")
    with pytest.raises(VolumeError) as info:
        check_per_node_cache(mount, 0, ["ext4"])
    assert str(info.value).endswith(
        "perNodeCache fs 'xfs' not in perNodeCacheAllowedFsType (ext4)")


def test_plain_mount_ignores_cache_limits():
    check_per_node_cache(parse_entry("/x:/y"), 1, ["ext4"])


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("512", 512), ("10b", 10), ("1k", 1024), ("1K", 1024),
    ("3m", 3 << 20), ("2G", 2 << 30), ("1t", 1 << 40), ("1p", 1 << 50),
    ("1e", 1 << 60), ("10GB", 10 << 30), ("10GiB", 10 << 30),
    ("1.5k", 1536), (" 7 ", 7),
])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "k", "-1", "1x", "1_000", "1kk",
                                  "nan", "1.2.3"])
def test_parse_bytes_rejects(text):
    with pytest.raises(ValueError) as info:
        parse_bytes(text)
    assert str(info.value) == f"invalid size '{text.strip()}'"


# ---- signature ------------------------------------------------------------

def test_signature_sorted_and_joined():
    mounts = parse_volumes("/z:/c:ro;/a:/b;/m:/pnc:perNodeCache=size=320M")
    assert volume_signature(mounts) == (
        "/a:/b;/m:/pnc:perNodeCache=size=335544320,bs=1048576,method=loop,"
        "fstype=xfs;/z:/c:ro")


def test_signature_empty():
    assert volume_signature([]) == ""
    assert volume_signature(parse_volumes("")) == ""


def test_signature_independent_of_spelling():
    one = volume_signature(parse_volumes('"/a/:/b:RO";/c:/d'))
    two = volume_signature(parse_volumes("/c:/d;/a:/b:ro"))
    assert one == two == "/a:/b:ro;/c:/d"
