"""What a Web API call costs Handoff: slack_sdk's `WebClient` (a new connection per call) against
`KeepAliveWebClient` (the thread's connection kept), over HTTP and over TLS as to slack.com.

    .venv/bin/python benchmarks/web_api_calls.py [--calls 500]

Both talk to the Slack stand-in (`tests/slack_standin.py`) on loopback, in this process (over plain
HTTP the kept connection is asked for: `python app.py` keeps them to HTTPS addresses only); for TLS it
serves a throwaway self-signed certificate made with the `openssl` command (skipped without it).
"HTTP, Nagle": the stand-in with Nagle's algorithm on, as Python's `http.server` has it, which
writes an answer's head and body separately: on a kept connection the body would wait for the
delayed acknowledgement of the head (40 ms) if the client did not acknowledge at once.
Printed per call: the wall time and the CPU time of the calling thread (the client's share; the
stand-in's own work is not counted). On loopback a round trip costs next to nothing: to slack.com,
a new connection also costs a DNS lookup and two round trips (TCP and TLS handshakes) more than a
kept one.
"""

from __future__ import annotations

import argparse
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from handoff_bot.slack.web_client import KeepAliveWebClient  # noqa: E402
from tests.slack_standin import BOT_USER_ID, SlackStandIn  # noqa: E402


def certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 and its key, or None without `openssl`."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def timed(client: WebClient, calls: int) -> tuple[float, float]:
    """Wall and calling-thread CPU milliseconds per `users.info`."""
    client.users_info(user=BOT_USER_ID)
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(calls):
        client.users_info(user=BOT_USER_ID)
    return (time.perf_counter() - wall) * 1000 / calls, (time.thread_time() - cpu) * 1000 / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls per client and transport (default 500)")
    args = parser.parse_args(argv)
    rows = []
    with (tempfile.TemporaryDirectory() as scratch, SlackStandIn() as plain, SlackStandIn() as nagle,
          SlackStandIn() as secure):
        assert nagle._server is not None  # answers in two writes, the second held until the first is acknowledged
        nagle._server.RequestHandlerClass.disable_nagle_algorithm = False  # type: ignore[attr-defined]
        transports: list[tuple[str, str, ssl.SSLContext | None]] = [("HTTP", plain.api_url, None),
                                                                    ("HTTP, Nagle", nagle.api_url, None)]
        made = certificate(Path(scratch))
        if made is not None:
            server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_side.load_cert_chain(*made)
            assert secure._server is not None
            secure._server.socket = server_side.wrap_socket(secure._server.socket, server_side=True)
            transports.append(("TLS", secure.api_url.replace("http://", "https://"),
                               ssl.create_default_context(cafile=str(made[0]))))
        for name, url, context in transports:
            for cls in (WebClient, KeepAliveWebClient):
                kept = {"keep_plain_http": True} if cls is KeepAliveWebClient else {}  # HTTP: app.py does not
                wall, cpu = timed(cls(token="xoxb-bench", base_url=url, ssl=context, timeout=5, **kept), args.calls)
                rows.append((name, cls.__name__, wall, cpu))
    print(f"{args.calls} users.info calls per row, one thread, loopback\n")
    print("| transport   | client               | wall ms per call | client CPU ms per call |")
    print("|-------------|----------------------|-----------------:|-----------------------:|")
    for name, client_name, wall, cpu in rows:
        print(f"| {name:<11} | {client_name:<20} | {wall:16.2f} | {cpu:22.2f} |")
    if made is None:
        print("\n(no `openssl` command: TLS not measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
