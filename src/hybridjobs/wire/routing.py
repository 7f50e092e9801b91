"""Match REST requests to operations of a botocore model, on the raw path.

ARN labels arrive as one percent-encoded segment (``/job/arn%3Aaws%3A...%3Ajob%2F<id>``),
so matching runs on the raw path and labels are decoded afterwards. A second, greedy pass
also accepts the decoded form (``/job/arn:aws:...:job/<id>/cancel``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True)
class RouteMatch:
    """The operation a request matched and its decoded URI labels."""

    operation: OperationModel
    labels: dict[str, str]


@dataclass(frozen=True)
class _Route:
    operation: OperationModel
    method: str
    strict: re.Pattern[str]
    greedy: re.Pattern[str]
    required_query: tuple[tuple[str, str | None], ...]
    specificity: tuple[int, int]


def _compile(path_template: str, *, greedy: bool) -> re.Pattern[str]:
    pattern = ""
    position = 0
    for match in _LABEL.finditer(path_template):
        pattern += re.escape(path_template[position : match.start()])
        name, plus = match.group(1), match.group(2)
        part = ".+" if plus or greedy else "[^/]+"
        pattern += f"(?P<{name}>{part})"
        position = match.end()
    pattern += re.escape(path_template[position:])
    if not path_template.endswith("/"):
        pattern += "/?"  # tolerate one trailing slash
    return re.compile(pattern)


def _route_for(operation: OperationModel) -> _Route:
    request_uri: str = operation.http["requestUri"]
    path_template, _, query_template = request_uri.partition("?")
    required: list[tuple[str, str | None]] = []
    for item in filter(None, query_template.split("&")):
        key, eq, value = item.partition("=")
        required.append((key, value if eq else None))
    literal_length = len(_LABEL.sub("", path_template))
    return _Route(
        operation=operation,
        method=operation.http["method"],
        strict=_compile(path_template, greedy=False),
        greedy=_compile(path_template, greedy=True),
        required_query=tuple(required),
        specificity=(len(required), literal_length),
    )


class RestRouter:
    """Routes requests of one REST service (rest-json or rest-xml) to its operations."""

    def __init__(self, model: ServiceModel) -> None:
        routes = [_route_for(model.operation_model(name)) for name in model.operation_names]
        # Most specific first: more required query keys, then more literal path characters.
        self._routes = sorted(routes, key=lambda r: r.specificity, reverse=True)

    def match(self, method: str, raw_path: str, query: dict[str, list[str]]) -> RouteMatch | None:
        """The operation for ``method raw_path?query``, or ``None`` when nothing matches."""
        path = raw_path or "/"
        for attempt in ("strict", "greedy"):
            for route in self._routes:
                if route.method != method:
                    continue
                if not all(
                    key in query and (value is None or value in query[key])
                    for key, value in route.required_query
                ):
                    continue
                pattern = route.strict if attempt == "strict" else route.greedy
                found = pattern.fullmatch(path)
                if found is not None:
                    labels = {name: unquote(value) for name, value in found.groupdict().items()}
                    return RouteMatch(route.operation, labels)
        return None
