"""The shifter command line, parsed like upstream's getopt_long with
POSIXLY_CORRECT."""
from __future__ import annotations

import pytest

from shifter_runtime.errors import EnvError, UsageError, VolumeError
from shifter_runtime.options import (USAGE, ShifterOptions, parse_options,
                                     user_volumes, volume_request)

pytestmark = pytest.mark.unit


def test_empty_command_line():
    assert parse_options([]) == ShifterOptions()


def test_long_options_with_equals():
    opts = parse_options(["--image=docker:ubuntu", "--volume=/a:/b",
                          "--module=mpich", "--env=A=1", "--env-file=f.env",
                          "--clearenv", "--verbose", "--workdir=/w",
                          "--entrypoint=/e", "cmd", "arg"])
    assert opts == ShifterOptions(
        image="docker:ubuntu", volumes=["/a:/b"], modules="mpich",
        use_entrypoint=True, entrypoint="/e", workdir="/w",
        env=[("A", "1")], env_files=["f.env"], clearenv=True, verbose=True,
        args=["cmd", "arg"])


def test_long_required_arg_as_next_word():
    opts = parse_options(["--image", "busybox", "--volume", "/a:/b", "ls"])
    assert opts.image == "busybox" and opts.volumes == ["/a:/b"]
    assert opts.args == ["ls"]


def test_short_options():
    opts = parse_options(["-i", "busybox", "-V/a:/b", "-V", "/c:/d",
                          "-m", "none", "-e", "X=1", "-E", "-v", "true"])
    assert opts.image == "busybox"
    assert opts.volumes == ["/a:/b", "/c:/d"]
    assert opts.modules == "none"
    assert opts.env == [("X", "1")]
    assert opts.clearenv and opts.verbose
    assert opts.args == ["true"]


def test_short_cluster_with_attached_argument():
    opts = parse_options(["-vEidocker:x", "sh"])
    assert opts.verbose and opts.clearenv and opts.image == "docker:x"
    assert opts.args == ["sh"]


def test_stops_at_first_non_option():
    opts = parse_options(["--image=x", "ls", "-l", "--image=y"])
    assert opts.image == "x"
    assert opts.args == ["ls", "-l", "--image=y"]


def test_double_dash_ends_options():
    opts = parse_options(["-v", "--", "-E", "x"])
    assert opts.verbose and not opts.clearenv
    assert opts.args == ["-E", "x"]


def test_lone_dash_is_a_command():
    assert parse_options(["-"]).args == ["-"]


def test_workdir_without_value_means_image_workdir():
    opts = parse_options(["--workdir", "cmd"])
    assert opts.workdir is None and opts.workdir_from_image
    assert opts.args == ["cmd"]


def test_short_w_optional_only_attached():
    opts = parse_options(["-w/data", "x"])
    assert opts.workdir == "/data" and not opts.workdir_from_image
    opts = parse_options(["-w", "/data"])
    assert opts.workdir_from_image and opts.args == ["/data"]


def test_entrypoint_without_value_and_entry_alias():
    opts = parse_options(["--entrypoint"])
    assert opts.use_entrypoint and opts.entrypoint is None
    opts = parse_options(["--entry=/bin/x", "y"])
    assert opts.use_entrypoint and opts.entrypoint == "/bin/x"
    assert opts.args == ["y"]


def test_entrypoint_value_must_be_attached():
    opts = parse_options(["--entrypoint", "/bin/x"])
    assert opts.entrypoint is None and opts.args == ["/bin/x"]


def test_unambiguous_prefix_accepted():
    opts = parse_options(["--im=busybox", "--vol=/a:/b", "--clear"])
    assert opts.image == "busybox" and opts.volumes == ["/a:/b"]
    assert opts.clearenv


def test_help_stops_parsing():
    opts = parse_options(["-v", "-h", "--bogus", "cmd"])
    assert opts.help and opts.verbose and opts.args == []
    assert parse_options(["-vhx"]).help
    assert parse_options(["--he", "--nope"]).help


def test_help_flag():
    assert parse_options(["-h"]).help
    assert parse_options(["--help"]).help
    assert "Usage: shifter" in USAGE


@pytest.mark.parametrize("argv, message", [
    (["--bogus"], "unrecognized option '--bogus'"),
    (["--e=x"], "option '--e' is ambiguous"),
    (["-x"], "invalid option -- 'x'"),
    (["-vq"], "invalid option -- 'q'"),
    (["-n"], "invalid option -- 'n'"),
    (["--image"], "option '--image' requires an argument"),
    (["-i"], "option requires an argument -- 'i'"),
    (["-V"], "option requires an argument -- 'V'"),
    (["--verbose=1"], "option '--verbose' doesn't allow an argument"),
    (["--image="], "option '--image' given an empty value"),
    (["--workdir="], "option '--workdir' given an empty value"),
    (["--entrypoint="], "option '--entrypoint' given an empty value"),
    (["--module="], "option '--module' given an empty value"),
    (["--volume="], "option '--volume' given an empty value"),
    (["-V", ""], "option '-V' given an empty value"),
])
def test_usage_errors(argv, message):
    with pytest.raises(UsageError) as info:
        parse_options(argv)
    assert str(info.value) == message


@pytest.mark.parametrize("argv, message", [
    (["--env=NOEQ"], "--env: 'NOEQ': expected NAME=VALUE with non-empty "
     "name and value"),
    (["-e", "=x"], "-e: '=x': expected NAME=VALUE with non-empty name and "
     "value"),
    (["-e", "A="], "-e: 'A=': expected NAME=VALUE with non-empty name and "
     "value"),
])
def test_env_option_errors(argv, message):
    with pytest.raises(EnvError) as info:
        parse_options(argv)
    assert str(info.value) == message


def test_repeated_env_kept_in_order():
    opts = parse_options(["-e", "A=1", "--env", "A=2", "-eB=3"])
    assert opts.env == [("A", "1"), ("A", "2"), ("B", "3")]


def test_cli_volumes_replace_env_volumes():
    env = {"SHIFTER_VOLUME": "/env:/env", "SLURM_SPANK_SHIFTER_VOLUME": "/s:/s"}
    assert volume_request(parse_options(["-V/a:/b", "-V", "/c:/d"]), env) \
        == ("--volume", "/a:/b;/c:/d")
    assert volume_request(parse_options([]), env) == ("SHIFTER_VOLUME", "/env:/env")
    assert volume_request(parse_options([]), {"SLURM_SPANK_SHIFTER_VOLUME": "/s:/s"}) \
        == ("SLURM_SPANK_SHIFTER_VOLUME", "/s:/s")
    assert volume_request(parse_options([]), {}) == ("", "")
    assert user_volumes(parse_options([]), {}) == []


@pytest.mark.parametrize("argv, environ, message", [
    (["--volume=/tmp"], {}, "--volume: volume '/tmp': expected from:to[:flags]"),
    (["-V/tmp"], {"SHIFTER_VOLUME": "/a:/b"}, "--volume: volume '/tmp': expected from:to[:flags]"),
    ([], {"SHIFTER_VOLUME": "/tmp"}, "SHIFTER_VOLUME: volume '/tmp': expected from:to[:flags]"),
    ([], {"SLURM_SPANK_SHIFTER_VOLUME": "/a:/etc"},
     "SLURM_SPANK_SHIFTER_VOLUME: volume '/a:/etc': target '/etc' not allowed (no mounts on "
     "/etc*, /var* except /var/tmp, /opt, /opt/udiImage*)"),
    ([], {"SHIFTER_VOLUME": ""}, "SHIFTER_VOLUME is set but empty (unset it for no volumes)"),
    ([], {"SLURM_SPANK_SHIFTER_VOLUME": " "},
     "SLURM_SPANK_SHIFTER_VOLUME is set but empty (unset it for no volumes)"),
])
def test_volume_errors_name_the_option_or_variable(argv, environ, message):
    with pytest.raises(VolumeError) as info:
        user_volumes(parse_options(argv), environ)
    assert str(info.value) == message
