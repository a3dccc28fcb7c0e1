"""Second factors over real HTTP against a real server (issue 26): password + TOTP,
recovery codes, replay and lockout of codes, forced enrolment, and the rule that a
request cannot lower the level its client requires (KC#16884).

Codes are computed here with pyotp, independently of the server's RFC 6238 code.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pyotp
import pytest

from tests.e2e.backends import backend
from tests.e2e.conftest import (
    CALLBACK,
    HASHER,
    TOLLHOUSE,
    Seed,
    Server,
    free_port,
    seed_database,
    start_server,
    stop,
)
from tests.e2e.flows import exchange, pkce_pair
from tests.e2e.forms import Form, parse
from tollhouse.models import AuthMethod, Client, GrantType, User
from tollhouse.randomness import identifier
from tollhouse.resource import TokenError, TokenValidator, check_authentication
from tollhouse.storage.sql.storage import open_storage

MFA_ACR = "urn:tollhouse:mfa"
STRICT_CLIENT = "plant-control"
WEB, OTHER = "field-portal", "report-viewer"
PASSWORD = "a long enough password"
USERS = ("bob", "carol", "dave", "erin", "frank", "gina")
"""bob: TOTP; carol: TOTP, for the lockout; dave: no factor (forced enrolment);
erin: no factor (SSO without one); frank: recovery codes; gina: the account page."""


async def seed_mfa(url: str, seed: Seed) -> None:
    storage = await open_storage(url)
    try:
        now = int(time.time())
        for client_id, strict in ((STRICT_CLIENT, True), (WEB, False), (OTHER, False)):
            await storage.add_client(
                Client(
                    client_id=client_id,
                    name=client_id.title(),
                    redirect_uris=(CALLBACK,),
                    grant_types=(GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN),
                    token_endpoint_auth_method=AuthMethod.CLIENT_SECRET_BASIC,
                    created_at=now,
                    secret_hash=HASHER.hash(seed.confidential_secret),
                    require_mfa=strict,
                )
            )
        for name in USERS:
            await storage.add_user(User(identifier(16), name, HASHER.hash(PASSWORD), now))
    finally:
        await storage.close()


@dataclass
class MfaServer:
    server: Server
    extra: tuple[str, ...]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(TOLLHOUSE), *args, "--data-dir", str(self.server.data_dir), *self.extra]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    def enroll(self, username: str) -> pyotp.TOTP:
        done = self.cli("users", "totp", "enroll", username, "--json")
        assert done.returncode == 0, done.stderr
        return pyotp.TOTP(json.loads(done.stdout)["secret"])


@pytest.fixture(scope="module")
def mfa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MfaServer]:
    data_dir = tmp_path_factory.mktemp("mfa-idp")
    with backend(data_dir) as (database_url, backend_args):
        seed = Seed()
        asyncio.run(seed_database(database_url, seed))
        asyncio.run(seed_mfa(database_url, seed))
        port = free_port()
        env = {"TOLLHOUSE_LOGIN_LOCKOUT_TIME": "1", "TOLLHOUSE_LOGIN_LOCKOUT_MAX_TIME": "2"}
        process, log_path = start_server(data_dir, port, *backend_args, env=env)
        db_args = tuple(a for a in backend_args if a != "--redis" and "redis://" not in a)
        try:
            server = Server(
                f"http://127.0.0.1:{port}", data_dir, database_url, seed, process, log_path
            )
            yield MfaServer(server, db_args)
        finally:
            stop(process)


class Browser:
    """A browser walking the sign-in pages: one form per page, submitted by hand."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=20)
        self.verifier = ""
        self.page: httpx.Response | None = None
        self.access_token = ""

    def authorize(self, client_id: str, **extra: str) -> httpx.Response:
        self.verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n-0S6_WzA2Mj",
            **extra,
        }
        return self.follow(self.http.get("/authorize", params=params))

    def follow(self, response: httpx.Response) -> httpx.Response:
        for _ in range(5):
            location = response.headers.get("location", "")
            if not response.is_redirect or location.startswith(CALLBACK):
                break
            response = self.http.get(urljoin(str(response.url), location))
        self.page = response
        return response

    def form(self) -> Form:
        assert self.page is not None
        forms = parse(self.page.text).forms
        assert len(forms) == 1, (self.page.status_code, self.page.headers, self.page.text)
        return forms[0]

    def submit(self, **fields: str) -> httpx.Response:
        form = self.form()
        assert self.page is not None
        action = urljoin(str(self.page.url), form.action or "")
        return self.follow(self.http.post(action, data={**form.inputs, **fields}))

    def password(self, username: str) -> httpx.Response:
        return self.submit(username=username, password=PASSWORD)

    def code(self) -> str:
        assert self.page is not None and self.page.is_redirect, self.page
        query = parse_qs(urlsplit(self.page.headers["location"]).query)
        return query["code"][0]

    def tokens(self, client_id: str) -> dict[str, dict[str, object]]:
        """Allow consent if asked, redeem the code, return the tokens' claims."""
        if self.page is not None and not self.page.is_redirect:
            self.submit(decision="allow")
        seed = self.server.seed
        answer = exchange(
            self.http,
            self.code(),
            verifier=self.verifier,
            redirect_uri=CALLBACK,
            auth=(client_id, seed.confidential_secret),
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        self.access_token = body["access_token"]
        options = {"verify_signature": False}
        return {
            "id": jwt.decode(body["id_token"], options=options),
            "access": jwt.decode(body["access_token"], options=options),
        }

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def browser(mfa_server: MfaServer) -> Iterator[Browser]:
    opened = Browser(mfa_server.server)
    try:
        yield opened
    finally:
        opened.close()


def assert_step_up(server: Server, access_token: str, *, passes: bool) -> None:
    """The resource library, fetching the real server's keys, judges a real token."""
    audience = jwt.decode(access_token, options={"verify_signature": False})["aud"]
    validator = TokenValidator(server.base_url, audience)
    try:
        claims = validator.validate(access_token)
        if passes:
            check_authentication(claims, acr_values=(MFA_ACR,), max_age=600)
            return
        with pytest.raises(TokenError) as refused:
            check_authentication(claims, acr_values=(MFA_ACR,))
        assert refused.value.status_code == 401
        assert f'acr_values="{MFA_ACR}"' in refused.value.www_authenticate
    finally:
        validator.close()


def otp_page(response: httpx.Response) -> bool:
    return 'name="otp"' in response.text


def test_password_and_totp_give_mfa_tokens(mfa_server: MfaServer, browser: Browser) -> None:
    totp = mfa_server.enroll("bob")
    browser.authorize(WEB)
    after_password = browser.password("bob")
    assert urlsplit(str(after_password.url)).path == "/otp"
    assert otp_page(after_password)
    form = browser.form()
    assert set(form.inputs) == {"csrf_token", "interaction", "otp"}
    assert "script" not in after_password.text
    assert "script-src" not in after_password.headers["content-security-policy"]

    browser.submit(otp=totp.now())
    claims = browser.tokens(WEB)
    for token in claims.values():
        assert token["amr"] == ["pwd", "otp", "mfa"]
        assert token["acr"] == MFA_ACR
    auth_time = claims["id"]["auth_time"]
    assert_step_up(mfa_server.server, browser.access_token, passes=True)

    # Single sign-on keeps how and when the user signed in.
    browser.authorize(OTHER)
    again = browser.tokens(OTHER)
    assert again["id"]["auth_time"] == auth_time
    assert again["id"]["acr"] == MFA_ACR


def test_a_totp_code_signs_in_once(mfa_server: MfaServer) -> None:
    totp = mfa_server.enroll("bob")
    code = totp.now()
    first, second = Browser(mfa_server.server), Browser(mfa_server.server)
    try:
        for walker in (first, second):
            walker.authorize(WEB)
            walker.password("bob")
        assert first.submit(otp=code).status_code in (200, 303)
        replayed = second.submit(otp=code)
        assert replayed.status_code == 400
        assert otp_page(replayed)
        assert "Codes work once" in replayed.text
    finally:
        first.close()
        second.close()
    replays = [
        json.loads(line)
        for line in mfa_server.server.logs().splitlines()
        if '"totp_replayed"' in line
    ]
    assert replays and replays[-1]["event"] == "mfa"
    assert code not in mfa_server.server.logs()


def test_wrong_codes_are_counted_and_lock_the_second_step(
    mfa_server: MfaServer, browser: Browser
) -> None:
    totp = mfa_server.enroll("carol")
    browser.authorize(WEB)
    browser.password("carol")
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    statuses = [browser.submit(otp=wrong).status_code for _ in range(5)]
    assert statuses == [400] * 5
    locked = browser.submit(otp=totp.now())
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "1"
    assert otp_page(locked)
    time.sleep(1.1)
    assert browser.submit(otp=totp.now()).status_code in (200, 303)


def test_a_recovery_code_signs_in_once(mfa_server: MfaServer) -> None:
    mfa_server.enroll("frank")
    made = mfa_server.cli("users", "recovery-codes", "create", "frank", "--json")
    assert made.returncode == 0, made.stderr
    codes = json.loads(made.stdout)["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10

    walker = Browser(mfa_server.server)
    try:
        walker.authorize(WEB)
        walker.password("frank")
        walker.submit(otp=codes[0])
        claims = walker.tokens(WEB)
        assert claims["id"]["amr"] == ["pwd", "otp", "mfa"]
    finally:
        walker.close()
    again = Browser(mfa_server.server)
    try:
        again.authorize(WEB)
        again.password("frank")
        assert again.submit(otp=codes[0]).status_code == 400
    finally:
        again.close()
    shown = json.loads(mfa_server.cli("users", "show", "frank", "--json").stdout)
    assert shown["factors"]["recovery_codes_left"] == 9
    assert "recovery_code_used" in mfa_server.server.logs()


def test_a_client_requiring_mfa_forces_enrolment(mfa_server: MfaServer, browser: Browser) -> None:
    # acr_values naming a lower level does not lower the client's requirement.
    browser.authorize(STRICT_CLIENT, acr_values="urn:tollhouse:pwd")
    page = browser.password("dave")
    assert urlsplit(str(page.url)).path == "/enroll"
    assert "<svg" in page.text and "<script" not in page.text
    secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    browser.submit(otp=pyotp.TOTP(secret).now())
    claims = browser.tokens(STRICT_CLIENT)
    assert claims["id"]["acr"] == MFA_ACR
    shown = json.loads(mfa_server.cli("users", "show", "dave", "--json").stdout)
    assert shown["factors"]["totp"] == "confirmed"
    assert secret not in json.dumps(shown)


def test_a_session_without_a_factor_does_not_reach_a_client_requiring_one(
    mfa_server: MfaServer, browser: Browser
) -> None:
    browser.authorize(WEB)
    browser.password("erin")
    claims = browser.tokens(WEB)
    assert claims["id"]["amr"] == ["pwd"]
    assert "acr" not in claims["id"]
    assert_step_up(mfa_server.server, browser.access_token, passes=False)

    # The same browser session: the strict client, and a request asking for MFA, both
    # need a new sign-in, which then asks for a second factor.
    for client_id, extra in ((STRICT_CLIENT, {}), (WEB, {"acr_values": MFA_ACR})):
        page = browser.authorize(client_id, **extra)
        assert urlsplit(str(page.url)).path == "/login", page.headers
    page = browser.authorize(WEB, acr_values=MFA_ACR, prompt="none")
    assert "error=login_required" in page.headers["location"]


def test_discovery_lists_the_mfa_level(mfa_server: MfaServer, browser: Browser) -> None:
    """An IP-address issuer cannot have passkeys (WebAuthn needs a host name): no phr,
    and the login page offers no password-less sign-in."""
    with mfa_server.server.client() as http:
        doc = http.get("/.well-known/openid-configuration").json()
    assert doc["acr_values_supported"] == [MFA_ACR]
    login = browser.authorize(WEB)
    assert urlsplit(str(login.url)).path == "/login"
    assert "/login/passkey" not in login.text


def test_a_totp_session_does_not_meet_phr(mfa_server: MfaServer, browser: Browser) -> None:
    """acr_values=phr cannot be met by a password and a code, before or during the
    sign-in: login_required with prompt=none, a new sign-in otherwise, and without a
    passkey the client gets unmet_authentication_requirements, never a code."""
    totp = mfa_server.enroll("bob")
    browser.authorize(WEB, acr_values=MFA_ACR)
    browser.password("bob")
    browser.submit(otp=totp.now())
    assert browser.tokens(WEB)["id"]["acr"] == MFA_ACR

    page = browser.authorize(WEB, acr_values="phr", prompt="none")
    assert "error=login_required" in page.headers["location"]
    page = browser.authorize(WEB, acr_values=f"phr {MFA_ACR}")
    assert urlsplit(str(page.url)).path == "/login"
    assert "needs you to sign in with a passkey" in page.text
    refused = browser.password("bob")
    assert refused.is_redirect
    query = parse_qs(urlsplit(refused.headers["location"]).query)
    assert query["error"] == ["unmet_authentication_requirements"] and "code" not in query


def test_reset_removes_the_factors(mfa_server: MfaServer, browser: Browser) -> None:
    mfa_server.enroll("bob")
    done = mfa_server.cli("users", "mfa", "reset", "bob")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.splitlines()[-1])["action"] == "factors_reset"
    browser.authorize(WEB)
    browser.password("bob")
    assert browser.tokens(WEB)["id"]["amr"] == ["pwd"]


def test_each_step_takes_only_its_own_form(mfa_server: MfaServer, browser: Browser) -> None:
    """The second step's interaction is refused by the password and consent forms, and
    the password's by the second step: no way around the code."""
    mfa_server.enroll("bob")
    browser.authorize(WEB)
    login_form = browser.form().inputs
    browser.password("bob")
    otp_form = browser.form().inputs
    for path, fields in (
        ("/login", {**otp_form, "username": "bob", "password": PASSWORD}),
        ("/consent", {**otp_form, "decision": "allow"}),
        ("/enroll", {**otp_form, "otp": "123456"}),
        ("/otp", {**login_form, "otp": "123456"}),
    ):
        refused = browser.http.post(path, data=fields)
        assert refused.status_code == 400, (path, refused.status_code)
        assert "code=" not in refused.headers.get("location", "")


def test_the_account_page_enrols_with_csrf_and_guards_a_factor(
    mfa_server: MfaServer, browser: Browser
) -> None:
    http = browser.http
    assert "Sign in first" in http.get("/account/security").text
    browser.authorize(WEB)
    browser.password("gina")
    browser.tokens(WEB)  # signed in with the password alone

    page = http.get("/account/security")
    assert "Two-step verification is off." in page.text
    form = parse(page.text).forms[0]
    csrf = form.inputs["csrf_token"]
    forged = http.post("/account/security", data={"action": "enroll", "csrf_token": "x"})
    assert forged.status_code == 400 and "secret" not in forged.text

    enrol = http.post("/account/security", data={"action": "enroll", "csrf_token": csrf})
    assert enrol.status_code == 200 and "<svg" in enrol.text
    secret = enrol.text.split('id="totp-secret">')[1].split("<")[0]
    confirm = {"action": "confirm", "csrf_token": csrf}
    totp = pyotp.TOTP(secret)
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    refused = http.post("/account/security", data={**confirm, "otp": wrong})
    assert refused.status_code == 400 and secret in refused.text  # the same key again
    done = http.post("/account/security", data={**confirm, "otp": totp.now()})
    assert done.status_code == 200 and "Your authenticator app is set up." in done.text
    assert len(parse(done.text).forms) == 0  # a password-only session may not change it
    assert done.text.count("<li><code>") == 10

    # This session passed the password only: replacing the factor is refused.
    swap = http.post("/account/security", data={"action": "enroll", "csrf_token": csrf})
    assert swap.status_code == 403 and "<svg" not in swap.text
    codes = http.post("/account/security", data={"action": "recovery-codes", "csrf_token": csrf})
    assert codes.status_code == 403
    shown = json.loads(mfa_server.cli("users", "show", "gina", "--json").stdout)
    assert shown["factors"] == {
        "totp": "confirmed",
        "totp_enrolled_at": shown["factors"]["totp_enrolled_at"],
        "recovery_codes_left": 10,
        "passkeys": 0,
    }
