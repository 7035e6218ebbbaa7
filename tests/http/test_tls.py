"""HTTPS: ``idnode serve --tls-cert --tls-key`` with a self-signed certificate made here, the fast
path and the web application both behind TLS, and credentials from another machine accepted over it.

Another machine is simulated the only way this machine allows (traffic stays on loopback): the node
trusts 127.0.0.1 as a proxy and the request names a documentation address in X-Forwarded-For. Over
plain HTTP that client's credentials are refused (tests/http/test_limits_api.py); over TLS they are
accepted, with no X-Forwarded-Proto, because the connection itself is encrypted.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Server, run_cli, start_server, stop_server
from tests.http.helpers import onboard

URL_VALUE = {"index": 1, "type": "URL", "data": "https://example.com/tls"}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idnode test")])
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
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    options = ["--tls-cert", str(cert), "--tls-key", str(key), "--trusted-proxies", "127.0.0.1"]
    running = start_server(tmp_path_factory.mktemp("node"), options=options)
    running.extra["cert"] = str(cert)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture
async def https(tls_node: Server) -> Iterator[aiohttp.ClientSession]:
    """A client that trusts exactly the node's certificate (and checks the host name against it)."""
    context = ssl.create_default_context(cafile=tls_node.extra["cert"])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as client:
        yield client


async def test_everything_is_served_over_https(tls_node: Server, https: aiohttp.ClientSession) -> None:
    assert tls_node.url.startswith("https://")
    prefix, auth = await onboard(https, tls_node)  # the web application, behind TLS
    handle = f"{prefix}/T-1"
    async with https.put(f"{tls_node.url}/api/handles/{handle}", json=[URL_VALUE], headers=auth) as resp:
        assert resp.status == 200
    for _ in range(3):  # the fast path, keep-alive connections over TLS
        async with https.get(f"{tls_node.url}/api/handles/{handle}") as resp:
            assert (
                resp.status == 200 and (await resp.json())["values"][0]["data"]["value"] == URL_VALUE["data"]
            )
    async with https.get(f"{tls_node.url}/api/node") as resp:
        assert resp.status == 200


async def test_credentials_from_afar_are_accepted_over_tls(
    tls_node: Server, https: aiohttp.ClientSession
) -> None:
    prefix, auth = await onboard(https, tls_node)
    afar = {**auth, "X-Forwarded-For": "203.0.113.7"}  # no X-Forwarded-Proto: the connection is TLS
    url = f"{tls_node.url}/api/handles/{prefix}/T-2"
    async with https.put(url, json=[URL_VALUE], headers=afar) as resp:
        assert resp.status == 200, await resp.text()


async def test_plain_http_is_not_served_on_the_tls_port(
    tls_node: Server, session: aiohttp.ClientSession
) -> None:
    plain = tls_node.url.replace("https://", "http://")
    with pytest.raises(aiohttp.ClientError):
        async with session.get(f"{plain}/api/node") as resp:
            await resp.read()


async def test_a_client_that_does_not_trust_the_certificate_is_refused(tls_node: Server) -> None:
    async with aiohttp.ClientSession() as untrusting:  # the system's CAs only
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await untrusting.get(f"{tls_node.url}/api/node")


def test_a_certificate_that_does_not_load_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    bad = str(tmp_path / "bad.pem")
    result = run_cli(
        "serve", "--data-dir", str(tmp_path / "node"), "--tls-cert", bad, "--tls-key", bad, check=False
    )
    assert result.returncode == 2 and "error" in result.stderr
