"""The image a container is built from: id or local path, its .meta, its ACL."""
from __future__ import annotations

from ..config import UdiRootConfig
from ..errors import ImageError
from ..imagespec import ImageSpec
from ..meta import acl_allows, image_file, load_meta, meta_file
from .spec import ImageSource, UserInfo


def resolve_identifier(spec: ImageSpec, config: UdiRootConfig) -> str:
    """The image id: ``id``/``local`` carry it, tags ask the gateway client
    (the hook lives in ``launch.lookup`` so both commands share it)."""
    if not spec.needs_lookup:
        return spec.tag
    from ..launch.lookup import resolve_identifier as gateway_lookup
    return gateway_lookup(spec, config)


def image_source(spec: ImageSpec, config: UdiRootConfig, user: UserInfo) -> ImageSource:
    """Locate the image file (or local directory) and enforce the image ACL."""
    if spec.itype == "local":
        if not config.allow_local_chroot:
            raise ImageError(f"image 'local:{spec.tag}': local images are disabled "
                             "(allowLocalChroot=0)")
        return ImageSource(spec.tag, "VFS", spec.tag)
    ident = resolve_identifier(spec, config)
    meta = load_meta(meta_file(config.image_path, ident), spec.label(ident))
    if not acl_allows(meta, user.uid, [user.gid, *user.gids]):
        raise ImageError(f"image '{spec}': permission denied to image for {user.name}")
    return ImageSource(ident, meta.format, image_file(config.image_path, ident, meta.format),
                       tuple(meta.env))
