"""`locator proxy-config` as deployments run it: nginx (Debian's package) on loopback in
front of a real `locator serve`, and the probe's slow-client attacks replayed through it
(issue 20, deliverable 2).

nginx runs as the current user, with its pid, logs, temporary files and cache in a
temporary folder. Its timeouts come from the same settings as the app's (a second here,
so the test stays short); the socket waits below are bounds, not measurements.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import attacks
from tests.support.cli import LOCATOR
from tests.support.servers import HOST, NGINX, Server, proxying, serving

PROXY_ADDRESS = "127.0.0.2"  # nginx connects to the app from here; the app trusts only it
SHORT = {"LOCATOR_HEADER_TIMEOUT_S": "1", "LOCATOR_BODY_TIMEOUT_S": "1"}
WAIT_S = 8
FAR_SOUTH = {"lat": 6.43, "lon": 101.82, "k": 1}  # a point no other test rates


@pytest.fixture(scope="module")
def app_server(db_url: str) -> Iterator[Server]:
    env = dict(
        os.environ, LOCATOR_DATABASE_URL=db_url, LOCATOR_TRUSTED_PROXIES=PROXY_ADDRESS, **SHORT
    )
    with serving(env) as served:
        yield served


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOCATOR, "proxy-config", *args],
        env=dict(os.environ, **SHORT),
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def proxy(app_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    prefix = tmp_path_factory.mktemp("nginx")
    env = dict(os.environ, **SHORT)
    with proxying(app_server.port, prefix, env, proxy_bind=PROXY_ADDRESS) as (ngx, said):
        # the command says which setting the API machines need
        assert f"LOCATOR_TRUSTED_PROXIES={PROXY_ADDRESS}" in said
        yield ngx


def _client(server: Server, source: str | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source) if source else None
    return httpx.Client(base_url=server.url, timeout=30, transport=transport)


def test_the_tls_configuration_is_valid_nginx(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=locator.example.go.th", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    conf = tmp_path / "nginx.conf"
    out = _render(
        "--upstream", "10.0.0.11:8000", "--upstream", "10.0.0.12:8000",
        "--tls-certificate", str(cert), "--tls-certificate-key", str(key),
        "--prefix", str(tmp_path), "--user", getpass.getuser(), "--output", str(conf),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    text = conf.read_text()
    assert "listen 443 ssl" in text and "return 301 https://" in text
    assert "server 10.0.0.11:8000" in text and "server 10.0.0.12:8000" in text
    assert "client_max_body_size 65536;" in text  # LOCATOR_MAX_BODY_BYTES
    assert f"client_max_body_size {64 * 1024 * 1024};" in text  # LOCATOR_MAX_IMPORT_BYTES
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


def test_slow_bodies_through_the_proxy_reach_no_slot(proxy: Server) -> None:
    with _client(proxy) as client:
        point = client.get("/v1/points/nearest", params=FAR_SOUTH).json()["results"][0]["id"]
        path = f"/v1/points/{point}/ratings"
        slow = [attacks.slow_body(HOST, proxy.port, path) for _ in range(20)]
        with attacks.held(slow):
            for _ in range(5):
                response = client.get("/v1/points/nearest", params=FAR_SOUTH)
                assert response.status_code == 200, response.text
            for sock in slow[:3]:  # nginx drops them (a 408, or the connection closed)
                closed, answer = attacks.closed_by_server(sock, WAIT_S)
                assert closed and (answer is None or answer.status == 408), answer


def test_slow_and_huge_heads_through_the_proxy(proxy: Server) -> None:
    closed, _ = attacks.slow_headers(HOST, proxy.port, every_s=0.3, for_s=WAIT_S)
    assert closed
    answer = attacks.huge_header(HOST, proxy.port, 2 << 20)
    assert answer is not None and answer.status in (400, 431), answer
    assert answer.json()["error"]["code"] == "headers_too_large"
    held = [attacks.unfinished_headers(HOST, proxy.port, pad_bytes=1 << 20) for _ in range(5)]
    with attacks.held(held):
        for sock in held:
            closed, _ = attacks.closed_by_server(sock, WAIT_S)
            assert closed
    long_url = attacks.raw_url(HOST, proxy.port, b"/v1/points/search?q=" + b"a" * 40_000)
    assert long_url is not None and long_url.status == 414
    assert long_url.json()["error"]["code"] == "url_too_long"
    with _client(proxy) as client:
        big = client.post("/v1/points/1/ratings", content=b"x" * 100_000)
        assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"


def test_forwarded_for_is_the_client_only_through_the_proxy(
    proxy: Server, app_server: Server
) -> None:
    with _client(proxy) as client:
        point = client.get("/v1/points/nearest", params=FAR_SOUTH).json()["results"][0]["id"]
    path = f"/v1/points/{point}/ratings"
    # four clients (four source addresses) through nginx: each is its own client, so the
    # per-client limit of 3 ratings of one point stops none of them
    statuses = []
    for source in ("127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"):
        with _client(proxy, source) as client:
            statuses.append(client.post(path, json={"score": 4}).status_code)
    assert statuses == [201] * 4
    # one client straight to the app, claiming other addresses: one client, limited
    with _client(app_server, "127.0.0.7") as direct:
        forged = [
            direct.post(
                path, json={"score": 2}, headers={"X-Forwarded-For": f"10.9.0.{i}"}
            ).status_code
            for i in range(4)
        ]
    assert forged == [201] * 3 + [429]
    # nor can a client forge it through nginx, which replaces the header
    with _client(proxy, "127.0.0.3") as client:
        again = [
            client.post(
                path, json={"score": 3}, headers={"X-Forwarded-For": f"10.9.1.{i}"}
            ).status_code
            for i in range(3)
        ]
    assert again == [201, 201, 429]


def test_gzip_and_cached_static_assets(proxy: Server) -> None:
    with _client(proxy) as client:
        services = client.get("/v1/services", headers={"Accept-Encoding": "gzip"})
        assert services.status_code == 200
        assert services.headers["content-encoding"] == "gzip"
        page = client.get("/app", headers={"Accept-Encoding": "gzip"})
        assert page.headers["content-encoding"] == "gzip"
        asset = re.search(r"/static/[\w./-]+\.js\?v=\w+", page.text)
        assert asset, page.text[:500]
        first = client.get(asset.group(0), headers={"Accept-Encoding": "gzip"})
        second = client.get(asset.group(0), headers={"Accept-Encoding": "gzip"})
        assert first.status_code == second.status_code == 200
        assert "immutable" in second.headers["cache-control"]
        assert second.headers["content-encoding"] == "gzip"
        assert second.headers["x-cache-status"] == "HIT", second.headers
