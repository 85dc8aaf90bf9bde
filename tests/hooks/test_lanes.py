"""The hook's async HTTP client (hooks/_lanes.py), over real sockets to a small server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import pytest

from airflow_provider_zuora.exceptions import ZuoraConfigError, ZuoraTransportError
from airflow_provider_zuora.hooks._lanes import LaneClient, _proxy_for, open_lane


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    connection: int

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


Answer = tuple[int, dict[str, str], bytes]
Route = Callable[[Seen], Awaitable[Answer]]


async def ok(seen: Seen) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps({"path": seen.target}).encode()


def late(seconds: float, arrived: asyncio.Event | None = None) -> Route:
    """``ok``, ``seconds`` after the request arrived (and ``arrived`` is set)."""

    async def route(seen: Seen) -> Answer:
        if arrived is not None:
            arrived.set()
        await asyncio.sleep(seconds)
        return await ok(seen)

    return route


@dataclass
class Server:
    """HTTP/1.1 with keep-alive, one route for every request; counts connections and requests in flight."""

    route: Route = ok
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ")
                headers = [tuple(x.split(": ", 1)) for x in lines[1:] if x]
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                seen = Seen(method, target, headers, await reader.readexactly(length), number)  # type: ignore[arg-type]
                self.seen.append(seen)
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                try:
                    status, answer_headers, body = await self.route(seen)
                finally:
                    self.in_flight -= 1
                out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
                out += [f"{k}: {v}" for k, v in answer_headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    listener = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    yield srv
    listener.close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def client(server: Server, lanes: int = 4, path: str = "", **headers: str) -> LaneClient:
    defaults = {"User-Agent": "ua/1", "Accept-Encoding": "gzip", **headers}
    return LaneClient(f"http://127.0.0.1:{server.port}{path}", lanes, defaults)


async def get(c: LaneClient, path: str = "/x", **kwargs: Any) -> Any:
    return await c.request("GET", path, timeout=5, connect_timeout=5, **kwargs)


async def test_sequential_requests_reuse_one_connection(server: Server) -> None:
    c = client(server)
    for _ in range(5):
        assert (await get(c)).status == 200
    assert server.connections == 1 and len(server.seen) == 5
    await c.aclose()


async def test_requests_in_flight_never_exceed_the_lanes_and_all_lanes_come_back(server: Server) -> None:
    server.route = late(0.02)
    c = client(server, lanes=3)
    answers = await asyncio.gather(*(get(c, f"/n/{i}") for i in range(12)))
    assert [json.loads(a.text)["path"] for a in answers] == [f"/n/{i}" for i in range(12)]
    assert server.most_in_flight == 3 and server.connections == 3
    assert c.idle == 3
    await c.aclose()


async def test_url_params_headers_and_form(server: Server) -> None:
    c = client(server, path="/base/", **{"Zuora-Entity-Ids": "E-1"})
    await c.request(
        "POST",
        "/oauth/token",
        timeout=5,
        connect_timeout=5,
        params={"page": 2, "q": "a b&c"},
        headers={"accept-encoding": "identity", "X-Extra": "1"},
        data={"client_id": "id", "client_secret": "s&=x"},
    )
    seen = server.seen[0]
    assert seen.target == "/base/oauth/token?page=2&q=a+b%26c"
    assert seen.header("Host") == [f"127.0.0.1:{server.port}"]
    assert seen.header("Accept-Encoding") == ["identity"]  # the call's header replaces the default
    assert seen.header("User-Agent") == ["ua/1"] and seen.header("X-Extra") == ["1"]
    assert seen.header("Zuora-Entity-Ids") == ["E-1"]
    assert seen.header("Content-Type") == ["application/x-www-form-urlencoded"]
    assert seen.body == b"client_id=id&client_secret=s%26%3Dx"
    assert seen.header("Content-Length") == [str(len(seen.body))]
    await c.aclose()


async def test_raw_content_is_sent_with_its_length(server: Server) -> None:
    c = client(server)
    body = gzip.compress(b'{"a": 1}')
    await c.request(
        "POST", "/run", timeout=5, connect_timeout=5, content=body, headers={"Content-Encoding": "gzip"}
    )
    seen = server.seen[0]
    assert seen.body == body and seen.header("Content-Length") == [str(len(body))]
    assert seen.header("Content-Encoding") == ["gzip"]
    await c.aclose()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-15)),  # raw deflate, as some servers send it
        (None, lambda b: b),
    ],
)
async def test_answers_are_decoded(
    server: Server, encoding: str | None, encode: Callable[[bytes], bytes]
) -> None:
    async def compressed(seen: Seen) -> Answer:
        headers = {"Zuora-Request-Id": "r-9"} | ({"Content-Encoding": encoding} if encoding else {})
        return 404, headers, encode('{"message": "nö"}'.encode())

    server.route = compressed
    c = client(server)
    answer = await get(c)
    assert (answer.status, json.loads(answer.text), answer.headers["Zuora-Request-Id"]) == (
        404,
        {"message": "nö"},
        "r-9",
    )
    await c.aclose()


async def test_a_refused_connection_is_a_transport_error_and_frees_the_lane(server: Server) -> None:
    c = LaneClient("http://127.0.0.1:9", 2, {})  # port 9 (discard): nothing listens
    with pytest.raises(ZuoraTransportError, match="GET /x got no answer: ConnectError") as err:
        await get(c)
    assert err.value.retryable and isinstance(err.value.__cause__, httpcore.ConnectError)
    assert c.idle == 2
    await c.aclose()


async def test_a_slow_answer_times_out_as_a_transport_error(server: Server) -> None:
    server.route = late(5)
    c = client(server, lanes=1)
    with pytest.raises(ZuoraTransportError, match="ReadTimeout"):
        await c.request("GET", "/x", timeout=0.1, connect_timeout=1)
    assert c.idle == 1
    await c.aclose()


async def test_a_cancelled_request_gives_its_lane_back(server: Server) -> None:
    arrived = asyncio.Event()
    server.route = late(5, arrived)
    c = client(server, lanes=1)
    pending = asyncio.ensure_future(get(c))
    await arrived.wait()
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert c.idle == 1
    server.route = ok
    assert (await get(c)).status == 200  # the lane works again, on a new connection
    await c.aclose()


async def test_a_closed_client_refuses_requests(server: Server) -> None:
    c = client(server)
    await c.aclose()
    assert c.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await get(c)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://rest.zuora.com", b"rest.zuora.com"),
        ("http://127.0.0.1:8080/base", b"127.0.0.1:8080"),
        ("http://[::1]:8080", b"[::1]:8080"),
    ],
)
def test_the_host_header_names_the_base_url(url: str, host: bytes) -> None:
    assert LaneClient(url, 1, {})._host == host


def test_lanes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lanes"):
        LaneClient("http://127.0.0.1:1", 0, {})


async def test_an_http_proxy_from_the_environment_carries_the_calls(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://user:p%40ss@127.0.0.1:{server.port}")
    monkeypatch.setenv("NO_PROXY", "")
    c = LaneClient("http://zuora.example:8080/api", 2, {})
    await get(c, "/workflows/1")
    # a forward proxy gets the absolute URL; nothing resolves zuora.example (tests allow loopback only)
    assert server.seen[0].target == "http://zuora.example:8080/api/workflows/1"
    assert server.seen[0].header("Proxy-Authorization") == [
        "Basic " + base64.b64encode(b"user:p@ss").decode()
    ]
    await c.aclose()


def test_no_proxy_and_the_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    url = httpcore.URL("https://rest.zuora.com")
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "")
    assert _proxy_for(url) == "http://user:p%40ss@proxy.corp:3128"
    lane = open_lane(url, ssl_context=None)  # type: ignore[arg-type]
    assert isinstance(lane, httpcore.AsyncHTTPProxy)
    monkeypatch.setenv("NO_PROXY", ".zuora.com")
    assert _proxy_for(url) is None
    assert isinstance(open_lane(url, ssl_context=None), httpcore.AsyncConnectionPool)  # type: ignore[arg-type]
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.corp:1080")
    with pytest.raises(ZuoraConfigError, match=r"socks5://proxy.corp .*HTTP\(S\) proxy"):
        open_lane(url, ssl_context=None)  # type: ignore[arg-type]


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files (the certificate is its own CA)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zuora-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(san, False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


async def test_tls_is_verified_against_the_ca_bundle_the_environment_names(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    srv = Server()
    listener = await asyncio.start_server(srv.handle, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    try:
        untrusting = LaneClient(url, 1, {})  # certifi's CAs: the test certificate is not among them
        with pytest.raises(ZuoraTransportError, match="ConnectError"):
            await get(untrusting)
        await untrusting.aclose()
        assert srv.seen == []

        monkeypatch.setenv("SSL_CERT_FILE", cert_file)
        trusting = LaneClient(url, 1, {})
        assert (await get(trusting, "/tls")).status == 200
        assert [s.target for s in srv.seen] == ["/tls"]
        await trusting.aclose()
    finally:
        listener.close()
