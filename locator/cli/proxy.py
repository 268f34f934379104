"""`locator proxy-config`: the nginx configuration that deployments put in front of the API.

The template (``locator/deploy/nginx.conf``) is filled from the same settings the app
enforces, so the proxy's limits and timeouts cannot drift from the app's: the body
sizes (``max_body_bytes``, ``max_import_bytes`` for an import), the header sizes and
time, the body time. The app keeps its own limits whether or not a proxy stands in front.
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Annotated

import typer

from locator.cli.common import console, err, friendly
from locator.errors import InvalidInput
from locator.settings import Settings, get_settings

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


def _address(value: str, what: str) -> str:
    """``host:port`` as nginx writes it, checked (an IPv6 host in brackets)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise InvalidInput(f"{what}: give HOST:PORT, such as 10.0.0.11:8000 (got {value!r})")
    return value


def _is_loopback(upstream: str) -> bool:
    host = upstream.rpartition(":")[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def render(
    settings: Settings,
    *,
    upstreams: list[str],
    server_name: str,
    prefix: Path,
    plain_http: str | None = None,
    tls_certificate: str = "/etc/ssl/certs/locator.pem",
    tls_certificate_key: str = "/etc/ssl/private/locator.key",
    proxy_bind: str | None = None,
    user: str = "www-data",
) -> str:
    """The configuration: TLS on 443 with a redirect from 80, or plain http on
    ``plain_http`` (HOST:PORT, for a test on loopback)."""
    if plain_http is not None:
        listen = f"        listen {_address(plain_http, '--plain-http')};"
        redirect = tls = ""
    else:
        listen = "        listen 443 ssl http2;\n        listen [::]:443 ssl http2;"
        redirect = (
            "    server {\n        listen 80;\n        listen [::]:80;\n"
            f"        server_name {server_name};\n"
            "        return 301 https://$host$request_uri;\n    }\n"
        )
        tls = (
            f"        ssl_certificate {tls_certificate};\n"
            f"        ssl_certificate_key {tls_certificate_key};\n"
            "        ssl_protocols TLSv1.2 TLSv1.3;\n"
            "        ssl_session_cache shared:locator_tls:10m;\n"
            "        ssl_session_timeout 1d;\n"
            '        add_header Strict-Transport-Security "max-age=31536000" always;\n'
        )
    values = {
        "ENV_NOTE": f"On every API machine: {trusted_proxies_line(upstreams, proxy_bind)}",
        "USER": user,
        "PREFIX": str(prefix),
        "HEADER_BUFFERS": str(math.ceil(settings.max_header_bytes / settings.max_url_bytes)),
        "URL_BYTES": str(settings.max_url_bytes),
        "HEADER_TIMEOUT_S": f"{settings.header_timeout_s:g}",
        "MAX_BODY_BYTES": str(settings.max_body_bytes),
        "MAX_IMPORT_BYTES": str(settings.max_import_bytes),
        "BODY_TIMEOUT_S": f"{settings.body_timeout_s:g}",
        # the upload, then the import's longest statement (the whole registry's pin check)
        "IMPORT_TIMEOUT_S": str(
            math.ceil(settings.import_body_timeout_s + settings.import_statement_timeout_ms / 1000)
        ),
        "RETRY_AFTER_S": str(settings.retry_after_s),
        "UPSTREAMS": "\n".join(
            f"        server {_address(u, '--upstream')} max_fails=3 fail_timeout=10s;"
            for u in upstreams
        ),
        "REDIRECT_SERVER": redirect,
        "LISTEN": listen,
        "SERVER_NAME": server_name,
        "TLS": tls,
        "PROXY_BIND": f"        proxy_bind {proxy_bind};" if proxy_bind else "",
    }
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], TEMPLATE.read_text())


def trusted_proxies_line(upstreams: list[str], proxy_bind: str | None) -> str:
    """The setting that makes the API machines believe this proxy's X-Forwarded-For."""
    if proxy_bind:
        return f"LOCATOR_TRUSTED_PROXIES={proxy_bind}"
    if all(_is_loopback(u) for u in upstreams):
        return "LOCATOR_TRUSTED_PROXIES=127.0.0.1"
    return "LOCATOR_TRUSTED_PROXIES=<this proxy's address as the API machines see it>"


@friendly
def proxy_config(
    upstream: Annotated[
        list[str] | None,
        typer.Option(
            help="An API machine's `locator serve` as HOST:PORT; repeat for each. "
            "Default: LOCATOR_HOST:LOCATOR_PORT."
        ),
    ] = None,
    server_name: Annotated[
        str, typer.Option(help="The public name (nginx server_name).")
    ] = "locator.example.go.th",
    tls_certificate: Annotated[
        str, typer.Option(help="The certificate chain (PEM).")
    ] = "/etc/ssl/certs/locator.pem",
    tls_certificate_key: Annotated[
        str, typer.Option(help="Its private key (PEM).")
    ] = "/etc/ssl/private/locator.key",
    plain_http: Annotated[
        str | None,
        typer.Option(
            help="Plain http on HOST:PORT instead of TLS on 443 (for tests on loopback).",
        ),
    ] = None,
    proxy_bind: Annotated[
        str | None,
        typer.Option(
            help="The address nginx connects to the API machines from (proxy_bind); "
            "LOCATOR_TRUSTED_PROXIES must name it."
        ),
    ] = None,
    prefix: Annotated[
        Path, typer.Option(help="Folder for nginx's pid, logs, temporary files and cache.")
    ] = Path("/var/lib/locator-nginx"),
    user: Annotated[str, typer.Option(help="The user nginx's workers run as.")] = "www-data",
    output: Annotated[
        Path | None, typer.Option(help="Write the configuration here (default: print it).")
    ] = None,
) -> None:
    """The nginx configuration for a proxy in front of the API (limits from the settings)."""
    settings = get_settings()
    upstreams = upstream or [f"{settings.host}:{settings.port}"]
    text = render(
        settings,
        upstreams=upstreams,
        server_name=server_name,
        prefix=prefix.resolve(),
        plain_http=plain_http,
        tls_certificate=tls_certificate,
        tls_certificate_key=tls_certificate_key,
        proxy_bind=proxy_bind,
        user=user,
    )
    line = trusted_proxies_line(upstreams, proxy_bind)
    if output is None:
        typer.echo(text, nl=False)
        err.print(f"on every API machine: {line}", highlight=False, markup=False)
        return
    output.write_text(text)
    console.print(f"wrote {output}", highlight=False)
    console.print(line, highlight=False, markup=False)
