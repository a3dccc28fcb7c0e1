"""The interaction API in a real browser, across sites: the operator's login app runs
on ``localhost`` and the IdP on ``127.0.0.1`` (two sites), so the return through
``redirect_to`` must carry the IdP's ``SameSite=Lax`` cookie the way Chromium does."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.browser.conftest import Callbacks, Idp, _recorder, _seed
from tests.e2e.conftest import TOLLHOUSE, free_port, start_server, stop
from tests.e2e.test_interaction_api import ONE_TIME_CODE, login_app


@pytest.fixture(scope="module")
def idp_with_login_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    callbacks = Callbacks("")
    recorder = ThreadingHTTPServer(("127.0.0.1", 0), _recorder(callbacks))
    callbacks.base = f"http://127.0.0.1:{recorder.server_address[1]}"
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    data_dir: Path = tmp_path_factory.mktemp("browser-interaction")
    asyncio.run(_seed(f"sqlite:///{data_dir / 'tollhouse.db'}", callbacks.base))
    created = subprocess.run(
        [str(TOLLHOUSE), "admin-token", "create", "--json", "--data-dir", str(data_dir)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    token = json.loads(created.stdout)["token"]
    idp_port, app_port = free_port(), free_port()
    idp = f"http://127.0.0.1:{idp_port}"
    app_server = uvicorn.Server(
        uvicorn.Config(login_app(idp, token), host="127.0.0.1", port=app_port,
                       log_level="warning", lifespan="off", ws="none")
    )  # fmt: skip
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    process, _ = start_server(
        data_dir, idp_port, env={"TOLLHOUSE_LOGIN_URL": f"http://localhost:{app_port}/login"}
    )
    deadline = time.monotonic() + 10
    while not app_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield Idp(idp, callbacks)
    finally:
        stop(process)
        app_server.should_exit = True
        thread.join(10)
        recorder.shutdown()
        recorder.server_close()


def test_operators_login_app_signs_the_user_in_across_sites(
    idp_with_login_app: Idp, browser: Any
) -> None:
    idp = idp_with_login_app
    context = browser.new_context()
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(idp.authorize_url("app-a"))
        page.wait_for_url("http://localhost:*/login?interaction=**")
        page.fill("input[name=username]", "dana")
        page.fill("input[name=code]", ONE_TIME_CODE)
        page.locator("form").evaluate("form => form.submit()")
        # Back at the IdP through redirect_to: signed in, now our own consent page.
        page.wait_for_url(f"{idp.base}/consent?interaction=**")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(f"{idp.callbacks.base}/app-a/cb?**")
        result = idp.callbacks.last("/app-a/cb")
        assert "code" in result and result["state"] == "state-app-a"
        # The session serves the next request without the login app.
        page.goto(idp.authorize_url("app-a", prompt="none"))
        page.wait_for_url(f"{idp.callbacks.base}/app-a/cb?**")
        assert "code" in idp.callbacks.last("/app-a/cb")
    finally:
        context.close()
