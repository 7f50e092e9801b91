"""``serve --tls-cert --tls-key``: HTTPS that boto3 verifies against the certificate."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import SSLError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.server import API_TEST_SERVER_ENV, LiveServer, start_server

from accounts.conftest import ACCOUNT_A, KEY_A, SECRET_A, TWO_ACCOUNTS, client_of


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hybridjobs test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    certs = tmp_path_factory.mktemp("certs")
    cert, key = self_signed(certs)
    server = start_server(
        tmp_path_factory.mktemp("server"),
        env={**API_TEST_SERVER_ENV, "HYBRIDJOBS_CREDENTIALS": TWO_ACCOUNTS},
        extra_args=("--tls-cert", str(cert), "--tls-key", str(key)),
        tls_ca=cert,
    )
    try:
        yield server, cert
    finally:
        code = server.stop()
    assert code == 0, server.log_tail()


def test_boto3_round_trips_over_verified_tls(tls_server: tuple[LiveServer, Path]) -> None:
    server, cert = tls_server
    assert server.url.startswith("https://")
    sts = client_of(server.url, "sts", KEY_A, SECRET_A, verify=str(cert))
    assert sts.get_caller_identity()["Account"] == ACCOUNT_A
    s3 = client_of(server.url, "s3", KEY_A, SECRET_A, verify=str(cert))
    s3.create_bucket(Bucket="tls-bucket")
    s3.put_object(Bucket="tls-bucket", Key="k", Body=b"over tls")
    assert s3.get_object(Bucket="tls-bucket", Key="k")["Body"].read() == b"over tls"
    braket = client_of(server.url, "braket", KEY_A, SECRET_A, verify=str(cert))
    assert braket.search_jobs(filters=[])["jobs"] == []


def test_a_client_that_does_not_trust_the_certificate_is_refused(
    tls_server: tuple[LiveServer, Path],
) -> None:
    server, _ = tls_server
    sts = client_of(server.url, "sts", KEY_A, SECRET_A, config=Config(connect_timeout=5))
    with pytest.raises(SSLError):
        sts.get_caller_identity()
    plain = server.url.replace("https://", "http://") + "/_hybridjobs/health"
    with pytest.raises(OSError):  # plain HTTP to a TLS port gets no answer
        urllib.request.urlopen(plain, timeout=5)
    context = ssl.create_default_context(cafile=str(tls_server[1]))
    with urllib.request.urlopen(server.url + "/_hybridjobs/health", context=context) as answer:
        assert json.load(answer) == {"status": "ok"}
