"""The ASGI app: one port for every AWS surface, dispatched by the SigV4 credential scope.

No business logic lives here: the app reads the request, picks the service, runs its
(blocking) handler in a worker thread and writes the response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import UnknownServiceError
from starlette.concurrency import run_in_threadpool

from hybridjobs.errors import InvalidSignatureException, ServiceError, UnknownOperationException
from hybridjobs.services.base import AwsService
from hybridjobs.wire import botomodel, jsonrpc, query, restjson, restxml
from hybridjobs.wire.messages import WireRequest, WireResponse
from hybridjobs.wire.sigv4 import credential_scope, signature_is_valid

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

HEALTH_PATH = "/_hybridjobs/health"


@dataclass
class Accounts:
    """Who may call: access keys with their secrets and accounts.

    With no keys configured, any access key is accepted and belongs to ``default_account``
    (the loopback-only default). With keys configured, signatures are verified and each key
    maps to its own account.
    """

    default_account: str
    secrets: dict[str, str] = field(default_factory=dict)
    key_accounts: dict[str, str] = field(default_factory=dict)

    @property
    def verifying(self) -> bool:
        return bool(self.secrets)


class HybridJobsApp:
    """The ASGI application."""

    def __init__(
        self,
        services: dict[str, AwsService],
        accounts: Accounts,
        default_region: str = "us-east-1",
        default_service: str = "braket",
        extra_routes: dict[str, Callable[[WireRequest], WireResponse]] | None = None,
    ) -> None:
        self.services = services
        self.accounts = accounts
        self.default_region = default_region
        self.default_service = default_service
        self.extra_routes = extra_routes or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        response = await run_in_threadpool(self.respond, scope, body)
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

    def respond(self, scope: Scope, body: bytes) -> WireResponse:
        """Build the response for one HTTP request (runs in a worker thread)."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw_path_text = raw_path.decode("latin-1").split("?", 1)[0]
        query = WireRequest.parse_query(scope.get("query_string", b"").decode("latin-1"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = WireRequest(
            method=scope["method"],
            raw_path=raw_path_text,
            query=query,
            headers=headers,
            body=body,
            region=self.default_region,
            account_id=self.accounts.default_account,
        )
        if raw_path_text == HEALTH_PATH:
            return WireResponse(
                200, {"Content-Type": "application/json"}, json.dumps({"status": "ok"}).encode()
            )
        if raw_path_text in self.extra_routes and "authorization" not in headers:
            return self.extra_routes[raw_path_text](request)
        credentials = credential_scope(request.headers, request.query)
        service_name = credentials.service if credentials else self.unsigned_service(request)
        try:
            service = self._authenticate(request, scope, credentials, service_name)
        except ServiceError as error:
            return error_response(service_name, error, request)
        return service.handle(request)

    def unsigned_service(self, request: WireRequest) -> str:
        """The service an unsigned request (no SigV4 scope) is meant for: JSON targets,
        query actions and SigV2-presigned S3 URLs say so; else Braket, whose JSON errors
        answer unknown paths."""
        target = request.headers.get("x-amz-target", "")
        if target.startswith("Logs_"):
            return "logs"
        if target.startswith("AmazonEC2ContainerRegistry"):
            return "ecr"
        if "AWSAccessKeyId" in request.query and "s3" in self.services:
            return "s3"
        if b"Action=" in request.body[:200]:
            return "sts" if b"Action=GetCallerIdentity" in request.body else "iam"
        return self.default_service

    def _authenticate(
        self, request: WireRequest, scope: Scope, credentials: Any, service_name: str
    ) -> AwsService:
        if credentials is not None:
            request.region = credentials.region
            request.access_key = credentials.access_key
        if self.accounts.verifying:
            self._verify(request, scope, credentials)
        service = self.services.get(service_name)
        if service is None:
            raise UnknownOperationException(
                f"hybridjobs does not serve the AWS service {service_name!r}."
            )
        return service

    def _verify(self, request: WireRequest, scope: Scope, credentials: Any) -> None:
        if credentials is None:
            raise InvalidSignatureException("This service requires SigV4-signed requests.")
        secret = self.accounts.secrets.get(credentials.access_key)
        if secret is None:
            raise InvalidSignatureException(
                f"The access key {credentials.access_key!r} is not known to this service."
            )
        host = request.headers.get("host", "localhost")
        query_string = scope.get("query_string", b"").decode("latin-1")
        url = f"http://{host}{request.raw_path}" + (f"?{query_string}" if query_string else "")
        if not signature_is_valid(
            request.method, url, request.headers, request.body, credentials, secret
        ):
            raise InvalidSignatureException(
                "The request signature does not match the one computed with this access key."
            )
        request.account_id = self.accounts.key_accounts.get(
            credentials.access_key, self.accounts.default_account
        )


def error_response(service_name: str, error: ServiceError, request: WireRequest) -> WireResponse:
    """``error`` in the wire format of ``service_name``'s protocol (JSON for unknown ones)."""
    try:
        model = botomodel.service_model(service_name)
    except UnknownServiceError:
        return restjson.serialize_error(error, request.request_id)
    if model.protocol == "rest-xml":
        return restxml.serialize_error(
            error.code,
            error.message,
            error.status,
            request.request_id,
            with_body=request.method != "HEAD",
        )
    if model.protocol == "query":
        return query.serialize_error(model, error, request.request_id)
    if model.protocol == "json":
        return jsonrpc.serialize_error(model, error, request.request_id)
    return restjson.serialize_error(error, request.request_id)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
