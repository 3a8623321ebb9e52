import os
import subprocess

import pytest

from services.core.settings import ConfigError, load_settings
from tests.processes import pulse_command


def test_it_uses_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PULSE_"):
            monkeypatch.delenv(name)
    s = load_settings()
    assert s.database_url == "postgresql://pulse:pulse@127.0.0.1:5432/pulse"
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert (s.api_port, s.gateway_port, s.app_events_port) == (8080, 8081, 8082)
    assert s.timezone == "Asia/Ho_Chi_Minh"
    assert s.unit_set == "2024"
    assert (s.outage_ratio, s.outage_min_cameras, s.outage_window_s) == (0.5, 3, 120)
    assert (s.alert_group_wait_s, s.alert_repeat_s) == (30, 14_400)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PULSE_KAFKA_BOOTSTRAP", "nonsense"),
        ("PULSE_KAFKA_BOOTSTRAP", "host:99999"),
        ("PULSE_DATABASE_URL", "mysql://x@y/z"),
        ("PULSE_API_PORT", "eighty"),
        ("PULSE_GATEWAY_PORT", "70000"),
        ("PULSE_TIMEZONE", "Mars/Olympus"),
        ("PULSE_OUTAGE_RATIO", "1.5"),
        ("PULSE_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert message.startswith(f"configuration error: {variable}=")
    assert "\n" not in message


def test_an_unknown_pulse_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_KAFKA_BOOTSTRAPS", "127.0.0.1:9092")
    with pytest.raises(ConfigError, match="PULSE_KAFKA_BOOTSTRAPS: unknown variable"):
        load_settings()


def test_the_database_password_is_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_DATABASE_URL", "postgresql://pulse:hunter2@127.0.0.1:notaport/pulse")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "hunter2" not in str(err.value)
    assert "PULSE_DATABASE_URL" in str(err.value)


def test_a_secret_can_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret-key\n")
    monkeypatch.setenv("PULSE_PSEUDONYM_KEY_FILE", str(secret))
    s = load_settings()
    assert s.pseudonym_key is not None and s.pseudonym_key.get_secret_value() == "s3cret-key"


def test_a_non_secret_cannot_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PULSE_API_PORT_FILE", str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="PULSE_API_PORT_FILE: only secrets"):
        load_settings()


def test_the_cli_fails_at_start_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_KAFKA_BOOTSTRAP", "nonsense")
    result = subprocess.run(
        pulse_command("api"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["configuration error: PULSE_KAFKA_BOOTSTRAP='nonsense': expected host:port[,host:port…]"]
