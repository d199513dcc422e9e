"""Client side of the gateway: :class:`~.api.GatewayClient` and ``shifterimg``."""
