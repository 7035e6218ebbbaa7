"""Acceptance: the unmodified pyhandle REST client against a running node (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
import requests
from pyhandle import utilhandle
from pyhandle.handleclient import PyHandleClient
from pyhandle.handleexceptions import HandleAlreadyExistsException, HandleAuthenticationError

from tests.conftest import Server
from tests.http.helpers import onboard


def _onboard(server: Server) -> tuple[str, str]:
    async def run() -> tuple[str, str]:
        async with aiohttp.ClientSession() as session:
            prefix, credentials = await onboard(session, server)
        return prefix, credentials.secret

    return asyncio.run(run())


def test_pyhandle_round_trip(node: Server) -> None:
    prefix, secret = _onboard(node)
    username = f"300:{prefix}/ADMIN"
    client = PyHandleClient("rest").instantiate_with_username_and_password(
        node.url, username, secret, HTTPS_verify=False
    )
    handle = f"{prefix}/PUMP-2026-000123"

    # register (pyhandle checks absence first, then PUTs with overwrite=false)
    assert client.register_handle(handle, "https://example.com/pump/123", CHECKSUM="sha256:abc") == handle
    with pytest.raises(HandleAlreadyExistsException):
        client.register_handle(handle, "https://example.com/other")

    # retrieve
    record = client.retrieve_handle_record(handle)
    assert record["URL"] == "https://example.com/pump/123"
    assert record["CHECKSUM"] == "sha256:abc"
    assert "HS_ADMIN" in record
    assert record["HS_SIGNATURE"].count(".") == 2  # the node's signature (a compact JWS) reads as a value
    assert client.get_value_from_handle(handle, "URL") == "https://example.com/pump/123"

    # modify a value, and add one
    client.modify_handle_value(handle, URL="https://example.com/pump/123-v2", LOT="B-7")
    assert client.get_value_from_handle(handle, "URL") == "https://example.com/pump/123-v2"
    assert client.get_value_from_handle(handle, "LOT") == "B-7"

    # delete a value
    client.delete_handle_value(handle, "CHECKSUM")
    record = client.retrieve_handle_record(handle)
    assert "CHECKSUM" not in record
    assert record["URL"] == "https://example.com/pump/123-v2" and "HS_SIGNATURE" in record

    # list the prefix's handles with the same credentials pyhandle sends
    token = utilhandle.create_authentication_string(username, secret)
    listing = requests.get(
        f"{node.url}/api/handles",
        params={"prefix": prefix},
        headers={"Authorization": f"Basic {token}"},
        timeout=10,
    ).json()
    assert handle in listing["handles"] and listing["totalCount"] == "2"

    # delete the handle
    client.delete_handle(handle)
    assert client.retrieve_handle_record(handle) is None


def test_pyhandle_with_wrong_secret_is_refused(node: Server) -> None:
    prefix, _secret = _onboard(node)
    client = PyHandleClient("rest").instantiate_with_username_and_password(
        node.url, f"300:{prefix}/ADMIN", "wrong-secret", HTTPS_verify=False
    )
    with pytest.raises(HandleAuthenticationError):
        client.register_handle(f"{prefix}/X-1", "https://example.com/x")
    assert (
        PyHandleClient("rest")
        .instantiate_for_read_access(handle_server_url=node.url)
        .retrieve_handle_record(f"{prefix}/X-1")
        is None
    )
