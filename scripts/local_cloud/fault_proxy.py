"""A fault-injecting HTTP proxy between empi-infra and moto (docs/RELIABILITY.md).

Usage: fault_proxy.py LISTEN_PORT TARGET_URL [--rate 0.1] [--seed 7] [--deny ACTION ...]
                     [--fail ACTION=CODE ...] [--echo ACTION[=FORM] ...] [--hang ACTION ...] [--stats FILE]

With probability RATE a request gets one of: HTTP 500, HTTP 503, a throttling error in the
service's own protocol, a connection reset, or a slow (1.5 s) answer. Faults other than "slow" are
injected before the request reaches moto, so they have no side effects (as AWS's 5xx/throttling
mostly do not). --deny ACTION answers that action with AccessDenied, always (a permanent fault). --fail ACTION=CODE
answers that action with that error code (HTTP 400), always: an error that looks like another
("InvalidRoute.NotFound" from DetachInternetGateway) must not be taken for "already gone".
--echo ACTION[=FORM] sends that action on to moto, then answers it with a ValidationException (HTTP
400) whose message quotes the request's body and moto's answer, as an endpoint that echoes what it
was sent does (a `SecretString` in the error text); FORM (plain, base64, hex) is how they are quoted.
--hang ACTION never answers that action (a request that hangs until the client's deadline).
Counts per fault are written to --stats as JSON after every request."""
import argparse
import base64
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("target")
p.add_argument("--rate", type=float, default=0.1)
p.add_argument("--seed", type=int, default=7)
p.add_argument("--deny", action="append", default=[])
p.add_argument("--fail", action="append", default=[])
p.add_argument("--echo", action="append", default=[])
p.add_argument("--hang", action="append", default=[])
p.add_argument("--stats")
args = p.parse_args()
target = urllib.parse.urlparse(args.target)
rng = random.Random(args.seed)
lock = threading.Lock()
stats = {"requests": 0, "http500": 0, "http503": 0, "throttle": 0, "reset": 0, "slow": 0, "denied": 0, "failed": 0, "echoed": 0, "hung": 0}
fail = dict(f.split("=", 1) for f in args.fail)
echo = dict((e.split("=", 1) + ["plain"])[:2] for e in args.echo)
ECHO_FORMS = {"plain": lambda b: b.decode(errors="replace"), "base64": lambda b: base64.b64encode(b).decode(), "hex": lambda b: b.hex()}


def count(k):
    with lock:
        stats[k] += 1
        if args.stats:
            # whole or not at all: a reader never sees the file truncated between two writes
            with open(args.stats + ".tmp", "w") as f:
                json.dump(stats, f)
            os.replace(args.stats + ".tmp", args.stats)


# services whose errors are JSON (`__type`), as their botocore models' protocols say (json or
# rest-json); the rest answer XML. An XML error to a JSON client is unreadable to it ("HTTP 400
# without an error message") and not the throttling the proxy means to inject.
JSON_SERVICES = ("eks", "cognito-idp", "secretsmanager", "wafv2", "kms", "logs", "cloudtrail", "acm")


def action_of(headers, body):
    t = headers.get("X-Amz-Target")
    if t:
        return t.split(".")[-1]
    if body and b"Action=" in body:
        q = urllib.parse.parse_qs(body.decode(errors="replace"))
        return q.get("Action", [""])[0]
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype, extra=None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def service(self):
        # the SigV4 credential scope names the service: Credential=AKID/date/region/SERVICE/aws4_request
        auth = self.headers.get("Authorization") or ""
        parts = auth.split("Credential=")[-1].split(",")[0].split("/")
        return parts[3] if len(parts) > 3 else ""

    def error(self, status, code, message):
        svc = self.service()
        if svc not in JSON_SERVICES:
            message = escape(message)
        if svc in JSON_SERVICES:
            self.reply(status, json.dumps({"__type": code, "message": message}), "application/x-amz-json-1.1", {"x-amzn-ErrorType": code})
        elif svc == "ec2":
            self.reply(status, f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>x</RequestID></Response>", "text/xml")
        elif svc == "s3":
            self.reply(status, f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>x</RequestId></Error>", "application/xml")
        else:
            self.reply(status, f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>x</RequestId></ErrorResponse>", "text/xml")

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        count("requests")
        action = action_of(self.headers, body)
        if action and action in args.deny:
            count("denied")
            return self.error(403, "AccessDenied", f"User is not authorized to perform {action}")
        if action and action in fail:
            count("failed")
            return self.error(400, fail[action], f"{fail[action]} (injected by the fault proxy for {action})")
        if action and action in args.hang:
            count("hung")
            time.sleep(600)
            self.close_connection = True
            return
        if action and action in echo:
            count("echoed")
            status, _, data = self.forward(body)
            form = ECHO_FORMS[echo[action]]
            return self.error(400, "ValidationException", f"echo of {action}: request {form(body)} answered {status} {form(data)}")
        fault = None
        with lock:
            if rng.random() < args.rate:
                fault = rng.choice(["http500", "http503", "throttle", "reset", "slow"])
        if fault == "http500":
            count(fault)
            return self.error(500, "InternalError", "We encountered an internal error. Please try again.")
        if fault == "http503":
            count(fault)
            return self.error(503, "ServiceUnavailable", "Service is unavailable. Please try again.")
        if fault == "throttle":
            count(fault)
            svc = self.service()
            code = {"ec2": "RequestLimitExceeded", "s3": "SlowDown"}.get(svc, "ThrottlingException" if svc in JSON_SERVICES else "Throttling")
            return self.error(503 if svc == "s3" else 400, code, "Rate exceeded")
        if fault == "reset":
            count(fault)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
            return
        if fault == "slow":
            count(fault)
            time.sleep(1.5)
        status, response_headers, data = self.forward(body)
        self.send_response(status)
        for k, v in response_headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def forward(self, body):
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
