"""The local registries answer the Docker v2 API, with and without auth."""
from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


def test_open_registry_answers_v2(registry):
    assert (registry.host, registry.url) == ("127.0.0.1:5000", "http://127.0.0.1:5000")
    resp = requests.get(f"{registry.url}/v2/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"


def test_auth_registry_wants_basic_credentials(registry_auth):
    assert registry_auth.host == "127.0.0.1:5001"
    anon = requests.get(f"{registry_auth.url}/v2/", timeout=5)
    assert anon.status_code == 401
    assert anon.headers["Www-Authenticate"].startswith("Basic realm=")
    wrong = requests.get(f"{registry_auth.url}/v2/", auth=("labuser", "nope"), timeout=5)
    assert wrong.status_code == 401
    good = requests.get(f"{registry_auth.url}/v2/", auth=(registry_auth.username, registry_auth.password), timeout=5)
    assert good.status_code == 200
