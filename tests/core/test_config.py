import os
import subprocess
import sys
from pathlib import Path

import pytest

from kassa.config import ConfigError, load_config


def test_defaults(tmp_path: Path) -> None:
    config = load_config({"KASSA_DATA_DIR": str(tmp_path)})
    assert config.embedded
    assert config.database.name == str(tmp_path / "kassa.sqlite3")
    assert config.base_url == "http://127.0.0.1:8000"
    assert config.email.backend == "console"
    assert not config.debug and not config.allow_private_webhook_urls
    # The secret key is generated once and then reused.
    assert (tmp_path / "secret_key").read_text().strip() == config.secret_key
    assert load_config({"KASSA_DATA_DIR": str(tmp_path)}).secret_key == config.secret_key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_postgres_and_smtp_urls(tmp_path: Path) -> None:
    config = load_config(
        {
            "KASSA_DATA_DIR": str(tmp_path),
            "KASSA_DATABASE_URL": "postgresql://kassa:p%40ss@db.internal:6432/kassa?sslmode=require",
            "KASSA_EMAIL_URL": "smtp+tls://user:secret@mail.example.com:587?from=billing@example.com",
            "KASSA_BASE_URL": "https://pay.example.com/",
            "KASSA_DEBUG": "yes",
            "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS": "1",
            "KASSA_SECRET_KEY": "x" * 40,
        }
    )
    db = config.database
    assert (db.engine, db.user, db.password, db.host, db.port, db.name) == (
        "postgresql",
        "kassa",
        "p@ss",
        "db.internal",
        "6432",
        "kassa",
    )
    assert db.options == {"sslmode": "require"}
    assert not config.embedded
    assert config.email.host == "mail.example.com" and config.email.use_tls
    assert config.email.from_address == "billing@example.com"
    assert config.base_url == "https://pay.example.com"
    assert config.debug and config.allow_private_webhook_urls


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KASSA_DATABASE_URL": "mysql://x/y"}, "KASSA_DATABASE_URL must start with"),
        ({"KASSA_DATABASE_URL": "postgresql://host/"}, "must name a database"),
        ({"KASSA_DEBUG": "maybe"}, "KASSA_DEBUG must be one of"),
        ({"KASSA_BASE_URL": "ftp://x"}, "KASSA_BASE_URL must be"),
        ({"KASSA_EMAIL_URL": "pigeon://x"}, "KASSA_EMAIL_URL must be"),
        ({"KASSA_SECRET_KEY": "short"}, "at least 32 characters"),
        ({"KASSA_ALLOW_PRIVATE_WEBHOOK_URLS": "2"}, "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS must be"),
        ({"KASSA_TRUSTED_PROXIES": "proxy.internal"}, "KASSA_TRUSTED_PROXIES must be"),
        ({"KASSA_TRUSTED_PROXIES": "*"}, "KASSA_TRUSTED_PROXIES must be"),
        ({"KASSA_TRUSTED_PROXIES": "10.0.0.0/33"}, "KASSA_TRUSTED_PROXIES must be"),
    ],
)
def test_bad_configuration_is_one_sentence(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({"KASSA_DATA_DIR": str(tmp_path), **env})


def test_cli_reports_bad_configuration_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "KASSA_DATA_DIR": str(tmp_path), "KASSA_DEBUG": "maybe"}
    env.pop("KASSA_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "kassa", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("kassa: KASSA_DEBUG must be one of")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_reports_unreachable_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KASSA_DATA_DIR": str(tmp_path),
        "KASSA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/kassa",
    }
    result = subprocess.run(
        [sys.executable, "-m", "kassa", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("kassa: Cannot use the database at 127.0.0.1:1")


def test_no_proxy_is_trusted_unless_configured(tmp_path: Path) -> None:
    assert load_config({"KASSA_DATA_DIR": str(tmp_path)}).trusted_proxies == ()
    assert (
        load_config(
            {"KASSA_DATA_DIR": str(tmp_path), "KASSA_TRUSTED_PROXIES": " , "}
        ).trusted_proxies
        == ()
    )


def test_trusted_proxies_are_addresses_and_networks_in_normal_form(tmp_path: Path) -> None:
    config = load_config(
        {
            "KASSA_DATA_DIR": str(tmp_path),
            "KASSA_TRUSTED_PROXIES": " 10.0.0.5, 10.1.2.3/16 ,fd00:0::1,fd00::/8,10.0.0.5",
        }
    )
    assert config.trusted_proxies == ("10.0.0.5", "10.1.0.0/16", "fd00::1", "fd00::/8")
