"""A real HTTP file server on 127.0.0.1 for download tests: Range requests, and switches to
misbehave (cut the connection, trickle bytes, ignore Range)."""
from __future__ import annotations

import re
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    cut_after: int | None = None  # close the connection after this many body bytes, once
    ignore_range: bool = False  # always answer 200 with the whole file
    trickle: float = 0.0  # seconds to sleep after every 4 KiB (a slow server)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> 302 Location path
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request


class FileServer:
    """Serves ``files`` (URL path -> bytes) until ``close``; ``url(path)`` gives the URL.
    With ``certificate`` (a PEM file holding the key and the certificate) it speaks HTTPS."""

    def __init__(self, files: dict[str, bytes], certificate: str | None = None) -> None:
        self.files = files
        self.behaviour = Behaviour()
        self._scheme = "https" if certificate else "http"
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if certificate:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host}:{port}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

            def do_GET(self) -> None:
                behaviour = server.behaviour
                header = self.headers.get("Range")
                if self.path in behaviour.redirects:  # as GitHub sends release assets
                    self.send_response(302)
                    self.send_header("Location", behaviour.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                behaviour.ranges.append(header)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", header or "")
                if match and not behaviour.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                body = memoryview(data)[start:]
                if behaviour.cut_after is not None:
                    limit, behaviour.cut_after = behaviour.cut_after, None
                    self.wfile.write(body[:limit])
                    self.close_connection = True
                    return
                step = 4096 if behaviour.trickle else 1 << 20
                try:
                    for offset in range(0, len(body), step):
                        self.wfile.write(body[offset:offset + step])
                        if behaviour.trickle:
                            time.sleep(behaviour.trickle)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a cancelled download)

        return Handler


def git_blob_id(path) -> str:
    """The git blob id of the file at ``path``, computed by git itself (the registry's
    integrity value of files published in git repositories)."""
    return subprocess.run(["git", "hash-object", str(path)], check=True, capture_output=True,
                          text=True).stdout.strip()
