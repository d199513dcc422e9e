"""Submit-side refusals of input that used to pass and fail the prolog (draining the node)."""
import pytest

from shifter_runtime.config import ModuleConfig, UdiRootConfig
from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.options import MAX_IMAGE_LEN, gather

from test_options import opts

pytestmark = pytest.mark.unit


def site() -> UdiRootConfig:
    modules = {"a": ModuleConfig("a"), "b": ModuleConfig("b", conflict=["c"]), "c": ModuleConfig("c"),
               "off": ModuleConfig("off", enabled=False)}
    return UdiRootConfig(modules=modules)


def refused(options, environ=None, **kw) -> str:
    with pytest.raises(ShifterSlurmError) as exc:
        gather(options, environ or {}, default_type="docker", **kw)
    return str(exc.value)


@pytest.mark.parametrize("image, reason", [
    ("local:relative", "--image: local image 'relative' must be an absolute path"),
    ("local:/a/../b", "--image: local image '/a/../b' must not contain '..'"),
    ("x" * (MAX_IMAGE_LEN + 1), f"--image: image name is {MAX_IMAGE_LEN + 1} characters long (at most 1024)"),
])
def test_bad_images_are_refused(image, reason):
    assert refused(opts(image=image)) == reason


def test_local_root_is_accepted():
    assert gather(opts(image="local:/"), {}, default_type="docker").image == "/"


@pytest.mark.parametrize("modules, reason", [
    ("nosuch", "--module: unknown shifter module 'nosuch'"),
    ("none,a", "--module 'none,a': 'none' cannot be combined with modules"),
    ("off", "--module: shifter module 'off' is disabled by the site"),
    ("b,c", "--module: shifter modules 'b' and 'c' conflict"),
])
def test_modules_are_checked_against_the_site(modules, reason):
    assert refused(opts(image="x:1", module=modules), site=site()) == reason


def test_module_twin_is_named():
    reason = refused(opts(image="x:1"), {"SHIFTER_MODULE": "nosuch"}, site=site())
    assert reason == "SHIFTER_MODULE: unknown shifter module 'nosuch'"


def test_known_modules_and_none_pass():
    assert gather(opts(image="x:1", module="a,b"), {}, default_type="docker", site=site()).modules == "a,b"
    assert gather(opts(image="x:1", module="none"), {}, default_type="docker", site=site()).modules == "none"


def test_unknown_imagetype_twin_is_named():
    reason = refused(opts(), {"SHIFTER_IMAGE": "x", "SHIFTER_IMAGETYPE": "bogus"})
    assert reason == "SHIFTER_IMAGETYPE: unknown image type 'bogus' (expected one of docker, custom, id, local)"


@pytest.mark.parametrize("options, environ, source", [
    (opts(image="x:1"), {}, "--image"),
    (opts(), {"SHIFTER_IMAGE": "x:1"}, "SHIFTER_IMAGE"),
    (opts(), {"SHIFTER_IMAGE": "x:1", "SHIFTER_IMAGETYPE": "docker"}, "SHIFTER_IMAGETYPE/SHIFTER_IMAGE"),
])
def test_request_remembers_where_the_image_came_from(options, environ, source):
    assert gather(options, environ, default_type="docker").image_source == source


def test_ccm_twin_is_named_when_refused():
    assert refused(opts(image="x:1"), {"SHIFTER_CCM": "1"}, ccm_enabled=True) == \
        "SHIFTER_CCM cannot be combined with --image"
    assert refused(opts(ccm="1", image="x:1"), ccm_enabled=True) == "--ccm cannot be combined with --image"
