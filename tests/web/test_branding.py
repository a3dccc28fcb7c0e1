"""The operator's logo: served from a fixed URL, an SVG sandboxed so it runs nothing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from starlette.applications import Starlette

from tollhouse.config import load_settings
from tollhouse.errors import ConfigError
from tollhouse.provider import PageSettings
from tollhouse.web import branding

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><script>alert(1)</script></svg>'


async def get_logo(logo: Path) -> httpx.Response:
    app = Starlette(routes=branding.routes())
    pages = PageSettings.from_settings(load_settings(operator_logo=logo), "http://idp.test")
    app.state.provider = SimpleNamespace(pages=pages)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://idp.test") as http:
        return await http.get(branding.LOGO_PATH)


async def test_svg_logo_is_served_sandboxed(tmp_path: Path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text(SVG)
    response = await get_logo(logo)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    csp = response.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp


async def test_a_png_logo_must_be_a_png(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"GIF89a not a png")
    assert (await get_logo(logo)).status_code == 404


@pytest.mark.parametrize("name", ["logo.gif", "missing.png"])
def test_logo_setting_is_checked_at_start_up(tmp_path: Path, name: str) -> None:
    if name.endswith(".gif"):
        (tmp_path / name).write_bytes(b"GIF89a")
    with pytest.raises(ConfigError, match="operator_logo"):
        load_settings(operator_logo=tmp_path / name)


@pytest.mark.parametrize(
    "url", ["http://login.example.test/", "ftp://127.0.0.1/login", "/relative", "https://x/#f"]
)
def test_interaction_urls_are_https_or_loopback(url: str) -> None:
    with pytest.raises(ConfigError, match="login_url"):
        load_settings(login_url=url)
    assert load_settings(login_url="http://127.0.0.1:5000/login").login_url
