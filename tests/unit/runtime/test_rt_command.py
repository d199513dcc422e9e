"""Command and working-directory selection (upstream calculate_args)."""
from __future__ import annotations

import pytest

from shifter_runtime.command import select_command, select_workdir
from shifter_runtime.errors import CommandError
from shifter_runtime.meta import ImageMeta

pytestmark = pytest.mark.unit

IMAGE = ImageMeta(format="squashfs", entrypoint=["/entry.sh", "-x"],
                  cmd=["default", "cmd"], workdir="/work")
BARE = ImageMeta(format="squashfs")


def test_args_given():
    assert select_command(["ls", "-l"], False, None, IMAGE, {}) == \
        ["ls", "-l"]


def test_no_args_uses_shell_not_image_cmd():
    assert select_command([], False, None, IMAGE, {"SHELL": "/bin/zsh"}) == \
        ["/bin/zsh"]


def test_no_args_no_shell_bin_sh():
    assert select_command([], False, None, IMAGE, {}) == ["/bin/sh"]
    assert select_command([], False, None, IMAGE, {"SHELL": ""}) == \
        ["/bin/sh"]


def test_entrypoint_with_image_cmd():
    assert select_command([], True, None, IMAGE, {}) == \
        ["/entry.sh", "-x", "default", "cmd"]


def test_entrypoint_with_args_replaces_cmd():
    assert select_command(["a", "b"], True, None, IMAGE, {}) == \
        ["/entry.sh", "-x", "a", "b"]


def test_entrypoint_without_image_cmd():
    meta = ImageMeta(format="squashfs", entrypoint=["/e"])
    assert select_command([], True, None, meta, {}) == ["/e"]


def test_entrypoint_override_ignores_image_cmd():
    assert select_command([], True, "/bin/echo", IMAGE, {}) == ["/bin/echo"]
    assert select_command(["hi"], True, "/bin/echo", IMAGE, {}) == \
        ["/bin/echo", "hi"]
    assert select_command([], True, "/bin/echo", None, {}) == ["/bin/echo"]


@pytest.mark.parametrize("meta", [BARE, None])
def test_entrypoint_missing_in_image(meta):
    with pytest.raises(CommandError) as info:
        select_command([], True, None, meta, {})
    assert str(info.value) == ("--entrypoint: image does not have a defined "
                               "entrypoint")


def test_workdir_explicit():
    assert select_workdir("/data", False, IMAGE, "/home/u") == "/data"


def test_workdir_relative_to_cwd():
    assert select_workdir("sub/dir", False, IMAGE, "/home/u/") == \
        "/home/u/sub/dir"


def test_workdir_from_image():
    assert select_workdir(None, True, IMAGE, "/home/u") == "/work"


@pytest.mark.parametrize("meta", [BARE, None])
def test_workdir_from_image_missing(meta):
    with pytest.raises(CommandError) as info:
        select_workdir(None, True, meta, "/home/u")
    assert str(info.value) == ("--workdir: image does not have a defined "
                               "working directory")


def test_workdir_default_cwd_even_if_image_has_one():
    assert select_workdir(None, False, IMAGE, "/home/u") == "/home/u"
