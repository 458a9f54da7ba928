"""The one file of a multipart upload, parsed as the body streams in (python-multipart's parser, the one
Starlette uses), into one buffer in memory.

Starlette's form parser spools every file over 1 MB to a temporary file through its thread pool and
hands it back as a file to read again: for an image the gateway must hold in memory anyway, to hash it
and send it on, that is a second copy and a disk round trip per upload.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.errors import ApiError

logger = logging.getLogger(__name__)
MAX_PARTS = 8  # a form with the image and a few small fields at most


class _FileField:
    """Parser callbacks that keep the data of the first part named ``field`` and skip the rest."""

    def __init__(self, field: str) -> None:
        self.field = field.encode()
        self.data: bytearray | None = None
        self.parts = 0
        self._keeping = False
        self._header = bytearray()
        self._value = bytearray()
        self._disposition = b""

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(400, "invalid_multipart", f"the form has more than {MAX_PARTS} parts")
        self._disposition = b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._header.clear()
        self._value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        self._keeping = params.get(b"name") == self.field and self.data is None
        if self._keeping:
            self.data = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._keeping:
            self.data += data[start:end]  # type: ignore[operator]  # set when the part began

    def on_part_end(self) -> None:
        self._keeping = False


async def file_field(chunks: AsyncIterator[bytes], content_type: str, field: str = "file") -> bytearray:
    """The bytes of ``field``: 400 for a malformed body, 422 when the field is missing."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "invalid_multipart", "the multipart body has no boundary")
    found = _FileField(field)
    callbacks = {name: getattr(found, name) for name in dir(found) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # its words go to the log under the request's ID, not to the client
        logger.info("malformed multipart body: %s: %s", type(exc).__name__, exc)
        raise ApiError(400, "invalid_multipart", "the multipart body is malformed") from None
    if found.data is None:
        raise ApiError(422, "missing_file", f"send the image as the multipart field {field!r}")
    return found.data
