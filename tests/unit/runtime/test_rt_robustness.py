"""Garbage in, one-line ShifterError out: every parser, fed seeded random
input built from the characters that matter to it, either succeeds or raises
a ShifterError whose message is one line -- never another exception."""
from __future__ import annotations

import random

import pytest

from shifter_runtime.config import parse_config
from shifter_runtime.environment import parse_env_file
from shifter_runtime.errors import ShifterError
from shifter_runtime.imagespec import parse_descriptor
from shifter_runtime.meta import ImageMeta, format_meta, parse_meta
from shifter_runtime.modules import parse_selection
from shifter_runtime.options import parse_options
from shifter_runtime.volumes import parse_volumes

pytestmark = pytest.mark.unit

ROUNDS = 400
BASE = ("udiMount=/u\nloopMount=/l\nimagePath=/i\nudiRootPath=/r\n"
        "etcPath=/e\nrootfsType=tmpfs\n")


def garbage(rng: random.Random, alphabet: str, longest: int = 24) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0,
                                                                   longest)))


def check(call, text) -> None:
    try:
        call(text)
    except ShifterError as err:
        message = str(err)
        assert message and "\n" not in message, repr(text)


@pytest.mark.parametrize("call, alphabet", [
    (parse_volumes, "/:;\"a.-rRoOe=,1kGperNodeCachesizbfx "),
    (lambda t: parse_volumes(t, site=True), "/:;\"a.ec rslaveprivto"),
    (lambda t: parse_descriptor(t, "docker", True), "dockerlal:/id.@ *+"),
    (lambda t: parse_descriptor(t, None), "customid:x/"),
    (lambda t: parse_selection(t, source="--module"), "a,b none"),
    (lambda t: parse_env_file(t.encode("latin-1"), "f"), "A=\n# '\"b\x00\xff"),
    (lambda t: parse_meta(t, "m"), "FORMAT:squash ENTRYCMD['u\\,]x\nUSERACL1"),
    (lambda t: parse_config(BASE + t, "c"),
     "siteFs=/:;module_a_conflictenabled01\\\n# siteEnv=X"),
])
def test_parsers_fail_cleanly(call, alphabet):
    rng = random.Random(alphabet)
    for _ in range(ROUNDS):
        check(call, garbage(rng, alphabet))


def test_option_parser_fails_cleanly():
    rng = random.Random(7)
    words = ["-", "--", "-i", "-V", "-vE", "-w", "-w/x", "--image", "--im=",
             "--entrypoint", "--entry=/e", "--env", "-eA=1", "-e", "=",
             "--workdir=", "--bogus", "-x", "--env-file", "cmd", "/a:/b"]
    for _ in range(ROUNDS):
        argv = [rng.choice(words) for _ in range(rng.randint(0, 6))]
        check(parse_options, argv)


def test_meta_writer_reader_round_trip_random_argv():
    rng = random.Random(11)
    alphabet = "ab '\"\\\n\t\x00\u00e9\u4e2d[],:="
    for _ in range(ROUNDS):
        argv = [garbage(rng, alphabet, 8) for _ in range(rng.randint(1, 4))]
        meta = ImageMeta(format="squashfs", entrypoint=argv, cmd=argv)
        again = parse_meta(format_meta(meta))
        assert again.entrypoint == again.cmd == argv
