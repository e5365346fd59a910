"""A small OpenID provider for the tests, on loopback: discovery, JWKS, an authorization endpoint
with a sign-in form, and a token endpoint that checks the authorization code flow as the
specification asks (one-time codes bound to the client and redirect URI, PKCE S256), issuing
RS256 ID tokens signed with a key the OpenSSL CLI makes (no crypto library needed)."""

import base64
import hashlib
import html
import json
import os
import secrets
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    def __init__(self, directory, client_id, users):
        self.client_id, self.users = client_id, users
        self.key = os.path.join(directory, "idp-key.pem")
        subprocess.run(["openssl", "genrsa", "-out", self.key, "2048"], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", self.key, "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        self.jwk = {"kty": "RSA", "kid": "test-1", "use": "sig", "alg": "RS256",
                    "n": b64url(bytes.fromhex(modulus)), "e": "AQAB"}
        self.codes, self.authorize_requests, self.token_requests = {}, [], []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body, content_type="application/json", headers=()):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def form(self):
                n = int(self.headers.get("Content-Length", "0"))
                return dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self.reply(200, json.dumps({
                        "issuer": provider.issuer, "authorization_endpoint": provider.issuer + "/authorize",
                        "token_endpoint": provider.issuer + "/token", "jwks_uri": provider.issuer + "/jwks",
                        "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"]}))
                elif url.path == "/jwks":
                    self.reply(200, json.dumps({"keys": [provider.jwk]}))
                elif url.path == "/authorize":
                    provider.authorize_requests.append(q)
                    if q.get("client_id") != provider.client_id or q.get("response_type") != "code" \
                            or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                        return self.reply(400, "bad authorization request", "text/plain")
                    hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in q.items())
                    self.reply(200, f'<!doctype html><form method="post" action="/authorize">{hidden}'
                                    '<input id="idp-user" name="user"><button id="idp-submit">Sign in</button></form>',
                               "text/html")
                else:
                    self.reply(404, "{}")

            def do_POST(self):
                f = self.form()
                if self.path == "/authorize":
                    if f.get("user") not in provider.users:
                        return self.reply(200, '<p id="idp-error">unknown user</p>', "text/html")
                    code = secrets.token_urlsafe(24)
                    provider.codes[code] = f
                    target = f["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": f["state"]})
                    self.reply(302, "", "text/plain", [("Location", target)])
                elif self.path == "/token":
                    provider.token_requests.append(f)
                    grant = provider.codes.pop(f.get("code"), None)
                    verifier = f.get("code_verifier", "")
                    if grant is None or f.get("grant_type") != "authorization_code" \
                            or f.get("client_id") != grant["client_id"] or f.get("redirect_uri") != grant["redirect_uri"]:
                        return self.reply(400, json.dumps({"error": "invalid_grant"}))
                    if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["code_challenge"]:
                        return self.reply(400, json.dumps({"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}))
                    claims = {**provider.users[grant["user"]], "sub": grant["user"], "email": grant["user"],
                              "aud": provider.client_id, "nonce": grant.get("nonce")}
                    self.reply(200, json.dumps({"id_token": provider.token(claims), "token_type": "Bearer", "expires_in": 300}))
                else:
                    self.reply(404, "{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, claims, ttl=300, key=None):
        """An RS256 JWT with `claims`, the issuer and a lifetime."""
        now = int(time.time())
        body = {"iss": self.issuer, "iat": now, "exp": now + ttl, **claims}
        signing_input = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.jwk["kid"]}).encode()) + "." + \
            b64url(json.dumps(body).encode())
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key or self.key], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout
        return signing_input + "." + b64url(signature)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
