"""The ``idnode`` command, run as a separate process the way an operator runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from idnode.sample import make_uscc
from tests.conftest import Server, free_port, run_cli


def _add_command(data_dir: Path, name: str, uscc: str) -> list[str]:
    return [
        "enterprise",
        "add",
        "--data-dir",
        str(data_dir),
        "--name",
        name,
        "--uscc",
        uscc,
        "--district",
        "射阳县",
        "--industry",
        "纺织业",
    ]


def _add(data_dir: Path, serial: int, *extra: str) -> dict:
    return json.loads(
        run_cli(*_add_command(data_dir, f"企业{serial}", make_uscc(serial)), "--json", *extra).stdout
    )


def test_init_prints_the_operator_credential_once(tmp_path: Path) -> None:
    first = json.loads(run_cli("init", "--data-dir", str(tmp_path), "--json").stdout)
    assert first["created"] and first["operator"]["username"] == "300:0.NA/88.999"
    assert len(first["operator"]["secret"]) >= 24
    again = json.loads(run_cli("init", "--data-dir", str(tmp_path), "--json").stdout)
    assert not again["created"] and again["operator"]["secret"] is None
    assert (tmp_path / "idnode.db").is_file()
    table = run_cli("init", "--data-dir", str(tmp_path / "other"), "--node-prefix", "88.118").stdout
    assert "300:0.NA/88.118" in table


def test_serve_creating_the_node_keeps_the_operator_secret_out_of_its_log(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idnode.cli",
                "serve",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/api/node", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and process.poll() is None, log.read_text()
                time.sleep(0.1)
        assert answer.status_code == 200
        kept = tmp_path / "data" / "operator-credential"
        assert kept.stat().st_mode & 0o777 == 0o600
        username, secret = (line.split(": ", 1)[1] for line in kept.read_text().splitlines())
        assert username == "300:0.NA/88.999" and len(secret) >= 24
        assert secret not in log.read_text() and str(kept) in log.read_text()
        operator = (username.replace(":", "%3A", 1), secret)
        stats = requests.get(f"http://127.0.0.1:{port}/api/enterprises", auth=operator, timeout=10)
        assert stats.status_code == 200  # the kept secret is the operator's
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_enterprise_lifecycle(tmp_path: Path) -> None:
    added = _add(tmp_path, 1, "--contact-name", "李经理")
    prefix = added["enterprise"]["prefix"]
    assert prefix == "88.999.1001" and added["admin"]["username"] == "300:88.999.1001/ADMIN"
    _add(tmp_path, 2)
    listed = json.loads(run_cli("enterprise", "list", "--data-dir", str(tmp_path), "--json").stdout)
    assert [e["prefix"] for e in listed] == ["88.999.1001", "88.999.1002"]
    assert "88.999.1002" in run_cli("enterprise", "list", "--data-dir", str(tmp_path)).stdout
    shown = json.loads(run_cli("enterprise", "show", prefix, "--data-dir", str(tmp_path), "--json").stdout)
    assert shown["contact_name"] == "李经理"
    suspended = json.loads(
        run_cli("enterprise", "suspend", prefix, "--data-dir", str(tmp_path), "--json").stdout
    )
    assert suspended["status"] == "suspended"
    active = json.loads(
        run_cli("enterprise", "activate", prefix, "--data-dir", str(tmp_path), "--json").stdout
    )
    assert active["status"] == "active"
    reset = json.loads(
        run_cli("enterprise", "reset-secret", prefix, "--data-dir", str(tmp_path), "--json").stdout
    )
    assert reset["secret"] != added["admin"]["secret"]
    stats = json.loads(run_cli("stats", "--data-dir", str(tmp_path), "--json").stdout)
    assert stats["enterprises"]["total"] == 2 and stats["target"]["enterprises"] == 3500
    rows = run_cli("stats", "--data-dir", str(tmp_path), "--csv").stdout.lstrip("\ufeff").splitlines()
    assert rows[0] == "figure,value" and "enterprises.total,2" in rows and "target.enterprises,3500" in rows


def test_errors_exit_non_zero_with_a_message(tmp_path: Path) -> None:
    bad = run_cli(*_add_command(tmp_path, "x", "91320900MA1M000012"), check=False)
    assert bad.returncode == 2 and "unified social credit code" in bad.stderr
    _add(tmp_path, 5)
    duplicate = run_cli(*_add_command(tmp_path, "y", make_uscc(5)), check=False)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    missing = run_cli("enterprise", "show", "88.999.4242", "--data-dir", str(tmp_path), check=False)
    assert missing.returncode == 2 and "No enterprise" in missing.stderr


def test_resolve_locally_and_through_a_server(sqlite_server: Server) -> None:
    added = _add(sqlite_server.data_dir, 9)
    prefix, admin = added["enterprise"]["prefix"], added["admin"]
    handle = f"{prefix}/VALVE-1"
    response = requests.put(
        f"{sqlite_server.url}/api/handles/{handle}",
        json=[{"index": 1, "type": "URL", "data": "https://example.com/valve"}],
        auth=(admin["username"].replace(":", "%3A", 1), admin["secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    remote = json.loads(run_cli("resolve", handle, "--server", sqlite_server.url, "--json").stdout)
    local = json.loads(run_cli("resolve", handle, *sqlite_server.cli_args(), "--json").stdout)
    assert remote == local and remote["values"][0]["data"]["value"] == "https://example.com/valve"
    assert "https://example.com/valve" in run_cli("resolve", handle, "--server", sqlite_server.url).stdout
    absent = run_cli("resolve", f"{prefix}/NOPE", "--server", sqlite_server.url, check=False)
    assert absent.returncode == 1 and '"responseCode": 100' in absent.stdout


def test_demo_serves_sample_data(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idnode.cli",
                "demo",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "demo"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"COLUMNS": "300", "PATH": "/usr/bin"},
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "serving on" not in log.read_text():
            time.sleep(0.1)
        text = log.read_text()
        url = re.search(r"curl (http://\S+/api/handles/\S+)", text)
        assert url, text
        record = requests.get(url.group(1), timeout=10).json()
        assert record["responseCode"] == 1 and record["values"][0]["type"] == "URL"
        # The printed write command works as shown.
        put = re.search(r"curl -u '([^']+)' -X PUT .* -d '([^']+)' '([^']+)'", text)
        assert put, text
        user, secret = put.group(1).rsplit(":", 1)
        created = requests.put(
            put.group(3),
            data=put.group(2),
            auth=(user, secret),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
    finally:
        demo.terminate()
        demo.wait(timeout=10)


def test_templates_list_show_add_and_delete(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    listed = json.loads(run_cli("templates", "list", *data, "--json").stdout)
    assert [(t["name"], t["versions"]) for t in listed][:2] == [("auto-part", [1]), ("generic-product", [1])]
    assert "光伏组件" in run_cli("templates", "list", *data).stdout
    shown = json.loads(run_cli("templates", "show", "solar-module", *data).stdout)
    assert shown["ref"] == "solar-module@1" and shown["document"]["x-title-en"] == "Photovoltaic module"
    document = shown["document"]
    document["$id"], document["x-version"] = "urn:idnode:template:solar-module:2", 2
    path = tmp_path / "solar-module-2.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    added = json.loads(run_cli("templates", "add", str(path), *data, "--json").stdout)
    assert added["ref"] == "solar-module@2"
    again = run_cli("templates", "add", str(path), *data, check=False)
    assert again.returncode == 2 and "next version is 3" in again.stderr
    assert json.loads(run_cli("templates", "show", "solar-module@1", *data).stdout)["version"] == 1
    assert "Deleted template solar-module@2" in run_cli("templates", "delete", "solar-module@2", *data).stdout
    gone = run_cli("templates", "show", "solar-module@2", *data, check=False)
    assert gone.returncode == 2 and "No template solar-module@2" in gone.stderr
    for bad in (["show", "solar-module@x"], ["add", str(tmp_path / "missing.json")]):
        assert run_cli("templates", *bad, *data, check=False).returncode == 2


def test_dns_name(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert run_cli("dns-name", "88.999.1001/PUMP-7", *data).stdout == "_pump-7.1001.999.88.idnode.test.\n"
    named = run_cli("dns-name", "88.999.1001/Lot-7", "--dns-zone", "id.example.com", *data).stdout
    assert named == "_1_jrxxiljx.1001.999.88.id.example.com.\n"
    too_long = run_cli("dns-name", "88.999.1001/" + "Ab" * 120, *data, check=False)
    assert too_long.returncode == 2 and "over 255 octets" in too_long.stderr
