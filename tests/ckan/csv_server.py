"""Serves CSV files to xloader: ``/<name>`` from a directory, ``/stalled/<name>`` never ends.

``/stalled/<name>`` sends the headers and the file's first line, then holds
the connection open until the server is stopped: a download that cannot
finish, so a job reading it runs past its timeout.

Run: ``python csv_server.py DIRECTORY PORTFILE``; it writes its port to
PORTFILE once it listens. Stop it by its pid.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
NEVER = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_HEAD(self) -> None:
        self._send(head_only=True)

    def do_GET(self) -> None:
        self._send(head_only=False)

    def _send(self, head_only: bool) -> None:
        name = self.path.rsplit("/", 1)[-1]
        stalled = self.path.startswith("/stalled/")
        path = ROOT / name
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body) * (1000 if stalled else 1)))
        self.end_headers()
        if head_only:
            return
        if not stalled:
            self.wfile.write(body)
            return
        self.wfile.write(body.splitlines(keepends=True)[0])
        self.wfile.flush()
        NEVER.wait()


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Path(sys.argv[2]).write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
