"""A local stand-in for Keycloak (26.x behaviour). It is NOT Keycloak.

Keycloak itself cannot be installed in the local cloud, so tests run this small server instead. It
serves only the Keycloak HTTP endpoints that empi-infra and upstream Tuva EMPI use, with Keycloak's
paths and JSON shapes and real, freshly generated signing keys (RSA 2048 / EC P-256):

  GET  /realms/<realm>/.well-known/openid-configuration   discovery document
  GET  /realms/<realm>/protocol/openid-connect/certs      JWKS (RS256 and/or ES256 public keys)
  POST /realms/<realm>/protocol/openid-connect/token      client_credentials grant only (form or
                                                          HTTP Basic client authentication)
  GET  /realms/<realm>/protocol/openid-connect/auth       a small HTML login page (no real login)
  GET  /realms/<realm>/protocol/openid-connect/userinfo   {"sub": ...} for a valid bearer token
  GET  /admin/realms/<realm>/users                        user list: first, max, email, username,
                                                          search, exact (bearer token required)

and, for tests only (not Keycloak):
  POST /_standin/config     deep-merges a JSON object into the config (dicts merge, other values are
                            replaced), answers {}
  GET  /_standin/requests   [{"method", "path", "query"}] served so far (query as a dict; no bodies
                            or headers; /_standin/ requests themselves are not listed)
Everything else answers 404 {"error":"Not Found"} (the discovery document's logout endpoint too).
Unlike Keycloak: no x5c certificates in the JWKS, no sessions, no refresh/ID tokens, no persistence;
keys are new on every start.

Usage: keycloak_standin.py --config FILE.json [--port N]
Binds 127.0.0.1 only, prints "listening on http://127.0.0.1:PORT" once bound. One line per request
(method, path without query, status) goes to stderr; bodies, headers and tokens are never logged.
"""
import argparse
import base64
import hashlib
import html
import json
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

TOKEN_LIFESPAN = 300
LOCK = threading.Lock()
CONFIG = {}
KEYS = {}  # alg -> (kid, private key, public JWK)
REQUESTS = []
STARTED_MS = int(time.time() * 1000)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_bytes(n, length=None):
    return n.to_bytes(length or (n.bit_length() + 7) // 8, "big")


def make_key(alg):
    """A new signing key and its public JWK; the kid is the RFC 7638 thumbprint."""
    if alg == "RS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pub = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "e": b64url(int_bytes(pub.e)), "n": b64url(int_bytes(pub.n))}
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        pub = key.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64url(int_bytes(pub.x, 32)),
               "y": b64url(int_bytes(pub.y, 32))}
    thumb = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()
    kid = b64url(hashlib.sha256(thumb).digest())
    return kid, key, {"kid": kid, "use": "sig", "alg": alg, **jwk}


def check_config(config):
    if not config.get("realm"):
        raise ValueError("config: 'realm' is required")
    if any(not isinstance(u, dict) or not u.get("username") for u in config.get("users", [])):
        raise ValueError("config: every user needs a 'username'")
    bad = [a for a in config.get("jwks_algs", ["RS256"]) if a not in ("RS256", "ES256")]
    if bad:
        raise ValueError(f"config: unsupported jwks_algs {bad} (RS256, ES256)")


def active_keys():
    """Keys published by the realm, generating any that are newly configured (RS256 first)."""
    algs = [a for a in ("RS256", "ES256") if a in CONFIG.get("jwks_algs", ["RS256"])]
    for alg in algs:
        if alg not in KEYS:
            KEYS[alg] = make_key(alg)
    return {alg: KEYS[alg] for alg in algs}


def sign(alg, key, data):
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return int_bytes(r, 32) + int_bytes(s, 32)


def verify(alg, key, sig, data):
    pub = key.public_key()
    if alg == "RS256":
        pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    elif len(sig) == 64:
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        pub.verify(der, data, ec.ECDSA(hashes.SHA256()))
    else:
        raise InvalidSignature()


def user_id(username):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, username))


def user_repr(u):
    """A Keycloak UserRepresentation; email/firstName/lastName are omitted when unset, as Keycloak does."""
    rep = {"id": user_id(u["username"]), "username": u["username"]}
    for field in ("firstName", "lastName", "email"):
        if u.get(field) is not None:
            rep[field] = u[field]
    rep.update({"emailVerified": bool(u.get("emailVerified", False)), "createdTimestamp": STARTED_MS,
                "enabled": bool(u.get("enabled", True)), "totp": False, "disableableCredentialTypes": [],
                "requiredActions": [], "notBefore": 0})
    return rep


def deep_merge(base, update):
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "keycloak-standin"

    def log_message(self, *args):  # the default would log the request line; see reply()
        pass

    # -- plumbing --------------------------------------------------------------------------------
    def base_url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def issuer(self):
        return CONFIG.get("issuer") or f"{self.base_url()}/realms/{CONFIG['realm']}"

    def reply(self, status, body, ctype="application/json", headers=None):
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        sys.stderr.write(f"{self.command} {self.path.split('?')[0]} {status}\n")
        sys.stderr.flush()

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        with LOCK:
            if not url.path.startswith("/_standin/"):
                REQUESTS.append({"method": self.command, "path": url.path, "query": query})
            self.route(url.path, query, body)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def route(self, path, query, body):
        parts = path.strip("/").split("/")
        if path == "/_standin/config" and self.command == "POST":
            return self.update_config(body)
        if path == "/_standin/requests" and self.command == "GET":
            return self.reply(200, REQUESTS)
        if parts[0] == "realms" and len(parts) >= 2:
            if parts[1] != CONFIG["realm"]:
                return self.reply(404, {"error": "Realm does not exist"})
            return self.realm_route("/".join(parts[2:]), body)
        if parts[:2] == ["admin", "realms"] and len(parts) == 4 and parts[3] == "users" \
                and self.command == "GET":
            return self.list_users(parts[2], query)
        return self.reply(404, {"error": "Not Found"})

    def realm_route(self, sub, body):
        oidc = {("GET", ".well-known/openid-configuration"): self.discovery,
                ("GET", "protocol/openid-connect/certs"): self.certs,
                ("POST", "protocol/openid-connect/token"): lambda: self.token(body),
                ("GET", "protocol/openid-connect/auth"): self.login_page,
                ("GET", "protocol/openid-connect/userinfo"): self.userinfo,
                ("POST", "protocol/openid-connect/userinfo"): self.userinfo}
        handler = oidc.get((self.command, sub))
        return handler() if handler else self.reply(404, {"error": "Not Found"})

    # -- test control ------------------------------------------------------------------------------
    def update_config(self, body):
        try:
            update = json.loads(body or b"{}")
            if not isinstance(update, dict):
                raise ValueError("config update must be a JSON object")
            merged = json.loads(json.dumps(CONFIG))
            deep_merge(merged, update)
            check_config(merged)
            CONFIG.clear()
            CONFIG.update(merged)
            active_keys()
        except ValueError as e:
            return self.reply(400, {"error": str(e)})
        return self.reply(200, {})

    # -- OpenID Connect ------------------------------------------------------------------------------
    def discovery(self):
        oidc = f"{self.base_url()}/realms/{CONFIG['realm']}/protocol/openid-connect"
        self.reply(200, {
            "issuer": self.issuer(),
            "authorization_endpoint": f"{oidc}/auth",
            "token_endpoint": f"{oidc}/token",
            "userinfo_endpoint": f"{oidc}/userinfo",
            "end_session_endpoint": f"{oidc}/logout",
            "jwks_uri": f"{oidc}/certs",
            "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password",
                                      "client_credentials"],
            "response_types_supported": ["code", "none", "id_token", "token", "id_token token",
                                         "code id_token", "code token", "code id_token token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": list(active_keys()),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
            "code_challenge_methods_supported": ["plain", "S256"],
        })

    def certs(self):
        self.reply(200, {"keys": [jwk for _, _, jwk in active_keys().values()]})

    def login_page(self):
        realm = html.escape(CONFIG["realm"])
        self.reply(200, f"<!DOCTYPE html><html><head><title>Sign in to {realm}</title></head><body>"
                        f"<h1>Sign in to {realm}</h1><p>Keycloak stand-in: no interactive login.</p>"
                        "</body></html>", ctype="text/html;charset=utf-8")

    def client_credentials(self, form):
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                cid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
                return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)
            except ValueError:
                return None, None
        return form.get("client_id"), form.get("client_secret")

    def token(self, body):
        form = dict(urllib.parse.parse_qsl(body.decode(errors="replace")))
        if "grant_type" not in form:
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": "Missing form parameter: grant_type"})
        if form["grant_type"] != "client_credentials":
            return self.reply(400, {"error": "unsupported_grant_type",
                                    "error_description": "Unsupported grant_type"})
        cid, secret = self.client_credentials(form)
        client = CONFIG.get("clients", {}).get(cid or "")
        if client is None or secret is None or secret != client.get("secret"):
            return self.reply(401, {"error": "unauthorized_client",
                                    "error_description": "Invalid client or Invalid client credentials"})
        keys = active_keys()
        if not keys:
            return self.reply(500, {"error": "unknown_error", "error_description": "No active signing key"})
        alg, (kid, key, _) = next(iter(keys.items()))
        now = int(time.time())
        claims = {"exp": now + TOKEN_LIFESPAN, "iat": now, "jti": str(uuid.uuid4()), "iss": self.issuer(),
                  "aud": "account", "sub": user_id(f"service-account-{cid}"), "typ": "Bearer", "azp": cid,
                  "preferred_username": f"service-account-{cid}", "client_id": cid, "scope": "email profile"}
        signing_input = (b64url(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode()) + "."
                         + b64url(json.dumps(claims).encode()))
        jwt = signing_input + "." + b64url(sign(alg, key, signing_input.encode()))
        self.reply(200, {"access_token": jwt, "expires_in": TOKEN_LIFESPAN, "refresh_expires_in": 0,
                         "token_type": "Bearer", "not-before-policy": 0, "scope": "email profile"})

    def bearer_claims(self):
        """The claims of a valid bearer token issued by this realm, or None."""
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer ":
            return None
        try:
            head_b64, payload_b64, sig_b64 = auth[7:].strip().split(".")
            header = json.loads(b64url_decode(head_b64))
            keys = {kid: (alg, key) for alg, (kid, key, _) in active_keys().items()}
            alg, key = keys[header.get("kid")]
            if header.get("alg") != alg:
                return None
            verify(alg, key, b64url_decode(sig_b64), f"{head_b64}.{payload_b64}".encode())
            claims = json.loads(b64url_decode(payload_b64))
            exp = claims["exp"]
        except (ValueError, KeyError, TypeError, AttributeError, InvalidSignature):
            return None
        if not isinstance(exp, int) or exp <= time.time():
            return None
        return claims if claims.get("iss") == self.issuer() else None

    def userinfo(self):
        claims = self.bearer_claims()
        if claims is None:
            challenge = f'Bearer realm="{CONFIG["realm"]}", error="invalid_token"'
            return self.reply(401, {"error": "invalid_token", "error_description": "Token verification failed"},
                              headers={"WWW-Authenticate": challenge})
        self.reply(200, {"sub": claims["sub"], "preferred_username": claims.get("preferred_username")})

    # -- admin REST API ------------------------------------------------------------------------------
    def list_users(self, realm, query):
        claims = self.bearer_claims()
        if claims is None:
            return self.reply(401, {"error": "HTTP 401 Unauthorized"})
        if realm != CONFIG["realm"]:
            return self.reply(404, {"error": "Realm not found."})
        client = CONFIG.get("clients", {}).get(claims.get("azp"))
        if not client or not client.get("can_list_users"):
            return self.reply(403, {"error": "HTTP 403 Forbidden"})
        try:
            first, count = max(int(query.get("first", 0)), 0), int(query.get("max", 100))
        except ValueError:
            return self.reply(400, {"error": "invalid_request"})
        users = [u for u in sorted(CONFIG.get("users", []), key=lambda u: u["username"].lower())
                 if self.user_matches(u, query)]
        page = users[first:] if count < 0 else users[first:first + count]
        self.reply(200, [user_repr(u) for u in page])

    @staticmethod
    def user_matches(user, query):
        """Keycloak's filters: case-insensitive substring (exact=true: whole value); search: any field."""
        fields = ("username", "email", "firstName", "lastName")
        exact = query.get("exact", "").lower() == "true"
        value = {f: (user.get(f) or "").lower() for f in fields}
        if any(f in query and (value[f] != query[f].lower() if exact else query[f].lower() not in value[f])
               for f in fields):
            return False
        term = query.get("search", "").strip("*").lower()
        return any(term in value[f] for f in fields)


def main():
    p = argparse.ArgumentParser(description="Local stand-in for Keycloak (26.x behaviour); not Keycloak.")
    p.add_argument("--config", required=True, help="JSON config (realm, clients, users, jwks_algs, issuer)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: pick a free one)")
    args = p.parse_args()
    with open(args.config) as f:
        CONFIG.update(json.load(f))
    try:
        check_config(CONFIG)
    except ValueError as e:
        sys.exit(str(e))
    active_keys()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
