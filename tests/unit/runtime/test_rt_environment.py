"""Environment layering exactly as upstream (inventory §3.3 step 9)."""
from __future__ import annotations

import pytest

from shifter_runtime.config import ModuleConfig, UdiRootConfig
from shifter_runtime.environment import (build_environment, parse_assignment,
                                         parse_env_file, search_path, site_edits,
                                         which)
from shifter_runtime.launchenv import apply_edits
from shifter_runtime.errors import EnvError

pytestmark = pytest.mark.unit


def build(**kw):
    args = dict(clearenv=False, image_request="docker:x", image_id="abc")
    args.update(kw)
    caller = args.pop("caller", {"HOME": "/home/u", "PATH": "/host/bin"})
    return build_environment(caller, **args)


def test_caller_env_passed_and_shifter_vars_set():
    env = build()
    assert env == {"HOME": "/home/u", "PATH": "/host/bin",
                   "SHIFTER_IMAGEREQUEST": "docker:x", "SHIFTER_IMAGE": "abc"}


def test_clearenv_starts_empty():
    assert build(clearenv=True) == {"SHIFTER_IMAGEREQUEST": "docker:x",
                                    "SHIFTER_IMAGE": "abc"}


def test_loader_variables_dropped_like_setuid_upstream():
    env = build(caller={"LD_PRELOAD": "/x.so", "LD_LIBRARY_PATH": "/l",
                        "TMPDIR": "/t", "LOCPATH": "/loc", "GCONV_PATH": "/g",
                        "LD_BIND_NOW": "1", "KEEP": "1"})
    for name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "TMPDIR", "LOCPATH",
                 "GCONV_PATH"):
        assert name not in env
    assert env["LD_BIND_NOW"] == "1" and env["KEEP"] == "1"


def test_image_and_site_may_still_set_loader_variables():
    env = build(caller={"LD_LIBRARY_PATH": "/host"},
                image_env=["LD_LIBRARY_PATH=/usr/local/lib"],
                config=UdiRootConfig(site_env_prepend=[("LD_LIBRARY_PATH",
                                                        "/site")]))
    assert env["LD_LIBRARY_PATH"] == "/site:/usr/local/lib"


def test_image_env_replaces_caller_and_shifter_vars():
    env = build(image_env=["PATH=/usr/bin:/bin", "SHIFTER_IMAGE=img",
                           "EMPTY=", "X=a=b"])
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["SHIFTER_IMAGE"] == "img"
    assert env["EMPTY"] == ""
    assert env["X"] == "a=b"


def test_full_precedence_chain():
    module_a = ModuleConfig("a", site_env=[("V", "moda")],
                            site_env_append=[("PATH", "/a")],
                            site_env_prepend=[("LD_LIBRARY_PATH", "/alib")])
    module_b = ModuleConfig("b", site_env=[("V", "modb")],
                            site_env_unset=["UNSET_ME"])
    config = UdiRootConfig(site_env=[("SITE", "1")],
                           site_env_append=[("PATH", "/site")],
                           site_env_prepend=[("PATH", "/first")],
                           site_env_unset=["DROP"])
    env = build(caller={"V": "caller", "DROP": "x", "UNSET_ME": "y"},
                image_env=["V=image", "PATH=/usr/bin"],
                env_file=[("V", "file"), ("F", "1")],
                cli_env=[("V", "cli")],
                modules=[module_a, module_b], config=config)
    assert env["V"] == "modb"
    assert env["F"] == "1"
    assert env["PATH"] == "/first:/usr/bin:/a:/site"
    assert env["LD_LIBRARY_PATH"] == "/alib"
    assert env["SITE"] == "1"
    assert "DROP" not in env and "UNSET_ME" not in env


def test_cli_env_beats_env_file():
    env = build(env_file=[("A", "file")], cli_env=[("A", "cli")])
    assert env["A"] == "cli"


def test_site_env_beats_module_env():
    env = build(modules=[ModuleConfig("m", site_env=[("A", "mod")])],
                config=UdiRootConfig(site_env=[("A", "site")]))
    assert env["A"] == "site"


def test_append_prepend_on_unset_or_empty_just_sets():
    env = {"EMPTY": ""}
    apply_edits(env, [("append", "NEW", "/x"), ("append", "EMPTY", "/e"),
                      ("prepend", "NEW2", "/y")])
    assert env == {"EMPTY": "/e", "NEW": "/x", "NEW2": "/y"}


def test_edits_order_set_append_prepend_unset():
    env: dict[str, str] = {}
    apply_edits(env, site_edits(ModuleConfig("m", site_env=[("P", "mid")],
                                             site_env_append=[("P", "end")],
                                             site_env_prepend=[("P", "start")],
                                             site_env_unset=["Q"])))
    assert env == {"P": "start:mid:end"}


@pytest.mark.parametrize("text, pair", [
    ("A=1", ("A", "1")), ("A=b=c", ("A", "b=c")), ("A= x", ("A", " x")),
    ('Q="quoted"', ("Q", '"quoted"')),
])
def test_parse_assignment(text, pair):
    assert parse_assignment(text, "--env") == pair


@pytest.mark.parametrize("text", ["A", "=1", "A=", "="])
def test_parse_assignment_rejects(text):
    with pytest.raises(EnvError) as info:
        parse_assignment(text, "--env")
    assert str(info.value) == (f"--env: '{text}': expected NAME=VALUE with "
                               f"non-empty name and value")


def test_parse_assignment_space_in_name():
    with pytest.raises(EnvError) as info:
        parse_assignment("A B=1", "--env")
    assert str(info.value) == "--env: 'A B=1': space in variable name"


def test_env_file_skips_blank_and_comments_keeps_quotes():
    data = "# comment\n\nA=1\n  B='two words'  \n#C=3\nD=\"x\"\nE=é\n".encode()
    assert parse_env_file(data, "e.env") == [("A", "1"),
                                             ("B", "'two words'"),
                                             ("D", '"x"'), ("E", "é")]


def test_env_file_error_names_file_line():
    with pytest.raises(EnvError) as info:
        parse_env_file(b"A=1\n\nexport B\n", "my.env")
    assert str(info.value) == ("my.env:3: 'export B': expected NAME=VALUE "
                               "with non-empty name and value")


@pytest.mark.parametrize("data, message", [
    (b"A=1\n\xff\xfe=2\n", "e.env:2: not UTF-8 text (byte 4)"),
    (b"A=b\x00c\n", "e.env:1: NUL byte (an environment variable cannot hold one)"),
    (b"# \x00 in a comment is skipped\nA=1\nB=\x00\n",
     "e.env:3: NUL byte (an environment variable cannot hold one)"),
])
def test_env_file_bytes_an_environment_cannot_hold(data, message):
    with pytest.raises(EnvError) as info:
        parse_env_file(data, "e.env")
    assert str(info.value) == message


def test_search_path_from_container_env():
    assert search_path({"PATH": "/opt/bin::/usr/bin"}) == ["/opt/bin",
                                                          "/usr/bin"]
    assert search_path({}) == ["/usr/local/bin", "/usr/bin", "/bin"]


def test_which_uses_container_path():
    present = {"/usr/bin/python3", "/opt/bin/tool"}
    env = {"PATH": "/opt/bin:/usr/bin"}
    assert which("tool", env, present.__contains__) == "/opt/bin/tool"
    assert which("python3", env, present.__contains__) == "/usr/bin/python3"
    assert which("missing", env, present.__contains__) is None
    assert which("./rel/x", env, present.__contains__) == "./rel/x"


def test_which_real_filesystem(tmp_path):
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (tmp_path / "plain").write_text("")
    env = {"PATH": str(tmp_path)}
    assert which("tool", env) == str(tool)
    assert which("plain", env) is None
