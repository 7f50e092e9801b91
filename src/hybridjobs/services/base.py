"""What the ASGI app needs of an AWS surface."""

from __future__ import annotations

from typing import Protocol

from hybridjobs.wire.messages import WireRequest, WireResponse


class AwsService(Protocol):
    """One AWS service (by its SigV4 signing name) served on the shared port."""

    signing_name: str

    def handle(self, request: WireRequest) -> WireResponse:
        """Answer ``request``; never raises (errors become the protocol's error shape)."""
        ...
