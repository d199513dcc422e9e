"""Image metadata (<id>.meta): upstream's format both ways, and the ACL
rule the runtime enforces."""
from __future__ import annotations

import pytest

from shifter_runtime.errors import MetaError
from shifter_runtime.meta import (ImageMeta, acl_allows, format_meta,
                                  image_file, load_meta, meta_file,
                                  parse_meta, parse_str_list)

pytestmark = pytest.mark.unit

UPSTREAM = """FORMAT: squashfs
ENTRY: ['/bin/sh', '-c']
CMD: ['/bin/sh']
WORKDIR: /root
USERACL: 1000,1001
GROUPACL: 1002,1003
ENV: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV: LANG=C.UTF-8
ENV: EMPTY=
"""


def test_parse_upstream_meta():
    meta = parse_meta(UPSTREAM, "x.meta")
    assert meta.format == "squashfs"
    assert meta.entrypoint == ["/bin/sh", "-c"]
    assert meta.cmd == ["/bin/sh"]
    assert meta.workdir == "/root"
    assert meta.user_acl == [1000, 1001]
    assert meta.group_acl == [1002, 1003]
    assert meta.env == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8", "EMPTY="]
    assert meta.private and meta.warnings == []


def test_format_round_trips_upstream_bytes():
    assert format_meta(parse_meta(UPSTREAM)) == UPSTREAM


def test_python2_unicode_repr_lists():
    meta = parse_meta("FORMAT: squashfs\nENTRY: [u'/run.sh', u'--x']\n"
                      "CMD: [\"it's\"]\n")
    assert meta.entrypoint == ["/run.sh", "--x"]
    assert meta.cmd == ["it's"]


@pytest.mark.parametrize("argv", [
    [], [""], ["a b", "c"], ["it's"], ['say "hi"'], ["both ' and \""],
    ["back\\slash"], ["tab\tnew\nline\r"], ["\x00\x07\x1b"],
    ["caf\u00e9", "\u4e2d", "\U0001f600", "\u200b", "\ud800"],
    ["/bin/sh", "-c", "echo $HOME; ls ['x']"],
])
def test_repr_lists_round_trip(argv):
    assert parse_str_list(repr(argv)) == argv


def test_repr_list_spacing_and_trailing_comma():
    assert parse_str_list("[ 'a' ,\t\"b\", ]") == ["a", "b"]
    assert parse_str_list("[]") == []


def test_empty_list_entry_means_none():
    meta = parse_meta("FORMAT: squashfs\nCMD: []\n")
    assert meta.cmd == []
    assert "CMD" not in format_meta(meta)


def test_plain_string_entry_and_cmd():
    meta = parse_meta("FORMAT: squashfs\nENTRY: /entry.sh\nCMD: run me\n")
    assert meta.entrypoint == ["/entry.sh"]
    assert meta.cmd == ["run me"]


def test_minimal_public_meta():
    meta = parse_meta("FORMAT: squashfs\n")
    assert meta == ImageMeta(format="squashfs")
    assert not meta.private
    assert format_meta(meta) == "FORMAT: squashfs\n"


def test_user_volume_label_keys_and_unknown_warns():
    meta = parse_meta("FORMAT: squashfs\nUSER: alice\nVOLUME: /data\n"
                      "LABEL: org.x=1\nFROB: 2\n", "i.meta")
    assert meta.user == "alice"
    assert meta.volumes == ["/data"]
    assert meta.labels == {"org.x": "1"}
    assert meta.warnings == ["i.meta:5: unknown key 'FROB' ignored"]
    assert parse_meta(format_meta(meta)).labels == {"org.x": "1"}


def test_value_may_contain_colons():
    meta = parse_meta("FORMAT: squashfs\nENV: URL=http://x:80/y\n")
    assert meta.env == ["URL=http://x:80/y"]


@pytest.mark.parametrize("text, message", [
    ("", "i.meta: FORMAT: missing"),
    ("ENV: A=1\n", "i.meta: FORMAT: missing"),
    ("FORMAT: tarball\n", "i.meta:1: FORMAT: unknown image format 'tarball'"),
    ("FORMAT: squashfs\nnonsense\n", "i.meta:2: NONSENSE: expected KEY: "
     "value"),
    ("FORMAT: squashfs\nENTRY: ['/bin/sh'\n",
     "i.meta:2: ENTRY: not a list of strings (expected ',' or ']'): "
     "['/bin/sh'"),
    ("FORMAT: squashfs\nENTRY: ['/bin/sh\n",
     "i.meta:2: ENTRY: not a list of strings (unterminated string): "
     "['/bin/sh"),
    ("FORMAT: squashfs\nCMD: [1, 2]\n",
     "i.meta:2: CMD: not a list of strings (expected a quoted string): "
     "[1, 2]"),
    ("FORMAT: squashfs\nCMD: ['a' 'b']\n",
     "i.meta:2: CMD: not a list of strings (expected ',' or ']'): "
     "['a' 'b']"),
    ("FORMAT: squashfs\nCMD: ['a'] + x\n",
     "i.meta:2: CMD: not a list of strings (text after ']'): ['a'] + x"),
    ("FORMAT: squashfs\nCMD: ['\\q']\n",
     "i.meta:2: CMD: not a list of strings (unknown escape \\q): ['\\q']"),
    ("FORMAT: squashfs\nCMD: ['\\x4']\n",
     "i.meta:2: CMD: not a list of strings (bad \\x escape): ['\\x4']"),
    ("FORMAT: squashfs\nWORKDIR: rel\n",
     "i.meta:2: WORKDIR: 'rel' is not an absolute path"),
    ("FORMAT: squashfs\nUSERACL: 1000,bob\n",
     "i.meta:2: USERACL: 'bob' is not a numeric id"),
    ("FORMAT: squashfs\nGROUPACL: -5\n",
     "i.meta:2: GROUPACL: '-5' is not a numeric id"),
    ("FORMAT: squashfs\nENV: NOEQUALS\n",
     "i.meta:2: ENV: 'NOEQUALS': expected NAME=VALUE"),
    ("FORMAT: squashfs\nENV: =x\n", "i.meta:2: ENV: '=x': expected "
     "NAME=VALUE"),
])
def test_bad_meta(text, message):
    with pytest.raises(MetaError) as info:
        parse_meta(text, "i.meta")
    assert str(info.value) == message


def test_acl_limit_1000():
    ok = ",".join(str(i) for i in range(1000))
    assert len(parse_meta(f"FORMAT: squashfs\nUSERACL: {ok}\n").user_acl) \
        == 1000
    with pytest.raises(MetaError) as info:
        parse_meta(f"FORMAT: squashfs\nUSERACL: {ok},5000\n", "i.meta")
    assert str(info.value) == "i.meta:2: USERACL: more than 1000 entries"


def test_load_meta_file(tmp_path):
    path = tmp_path / "abc.meta"
    path.write_text(UPSTREAM)
    assert load_meta(str(path)).workdir == "/root"
    with pytest.raises(MetaError) as info:
        load_meta(str(tmp_path / "nope.meta"))
    assert str(info.value) == (f"{tmp_path}/nope.meta: cannot read: "
                               f"No such file or directory")
    with pytest.raises(MetaError) as info:
        load_meta(str(tmp_path / "nope.meta"), "id:nope")
    assert str(info.value) == f"image id:nope: not found in {tmp_path}"


def test_paths():
    assert meta_file("/images/", "abc") == "/images/abc.meta"
    assert image_file("/images", "abc", "squashfs") == "/images/abc.squashfs"


def test_format_refuses_newline_in_env():
    with pytest.raises(MetaError) as info:
        format_meta(ImageMeta(format="squashfs", env=["A=1\nFORMAT: xfs"]))
    assert str(info.value) == "ENV: bad entry 'A=1\\nFORMAT: xfs'"


@pytest.mark.parametrize("uid, gids, allowed", [
    (1000, [1000], True),     # uid listed
    (1001, [1001], False),    # neither
    (1001, [1001, 2000], True),  # auxiliary gid listed
    (1001, [2000], True),     # primary gid listed
])
def test_acl_allows_private(uid, gids, allowed):
    meta = ImageMeta(format="squashfs", user_acl=[1000], group_acl=[2000])
    assert acl_allows(meta, uid, gids) is allowed


def test_acl_allows_public_everyone():
    assert acl_allows(ImageMeta(format="squashfs"), 4242, [])


def test_acl_group_only_image():
    meta = ImageMeta(format="squashfs", group_acl=[3000])
    assert not acl_allows(meta, 1000, [1000])
    assert acl_allows(meta, 1000, [1000, 3000])


@pytest.mark.parametrize("meta, message", [
    (ImageMeta(format="squashfs", workdir="/a\nFORMAT: xfs"),
     "WORKDIR: value may not contain a newline: '/a\\nFORMAT: xfs'"),
    (ImageMeta(format="squashfs", user="a\rb"),
     "USER: value may not contain a newline: 'a\\rb'"),
    (ImageMeta(format="squashfs", labels={"k": "v\nUSERACL: 1"}),
     "LABEL: value may not contain a newline: 'k=v\\nUSERACL: 1'"),
    (ImageMeta(format="squashfs", volumes=["/v\n"]),
     "VOLUME: value may not contain a newline: '/v\\n'"),
])
def test_format_refuses_line_injection(meta, message):
    with pytest.raises(MetaError) as info:
        format_meta(meta)
    assert str(info.value) == message


def test_argv_newlines_are_escaped_not_injected():
    meta = ImageMeta(format="squashfs", cmd=["a\nUSERACL: 0"])
    text = format_meta(meta)
    assert text.count("\n") == 2
    assert parse_meta(text).cmd == ["a\nUSERACL: 0"]


def test_only_newline_separates_lines():
    meta = parse_meta("FORMAT: squashfs\nENV: A=x\x1cy\x0bz\n")
    assert meta.env == ["A=x\x1cy\x0bz"]
    meta = parse_meta("FORMAT: squashfs\r\nWORKDIR: /w\r\n")
    assert meta.workdir == "/w"
