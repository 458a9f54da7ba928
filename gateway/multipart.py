"""The files of a multipart upload (the one of /classify, the several of /classify/batch, the fields of a
feedback form), parsed as the body streams in (python-multipart's parser, the one Starlette uses), each
into one buffer in memory.

Starlette's form parser spools every file over 1 MB to a temporary file through its thread pool and
hands it back as a file to read again: for an image the gateway must hold in memory anyway, to hash it
and send it on, that is a second copy and a disk round trip per upload.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.errors import ApiError

logger = logging.getLogger(__name__)
MAX_PARTS = 8  # beside the files: a few small fields at most


@dataclass
class Part:
    """One file of the form. Past ``max_bytes`` its bytes are dropped as they come (only ``size`` still
    counts them): the caller refuses that file alone."""

    max_bytes: int | None
    is_file: bool = True  # sent as a file (with a file name), not as a text field
    name: str = ""
    data: bytearray = field(default_factory=bytearray)
    size: int = 0

    @property
    def too_large(self) -> bool:
        return self.max_bytes is not None and self.size > self.max_bytes

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.too_large:
            self.data.clear()
        else:
            self.data += chunk


class _Files:
    """Parser callbacks that keep the parts of the names in ``names`` (name -> its byte limit), up to
    ``limit`` of them together in the order sent, and skip the rest. One more such part is ``beyond``,
    raised as it begins, or skipped when ``beyond`` is None."""

    def __init__(self, names: dict[str, int | None], limit: int, beyond: ApiError | None) -> None:
        self.names = {name.encode(): size for name, size in names.items()}
        self.limit = limit
        self.beyond = beyond
        self.found: list[Part] = []
        self.parts = 0
        self._keeping: Part | None = None
        self._header = bytearray()
        self._value = bytearray()
        self._disposition = b""

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limit + MAX_PARTS:
            raise ApiError(400, "invalid_multipart", f"the form has more than {self.limit + MAX_PARTS} parts")
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
        name = params.get(b"name", b"")
        if name not in self.names:
            return
        if len(self.found) == self.limit:
            if self.beyond is not None:
                raise self.beyond
            return
        self._keeping = Part(self.names[name], is_file=b"filename" in params, name=name.decode())
        self.found.append(self._keeping)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._keeping is not None:
            self._keeping.add(data[start:end])

    def on_part_end(self) -> None:
        self._keeping = None


class _Named(_Files):
    """Parser callbacks that keep the first part of each name in ``limits`` (name -> its byte limit) and
    skip the rest: a form of a few fields."""

    def __init__(self, limits: dict[str, int]) -> None:
        super().__init__(dict(limits), limit=len(limits), beyond=None)
        self.named: dict[str, Part] = {}

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        name = params.get(b"name", b"")
        if name in self.names and name.decode() not in self.named:
            part = Part(self.names[name], is_file=b"filename" in params, name=name.decode())
            self._keeping = self.named[name.decode()] = part


async def _parse(chunks: AsyncIterator[bytes], content_type: str, found: _Files) -> None:
    """Feed the body to ``found``'s callbacks; 400 for a malformed body."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "invalid_multipart", "the multipart body has no boundary")
    callbacks = {event: getattr(found, event) for event in dir(found) if event.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # its words go to the log under the request's ID, not to the client
        logger.info("malformed multipart body: %s: %s", type(exc).__name__, exc)
        raise ApiError(400, "invalid_multipart", "the multipart body is malformed") from None


async def file_parts(
    chunks: AsyncIterator[bytes],
    content_type: str,
    names: dict[str, int | None],
    limit: int,
    beyond: ApiError | None = None,
) -> list[Part]:
    """The parts of the names in ``names`` (name -> its byte limit, None for none), in the order sent
    (see ``_Files``); 400 for a malformed body."""
    found = _Files(names, limit, beyond)
    await _parse(chunks, content_type, found)
    return found.found


async def form_parts(
    chunks: AsyncIterator[bytes], content_type: str, limits: dict[str, int]
) -> dict[str, Part]:
    """The first part of each name in ``limits`` that the form holds (see ``_Named``); a part past its
    limit keeps only its size. 400 for a malformed body."""
    found = _Named(limits)
    await _parse(chunks, content_type, found)
    return found.named


async def file_field(chunks: AsyncIterator[bytes], content_type: str, name: str = "file") -> bytearray:
    """The bytes of the first part named ``name`` (others of that name are skipped): 400 for a
    malformed body, 422 when the field is missing."""
    parts = await file_parts(chunks, content_type, {name: None}, limit=1)
    if not parts:
        raise ApiError(422, "missing_file", f"send the image as the multipart field {name!r}")
    return parts[0].data
