#!/usr/bin/env python3
"""The HTTP peer of data_download_test and registry_auth_test: http.server on 127.0.0.1:PORT.

Usage: http_peer.py PORT DIR
  GET /files/NAME             200 with DIR/NAME (404 when missing)
  GET /missing/NAME           404 "not here"
  GET /flaky/N/KEY/NAME       500 for the first N requests of KEY, then /files/NAME
  GET /redirect/NAME          302 to /files/NAME
  GET /redirect-ftp/NAME      302 to ftp://127.0.0.1/NAME
  GET /empty/NAME             200 with an empty body
  GET /big/SIZE/NAME          200 with SIZE bytes of "x"
  GET /slow/NAME              sleeps 10 s, then 200
  GET /count/KEY              how many requests KEY got so far (flaky, missing, big: NAME)
  GET|POST /token             Docker's token endpoint: 200 {"token"|"access_token": ...} when the
                              Basic credentials are kaito:secret or the refresh_token is
                              "refresh-me"; 401 otherwise. The token says what was asked:
                              "tok:<service>:<scope>".
"""
import base64
import collections
import http.server
import os
import sys
import threading
import time
import urllib.parse

COUNTS = collections.Counter()
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("peer: " + (fmt % args) + "\n")

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def count(self, key):
        with LOCK:
            COUNTS[key] += 1
            return COUNTS[key]

    def serve_file(self, name):
        path = os.path.join(DIR, name)
        if not os.path.isfile(path):
            return self.reply(404, b"no such file\n")
        with open(path, "rb") as f:
            self.reply(200, f.read())

    def token(self, params):
        auth = self.headers.get("Authorization", "")
        ok = False
        key = "token"
        if params.get("grant_type") == "refresh_token":
            ok = params.get("refresh_token") == "refresh-me"
            key = "access_token"
        elif auth.startswith("Basic "):
            ok = base64.b64decode(auth[6:]).decode() == "kaito:secret"
        if not ok:
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad login"}]}')
        tok = "tok:%s:%s" % (params.get("service", ""), params.get("scope", ""))
        self.reply(200, ('{"%s": "%s"}' % (key, tok)).encode())

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        if self.path.startswith("/token"):
            return self.token(form)
        self.reply(404)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        head = parts[0] if parts else ""
        if head == "files" and len(parts) == 2:
            return self.serve_file(parts[1])
        if head == "missing" and len(parts) == 2:
            self.count(parts[1])
            return self.reply(404, b"not here\n")
        if head == "flaky" and len(parts) == 4:
            if self.count(parts[2]) <= int(parts[1]):
                return self.reply(500, b"try again\n")
            return self.serve_file(parts[3])
        if head == "redirect" and len(parts) == 2:
            return self.reply(302, b"", {"Location": "/files/" + parts[1]})
        if head == "redirect-ftp" and len(parts) == 2:
            return self.reply(302, b"", {"Location": "ftp://127.0.0.1/" + parts[1]})
        if head == "empty":
            return self.reply(200, b"")
        if head == "big" and len(parts) == 3:
            self.count(parts[2])
            return self.reply(200, b"x" * int(parts[1]))
        if head == "slow":
            time.sleep(10)
            return self.reply(200, b"late\n")
        if head == "count" and len(parts) == 2:
            with LOCK:
                return self.reply(200, str(COUNTS[parts[1]]).encode())
        if head == "token":
            return self.token(dict(urllib.parse.parse_qsl(url.query)))
        self.reply(404, b"unknown route\n")

    do_HEAD = do_GET


if __name__ == "__main__":
    PORT = int(sys.argv[1])
    DIR = sys.argv[2]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    server.serve_forever()
