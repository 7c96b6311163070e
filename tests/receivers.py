"""Real receivers on loopback for the alert tests: an SMTP server and a webhook endpoint.

`SmtpSink` speaks just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for
Python's smtplib, which Airflow's SMTP notifier uses, and keeps every message it receives,
parsed; `WebhookSink` keeps every JSON body POSTed to it. Both listen on 127.0.0.1 on a
free port, in a daemon thread, for the duration of a `with` block.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import socketserver
import threading
from email.message import EmailMessage
from typing import Any


class _SmtpHandler(socketserver.StreamRequestHandler):
    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self._reply("220 localhost observatory test SMTP")
        envelope: dict[str, Any] = {"rcpt": []}
        while raw := self.rfile.readline():
            command = raw.decode("utf-8", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 localhost")
            elif verb == "MAIL":
                envelope = {"from": command[10:].strip(), "rcpt": []}
                self._reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(command[8:].strip())
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                message = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
                self.server.messages.append(message)  # type: ignore[attr-defined]
                self._reply("250 OK: queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives (`messages`)."""

    def __enter__(self) -> SmtpSink:
        self.server = _Server(("127.0.0.1", 0), _SmtpHandler)
        self.server.messages = []  # type: ignore[attr-defined]
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far, parsed."""
        return list(self.server.messages)  # type: ignore[attr-defined]

    def connection(self, sender: str = "observatory@city.example") -> str:
        """An Airflow connection (JSON, for `AIRFLOW_CONN_...`) to this server, no TLS."""
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.port,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": sender,
                    "retry_limit": 0,
                    "timeout": 10,
                },
            }
        )

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _HookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(  # type: ignore[attr-defined]
            {"path": self.path, "content_type": self.headers["Content-Type"], **json.loads(body)}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet."""


class WebhookSink:
    """An HTTP endpoint on 127.0.0.1 that keeps every JSON body POSTed to it (`received`)."""

    def __enter__(self) -> WebhookSink:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
        self.server.received = []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every body received so far (with `path` and `content_type` added)."""
        return list(self.server.received)  # type: ignore[attr-defined]

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
