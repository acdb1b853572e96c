"""A small TLS proxy in front of a test server: it presents the server's own
certificate (so clients trusting its CA trust the proxy), forwards each
HTTP/1.1 request upstream over verified TLS, records what it received, and
can drop the answer to chosen requests (the client then sees the
connection close with no answer, as when a network loses a reply)."""

from __future__ import annotations

import http.client
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional


class Recorded:
    def __init__(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.status: Optional[int] = None
        self.reply = b""

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def __repr__(self) -> str:
        return f"Recorded({self.method} {self.target.split('?')[0]})"


class TlsProxy:
    def __init__(self, server, drop: Optional[Callable[[Recorded], bool]] = None) -> None:
        self.recorded: list[Recorded] = []
        self.dropped = 0
        self.lock = threading.Lock()
        upstream_port = server.port
        upstream_tls = ssl.create_default_context(cafile=server.ca_path)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = [(k.lower(), v) for k, v in self.headers.items()]
                record = Recorded(self.command, self.path, headers, body)
                with proxy.lock:
                    proxy.recorded.append(record)
                    lose = drop is not None and drop(record)
                    if lose:
                        proxy.dropped += 1
                conn = http.client.HTTPSConnection("localhost", upstream_port, context=upstream_tls, timeout=30)
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    conn.putheader(k, v)
                conn.endheaders(body or None)
                answer = conn.getresponse()
                reply = answer.read()
                status, reason, reply_headers = answer.status, answer.reason, answer.getheaders()
                record.status = status
                record.reply = reply
                conn.close()
                if lose:
                    # The server acted; its answer never reaches the client.
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response_only(status, reason)
                for k, v in reply_headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_dir = os.path.dirname(server.ca_path)
        tls.load_cert_chain(os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
        tls.set_alpn_protocols(["http/1.1"])
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
