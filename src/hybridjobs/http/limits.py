"""The bounds a request must stay within, and which body limit applies to which request."""

from __future__ import annotations

from dataclasses import dataclass

from hybridjobs.settings import Settings


@dataclass(frozen=True)
class RequestLimits:
    """Sizes (bytes) and times (seconds) no request may exceed.

    ``max_api_body`` bounds every body but an S3 object write's, which ``max_object_body``
    bounds; ``header_timeout`` is the time a connection has to send a request line and its
    headers, ``body_timeout`` the longest pause while sending a body; ``clock_skew`` the
    largest difference between a signature's time and the server's clock.
    """

    max_api_body: int = 10 * 2**20
    max_object_body: int = 5 * 2**30
    max_header_bytes: int = 64 * 2**10
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    clock_skew: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RequestLimits:
        return cls(
            max_api_body=settings.max_api_body_bytes,
            max_object_body=settings.max_object_body_bytes,
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            clock_skew=settings.clock_skew_seconds,
        )

    def body_limit(self, service: str, method: str, bucket_path: str) -> int:
        """The largest body this request may send: ``max_object_body`` for an S3 ``PUT``
        to an object (PutObject, UploadPart; ``bucket_path`` is the path-style
        ``/bucket/key``), ``max_api_body`` for everything else."""
        if service == "s3" and method == "PUT" and is_object_path(bucket_path):
            return self.max_object_body
        return self.max_api_body


def is_object_path(bucket_path: str) -> bool:
    """Whether a path-style S3 path names an object (``/bucket/key``), not a bucket."""
    bucket, slash, key = bucket_path.lstrip("/").partition("/")
    return bool(bucket and slash and key)
