"""What ``doimport`` accepts, shared by the gateway and the ``shifterimg`` client (stdlib only)."""
import os
import stat

SQUASHFS_MAGIC = b"hsqs"   # the first four bytes of a squashfs image
# Archive formats -> the index file that identifies them (an archive with both is read as OCI).
ARCHIVE_INDEX = {"oci": "index.json", "docker-archive": "manifest.json"}
IMPORT_FORMATS = ("squashfs", "docker-archive", "oci")


def source_problem(path: str, fmt: str) -> str | None:
    """Why ``path`` cannot be imported as ``fmt`` (None: it can).

    It must be absolute and name (through symlinks) a non-empty regular file, or for the
    archive formats also a directory (an OCI layout, an unpacked ``docker save``): a fifo
    or a device would block or never end, and ``/proc`` files are empty by ``stat``.
    """
    if "\0" in path or not os.path.isabs(path):
        return f"filepath: must be an absolute path, not {path!r}"
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"filepath: {path}: {exc.strerror}"
    if stat.S_ISDIR(st.st_mode):
        return None if fmt != "squashfs" else f"filepath: {path}: a directory, not a squashfs"
    if not stat.S_ISREG(st.st_mode):
        return f"filepath: {path}: not a regular file"
    if st.st_size == 0:
        return f"filepath: {path}: empty file"
    return None
