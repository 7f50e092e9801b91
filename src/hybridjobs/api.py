"""The ASGI app: one port for every AWS surface, dispatched by the SigV4 credential scope.

No business logic lives here. For each request the app, in this order:

1. reads the request's head (line and headers; never the body yet) and picks the service:
   the credential scope's, else what an unsigned request looks like;
2. when access keys are configured, authenticates the head
   (:class:`~hybridjobs.http.authenticate.Authenticator`: claims, region, key, clock and,
   where the head declares the payload hash, the signature);
3. refuses a body declared larger than the request's limit
   (:meth:`~hybridjobs.http.limits.RequestLimits.body_limit`);
4. reads the body piece by piece within its limits (size, pause between pieces), decoding
   ``aws-chunked`` uploads and checking their chunk signatures as they arrive, then checks
   the body against what was signed (its SHA-256, or the signature itself for services
   that sign the body's hash);
5. runs the service's (blocking) handler in a worker thread and writes its response.

Anything refused on the way is answered in the service's own error shape
(:mod:`hybridjobs.http.refusals`), with ``Connection: close`` when the body was not read.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import UnknownServiceError
from starlette.concurrency import run_in_threadpool

from hybridjobs.accounts.keys import KeyRing
from hybridjobs.accounts.throttle import RateLimiter
from hybridjobs.errors import InternalServiceException, ServiceError, UnknownOperationException
from hybridjobs.http.authenticate import Admission, Authenticator
from hybridjobs.http.body import Body, ClientDisconnected, read_body, too_large
from hybridjobs.http.head import RequestHead
from hybridjobs.http.limits import RequestLimits
from hybridjobs.http.refusals import Reason, RequestRefused, refusal_response
from hybridjobs.observability.accesslog import RequestRecord
from hybridjobs.services.base import AwsService
from hybridjobs.services.s3 import bucket_from_host
from hybridjobs.wire import botomodel, jsonrpc, query, restjson, restxml
from hybridjobs.wire.awschunked import AwsChunkedDecoder
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.regions import known_regions
from hybridjobs.wire.routing import RestRouter
from hybridjobs.wire.sigv4 import credential_scope

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Route = Callable[[WireRequest], WireResponse]

HEALTH_PATH = "/_hybridjobs/health"
ROUTE_ERRORS = "hybridjobs"
"""The service name the app's own routes answer errors as (JSON, like Braket)."""

# What the S3 surface sees of a decoded aws-chunked upload: a plain body.
_CHUNKED_ONLY_HEADERS = ("x-amz-decoded-content-length", "x-amz-content-sha256", "x-amz-trailer")


Accounts = KeyRing
"""Who may call (:class:`~hybridjobs.accounts.keys.KeyRing`): with no keys configured any
access key is accepted and belongs to the default account (the loopback-only default);
with keys, signatures are verified and each key (an operator's, or a running job's own)
acts in its account."""


class HybridJobsApp:
    """The ASGI application.

    ``extra_routes`` are the service's own paths (``/_hybridjobs/status``): served to
    anyone without keys configured, and only to signed requests with them. ``limits``
    bounds every request; ``regions`` are the regions a signature may be scoped to
    (botocore's and ``default_region``).
    """

    def __init__(
        self,
        services: dict[str, AwsService],
        accounts: Accounts,
        default_region: str = "us-east-1",
        default_service: str = "braket",
        extra_routes: dict[str, Route] | None = None,
        limits: RequestLimits | None = None,
        regions: frozenset[str] | None = None,
    ) -> None:
        self.services = services
        self.accounts = accounts
        self.default_region = default_region
        self.default_service = default_service
        self.extra_routes = extra_routes or {}
        self.limits = limits or RequestLimits()
        self.regions = regions if regions is not None else known_regions([default_region])
        self._default_router = RestRouter(botomodel.service_model(default_service))
        self.rate_limiter = RateLimiter(0.0, 1.0)
        """Request rates per (account, service, operation); off unless configured."""
        self.public_routes: set[str] = set()
        """Paths of ``extra_routes`` served unsigned even with keys configured."""
        self.on_answer: Callable[[RequestRecord], None] | None = None
        """Told of every answered request (access log, metrics); must not raise."""
        self.console: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        """The web console (an ASGI app): every request under ``/console`` goes to it,
        before any signature check (it signs its users in itself)."""

    @property
    def authenticator(self) -> Authenticator:
        """The signature policy over the keys configured now."""
        return Authenticator(self.accounts, self.regions, self.limits.clock_skew)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.console is not None and _is_console(scope["path"]):
            await self.console(scope, receive, send)
            return
        started = time.perf_counter()
        head = RequestHead.from_scope(scope)
        exchange = _Exchange(head)
        try:
            response = await self._serve(exchange, receive)
        except ClientDisconnected:
            return
        if not exchange.body_read and _may_have_body(head):
            response.headers["Connection"] = "close"
        if self.on_answer is not None:  # before the answer: a client that has it sees the line
            self.on_answer(exchange.record(response.status, time.perf_counter() - started))
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _serve(self, exchange: _Exchange, receive: Receive) -> WireResponse:
        head = exchange.head
        if head.raw_path == HEALTH_PATH:
            exchange.service, exchange.operation = ROUTE_ERRORS, "health"
            return WireResponse(
                200, {"Content-Type": "application/json"}, json.dumps({"status": "ok"}).encode()
            )
        route = self.extra_routes.get(head.raw_path)
        scope = credential_scope(head.headers, head.query)
        if route is not None:
            service_name = ROUTE_ERRORS
            exchange.operation = head.raw_path.rsplit("/", 1)[-1]
        elif scope is not None:
            service_name = scope.service
        else:
            service_name = self.unsigned_service(head)
        exchange.service = self._known(service_name)
        try:
            if route is not None and head.raw_path in self.public_routes:
                admission = Admission()
            else:
                admission = self._admit(head, service_name if route is None else "")
            body = await self._read_body(exchange, receive, service_name, admission)
            admission.check_body(body.sha256)
        except RequestRefused as refused:
            return refusal_response(service_name, refused, exchange.request_id, head.method)
        except ClientDisconnected:
            raise
        except Exception:
            log.exception("reading request %s failed", exchange.request_id)
            internal = InternalServiceException(
                f"We encountered an internal error; request id {exchange.request_id}."
            )
            return error_response(service_name, internal, exchange.request_id, head.method)
        request = self._wire_request(exchange, body, admission)
        exchange.request = request
        if not self._within_rate(request, service_name):
            throttled = RequestRefused(
                Reason.THROTTLED,
                f"Rate exceeded: account {request.account_id} is sending requests for this "
                "operation faster than this service allows; retry with back-off.",
            )
            return refusal_response(service_name, throttled, exchange.request_id, head.method)
        if route is not None:
            return await run_in_threadpool(route, request)
        if scope is None and not self.accounts.verifying:
            service_name = self.unsigned_service(head, body.data)
            exchange.service = self._known(service_name)
        service = self.services.get(service_name)
        if service is None:
            error = UnknownOperationException(
                f"hybridjobs does not serve the AWS service {service_name!r}."
            )
            return error_response(service_name, error, request.request_id, request.method)
        return await run_in_threadpool(service.handle, request)

    def _known(self, service_name: str) -> str:
        """``service_name`` when this app serves it, else ``unknown``: a signature's scope
        is the client's to choose, and metric labels must stay bounded."""
        return (
            service_name
            if service_name in self.services or service_name == ROUTE_ERRORS
            else "unknown"
        )

    def _admit(self, head: RequestHead, service_name: str) -> Admission:
        """The authenticated signer of ``head`` (keys configured), or what it claims."""
        if self.accounts.verifying:
            return self.authenticator.admit(head, service_name)
        scope = credential_scope(head.headers, head.query)
        if scope is None:
            return Admission()
        return Admission(access_key=scope.access_key, region=scope.region)

    async def _read_body(
        self, exchange: _Exchange, receive: Receive, service_name: str, admission: Admission
    ) -> Body:
        head = exchange.head
        limit = self.limits.body_limit(service_name, head.method, _bucket_path(head))
        declared = head.content_length
        if declared is not None and declared > limit:
            raise too_large(declared, limit)
        decoder = _chunk_decoder(head, service_name, admission)
        body = await read_body(
            receive,
            limit=limit,
            idle_timeout=self.limits.body_timeout,
            hash_body=admission.hashes_body,
            decoder=decoder,
        )
        exchange.body_read = True
        if decoder is not None:
            expected = head.headers.get("x-amz-decoded-content-length")
            if expected is not None and expected.strip() != str(len(body.data)):
                raise RequestRefused(
                    Reason.CHUNK_FORMAT,
                    "You did not provide the number of bytes specified by the "
                    "x-amz-decoded-content-length header.",
                )
        return body

    def _wire_request(self, exchange: _Exchange, body: Body, admission: Admission) -> WireRequest:
        head = exchange.head
        headers = head.headers
        if _is_aws_chunked(head):
            headers = _plain_headers(headers, body)
        account = admission.account_id or self.accounts.default_account
        return WireRequest(
            method=head.method,
            raw_path=head.raw_path,
            query=head.query,
            headers=headers,
            body=body.data,
            region=admission.region or self.default_region,
            access_key=admission.access_key,
            account_id=account,
            request_id=exchange.request_id,
        )

    def _within_rate(self, request: WireRequest, service_name: str) -> bool:
        """Whether the caller's bucket for this operation still has a token."""
        if not self.rate_limiter.enabled:
            return True
        return self.rate_limiter.allow(
            request.account_id, service_name, self._operation_key(request, service_name)
        )

    def _operation_key(self, request: WireRequest, service_name: str) -> str:
        """A bounded name of the operation ``request`` asks for, known before its
        service parses it: the JSON target, the query action, the Braket route, or for
        S3 the method on a bucket or on an object."""
        target = request.headers.get("x-amz-target")
        if target:
            return target
        if service_name == "s3":
            path = request.raw_path.lstrip("/")
            return f"{request.method} {'object' if '/' in path.rstrip('/') else 'bucket'}"
        if service_name == self.default_service:
            match = self._default_router.match(request.method, request.raw_path, request.query)
            return match.operation.name if match is not None else "unknown"
        return query.form_fields(request).get("Action") or request.method

    def unsigned_service(self, head: RequestHead, body: bytes | None = None) -> str:
        """The service an unsigned request (no SigV4 scope) is meant for: JSON targets,
        query actions (the form's ``Action``; ``sts`` until the body is read) and
        SigV2-presigned S3 URLs say so; a request that looks like S3's (a payload hash
        header, a bucket in its Host) is for S3; else the default service (Braket), whose
        JSON errors answer unknown paths. With keys configured an unsigned request is only
        ever refused, and the refusal is S3's too when no route of the default service
        matches it (an anonymous ``PUT /bucket/key``)."""
        target = head.headers.get("x-amz-target", "")
        if target.startswith("Logs_"):
            return "logs"
        if target.startswith("AmazonEC2ContainerRegistry"):
            return "ecr"
        if "AWSAccessKeyId" in head.query and "s3" in self.services:
            return "s3"
        if body is not None and b"Action=" in body[:200]:
            return "sts" if b"Action=GetCallerIdentity" in body else "iam"
        if head.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return "sts" if body is None else self.default_service
        if "s3" in self.services and self._looks_like_s3(head):
            return "s3"
        return self.default_service

    def _looks_like_s3(self, head: RequestHead) -> bool:
        if "x-amz-content-sha256" in head.headers or bucket_from_host(head.host) is not None:
            return True
        if not self.accounts.verifying:
            return False
        return self._default_router.match(head.method, head.raw_path, head.query) is None


@dataclass
class _Exchange:
    """One request in flight: its head, id, and whether its body has been read."""

    head: RequestHead
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    body_read: bool = False
    service: str = ""
    operation: str = ""
    request: WireRequest | None = None

    def record(self, status: int, seconds: float) -> RequestRecord:
        """What the access log and the metrics say of this exchange, answered ``status``
        after ``seconds``; the operation is the one the service resolved, else
        ``unknown`` (label values stay bounded)."""
        request = self.request
        operation = self.operation or (request.operation if request is not None else "")
        return RequestRecord(
            request_id=self.request_id,
            account=request.account_id if request is not None else "-",
            service=self.service or "unknown",
            operation=operation or "unknown",
            method=self.head.method,
            status=status,
            latency_ms=round(seconds * 1000, 3),
        )


def _is_console(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


def _may_have_body(head: RequestHead) -> bool:
    return bool(head.content_length) or "transfer-encoding" in head.headers


def _bucket_path(head: RequestHead) -> str:
    """The path-style S3 path of ``head`` (virtual-hosted requests get their bucket)."""
    bucket = bucket_from_host(head.host)
    return f"/{bucket}{head.raw_path}" if bucket is not None else head.raw_path


def _is_aws_chunked(head: RequestHead) -> bool:
    encoding = head.headers.get("content-encoding", "")
    return "aws-chunked" in encoding or head.headers.get("x-amz-content-sha256", "").startswith(
        "STREAMING-"
    )


def _chunk_decoder(
    head: RequestHead, service_name: str, admission: Admission
) -> AwsChunkedDecoder | None:
    """The decoder of an S3 ``aws-chunked`` upload (signatures checked when signed)."""
    if service_name != "s3" or not _is_aws_chunked(head):
        return None
    return AwsChunkedDecoder(admission.chunk_signing, admission.signed_trailer)


def _plain_headers(headers: dict[str, str], body: Body) -> dict[str, str]:
    """The headers of a decoded ``aws-chunked`` upload as those of a plain one: no
    streaming markers, ``aws-chunked`` out of Content-Encoding, the payload's length, and
    the checksum trailers (the only trailers S3 takes) as headers."""
    plain = {name: value for name, value in headers.items() if name not in _CHUNKED_ONLY_HEADERS}
    codings = [c.strip() for c in plain.pop("content-encoding", "").split(",")]
    kept = [c for c in codings if c and c != "aws-chunked"]
    if kept:
        plain["content-encoding"] = ", ".join(kept)
    plain["content-length"] = str(len(body.data))
    plain.update(
        {name: value for name, value in body.trailers.items() if name.startswith("x-amz-checksum-")}
    )
    return plain


def error_response(
    service_name: str, error: ServiceError, request_id: str, method: str
) -> WireResponse:
    """``error`` in the wire format of ``service_name``'s protocol (JSON for unknown ones);
    S3 answers to HEAD carry no body."""
    try:
        model = botomodel.service_model(service_name)
    except UnknownServiceError:
        return restjson.serialize_error(error, request_id)
    if model.protocol == "rest-xml":
        code = "InternalError" if isinstance(error, InternalServiceException) else error.code
        return restxml.serialize_error(
            code, error.message, error.status, request_id, with_body=method != "HEAD"
        )
    if model.protocol == "query":
        return query.serialize_error(model, error, request_id)
    if model.protocol == "json":
        return jsonrpc.serialize_error(model, error, request_id)
    return restjson.serialize_error(error, request_id)
