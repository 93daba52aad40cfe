"""Multipart bodies read in 256 KiB pieces (kyso.app.KysoFormDataParser): the same parts as
werkzeug's own parser gives, byte for byte, and werkzeug's limits unchanged (issue 14)."""

from __future__ import annotations

import io
import os

import pytest
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from kyso.app import MULTIPART_READ_BYTES, KysoRequest

BOUNDARY = "kyso-test-boundary-51c2"


def _body(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _request(cls: type[WerkzeugRequest], body: bytes) -> WerkzeugRequest:
    env = EnvironBuilder(method="POST").get_environ()
    env.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}"})
    return cls(env)


def _tricky(size: int) -> bytes:
    """Random bytes with CR, LF and the boundary's start just before, across and after each
    piece edge, where a partial boundary is held back for the next piece."""
    data = bytearray(os.urandom(size))
    near = f"\r\n--{BOUNDARY}"[:-1].encode()  # one byte short of a boundary
    for edge in range(MULTIPART_READ_BYTES, size - 64, MULTIPART_READ_BYTES):
        for shift in (-len(near) - 3, -len(near) // 2, -1, 0, 5):
            at = edge + shift
            data[at:at + len(near)] = near
        data[edge - 1:edge + 1] = b"\r\n"
    return bytes(data)


def test_parts_are_what_werkzeug_parses_byte_for_byte() -> None:
    big, second = _tricky(3 * MULTIPART_READ_BYTES + 12345), _tricky(MULTIPART_READ_BYTES + 7)
    body = _body([("options", None, b'{"a": 1}'), ("file", "signed.pdf", big), ("data", "doc.bin", second),
                  ("file", "more.xml", b"\r\n"), ("empty", "empty.bin", b"")])
    ours, theirs = _request(KysoRequest, body), _request(WerkzeugRequest, body)
    assert ours.form.to_dict(flat=False) == theirs.form.to_dict(flat=False) == {"options": ['{"a": 1}']}
    got = [(k, f.filename, f.read()) for k, f in ours.files.items(multi=True)]
    assert got == [(k, f.filename, f.read()) for k, f in theirs.files.items(multi=True)]
    assert got == [("file", "signed.pdf", big), ("file", "more.xml", b"\r\n"), ("data", "doc.bin", second),
                   ("empty", "empty.bin", b"")]
    ours.close()


def test_a_large_part_is_spooled_to_a_named_file() -> None:
    req = _request(KysoRequest, _body([("file", "signed.pdf", os.urandom(600 * 1024))]))
    assert isinstance(getattr(req.files["file"].stream, "name", None), str)
    req.close()


def test_werkzeug_limits_still_apply() -> None:
    too_big_field = _request(KysoRequest, _body([("options", None, b"x" * 500_001)]))  # MAX_FORM_MEMORY_SIZE
    with pytest.raises(RequestEntityTooLarge):
        too_big_field.form  # noqa: B018
    too_many = _request(KysoRequest, _body([(f"p{i}", f"{i}.bin", b"x") for i in range(1001)]))  # MAX_FORM_PARTS
    with pytest.raises(RequestEntityTooLarge):
        too_many.files  # noqa: B018
    limited = _request(KysoRequest, _body([("file", "signed.pdf", os.urandom(2 << 20))]))
    limited.max_content_length = 1 << 20
    with pytest.raises(RequestEntityTooLarge):
        limited.files  # noqa: B018


def test_a_piece_stays_within_a_lower_form_memory_limit() -> None:
    """A piece is at most half the form memory limit: under a limit below one 256 KiB piece a
    large file part is still read, not refused as a too-large form."""
    data = _tricky(2 << 20)
    req = _request(KysoRequest, _body([("file", "signed.pdf", data)]))
    req.max_form_memory_size = 200_000
    assert req.files["file"].read() == data
    req.close()
