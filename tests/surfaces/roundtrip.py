"""Call a service object in-process through botocore's own serializer and parser.

The request is what a boto3 client would put on the wire (botocore serializes and
prepares it); the response is read by botocore's parser for the service's protocol. So a
test sees exactly what boto3 would see, without a network in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from hybridjobs.wire.messages import WireRequest, WireResponse

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"
REGION = "us-west-2"


class ModelService(Protocol):
    model: ServiceModel

    def handle(self, request: WireRequest) -> WireResponse: ...


class CallError(Exception):
    """The service answered with an error; ``code``, ``status`` and ``message`` as botocore
    parsed them."""

    def __init__(self, code: str, status: int, message: str, parsed: dict[str, Any]) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code = code
        self.status = status
        self.message = message
        self.parsed = parsed


@dataclass
class Exchange:
    """The last request and response of a :class:`Caller`."""

    request: WireRequest
    response: WireResponse


class Caller:
    """Calls operations of one service as one account in one region."""

    def __init__(self, service: ModelService, account: str = ACCOUNT, region: str = REGION) -> None:
        self.service = service
        self.account = account
        self.region = region
        self.last: Exchange | None = None

    def wire_request(self, operation: str, params: dict[str, Any]) -> WireRequest:
        """The request botocore would send for ``operation(**params)``."""
        model = self.service.model
        op = model.operation_model(operation)
        request_dict = create_serializer(
            model.protocol, include_validation=False
        ).serialize_to_request(params, op)
        prepare_request_dict(request_dict, endpoint_url="http://127.0.0.1:8750")
        prepared = create_request_object(request_dict).prepare()
        url = urlsplit(prepared.url)
        body = prepared.body or b""
        return WireRequest(
            method=prepared.method,
            raw_path=url.path or "/",
            query=WireRequest.parse_query(url.query),
            headers={k.lower(): str(v) for k, v in prepared.headers.items()},
            body=body.encode() if isinstance(body, str) else bytes(body),
            region=self.region,
            account_id=self.account,
        )

    def send(self, operation: str, request: WireRequest) -> dict[str, Any]:
        """Handle ``request`` and parse the response as ``operation``'s; CallError on error."""
        response = self.service.handle(request)
        self.last = Exchange(request, response)
        model = self.service.model
        op = model.operation_model(operation)
        parser = create_parser(model.protocol)
        parsed: dict[str, Any] = parser.parse(
            {
                "status_code": response.status,
                "headers": HeadersDict(response.headers),
                "body": response.body,
            },
            op.output_shape,
        )
        if response.status >= 300 or "Error" in parsed:
            error = parsed.get("Error", {})
            raise CallError(
                str(error.get("Code")), response.status, str(error.get("Message")), parsed
            )
        parsed.pop("ResponseMetadata", None)
        return parsed

    def __call__(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.send(operation, self.wire_request(operation, params))
