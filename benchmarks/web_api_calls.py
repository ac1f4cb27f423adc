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
import ssl
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402

from handoff_bot.slack.web_client import KeepAliveWebClient  # noqa: E402
from tests.slack_standin import BOT_USER_ID, SlackStandIn, https_standin, self_signed_certificate  # noqa: E402


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
          ExitStack() as stack):
        assert nagle._server is not None  # answers in two writes, the second held until the first is acknowledged
        nagle._server.RequestHandlerClass.disable_nagle_algorithm = False  # type: ignore[attr-defined]
        transports: list[tuple[str, str, ssl.SSLContext | None]] = [("HTTP", plain.api_url, None),
                                                                    ("HTTP, Nagle", nagle.api_url, None)]
        made = self_signed_certificate(Path(scratch))
        if made is not None:
            secure = stack.enter_context(https_standin(made))
            transports.append(("TLS", secure.api_url, ssl.create_default_context(cafile=str(made))))
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
