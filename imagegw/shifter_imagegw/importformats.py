"""What ``doimport`` accepts, shared by the gateway and the ``shifterimg`` client (stdlib only)."""

SQUASHFS_MAGIC = b"hsqs"   # the first four bytes of a squashfs image
# Archive formats -> the index file that identifies them (an archive with both is read as OCI).
ARCHIVE_INDEX = {"oci": "index.json", "docker-archive": "manifest.json"}
IMPORT_FORMATS = ("squashfs", "docker-archive", "oci")
