"""The ``aws-chunked`` decoder and its chunk signatures, against AWS's published examples.

The vectors are those of AWS's documentation ("Signature calculations for the
Authorization header: Transferring payload in multiple chunks", with and without trailing
headers): 65536 + 1024 bytes of ``a`` signed with the example key on 2013-05-24.
"""

from __future__ import annotations

import hashlib

import pytest

from auth.signing import chunk_signed_body, signing_key
from hybridjobs.wire import sigv4
from hybridjobs.wire.awschunked import (
    AwsChunkedDecoder,
    ChunkedBodyError,
    ChunkSignatureError,
    ChunkSigning,
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TIMESTAMP = "20130524T000000Z"
SCOPE = sigv4.CredentialScope("AKIAIOSFODNN7EXAMPLE", "20130524", "us-east-1", "s3")
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNK_SIGNATURES = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
CHUNKS = [b"a" * 65536, b"a" * 1024]


def documented_body(signatures: tuple[str, ...], trailer: bytes = b"") -> bytes:
    body = bytearray()
    for data, signature in zip([*CHUNKS, b""], signatures, strict=True):
        body += f"{len(data):x};chunk-signature={signature}\r\n".encode() + data
        if data:
            body += b"\r\n"
    return bytes(body + trailer + b"\r\n")


def signing(seed: str = SEED) -> ChunkSigning:
    return ChunkSigning(sigv4.signing_key(SECRET, SCOPE), TIMESTAMP, SCOPE.text, seed)


def decode(body: bytes, chunking: ChunkSigning | None, piece: int = 4096, **kw: bool) -> bytes:
    decoder = AwsChunkedDecoder(chunking, **kw)
    out = b"".join(decoder.feed(body[i : i + piece]) for i in range(0, len(body), piece))
    decoder.finish()
    return out


def test_the_documented_seed_signature_is_what_botocore_computes() -> None:
    headers = [
        ("content-encoding", "aws-chunked"),
        ("content-length", "66824"),
        ("host", "s3.amazonaws.com"),
        ("x-amz-content-sha256", sigv4.STREAMING_SIGNED),
        ("x-amz-date", TIMESTAMP),
        ("x-amz-decoded-content-length", "66560"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ]
    claimed = sigv4.Signature(SCOPE, tuple(name for name, _ in headers), SEED, TIMESTAMP)
    url = "http://s3.amazonaws.com/examplebucket/chunkObject.txt"
    expected = sigv4.expected_signature(
        "PUT", url, headers, claimed, sigv4.STREAMING_SIGNED, SECRET
    )
    assert expected == SEED


def test_the_documented_chunk_signatures_are_what_both_signers_compute() -> None:
    chain = signing()
    previous = SEED
    for data, documented in zip([*CHUNKS, b""], CHUNK_SIGNATURES, strict=True):
        previous = chain.chunk_signature(previous, hashlib.sha256(data).hexdigest())
        assert previous == documented
    key = signing_key(SECRET, SCOPE.date, SCOPE.region, SCOPE.service)
    ours = chunk_signed_body(CHUNKS, key=key, timestamp=TIMESTAMP, scope=SCOPE.text, seed=SEED)
    assert ours == documented_body(CHUNK_SIGNATURES)


@pytest.mark.parametrize("piece", [1, 7, 4096, 70000])
def test_the_documented_body_decodes_in_pieces_of_any_size(piece: int) -> None:
    body = documented_body(CHUNK_SIGNATURES)
    assert decode(body, signing(), piece) == b"a" * 66560


def test_the_documented_trailer_signature_verifies() -> None:
    trailer = (
        b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
        + f"x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n".encode()
    )
    body = documented_body(TRAILER_CHUNK_SIGNATURES, trailer)
    decoder = AwsChunkedDecoder(signing(TRAILER_SEED), signed_trailer=True)
    assert decoder.feed(body) == b"a" * 66560
    assert decoder.finish() == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    key = signing_key(SECRET, SCOPE.date, SCOPE.region, SCOPE.service)
    ours = chunk_signed_body(
        CHUNKS,
        key=key,
        timestamp=TIMESTAMP,
        scope=SCOPE.text,
        seed=TRAILER_SEED,
        trailers=[("x-amz-checksum-crc32c", "sOO8/Q==")],
    )
    assert ours == body


def test_a_tampered_chunk_is_refused() -> None:
    body = bytearray(documented_body(CHUNK_SIGNATURES))
    body[body.index(b"aaaa") + 100] = ord("b")
    with pytest.raises(ChunkSignatureError):
        decode(bytes(body), signing())


def test_a_tampered_trailer_is_refused() -> None:
    trailer = (
        b"x-amz-checksum-crc32c:AAAAAA==\r\n"
        + f"x-amz-trailer-signature:{TRAILER_SIGNATURE}\r\n".encode()
    )
    body = documented_body(TRAILER_CHUNK_SIGNATURES, trailer)
    with pytest.raises(ChunkSignatureError):
        decode(body, signing(TRAILER_SEED), signed_trailer=True)


def test_reordered_chunks_are_refused() -> None:
    first, second = CHUNK_SIGNATURES[0], CHUNK_SIGNATURES[1]
    body = documented_body((second, first, CHUNK_SIGNATURES[2]))
    with pytest.raises(ChunkSignatureError):
        decode(body, signing())


def test_a_chunk_without_signature_is_refused_when_verifying() -> None:
    body = b"5\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(ChunkSignatureError):
        decode(body, signing())
    assert decode(body, None) == b"hello"


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhel",  # ends inside a chunk
        b"5\r\nhelloX\r\n0\r\n\r\n",  # longer than its size
        b"zz\r\nhello\r\n0\r\n\r\n",  # not a hex size
        b"5\r\nhello\r\n",  # no final chunk
        b"5" * 5000,  # a header line without end
        b"0\r\n\r\nextra",  # data after the end
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(ChunkedBodyError):
        decode(body, None)


def test_unsigned_trailer_bodies_decode_with_their_trailers() -> None:
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
    decoder = AwsChunkedDecoder(None)
    assert decoder.feed(body) == b"hello"
    assert decoder.finish() == {"x-amz-checksum-crc32": "NhCmhg=="}
