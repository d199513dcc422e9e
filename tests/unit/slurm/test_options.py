import pytest

from shifter_slurm.errors import ShifterSlurmError
from shifter_slurm.options import Request, gather, parse_image

pytestmark = pytest.mark.unit


def opts(**kw):
    return {"image": None, "volume": None, "module": None, "ccm": None, **kw}


def test_no_option_no_twin_is_an_empty_request():
    assert gather(opts(), {}, default_type="docker") == Request()


def test_image_option_uses_default_type():
    req = gather(opts(image="ubuntu:22.04"), {}, default_type="docker")
    assert (req.image_type, req.image) == ("docker", "ubuntu:22.04")


def test_image_option_with_explicit_type():
    req = gather(opts(image="id:0123abcd"), {}, default_type="docker")
    assert (req.image_type, req.image) == ("id", "0123abcd")


def test_option_beats_environment_twin():
    req = gather(opts(image="docker:a:1"), {"SHIFTER_IMAGE": "b:2"}, default_type="docker")
    assert req.image == "a:1"


def test_image_twin_alone():
    req = gather(opts(), {"SHIFTER_IMAGE": "busybox:latest"}, default_type="docker")
    assert (req.image_type, req.image) == ("docker", "busybox:latest")


def test_image_twin_with_type_twin():
    req = gather(opts(), {"SHIFTER_IMAGE": "beef", "SHIFTER_IMAGETYPE": "id"}, default_type="docker")
    assert (req.image_type, req.image) == ("id", "beef")


def test_volume_and_module_twins_only_with_an_image():
    env = {"SHIFTER_VOLUME": "/a:/b", "SHIFTER_MODULE": "mpich"}
    assert gather(opts(), env, default_type="docker") == Request()
    req = gather(opts(image="x:1"), env, default_type="docker")
    assert (req.volumes, req.modules) == ("/a:/b", "mpich")


def test_volume_option_without_image_is_refused():
    with pytest.raises(ShifterSlurmError, match="^--volume needs --image$"):
        gather(opts(volume="/a:/b"), {}, default_type="docker")


def test_long_options_spelling_in_messages():
    with pytest.raises(ShifterSlurmError, match=r"^--shifter.module needs --shifter.image$"):
        gather(opts(module="m"), {}, default_type="docker", long_options=True)


@pytest.mark.parametrize("volume, fragment", [
    ("/a:/etc", "--volume:"),
    ("/a/../b:/c", "--volume:"),
    ("relative:/c", "--volume:"),
    ("/a:/b:rec", "--volume:"),
])
def test_bad_volume_is_refused_with_the_option_name(volume, fragment):
    with pytest.raises(ShifterSlurmError) as err:
        gather(opts(image="x:1", volume=volume), {}, default_type="docker")
    assert str(err.value).startswith(fragment)
    assert "\n" not in str(err.value)


def test_bad_volume_twin_names_the_variable():
    with pytest.raises(ShifterSlurmError, match="^SHIFTER_VOLUME: "):
        gather(opts(image="x:1"), {"SHIFTER_VOLUME": "/a:/var/log"}, default_type="docker")


def test_good_repeated_volumes_pass_unchanged():
    req = gather(opts(image="x:1", volume="/tmp:/data;/home:/h:ro"), {}, default_type="docker")
    assert req.volumes == "/tmp:/data;/home:/h:ro"


@pytest.mark.parametrize("text, message", [
    ("", "--image: '' has no image type and defaultImageType is not set"),
    ("docker:", "--image: empty image name in 'docker:'"),
    ("id:xyz", "--image: character 'x' not allowed in id image 'xyz'"),
    ("id:nothex", "--image: character 'n' not allowed in id image 'nothex'"),
    ("docker:a b", "--image: character ' ' not allowed in docker image 'a b'"),
    ("custom:a/b", "--image: character '/' not allowed in custom image 'a/b'"),
])
def test_bad_images(text, message):
    with pytest.raises(ShifterSlurmError) as err:
        parse_image(text, None, "--image")
    assert str(err.value) == message


def test_no_default_type():
    with pytest.raises(ShifterSlurmError, match="defaultImageType is not set"):
        gather(opts(image="ubuntu"), {}, default_type=None)


def test_module_list_is_normalised_and_checked():
    req = gather(opts(image="x:1", module="a, b"), {}, default_type="docker")
    assert req.modules == "a,b"
    with pytest.raises(ShifterSlurmError, match="bad module name 'a;b'"):
        gather(opts(image="x:1", module="a;b"), {}, default_type="docker")


def test_ccm_builds_local_root_request():
    req = gather(opts(ccm="1"), {}, default_type="docker", ccm_enabled=True)
    assert req == Request(image_type="local", image="/", ccm=True)


def test_ccm_with_image_is_refused():
    with pytest.raises(ShifterSlurmError, match="--ccm cannot be combined with --image"):
        gather(opts(ccm="1", image="x:1"), {}, default_type="docker", ccm_enabled=True)


def test_ccm_twin_when_not_enabled():
    with pytest.raises(ShifterSlurmError, match="ccm mode is not enabled"):
        gather(opts(), {"SHIFTER_CCM": "1"}, default_type="docker")
