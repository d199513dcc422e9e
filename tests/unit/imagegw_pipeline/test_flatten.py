"""Flattening layers from in-memory tar streams, including a malicious-layer suite."""
import gzip
import io
import tarfile

import pytest
import zstandard

from shifter_imagegw.flatten import DIR_INDEX_MIN, DIR_INDEX_XATTR, FlattenError, index_layer, normalize, plan_merge, write_merged
from shifter_imagegw.layerio import open_layer

pytestmark = pytest.mark.unit


def layer(*members, fmt=tarfile.PAX_FORMAT) -> bytes:
    """Tar bytes from (kind, name, arg[, mode]) tuples; kind: file dir symlink hardlink chr fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for kind, name, *rest in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.uid, info.gid = 1234, 5678
            data = None
            if kind == "file":
                data = rest[0].encode() if isinstance(rest[0], str) else rest[0]
                info.size = len(data)
                info.mode = rest[1] if len(rest) > 1 else 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, rest[0] if rest else 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, rest[0]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, rest[0]
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "blk":
                info.type, info.devmajor, info.devminor = tarfile.BLKTYPE, 8, 0
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "xattr":
                data = rest[0].encode()
                info.size = len(data)
                info.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                                    "SCHILY.xattr.user.evil": "1"}
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def flatten(*layers: bytes):
    """Run both passes; return ({path: description}, hardlink groups, refused notes)."""
    plan = plan_merge([index_layer(io.BytesIO(raw)) for raw in layers])
    out = io.BytesIO()
    write_merged(plan, lambda i: io.BytesIO(layers[i]), out)
    out.seek(0)
    tree, links = {}, {}
    with tarfile.open(fileobj=out, mode="r:") as tar:
        for m in tar:
            xattrs = {k for k in m.pax_headers if k.startswith("SCHILY.xattr")}
            assert m.uid == 0 and m.gid == 0 and xattrs <= ({f"SCHILY.xattr.{DIR_INDEX_XATTR}"} if m.isdir() else set())
            if m.isdir():
                tree[m.name] = ("dir", m.mode)
            elif m.issym():
                tree[m.name] = ("symlink", m.linkname)
            elif m.islnk():
                links[m.name] = m.linkname
                tree[m.name] = tree[m.linkname]
            else:
                assert m.isreg(), m.name
                tree[m.name] = ("file", m.mode, tar.extractfile(m).read().decode())
            assert m.name not in links or m.islnk()
    groups = {}
    for name, target in links.items():
        groups.setdefault(target, {target}).add(name)
    return tree, sorted(groups.values(), key=sorted), plan.refused


def test_single_layer_normalised_owners_and_modes():
    tree, _, refused = flatten(layer(("dir", "./etc", 0o700), ("file", "./etc/shadow", "s", 0o600),
                                     ("file", "bin/tool", "t", 0o4711), ("symlink", "bin/sh", "/bin/busybox")))
    assert tree == {"etc": ("dir", 0o755), "etc/shadow": ("file", 0o644, "s"),
                    "bin": ("dir", 0o755), "bin/tool": ("file", 0o4755, "t"), "bin/sh": ("symlink", "/bin/busybox")}
    assert refused == []


def test_whiteouts_opaque_dirs_and_type_changes():
    base = layer(("dir", "a"), ("file", "a/file1", "1"), ("file", "a/keep", "k"),
                 ("dir", "b"), ("file", "b/old", "o"), ("dir", "b/sub"), ("file", "b/sub/deep", "d"),
                 ("file", "c", "c file"), ("dir", "d"), ("file", "d/inner", "i"),
                 ("dir", "gone"), ("file", "gone/x", "x"))
    upper = layer(("dir", "a"), ("file", "a/.wh.file1", ""),
                  ("dir", "b"), ("file", "b/.wh..wh..opq", ""), ("file", "b/new", "n"),
                  ("dir", "c"), ("file", "c/now-dir", "cd"), ("file", "d", "d file"), ("file", ".wh.gone", ""))
    top = layer(("file", "a/file1", "1 again"))
    tree, _, _ = flatten(base, upper, top)
    assert tree == {"a": ("dir", 0o755), "a/file1": ("file", 0o644, "1 again"), "a/keep": ("file", 0o644, "k"),
                    "b": ("dir", 0o755), "b/new": ("file", 0o644, "n"),
                    "c": ("dir", 0o755), "c/now-dir": ("file", 0o644, "cd"), "d": ("file", 0o644, "d file")}


def test_opaque_keeps_same_layer_entries_listed_before_the_marker():
    tree, _, _ = flatten(layer(("dir", "o"), ("file", "o/low", "l")),
                         layer(("dir", "o"), ("file", "o/up", "u"), ("file", "o/.wh..wh..opq", "")))
    assert tree == {"o": ("dir", 0o755), "o/up": ("file", 0o644, "u")}


def test_whiteout_of_a_same_layer_entry_is_ignored():
    tree, _, _ = flatten(layer(("file", "x", "x"), ("file", ".wh.x", "")))
    assert tree == {"x": ("file", 0o644, "x")}


def test_hardlinks_kept_and_survive_replacement_of_the_original():
    base = layer(("dir", "h"), ("file", "h/orig", "data"), ("hardlink", "h/link", "h/orig"),
                 ("hardlink", "h/link2", "h/link"))
    tree, groups, _ = flatten(base)
    assert groups == [{"h/orig", "h/link", "h/link2"}]
    tree, groups, _ = flatten(base, layer(("file", "h/orig", "new")))
    assert tree["h/orig"] == ("file", 0o644, "new")
    assert tree["h/link"] == tree["h/link2"] == ("file", 0o644, "data")
    assert groups == [{"h/link", "h/link2"}]


def test_unicode_and_long_names_gnu_and_pax():
    names = ["uni/héllo wörld.txt", "uni/日本語.txt", "uni/emoji-🚀", "deep/" + "x" * 200 + "/f"]
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        tree, _, _ = flatten(layer(*[("file", n, n) for n in names], fmt=fmt))
        assert {n: tree[n][2] for n in names} == {n: n for n in names}


def test_empty_files_and_root_entry():
    tree, _, _ = flatten(layer(("dir", "./"), ("dir", "."), ("file", "empty", "")))
    assert tree == {"empty": ("file", 0o644, "")}


# -- malicious layers: every escape attempt is refused or lands inside the tree ------------

@pytest.mark.parametrize("evil", [
    layer(("file", "/etc/passwd", "pwned")),
    layer(("file", "../../../etc/passwd", "pwned")),
    layer(("file", "a/../../etc/passwd", "pwned")),
    layer(("file", "./../etc/passwd", "pwned")),
])
def test_absolute_and_dotdot_names_refused(evil):
    tree, _, refused = flatten(evil)
    assert tree == {} and len(refused) == 1 and "absolute or '..'" in refused[0]


def test_write_through_symlink_in_same_layer_refused():
    tree, _, refused = flatten(layer(("symlink", "etc", "/etc"), ("file", "etc/passwd", "pwned")))
    assert tree == {"etc": ("symlink", "/etc")}
    assert "parent is not a directory" in refused[0]


def test_write_through_symlink_from_lower_layer_refused():
    tree, _, refused = flatten(layer(("symlink", "escape", "../../../../")),
                               layer(("file", "escape/etc/passwd", "pwned")))
    assert tree == {"escape": ("symlink", "../../../../")} and len(refused) == 1


def test_symlinked_parent_replaced_by_explicit_directory_is_a_directory():
    tree, _, refused = flatten(layer(("symlink", "lib", "/host/lib")),
                               layer(("dir", "lib"), ("file", "lib/x", "safe")))
    assert tree == {"lib": ("dir", 0o755), "lib/x": ("file", 0o644, "safe")} and refused == []


def test_write_below_a_regular_file_refused():
    tree, _, refused = flatten(layer(("file", "f", "f"), ("file", "f/x", "x")))
    assert tree == {"f": ("file", 0o644, "f")} and refused


@pytest.mark.parametrize("target", ["/etc/shadow", "../../etc/shadow", "etc/../../shadow"])
def test_hardlink_to_outside_refused(target):
    tree, groups, refused = flatten(layer(("hardlink", "shadow", target)))
    assert tree == {} and groups == [] and "outside the root" in refused[0]


def test_hardlink_through_symlink_or_to_missing_or_dir_refused():
    tree, groups, refused = flatten(layer(("symlink", "etc", "/etc"), ("dir", "d"),
                                          ("hardlink", "a", "etc/shadow"), ("hardlink", "b", "nothere"),
                                          ("hardlink", "c", "d"), ("hardlink", "e", "etc")))
    assert set(tree) == {"etc", "d"} and groups == [] and len(refused) == 4


def test_hardlink_in_upper_layer_to_lower_symlink_target_refused():
    tree, _, refused = flatten(layer(("symlink", "s", "/etc/shadow")), layer(("hardlink", "x", "s")))
    assert "x" not in tree and refused


@pytest.mark.parametrize("marker", ["l/.wh.passwd", "l/.wh..wh..opq"])
def test_whiteouts_below_a_symlinked_parent_refused(marker):
    """A whiteout or opaque marker is applied in the tree, never through a link to the host."""
    tree, _, refused = flatten(layer(("symlink", "l", "/etc")), layer(("file", marker, "")))
    assert tree == {"l": ("symlink", "/etc")}
    assert len(refused) == 1 and "parent is not a directory" in refused[0]


@pytest.mark.parametrize("marker", ["a/.wh..", "a/.wh.", ".wh.."])
def test_whiteouts_of_dot_names_remove_nothing(marker):
    lower = layer(("dir", "a"), ("file", "a/keep", "k"), ("file", "top", "t"))
    tree, _, refused = flatten(lower, layer(("file", marker, "")))
    assert tree == {"a": ("dir", 0o755), "a/keep": ("file", 0o644, "k"), "top": ("file", 0o644, "t")}
    assert refused == []


def test_hardlink_to_a_name_whited_out_in_the_same_layer_refused():
    tree, groups, refused = flatten(layer(("file", "x", "secret")),
                                    layer(("file", ".wh.x", ""), ("hardlink", "y", "x")))
    assert tree == {} and groups == []
    assert len(refused) == 1 and "hardlink target 'x' is not a file" in refused[0]


def test_device_nodes_and_fifos_dropped():
    tree, _, refused = flatten(layer(("dir", "dev"), ("chr", "dev/mem"), ("blk", "dev/sda"),
                                     ("fifo", "pipe"), ("file", "ok", "ok")))
    assert tree == {"dev": ("dir", 0o755), "ok": ("file", 0o644, "ok")}
    assert sorted(r.split(": ", 2)[2] for r in refused) == ["block device dropped", "character device dropped",
                                                           "fifo dropped"]


def test_xattrs_dropped():
    tree, _, _ = flatten(layer(("xattr", "bin/ping", "ping")))
    assert tree["bin/ping"] == ("file", 0o644, "ping")      # and flatten() asserted no SCHILY.xattr


def test_normalize():
    assert normalize("./a//b/./c") == "a/b/c"
    assert normalize("./") == "" and normalize(".") == ""
    assert normalize("/abs") is None and normalize("a/../b") is None and normalize("..") is None


def test_garbage_layer_is_a_clean_error():
    with pytest.raises(FlattenError, match="not a readable tar"):
        index_layer(io.BytesIO(b"\x00garbage" * 200))


def test_open_layer_detects_gzip_zstd_and_plain(tmp_path):
    raw = layer(("file", "x", "compressed"))
    for name, data in [("plain", raw), ("gz", gzip.compress(raw)), ("zst", zstandard.compress(raw))]:
        path = tmp_path / name
        path.write_bytes(data)
        with open_layer(path) as fh:
            assert [e.path for e in index_layer(fh)] == ["x"]


def test_multi_member_gzip_and_big_layers_stream(tmp_path):
    big = layer(*[("file", f"d/f{i}", bytes([i % 251]) * (300_000 + i)) for i in range(12)])
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(big[:700_000]) + gzip.compress(big[700_000:]))
    with open_layer(path) as fh:
        entries = index_layer(fh)
    assert [e.size for e in entries] == [300_000 + i for i in range(12)]
    out = io.BytesIO()
    write_merged(plan_merge([entries]), lambda i: open_layer(path), out)
    assert len(out.getvalue()) > 12 * 300_000


def test_truncated_or_corrupt_gzip_layer_is_a_clean_error(tmp_path):
    data = gzip.compress(layer(("file", "x", "y" * 100_000)))
    for name, raw in [("trunc", data[: len(data) // 2]), ("corrupt", data[:20] + b"\xff" * 40 + data[60:])]:
        path = tmp_path / name
        path.write_bytes(raw)
        with pytest.raises(FlattenError, match="not a readable tar archive"):
            with open_layer(path) as fh:
                index_layer(fh)


def test_big_directories_get_the_index_marker_and_nothing_else_does():
    raw = layer(("dir", "big"), *[("file", f"big/f{i}", "x") for i in range(DIR_INDEX_MIN)],
                ("dir", "small"), ("file", "small/f", "x"))
    plan = plan_merge([index_layer(io.BytesIO(raw))])
    assert plan.indexed_dirs == {"big"}
    out = io.BytesIO()
    write_merged(plan, lambda i: io.BytesIO(raw), out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        marked = {m.name for m in tar if m.pax_headers}
    assert marked == {"big"}
