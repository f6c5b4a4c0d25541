"""connect(): base URL resolution (templates are sensitive), API key only from its env var."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive_deploy.client import connect, resolve_base_url
from adaptive_deploy.client.platform import GraphQLPlatform
from adaptive_deploy.config.models import PlatformConfig
from adaptive_deploy.errors import AuthError, ConfigError, PlatformUnavailable

SECRET_HOST = "http://127.0.0.1:9/very-secret-path"


def test_base_url_literal_from_config() -> None:
    assert resolve_base_url("https://a.example", {}) == ("https://a.example", False, "https://a.example")


def test_base_url_template_is_resolved_and_sensitive() -> None:
    url, sensitive, label = resolve_base_url("${env:PLATFORM_URL}", {"PLATFORM_URL": SECRET_HOST})
    assert url == SECRET_HOST and sensitive
    assert SECRET_HOST not in label and "PLATFORM_URL" in label


def test_base_url_template_missing_var_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"PLATFORM_URL.*not set"):
        resolve_base_url("${env:PLATFORM_URL}", {})


def test_base_url_from_environment_then_embedded() -> None:
    assert resolve_base_url(None, {"ADAPTIVE_BASE_URL": "http://h:1"})[0] == "http://h:1"
    assert resolve_base_url(None, {})[0] is None


def test_missing_key_names_the_env_var(tmp_path: Path) -> None:
    cfg = PlatformConfig(base_url="https://a.example", api_key_env="TEAM_KEY")
    with pytest.raises(AuthError, match=r"\$TEAM_KEY"):
        connect(cfg, tmp_path, env={"ADAPTIVE_API_KEY": "not-this-one"})


def test_bad_scheme_hides_sensitive_url(tmp_path: Path) -> None:
    cfg = PlatformConfig(base_url="${env:U}")
    with pytest.raises(ConfigError) as info:
        connect(cfg, tmp_path, env={"U": "ftp://hidden-host", "ADAPTIVE_API_KEY": "k"})
    assert "hidden-host" not in str(info.value)


async def test_remote_connect_uses_key_from_env_and_hides_template_url(tmp_path: Path) -> None:
    # Port 9 (discard) on loopback: nothing listens, so the connection is refused quickly.
    cfg = PlatformConfig(base_url="${env:U}", max_retries=0, request_timeout_s=2)
    platform = connect(cfg, tmp_path, env={"U": SECRET_HOST, "ADAPTIVE_API_KEY": "sk-zzz-123"})
    assert isinstance(platform, GraphQLPlatform) and platform.notice is None
    with pytest.raises(PlatformUnavailable) as info:
        await platform.read_live()
    assert "very-secret-path" not in str(info.value)
    assert "sk-zzz-123" not in repr(platform)
    assert platform.request_count == 1
    await platform.aclose()
    assert not (tmp_path / ".adaptive-deploy").exists(), "remote use creates no local platform"
