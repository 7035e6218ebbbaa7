"""Settings precedence and coercion (idnode/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idnode.config import Settings, load_settings
from idnode.model.enterprise import YANCHENG_DISTRICTS
from idnode.model.errors import InvalidHandle


def write_toml(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(
    data_dir: Path, flags: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    return load_settings({"data_dir": data_dir, **(flags or {})}, environ=environ or {})


def test_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings == Settings(data_dir=tmp_path)
    assert settings.node_prefix == "88.999"
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.districts == YANCHENG_DISTRICTS
    assert settings.target_enterprises == 3500
    assert settings.public_stats is False
    assert settings.config_file is None
    assert settings.db_url.startswith("sqlite+aiosqlite:///")
    assert settings.db_url.endswith(str((tmp_path / "idnode.db").resolve()))


def test_no_arguments_reads_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IDNODE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IDNODE_PORT", "8123")
    settings = load_settings()
    assert settings.port == 8123
    assert settings.data_dir == tmp_path


def test_file_in_data_dir(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "idnode.toml", 'port = 9001\nnode_prefix = "88.118"\n')
    settings = load(tmp_path)
    assert settings.port == 9001
    assert settings.node_prefix == "88.118"
    assert settings.host == "127.0.0.1"  # untouched keys keep their defaults
    assert settings.config_file == path


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    write_toml(tmp_path / "idnode.toml", 'port = 9001\nhost = "10.0.0.1"\ndb = "sqlite+aiosqlite:///f.db"\n')
    env = {"IDNODE_PORT": "9002", "IDNODE_HOST": "10.0.0.2"}
    settings = load(tmp_path, {"port": 9003}, env)
    assert settings.port == 9003  # flag
    assert settings.host == "10.0.0.2"  # environment
    assert settings.db == "sqlite+aiosqlite:///f.db"  # file
    assert settings.max_page_size == 1000  # default
    assert settings.db_url == "sqlite+aiosqlite:///f.db"


def test_flags_that_are_none_fall_through(tmp_path: Path) -> None:
    write_toml(tmp_path / "idnode.toml", "port = 9001\n")
    settings = load(tmp_path, {"port": None, "host": None, "db": None}, {"IDNODE_HOST": "10.0.0.2"})
    assert settings.port == 9001
    assert settings.host == "10.0.0.2"
    assert settings.db == ""


def test_unrelated_flags_are_ignored(tmp_path: Path) -> None:
    settings = load(tmp_path, {"json": True, "command": "serve"})
    assert settings == Settings(data_dir=tmp_path)


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={"IDNODE_NOPE": "1", "PORT": "1", "idnode_port": "2"})
    assert settings.port == 8000


def test_explicit_config_flag(tmp_path: Path) -> None:
    write_toml(tmp_path / "data" / "idnode.toml", "port = 1111\n")
    other = write_toml(tmp_path / "elsewhere.toml", "port = 2222\n")
    settings = load(tmp_path / "data", {"config": other})
    assert settings.port == 2222
    assert settings.config_file == other


def test_config_from_environment_and_flag_wins(tmp_path: Path) -> None:
    env_file = write_toml(tmp_path / "env.toml", "port = 3333\n")
    flag_file = write_toml(tmp_path / "flag.toml", "port = 4444\n")
    assert load(tmp_path / "d", environ={"IDNODE_CONFIG": str(env_file)}).port == 3333
    settings = load(tmp_path / "d", {"config": flag_file}, {"IDNODE_CONFIG": str(env_file)})
    assert settings.port == 4444
    assert settings.config_file == flag_file


def test_data_dir_from_environment_locates_the_file(tmp_path: Path) -> None:
    write_toml(tmp_path / "envdir" / "idnode.toml", "port = 5555\n")
    settings = load_settings({}, environ={"IDNODE_DATA_DIR": str(tmp_path / "envdir")})
    assert settings.data_dir == tmp_path / "envdir"
    assert settings.port == 5555
    # a data_dir flag beats the environment, so that directory's (absent) file is used instead
    assert load(tmp_path / "flagdir", environ={"IDNODE_DATA_DIR": str(tmp_path / "envdir")}).port == 8000


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "idnode.toml", "port = 9001\nprot = 9002\nzzz = 1\n")
    with pytest.raises(ValueError, match="unknown setting") as info:
        load(tmp_path)
    assert "prot, zzz" in str(info.value)
    assert str(path) in str(info.value)


def test_config_file_key_is_not_a_setting(tmp_path: Path) -> None:
    write_toml(tmp_path / "idnode.toml", 'config_file = "x.toml"\n')
    with pytest.raises(ValueError, match="config_file"):
        load(tmp_path)


def test_malformed_toml_is_an_error(tmp_path: Path) -> None:
    write_toml(tmp_path / "idnode.toml", "port = = 1\n")
    with pytest.raises(ValueError):  # tomllib.TOMLDecodeError is a ValueError
        load(tmp_path)


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises((FileNotFoundError, ValueError)):
        load(tmp_path, {"config": tmp_path / "typo.toml"})


# --- coercion -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_env_bool_true(tmp_path: Path, raw: str) -> None:
    assert load(tmp_path, environ={"IDNODE_PUBLIC_STATS": raw}).public_stats is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", "", "maybe"])
def test_env_bool_false(tmp_path: Path, raw: str) -> None:
    assert load(tmp_path, environ={"IDNODE_PUBLIC_STATS": raw}).public_stats is False


def test_file_and_flag_bools(tmp_path: Path) -> None:
    write_toml(tmp_path / "idnode.toml", "public_stats = true\n")
    assert load(tmp_path).public_stats is True
    assert load(tmp_path, {"public_stats": False}).public_stats is False
    assert load(tmp_path, environ={"IDNODE_PUBLIC_STATS": "false"}).public_stats is False


def test_int_coercion(tmp_path: Path) -> None:
    env = {"IDNODE_TARGET_ENTERPRISES": " 4000 ", "IDNODE_MAX_PAGE_SIZE": "50"}
    settings = load(tmp_path, {"port": "8081"}, env)
    assert settings.port == 8081
    assert settings.target_enterprises == 4000
    assert settings.max_page_size == 50
    with pytest.raises(ValueError):
        load(tmp_path, environ={"IDNODE_PORT": "eighty"})


def test_tuple_coercion(tmp_path: Path) -> None:
    env = {"IDNODE_DISTRICTS": " 东台市, 建湖县,,  "}
    assert load(tmp_path, environ=env).districts == ("东台市", "建湖县")
    write_toml(tmp_path / "idnode.toml", 'districts = ["A", " B ", ""]\n')
    assert load(tmp_path).districts == ("A", "B")
    assert load(tmp_path, {"districts": ["C"]}).districts == ("C",)
    assert load(tmp_path, environ=env).districts == ("东台市", "建湖县")


def test_path_coercion(tmp_path: Path) -> None:
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.data_dir == tmp_path
    assert isinstance(settings.data_dir, Path)


# --- node prefix --------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["88 999", "", "88..999", "88/999", "x" * 65])
def test_invalid_node_prefix_raises(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(InvalidHandle):
        load(tmp_path, {"node_prefix": prefix})
    with pytest.raises(InvalidHandle):
        load(tmp_path, environ={"IDNODE_NODE_PREFIX": prefix})


def test_invalid_node_prefix_in_file_raises(tmp_path: Path) -> None:
    write_toml(tmp_path / "idnode.toml", 'node_prefix = "not a prefix"\n')
    with pytest.raises(InvalidHandle):
        load(tmp_path)


def test_node_prefix_canonical(tmp_path: Path) -> None:
    settings = load(tmp_path, {"node_prefix": "88.ABC"})
    assert settings.node_prefix == "88.ABC"
    assert settings.node_prefix_canonical == "88.abc"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load(tmp_path)
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_dns_settings(tmp_path: Path) -> None:
    assert load(tmp_path).dns_address is None and load(tmp_path).http is True
    assert load(tmp_path, {"dns": "127.0.0.1:5353"}).dns_address == ("127.0.0.1", 5353)
    assert load(tmp_path, environ={"IDNODE_DNS": "[::1]:53"}).dns_address == ("::1", 53)
    assert load(tmp_path, environ={"IDNODE_HTTP": "false"}).http is False
    assert load(tmp_path, {"dns_zone": "id.example.com"}).dns_zone == "id.example.com"
    for flags in ({"dns": "127.0.0.1"}, {"dns": "127.0.0.1:99999"}, {"dns": ":53"}):
        with pytest.raises(ValueError, match="HOST:PORT"):
            load(tmp_path, flags)
    with pytest.raises(ValueError, match="not a DNS name"):
        load(tmp_path, {"dns_zone": "a..b"})


def test_federation_settings(tmp_path: Path) -> None:
    settings = load(tmp_path, {"port": 8123})
    assert settings.base_url == "http://127.0.0.1:8123" and not settings.federated
    settings = load(
        tmp_path, environ={"IDNODE_PUBLIC_URL": "https://node.example/", "IDNODE_DISCOVERY": "dns"}
    )
    assert settings.base_url == "https://node.example"
    assert not settings.federated  # DNS discovery without a zone looks nothing up
    settings = load(tmp_path, {"upper_node": "http://top.example", "resolution_mode": "recursive"})
    assert settings.federated and settings.discovery_sources == ("upper",)
    assert load(tmp_path, {"discovery": "both", "discovery_zone": "idis.test"}).federated
    with pytest.raises(ValueError, match="resolution_mode"):
        load(tmp_path, {"resolution_mode": "forward"})
    with pytest.raises(ValueError, match="discovery"):
        load(tmp_path, {"discovery": "ldap"})
