"""Image identifier of a selection: ``id:``/``local:`` carry it; tags ask the gateway.

The gateway client (``shifter_imagegw.client``, munge-authenticated, the
``imageGateway`` URLs in order with failover and ``gatewayTimeout``) is the
hook: :func:`resolve_identifier` calls its ``lookup_identifier(config, itype,
tag)`` and never runs another program.
"""
from __future__ import annotations

from ..config import UdiRootConfig
from ..errors import ImageError
from ..imagespec import ImageSpec


def resolve_identifier(spec: ImageSpec, config: UdiRootConfig) -> str:
    """The image id for ``spec`` (the tag itself for ``id`` and ``local``)."""
    if not spec.needs_lookup:
        return spec.tag
    try:
        from shifter_imagegw.client.lookup import lookup_identifier
    except ImportError:
        raise ImageError(f"image '{spec}': cannot look up tags: the gateway client "
                         "is not installed (use id:<image id>)") from None
    return lookup_identifier(config, spec.itype, spec.tag)
