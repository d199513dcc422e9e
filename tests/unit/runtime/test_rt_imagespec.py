"""Image descriptors and upstream's image selection precedence."""
from __future__ import annotations

import pytest

from shifter_runtime.config import UdiRootConfig
from shifter_runtime.errors import ImageError
from shifter_runtime.imagespec import (ImageSelection, ImageSpec,
                                       parse_descriptor, select_image)

pytestmark = pytest.mark.unit


def cfg(default: str | None = "docker", local: bool = False
        ) -> UdiRootConfig:
    return UdiRootConfig(default_image_type=default, allow_local_chroot=local)


@pytest.mark.parametrize("text, itype, tag", [
    ("docker:ubuntu:14.04", "docker", "ubuntu:14.04"),
    ("docker:registry.local:5000/team/img:1.0", "docker",
     "registry.local:5000/team/img:1.0"),
    ("ubuntu:14.04", "docker", "ubuntu:14.04"),
    ("busybox", "docker", "busybox"),
    ("library/busybox@sha256:abc", "docker", "library/busybox@sha256:abc"),
    ("custom:my_image+1", "custom", "my_image+1"),
    ("id:0123456789abcdef", "id", "0123456789abcdef"),
    ("  docker:busybox  ", "docker", "busybox"),
])
def test_parse_descriptor(text, itype, tag):
    assert parse_descriptor(text, "docker") == ImageSpec(itype, tag)


def test_spec_str_and_lookup():
    assert str(ImageSpec("docker", "a:b")) == "docker:a:b"
    assert ImageSpec("docker", "a").needs_lookup
    assert ImageSpec("custom", "a").needs_lookup
    assert not ImageSpec("id", "a").needs_lookup
    assert not ImageSpec("local", "/").needs_lookup


def test_default_type_custom():
    assert parse_descriptor("thing", "custom") == ImageSpec("custom", "thing")


def test_local_needs_allow_local_chroot():
    assert parse_descriptor("local:/", None, allow_local=True) == \
        ImageSpec("local", "/")
    with pytest.raises(ImageError) as info:
        parse_descriptor("local:/srv/root", "docker")
    assert str(info.value) == ("image 'local:/srv/root': local images are "
                               "disabled (allowLocalChroot=0)")


@pytest.mark.parametrize("text, default, message", [
    ("", "docker", "image: empty image descriptor"),
    ("busybox", None, "image 'busybox': no image type given and no "
     "defaultImageType configured (use type:tag, type one of docker, custom, "
     "id, local)"),
    ("docker:", "docker", "image 'docker:': empty image tag"),
    ("this is *incorrect*", "docker", "image 'this is *incorrect*': invalid "
     "character ' ' in docker tag"),
    ("custom:a/b", "docker", "image 'custom:a/b': invalid character '/' in "
     "custom tag"),
    ("id:abc/def", "docker", "image 'id:abc/def': invalid character '/' in "
     "id tag"),
    ("id:..", "docker", "image 'id:..': invalid image id"),
    ("id:.hidden", "docker", "image 'id:.hidden': invalid image id"),
    ("docker:a;rm", "docker", "image 'docker:a;rm': invalid character ';' "
     "in docker tag"),
])
def test_bad_descriptors(text, default, message):
    with pytest.raises(ImageError) as info:
        parse_descriptor(text, default)
    assert str(info.value) == message


@pytest.mark.parametrize("text, message", [
    ("local:relative", "image 'local:relative': local image must be an "
     "absolute path"),
    ("local:/a/../b", "image 'local:/a/../b': local image must not contain '..'"),
])
def test_bad_local(text, message):
    with pytest.raises(ImageError) as info:
        parse_descriptor(text, None, allow_local=True)
    assert str(info.value) == message


# ---- precedence -----------------------------------------------------------

ENV_ALL = {
    "SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGE": "aaa",
    "SLURM_SPANK_SHIFTER_IMAGETYPE": "id", "SLURM_SPANK_SHIFTER_IMAGE": "bbb",
    "SHIFTER_IMAGEREQUEST": "docker:req",
    "SLURM_SPANK_SHIFTER_IMAGEREQUEST": "docker:slurmreq",
}


def test_cli_image_wins():
    sel = select_image("docker:cli", ENV_ALL, cfg())
    assert sel == ImageSelection(ImageSpec("docker", "cli"), "docker:cli",
                                 "--image")


def test_type_and_image_env_next_with_request_text():
    sel = select_image(None, ENV_ALL, cfg())
    assert sel == ImageSelection(ImageSpec("id", "aaa"), "docker:req",
                                 "SHIFTER_IMAGETYPE")


def test_slurm_spank_fallback():
    env = {k: v for k, v in ENV_ALL.items() if not k.startswith("SHIFTER_")}
    sel = select_image(None, env, cfg())
    assert sel == ImageSelection(ImageSpec("id", "bbb"), "docker:slurmreq",
                                 "SLURM_SPANK_SHIFTER_IMAGETYPE")


def test_mixed_shifter_type_slurm_image():
    env = {"SHIFTER_IMAGETYPE": "id", "SLURM_SPANK_SHIFTER_IMAGE": "ccc"}
    sel = select_image(None, env, cfg())
    assert sel is not None and sel.spec == ImageSpec("id", "ccc")
    assert sel.request == "id:ccc"


def test_type_without_image_both_dropped_then_request():
    env = {"SHIFTER_IMAGETYPE": "id", "SHIFTER_IMAGEREQUEST": "busybox"}
    sel = select_image(None, env, cfg())
    assert sel == ImageSelection(ImageSpec("docker", "busybox"), "busybox",
                                 "SHIFTER_IMAGEREQUEST")


@pytest.mark.parametrize("environ, message", [
    ({"SHIFTER_IMAGE": "zz"}, "SHIFTER_IMAGE=zz given without SHIFTER_IMAGETYPE "
     "(set both, or use --image=<type>:<tag>)"),
    ({"SHIFTER_IMAGE": " zz ", "SHIFTER_IMAGETYPE": " "}, "SHIFTER_IMAGE=zz given without "
     "SHIFTER_IMAGETYPE (set both, or use --image=<type>:<tag>)"),
    ({"SLURM_SPANK_SHIFTER_IMAGE": "zz"}, "SLURM_SPANK_SHIFTER_IMAGE=zz given without "
     "SLURM_SPANK_SHIFTER_IMAGETYPE (set both, or use --image=<type>:<tag>)"),
    ({"SHIFTER_IMAGETYPE": "id"}, "SHIFTER_IMAGETYPE=id given without SHIFTER_IMAGE "
     "(set both, or use --image=<type>:<tag>)"),
])
def test_image_or_type_alone_names_the_missing_variable(environ, message):
    with pytest.raises(ImageError) as info:
        select_image(None, environ, cfg())
    assert str(info.value) == message


def test_image_without_type_falls_back_to_the_request():
    sel = select_image(None, {"SHIFTER_IMAGE": "zz", "SHIFTER_IMAGEREQUEST": "id:ab"}, cfg())
    assert sel is not None and str(sel.spec) == "id:ab"


def test_slurm_request_fallback():
    sel = select_image(None, {"SLURM_SPANK_SHIFTER_IMAGEREQUEST":
                              "docker:x"}, cfg())
    assert sel is not None and sel.source == \
        "SLURM_SPANK_SHIFTER_IMAGEREQUEST"


def test_nothing_selected():
    assert select_image(None, {}, cfg()) is None
    assert select_image(None, {"SHIFTER_IMAGEREQUEST": " "}, cfg()) is None


def test_env_type_must_be_known():
    with pytest.raises(ImageError) as info:
        select_image(None, {"SHIFTER_IMAGETYPE": "oci",
                            "SHIFTER_IMAGE": "x"}, cfg())
    assert str(info.value) == ("SHIFTER_IMAGETYPE=oci: unknown image type "
                               "(expected one of docker, custom, id, local)")


def test_env_local_needs_allow_local_chroot():
    env = {"SHIFTER_IMAGETYPE": "local", "SHIFTER_IMAGE": "/"}
    assert select_image(None, env, cfg(local=True)).spec == \
        ImageSpec("local", "/")
    with pytest.raises(ImageError):
        select_image(None, env, cfg())


def test_label_names_the_resolved_id():
    assert ImageSpec("id", "ab12").label("ab12") == "id:ab12"
    assert ImageSpec("docker", "ubuntu:22.04").label("ab12") == "docker:ubuntu:22.04 (id ab12)"


def test_shifter_variable_is_not_read():
    assert select_image(None, {"SHIFTER": "docker:x"}, cfg()) is None
