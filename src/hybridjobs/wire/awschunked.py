"""A streaming decoder of ``aws-chunked`` bodies that checks their chunk signatures.

The encoding of SigV4 streaming uploads (``x-amz-content-sha256`` ``STREAMING-…``)::

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n     (repeated)
    0[;chunk-signature=<sig>]\\r\\n
    [<trailer name>:<value>\\r\\n …][x-amz-trailer-signature:<sig>\\r\\n]
    \\r\\n

Each chunk signature chains from the one before (the first from the request's own
signature, the *seed*)::

    HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\\n" timestamp "\\n" scope "\\n"
         previous signature "\\n" sha256("") "\\n" sha256(chunk data))

and the trailer signature from the final chunk's::

    HMAC(signing key, "AWS4-HMAC-SHA256-TRAILER\\n" timestamp "\\n" scope "\\n"
         previous signature "\\n" sha256("<name>:<value>\\n" for each trailer))

botocore has no verifier for these (it only ever sends unsigned-chunk uploads), so this
module computes them, checked against the examples of AWS's documentation in
``tests/auth/test_sigv4_chunked.py``. The decoder is fed the body as it arrives and never
holds more than one line of framing; data is handed back as it is decoded.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass

from hybridjobs.wire.sigv4 import EMPTY_SHA256

MAX_LINE_BYTES = 4096
"""The longest chunk header or trailer line accepted."""
MAX_TRAILER_LINES = 16
TRAILER_SIGNATURE = "x-amz-trailer-signature"


class ChunkedBodyError(ValueError):
    """The body is not well-formed ``aws-chunked`` (S3: ``IncompleteBody``)."""


class ChunkSignatureError(ValueError):
    """A chunk or trailer signature is missing or wrong (S3: ``SignatureDoesNotMatch``)."""


@dataclass(frozen=True)
class ChunkSigning:
    """What chunk signatures are computed from: the derived signing key, the request's
    timestamp and scope line, and its own signature (the seed of the chain)."""

    key: bytes
    timestamp: str
    scope: str
    seed: str

    def chunk_signature(self, previous: str, data_sha256: str) -> str:
        """The signature of a chunk whose data hashes to ``data_sha256``."""
        text = "\n".join(
            (
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.timestamp,
                self.scope,
                previous,
                EMPTY_SHA256,
                data_sha256,
            )
        )
        return hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def trailer_signature(self, previous: str, trailers: list[tuple[str, str]]) -> str:
        """The signature of the trailer lines ``trailers`` (name, value), in their order."""
        canonical = "".join(f"{name}:{value}\n" for name, value in trailers)
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        text = "\n".join(("AWS4-HMAC-SHA256-TRAILER", self.timestamp, self.scope, previous, digest))
        return hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()


class _State(enum.Enum):
    HEADER = "chunk header"
    DATA = "chunk data"
    DATA_END = "end of chunk data"
    TRAILER = "trailer"
    DONE = "done"


class AwsChunkedDecoder:
    """Decode one ``aws-chunked`` body fed piece by piece.

    With ``signing``, every chunk must carry a signature and each is verified as it ends
    (and the trailer signature when ``signed_trailer``); without, signatures are ignored
    (the service verifies nothing when no keys are configured). Trailer lines other than
    the signature are returned by :meth:`finish`, names in lower case.
    """

    def __init__(self, signing: ChunkSigning | None = None, signed_trailer: bool = False) -> None:
        self.signing = signing
        self.signed_trailer = signed_trailer and signing is not None
        self.decoded_length = 0
        self._state = _State.HEADER
        self._buffer = bytearray()
        self._remaining = 0
        self._hash = hashlib.sha256()
        self._chunk_signature: str | None = None
        self._previous = signing.seed if signing is not None else ""
        self._trailers: list[tuple[str, str]] = []
        self._trailer_signature: str | None = None

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; the payload bytes it completes (possibly none)."""
        out = bytearray()
        view = memoryview(data)
        while view:
            if self._state is _State.DATA:
                take = min(self._remaining, len(view))
                piece = view[:take]
                self._hash.update(piece)
                out += piece
                self._remaining -= take
                view = view[take:]
                if self._remaining == 0:
                    self._state = _State.DATA_END
                continue
            if self._state is _State.DONE:
                raise ChunkedBodyError("The aws-chunked body has data after its end.")
            line_end = self._line_end(view)
            if line_end < 0:
                self._buffer += view
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise ChunkedBodyError(f"An aws-chunked {self._state.value} line is too long.")
                break
            self._buffer += view[: line_end + 1]
            view = view[line_end + 1 :]
            line = bytes(self._buffer).rstrip(b"\n").rstrip(b"\r")
            self._buffer.clear()
            self._line(line)
        self.decoded_length += len(out)
        return bytes(out)

    def finish(self) -> dict[str, str]:
        """Check the body ended where the encoding ends; its trailers (lower-case names)."""
        if self._state is _State.TRAILER and not self._buffer:
            self._end_trailer()
        if self._state is not _State.DONE:
            raise ChunkedBodyError(f"The aws-chunked body ended inside a {self._state.value}.")
        return {name: value for name, value in self._trailers}

    @staticmethod
    def _line_end(view: memoryview) -> int:
        return bytes(view[: MAX_LINE_BYTES + 2]).find(b"\n") if len(view) else -1

    def _line(self, line: bytes) -> None:
        if self._state is _State.HEADER:
            self._chunk_header(line)
        elif self._state is _State.DATA_END:
            if line:
                raise ChunkedBodyError("An aws-chunked chunk is longer than its size says.")
            self._end_chunk()
            self._state = _State.HEADER
        elif self._state is _State.TRAILER:
            self._trailer_line(line)

    def _chunk_header(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise ChunkedBodyError("An aws-chunked chunk header is malformed.") from None
        if size < 0:
            raise ChunkedBodyError("An aws-chunked chunk size is negative.")
        name, _, value = extension.decode("latin-1").partition("=")
        self._chunk_signature = value.strip() if name.strip() == "chunk-signature" else None
        if self.signing is not None and self._chunk_signature is None:
            raise ChunkSignatureError("An aws-chunked chunk has no chunk-signature.")
        self._hash = hashlib.sha256()
        if size == 0:
            self._end_chunk()
            self._state = _State.TRAILER
        else:
            self._remaining = size
            self._state = _State.DATA

    def _end_chunk(self) -> None:
        if self.signing is None or self._chunk_signature is None:
            return
        expected = self.signing.chunk_signature(self._previous, self._hash.hexdigest())
        if not hmac.compare_digest(expected.encode(), self._chunk_signature.encode()):
            raise ChunkSignatureError(
                "The chunk signature we calculated does not match the one you provided."
            )
        self._previous = expected

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            if self.signed_trailer and self._trailer_signature is None and self._trailers:
                return  # some clients end the checksum line with an extra line break
            self._end_trailer()
            return
        if len(self._trailers) >= MAX_TRAILER_LINES:
            raise ChunkedBodyError("The aws-chunked body has too many trailer lines.")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise ChunkedBodyError("An aws-chunked trailer line is malformed.")
        if name.strip().lower() == TRAILER_SIGNATURE:
            self._trailer_signature = value.strip()
        else:
            self._trailers.append((name.strip().lower(), value.strip()))

    def _end_trailer(self) -> None:
        if self.signed_trailer:
            assert self.signing is not None
            if self._trailer_signature is None:
                raise ChunkSignatureError("The aws-chunked trailer has no signature.")
            expected = self.signing.trailer_signature(self._previous, self._trailers)
            if not hmac.compare_digest(expected.encode(), self._trailer_signature.encode()):
                raise ChunkSignatureError(
                    "The trailer signature we calculated does not match the one you provided."
                )
        self._state = _State.DONE
