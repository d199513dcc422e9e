"""Image identifier of a tag (``docker:``/``custom:``), asked of the gateway.

Tags are resolved by ``shifter_imagegw.client.api.GatewayClient`` (the
``imageGateway`` URLs with failover, ``gatewayTimeout``, a munge credential of
the caller), never by running another program.  Imported only when needed.
"""
from __future__ import annotations

from ..config import UdiRootConfig
from ..errors import ImageError
from ..imagespec import ImageSpec


def resolve_identifier(spec: ImageSpec, config: UdiRootConfig) -> str:
    """The READY image id the gateway has for a ``docker``/``custom`` ``spec``."""
    from shifter_imagegw.client.api import GatewayClient, GatewayError
    if not config.system:
        raise ImageError(f"image '{spec}': no 'system' configured in {config.path}")
    try:
        client = GatewayClient(config.image_gateway, config.gateway_timeout or 60)
        record = client.lookup(config.system, spec.itype, spec.tag)
    except GatewayError as err:
        raise ImageError(f"image '{spec}': lookup failed: {err}") from None
    if not record:
        raise ImageError(f"image '{spec}': no such image; run 'shifterimg pull {spec}'")
    if record.get("status") != "READY" or not record.get("id"):
        raise ImageError(f"image '{spec}': not ready (status {record.get('status')}); "
                         f"run 'shifterimg pull {spec}'")
    return str(record["id"])
