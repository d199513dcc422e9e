"""Platform selection in manifest lists / OCI indexes, and image metadata rendering."""
import pytest

from shifter_imagegw.metafile import ImageMeta
from shifter_imagegw.registry import RegistryError, parse_platform, select_platform
from shifter_runtime.meta import parse_meta

pytestmark = pytest.mark.unit


def entry(n, os_="linux", arch="amd64", variant=None):
    plat = {"os": os_, "architecture": arch, **({"variant": variant} if variant else {})}
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 100,
            "digest": "sha256:" + f"{n:x}" * 64, "platform": plat}


INDEX = {"manifests": [entry(1, "unknown", "unknown"), entry(2, arch="arm", variant="v6"),
                       entry(3, arch="arm", variant="v7"), entry(4, arch="arm64", variant="v8"),
                       entry(5), entry(6, "windows"), entry(7, arch="ppc64le")]}


@pytest.mark.parametrize("platform, n", [("linux/amd64", 5), ("linux/arm/v7", 3), ("linux/arm/v6", 2),
                                         ("linux/arm64", 4), ("linux/arm64/v8", 4), ("windows/amd64", 6),
                                         ("linux/ppc64le", 7)])
def test_select(platform, n):
    assert select_platform(INDEX, platform).digest == "sha256:" + f"{n:x}" * 64


def test_arm64_without_variant_matches_v8_request():
    idx = {"manifests": [entry(9, arch="arm64")]}
    assert select_platform(idx, "linux/arm64/v8").digest.endswith("9" * 64)


def test_no_match_lists_what_is_offered():
    with pytest.raises(RegistryError, match=r"no manifest for platform linux/s390x \(offered: .*linux/amd64"):
        select_platform(INDEX, "linux/s390x")


@pytest.mark.parametrize("bad", ["linux", "linux/", "/amd64", "a/b/c/d"])
def test_bad_platform(bad):
    with pytest.raises(RegistryError, match="invalid platform"):
        parse_platform(bad)


def test_malformed_digest_in_index_refused():
    with pytest.raises(RegistryError, match="malformed digest"):
        select_platform({"manifests": [{**entry(5), "digest": "sha256:../../x"}]}, "linux/amd64")


CONFIG = {"architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/usr/bin:/bin", "X=a b", "broken"], "Entrypoint": ["/bin/sh", "-c"],
                     "Cmd": "echo hi", "WorkingDir": "/work", "Labels": {"org.x": "1", "multi": "a\nb"},
                     "User": "nobody"}}


def test_meta_renders_upstream_format_readable_by_the_runtime():
    meta = ImageMeta.from_config(CONFIG, user_acl=(1001,), group_acl=(2000, 2001))
    text = meta.render()
    assert text.splitlines()[:6] == ["FORMAT: squashfs", "ENTRY: ['/bin/sh', '-c']", "CMD: ['echo hi']",
                                     "WORKDIR: /work", "USERACL: 1001", "GROUPACL: 2000,2001"]
    back = parse_meta(text)
    assert back.env == ["PATH=/usr/bin:/bin", "X=a b"] and back.labels == {"org.x": "1", "multi": "a b"}
    assert (back.user_acl, back.group_acl, back.user) == ([1001], [2000, 2001], None)
    assert meta.private and meta.config_user == "nobody"


def test_public_meta_has_no_acl_lines():
    text = ImageMeta.from_config({"config": {"Cmd": ["/bin/sh"]}}).render()
    assert text == "FORMAT: squashfs\nCMD: ['/bin/sh']\n"
