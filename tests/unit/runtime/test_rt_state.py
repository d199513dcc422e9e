"""var/shifterConfig.json: upstream's exact bytes and the reuse check."""
from __future__ import annotations

import pytest

from shifter_runtime.modules import modules_signature
from shifter_runtime.state import ContainerState, matches, parse_state
from shifter_runtime.volumes import parse_volumes, volume_signature

pytestmark = pytest.mark.unit


def test_exact_bytes_empty_volumes_and_modules():
    state = ContainerState("abc123", "alice")
    assert state.to_bytes() == (
        b'{"identifier":"abc123","user":"alice","volMap":"","modules":""}')


def test_exact_bytes_with_volumes_and_modules():
    sig = volume_signature(parse_volumes("/c:/d;/a:/b:ro"))
    state = ContainerState("f00", "bob", sig, modules_signature(["mpich",
                                                                  "cvmfs"]))
    assert state.to_json() == (
        '{"identifier":"f00","user":"bob","volMap":"/a:/b:ro;/c:/d",'
        '"modules":"mpich,cvmfs,"}')


def test_quotes_escaped_as_json():
    assert ContainerState('a"b', "c\\d").to_json() == (
        '{"identifier":"a\\"b","user":"c\\\\d","volMap":"","modules":""}')
    assert parse_state(ContainerState('a"b\n', "u").to_bytes()) == \
        ContainerState('a"b\n', "u")


def test_parse_round_trip():
    state = ContainerState("id1", "u", "/a:/b", "m,")
    assert parse_state(state.to_bytes()) == state


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"identifier":"x"}',
                                  b'{"identifier":1,"user":"u","volMap":"",'
                                  b'"modules":""}', b"\xff"])
def test_parse_rejects_malformed(data):
    assert parse_state(data) is None


def test_matches_exact_and_newline():
    request = ContainerState("abc", "alice")
    assert matches(request.to_bytes(), request)
    assert matches(request.to_json() + "\n", request)


@pytest.mark.parametrize("other", [
    ContainerState("abd", "alice"), ContainerState("abc", "bob"),
    ContainerState("abc", "alice", "/a:/b"),
    ContainerState("abc", "alice", "", "m,"),
])
def test_matches_any_difference_refused(other):
    assert not matches(ContainerState("abc", "alice").to_bytes(), other)


def test_matches_missing_state():
    assert not matches(None, ContainerState("abc", "alice"))
    assert not matches(b"", ContainerState("abc", "alice"))
