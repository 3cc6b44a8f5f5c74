"""Interoperability: Python's Authlib (an OAuth 2.0 / OpenID Connect library nobody here wrote)
as the relying party of a real `portico serve`.

It discovers the issuer, runs the authorization code flow with PKCE (S256) and a nonce through a
sign-in the way a browser does it (requests, the login form and its CSRF token), exchanges the
code with client_secret_basic, verifies the ID token against the JWKS with Authlib's JOSE, reads
userinfo, refreshes, and then sees the membership decide: after a suspension the refresh is
refused with invalid_grant.

    PORTICO_BIN=target/debug/portico python e2e/interop_authlib.py
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

BIN = os.environ.get("PORTICO_BIN", "target/debug/portico")
REDIRECT = "https://rp.example.org/callback"
PASSWORD = "a long enough password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portico(env, *args, stdin=None):
    out = subprocess.run([BIN, *args], env=env, input=stdin, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"portico {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def check(condition, what):
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok - {what}")


def main():
    workdir = tempfile.mkdtemp(prefix="portico-authlib-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORTICO_DATABASE_URL": f"sqlite://{workdir}/portico.db",
        "PORTICO_SECRET_KEY": "authlib-interop-secret-key-0123456789abcdef",
        "PORTICO_BIND": f"127.0.0.1:{port}",
        "PORTICO_BASE_URL": base + "/",
        "PORTICO_LOG": "error",
    }
    portico(env, "migrate")
    portico(env, "staff", "create", "--email", "admin@portico.test", "--role", "admin", "--password-stdin",
            stdin=PASSWORD + "\n")
    token = portico(env, "token", "create", "--staff", "admin@portico.test").strip()
    portico(env, "org", "create", "--slug", "club", "--name", "Club", "--signup", "open")
    created = portico(env, "oidc", "client", "create", "--org", "club", "--name", "Authlib",
                      "--redirect-uri", REDIRECT, "--first-party")
    fields = dict(line.split(": ", 1) for line in created.strip().splitlines())
    client_id, client_secret = fields["client_id"], fields["client_secret"]

    server = subprocess.Popen([BIN, "serve"], env=env)
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        run(base, api, client_id, client_secret)
    finally:
        server.terminate()
        server.wait(timeout=10)


def sign_up_member(base, api):
    """A member of `club`, activated by staff: invited over the API, the link read from the
    dev outbox (no SMTP server is configured), accepted with a password."""
    r = api.post(f"{base}/api/v1/orgs/club/invitations", json={"email": "ada@example.org", "role": "member"})
    assert r.status_code == 201, r.text
    link = None
    for _ in range(50):
        page = requests.get(f"{base}/dev/mail").text
        ids = re.findall(r'href="/dev/mail/(\d+)"', page)
        for mail_id in ids:
            text = requests.get(f"{base}/dev/mail/{mail_id}").text
            found = re.search(r"(/invite/[A-Za-z0-9_-]+)", text)
            if found:
                link = found.group(1)
        if link:
            break
        time.sleep(0.1)
    assert link, "the invitation link is in the dev outbox"
    browser = requests.Session()
    page = browser.get(base + link).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = browser.post(base + link, data={"csrf_token": csrf, "mode": "new", "password": PASSWORD,
                                        "password_confirm": PASSWORD},
                     allow_redirects=False)
    assert r.status_code == 303, (r.status_code, r.text[:500])
    members = api.get(f"{base}/api/v1/orgs/club/members").json()["items"]
    member_id = members[0]["id"]
    if members[0]["status"] != "active":
        r = api.patch(f"{base}/api/v1/orgs/club/members/{member_id}", json={"status": "active", "reason": "interop"})
        assert r.status_code == 200, r.text
    return member_id


def authorize(base, browser, url):
    """Follows the authorization request like a browser: the sign-in page when needed, back to
    the authorization endpoint, and stops at the redirect to the relying party."""
    r = browser.get(url, allow_redirects=False)
    if r.headers.get("location", "").startswith("/login"):
        login = base + r.headers["location"]
        page = browser.get(login).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        nxt = urllib.parse.parse_qs(urllib.parse.urlparse(login).query)["next"][0]
        r = browser.post(f"{base}/login", data={"csrf_token": csrf, "email": "ada@example.org",
                                                "password": PASSWORD, "next": nxt}, allow_redirects=False)
        assert r.status_code == 303, r.text[:300]
        r = browser.get(base + r.headers["location"], allow_redirects=False)
    return r


def run(base, api, client_id, client_secret):
    member_id = sign_up_member(base, api)
    issuer = f"{base}/o/club"
    meta = requests.get(f"{issuer}/.well-known/openid-configuration").json()
    check(meta["issuer"] == issuer, "discovery names the issuer")
    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())

    client = OAuth2Session(client_id, client_secret, scope="openid email profile groups",
                           redirect_uri=REDIRECT, code_challenge_method="S256",
                           token_endpoint_auth_method="client_secret_basic")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce)
    browser = requests.Session()
    r = authorize(base, browser, url)
    location = r.headers.get("location", "")
    check(r.status_code == 303 and location.startswith(REDIRECT), "the authorization answers with a redirect")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
    check(query.get("iss") == [issuer], "the authorization response names the issuer (RFC 9207)")
    token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], jwks, claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
    })
    claims.validate()
    check(claims["email"] == "ada@example.org", "the ID token verifies through the JWKS and names the member")
    check("member" in claims["groups"], "groups carry the role")
    info = client.get(meta["userinfo_endpoint"]).json()
    check(info["sub"] == claims["sub"], "userinfo speaks of the same subject")
    renewed = client.refresh_token(meta["token_endpoint"])
    check(renewed["refresh_token"] != token["refresh_token"], "refresh rotates the refresh token")

    r = api.patch(f"{base}/api/v1/orgs/club/members/{member_id}", json={"status": "suspended", "reason": "interop"})
    assert r.status_code == 200, r.text
    try:
        client.refresh_token(meta["token_endpoint"])
        check(False, "a suspended member's refresh is refused")
    except OAuthError as e:
        check(e.error == "invalid_grant", "a suspended member's refresh is refused with invalid_grant")
    r = authorize(base, browser, client.create_authorization_url(meta["authorization_endpoint"],
                                                                 code_verifier=verifier, nonce=nonce)[0])
    check(r.status_code == 403 and "suspended" in r.text, "a suspended member is refused at authorization")
    print("authlib interoperability: all passed")


if __name__ == "__main__":
    main()
