"""Image references: Docker Hub naming, registries with ports, digests, Locations."""
import pytest

from shifter_imagegw.reference import Location, ReferenceError, parse_reference

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
LOCS = {"site": {"url": "http://127.0.0.1:5000", "authMethod": "basic"},
        "secure": {"url": "https://reg.example.org:8443", "sslcacert": "/etc/ca.pem"}}


@pytest.mark.parametrize("text, url, repo, tag, digest", [
    ("ubuntu", "https://registry-1.docker.io", "library/ubuntu", "latest", None),
    ("ubuntu:22.04", "https://registry-1.docker.io", "library/ubuntu", "22.04", None),
    ("docker:ubuntu:22.04", "https://registry-1.docker.io", "library/ubuntu", "22.04", None),
    ("docker.io/ubuntu:22.04", "https://registry-1.docker.io", "library/ubuntu", "22.04", None),
    ("index.docker.io/library/ubuntu:22.04", "https://registry-1.docker.io", "library/ubuntu", "22.04", None),
    ("nersc/shifter:1.0", "https://registry-1.docker.io", "nersc/shifter", "1.0", None),
    ("host.example.org:5000/team/app:v1", "https://host.example.org:5000", "team/app", "v1", None),
    ("localhost:5000/app", "http://localhost:5000", "app", "latest", None),
    ("127.0.0.1:5000/test/busybox:latest", "http://127.0.0.1:5000", "test/busybox", "latest", None),
    (f"ubuntu@{DIGEST}", "https://registry-1.docker.io", "library/ubuntu", None, DIGEST),
    (f"ubuntu:22.04@{DIGEST}", "https://registry-1.docker.io", "library/ubuntu", "22.04", DIGEST),
    ("site/test/busybox:latest", "http://127.0.0.1:5000", "test/busybox", "latest", None),
    ("secure/x/y:1", "https://reg.example.org:8443", "x/y", "1", None),
])
def test_parse(text, url, repo, tag, digest):
    ref = parse_reference(text, LOCS)
    assert (ref.registry_url, ref.repo, ref.tag, ref.digest) == (url, repo, tag, digest)


def test_digest_wins_for_fetching_and_display_names_both():
    ref = parse_reference(f"ubuntu:22.04@{DIGEST}")
    assert ref.reference == DIGEST
    assert ref.display == f"registry-1.docker.io/library/ubuntu:22.04@{DIGEST}"


def test_location_settings_carried():
    ref = parse_reference("site/a:b", LOCS)
    assert (ref.location, ref.auth_method, ref.sslcacert) == ("site", "basic", None)
    ref = parse_reference("secure/a:b", LOCS)
    assert (ref.location, ref.auth_method, ref.sslcacert) == ("secure", "token", "/etc/ca.pem")


def test_default_location_may_be_a_locations_key():
    ref = parse_reference("test/busybox:latest", LOCS, default_location="site")
    assert (ref.location, ref.registry_url, ref.repo) == ("site", "http://127.0.0.1:5000", "test/busybox")


def test_location_objects_accepted():
    locs = {"mine": Location("mine", "http://127.0.0.1:5001", auth_method="basic")}
    assert parse_reference("mine/a/b:c", locs).registry_url == "http://127.0.0.1:5001"


@pytest.mark.parametrize("text, needle", [
    ("", "empty"),
    ("ubuntu 22.04", "whitespace"),
    ("Ubuntu:22.04", "bad repository name"),
    ("ubuntu:bad/tag", "bad registry host"),
    ("ubuntu:-x", "bad tag"),
    ("ubuntu@sha256:1234", "bad digest"),
    ("ubuntu@md5:" + "a" * 32, "bad digest"),
    ("a//b:1", "bad repository name"),
    ("../etc:1", "bad registry host"),
    ("x/../etc:1", "bad repository name"),
])
def test_bad_references_name_the_problem(text, needle):
    with pytest.raises(ReferenceError) as err:
        parse_reference(text, LOCS)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("cfg, key", [
    ({"url": "ftp://x"}, "Locations.bad.url"),
    ({"url": "http://x", "authMethod": "kerberos"}, "Locations.bad.authMethod"),
    ({"url": "http://x", "remotetype": "dockerhub"}, "Locations.bad.remotetype"),
])
def test_bad_locations_name_the_key(cfg, key):
    with pytest.raises(ReferenceError, match=key):
        parse_reference("bad/a:b", {"bad": cfg})
