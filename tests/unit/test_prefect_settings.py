"""The ``[prefect]`` section: the installation server's idle stop and retention, the alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import ConfigError, load_settings


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(body)
    return path


def test_defaults_and_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(None).prefect
    assert (defaults.idle_stop_minutes, defaults.keep_days) == (60, 30)
    assert not defaults.alert_block and not defaults.alert_webhook_url.get_secret_value()
    config = _config(
        tmp_path,
        '[prefect]\nidle_stop_minutes = 0\nkeep_days = 7\nalert_block = "slack-webhook/ops"\n',
    )
    settings = load_settings(config).prefect
    assert (settings.idle_stop_minutes, settings.keep_days) == (0, 7)
    assert settings.alert_block == "slack-webhook/ops"
    monkeypatch.setenv("CALLSYNC_PREFECT__KEEP_DAYS", "3")
    assert load_settings(config).prefect.keep_days == 3


def test_the_webhook_url_is_a_secret(tmp_path: Path) -> None:
    url = "https://hooks.slack.com/services/T0/B0/secret-token"
    settings = load_settings(_config(tmp_path, f'[prefect]\nalert_webhook_url = "{url}"\n'))
    assert settings.prefect.alert_webhook_url.get_secret_value() == url
    assert "secret-token" not in repr(settings) and "secret-token" not in str(settings.prefect)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('alert_webhook_url = "hooks.slack.com/x"', "'prefect.alert_webhook_url': must be an http"),
        ('alert_block = "my ops block"', "'prefect.alert_block': name a notification block"),
        (
            'alert_block = "slack-webhook/ops"\nalert_webhook_url = "https://x.test/h"',
            "set alert_webhook_url or alert_block, not both",
        ),
        ("keep_days = -1", "'prefect.keep_days'"),
        ("idle_stop = 5", "unknown key 'prefect.idle_stop'"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path, f"[prefect]\n{body}\n"))
    assert message in str(err.value)
