"""Upload limits and photo checks for /grade and /assess; each error names the field at fault.

Two layers: `UploadGuard`, an ASGI middleware, refuses a request body over `max_request_bytes`
(413) before it is parsed, by its Content-Length or by counting a chunked body, and a malformed
upload form (see the class); `check_photos` then checks the posted photos by their files and
headers: how many, each one's size, the pixels of all of them together (`max_request_pixels`,
413 before any is decoded), and `decode_photo` decodes each (`features.images.open_image`: not
an image, truncated, decompression bomb); `read_photos` does both for one unit. Each photo is
decoded here, once: the grader gets the decoded image and the case store the type and size read
from its header.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from features.images import ImageError, open_image
from serving.api.errors import error_response
from serving.api.state import RuntimeSlot
from serving.errors import IntakeError, NotAForm, UploadTooLarge
from serving.settings import Settings
from serving.store.photos import PhotoFormatError, PhotoHeader, sniff

UPLOAD_ROUTES = ("/grade", "/assess")
"""Routes that take photos; the body limit applies to every route."""
NAMES_KEY = "regrade.photo_names"
"""Where `UploadGuard` leaves the posted photos' file names in the ASGI scope's state."""


@dataclass(frozen=True)
class Limits:
    """Upload limits (from the settings)."""

    max_photos: int
    max_photo_bytes: int
    max_request_bytes: int
    max_request_pixels: int
    request_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits in force."""
        return cls(
            settings.max_photos,
            settings.max_photo_bytes,
            settings.max_request_bytes,
            settings.max_request_pixels,
            settings.request_timeout_s,
        )


@dataclass(frozen=True)
class Posted:
    """A posted photo, read and its header checked, not yet decoded.

    Attributes:
        field: Its form field, `photos[i]`, for errors.
        data: The file's bytes, as posted.
        filename: The client's file name, when known.
        header: The content type and pixel size its header gives.
    """

    field: str
    data: bytes
    filename: str | None
    header: PhotoHeader


@dataclass(frozen=True)
class Photo:
    """A posted photo, decoded once.

    Attributes:
        data: The file's bytes, as posted.
        filename: The client's file name, when known.
        image: The decoded photo: RGB, upright per its EXIF orientation.
        header: The content type and pixel size its header gives.
    """

    data: bytes
    filename: str | None
    image: Image.Image
    header: PhotoHeader


def check_photos(
    paths: list[Path] | list[bytes], limits: Limits, names: list[str | None] | None = None
) -> list[Posted]:
    """Read the posted photos of one unit and check them by their headers, decoding none.

    Args:
        paths: The uploaded files, as posted (where BentoML wrote them, or their bytes).
        limits: How many photos, how large each file, how many pixels in all.
        names: The client's file names (for the answer), when known.

    Returns:
        One `Posted` per path, in order.

    Raises:
        IntakeError: `photos` (none, or too many) or `photos[i]` (not an image).
        UploadTooLarge: `photos[i]` is over the size limit, or `photos` over the pixel limit.
    """
    if not paths:
        raise IntakeError("photos", "at least one photo is required")
    if len(paths) > limits.max_photos:
        raise IntakeError("photos", f"{len(paths)} photos posted, at most {limits.max_photos}")
    posted = []
    for pos, path in enumerate(paths):
        field = f"photos[{pos}]"
        size = len(path) if isinstance(path, bytes) else Path(path).stat().st_size
        if size > limits.max_photo_bytes:
            raise UploadTooLarge(
                field, f"{size:,} bytes, over the limit of {limits.max_photo_bytes:,}"
            )
        if size == 0:
            raise IntakeError(field, "empty file")
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        try:
            header = sniff(data)  # the header only: the type and size the store records
        except PhotoFormatError as exc:
            raise IntakeError(field, _unusable(data, exc)) from exc
        name = names[pos] if names and pos < len(names) else None
        posted.append(Posted(field, data, name, header))
    pixels = sum(p.header.width * p.header.height for p in posted)
    if pixels > limits.max_request_pixels:
        raise UploadTooLarge(
            "photos",
            f"{pixels:,} pixels in {len(posted)} photos, over the per-request limit of "
            f"{limits.max_request_pixels:,} (max_request_pixels)",
        )
    return posted


def _unusable(data: bytes, exc: PhotoFormatError) -> str:
    """Why a photo whose header could not be read is unusable: the decoder says best (truncated)."""
    try:
        open_image(data)
    except ImageError as why:
        return str(why)
    return str(exc)


def decode_photo(posted: Posted) -> Photo:
    """Decode one checked photo (`features.images.open_image`).

    Raises:
        IntakeError: `photos[i]` is not a usable image (truncated, too large, ...).
    """
    try:
        image = open_image(posted.data)
    except ImageError as exc:
        raise IntakeError(posted.field, str(exc)) from exc
    return Photo(posted.data, posted.filename, image, posted.header)


class PastDeadline(TimeoutError):
    """`read_photos` passed its deadline before it began decoding a photo."""


def read_photos(
    paths: list[Path] | list[bytes],
    limits: Limits,
    names: list[str | None] | None = None,
    deadline: float | None = None,
) -> list[Photo]:
    """`check_photos`, then `decode_photo` on each in order: one unit's photos in one call, so
    they take one trip to a decode thread and back, not one a photo.

    Args:
        deadline: A `time.monotonic()` past which no photo's decode begins (None: no limit).

    Raises:
        IntakeError, UploadTooLarge: as `check_photos` and `decode_photo`.
        PastDeadline: the deadline passed before the last photo's decode began (those not
            begun are not decoded).
    """
    photos = []
    for posted in check_photos(paths, limits, names):
        if deadline is not None and time.monotonic() > deadline:
            raise PastDeadline(f"{posted.field} was not decoded: the deadline passed")
        photos.append(decode_photo(posted))
    return photos


def _refusal(exc: IntakeError) -> Response:
    """The guard's answer to `exc`; the connection closes (the body may be unread)."""
    response = error_response(exc)
    response.headers["connection"] = "close"
    return response


class BodyTooLarge(Exception):
    """Raised inside `receive` when a body passes the limit."""


async def _read_body(receive, limit: int) -> bytes:
    chunks, seen = [], 0
    while True:
        event = await receive()
        if event["type"] != "http.request":
            break
        chunks.append(event.get("body", b""))
        seen += len(chunks[-1])
        if seen > limit:
            raise BodyTooLarge("body")
        if not event.get("more_body", False):
            break
    return b"".join(chunks)


@dataclass(frozen=True)
class PostedForm:
    """An upload form as the guard read it.

    Attributes:
        fields: The text fields as BentoML reads a form for its input model: each one's last
            value, parsed as JSON where it is JSON, else the text.
        photos: The `photos` files' bytes, in order (read only for a route the guard answers).
        names: The client's file names of the photos.
    """

    fields: dict[str, Any]
    photos: list[bytes]
    names: list[str | None]


async def _read_form(scope, body: bytes, photos: bool) -> PostedForm | IntakeError:
    """The upload form in a multipart body, or the first field not as the upload routes expect.

    Leaves the photos' file names in the scope's state (BentoML hands the API nameless files).

    Args:
        photos: Read the photos' bytes too (else `PostedForm.photos` is empty).
    """

    async def once():
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(scope, once).form()
    except Exception as exc:  # starlette's MultiPartException or HTTPException
        return IntakeError("body", f"not a valid multipart form ({getattr(exc, 'detail', exc)})")
    read = PostedForm({}, [], [])
    try:
        for key, value in form.multi_items():
            is_file = isinstance(value, UploadFile)
            if key == "photos":
                if not is_file:
                    field = f"photos[{len(read.names)}]"
                    return IntakeError(field, "must be a file upload, not a text field")
                read.names.append(value.filename)
                if photos:
                    read.photos.append(await value.read())
            elif is_file:
                return IntakeError(key, "must be a text field, not a file upload")
            else:
                read.fields[key] = _text_value(value)
    finally:
        await form.close()
    scope.setdefault("state", {})[NAMES_KEY] = read.names
    return read


def _text_value(text: str) -> Any:
    """A text field's value as BentoML gives it to an input model: JSON where it parses."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class UploadGuard:
    """ASGI middleware guarding request bodies before BentoML parses them.

    Any route: 413 for a body over `max_bytes` (declared or counted). `/grade` and `/assess`:
    415 unless the body is multipart; 400 for a malformed form, a `photos` entry that is not a
    file (BentoML would fetch it as a URL or read it as a server path) or a file under another
    field name. A form that passes is answered by the slot's `form_answer` (set by the service)
    from the form read here: BentoML's own reading of it (a second multipart parse, each photo
    written to a temporary file and read back, its input and output models) cost about a third
    of the event loop's time a `/grade` (benchmarks/README.md).
    """

    def __init__(self, app, slot: RuntimeSlot):
        """Wrap `app`; the limit is `max_request_bytes` of the runtime's settings in `slot`."""
        self.app = app
        self.slot = slot

    def _limit(self) -> int | None:
        settings = self.slot.settings
        return settings.max_request_bytes if settings is not None else None

    async def __call__(self, scope, receive, send):
        limit = self._limit() if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_large = UploadTooLarge("body", f"over the limit of {limit:,} bytes")
        refusal: IntakeError | None = None
        if declared is not None and declared.isdigit() and int(declared) > limit:
            refusal = too_large
        elif scope.get("method") == "POST" and scope.get("path") in UPLOAD_ROUTES:
            kind = headers.get(b"content-type", b"").decode("latin-1").lower()
            if not kind.startswith("multipart/form-data"):
                refusal = NotAForm("body", "send photos and fields as multipart/form-data")
            else:
                answer = self.slot.form_answer
                try:
                    body = await _read_body(receive, limit)
                except BodyTooLarge:
                    body, refusal = b"", too_large
                if refusal is None:
                    read = await _read_form(scope, body, photos=answer is not None)
                    if isinstance(read, IntakeError):
                        refusal = read
                    elif answer is not None:
                        return await (await answer(read, scope))(scope, receive, send)
                receive = _replay(body, receive)
        if refusal is not None:
            return await _refusal(refusal)(scope, receive, send)
        return await self._counted(scope, receive, send, limit, too_large)

    async def _counted(self, scope, receive, send, limit: int, too_large: UploadTooLarge):
        seen, started = 0, False

        async def counted():
            nonlocal seen
            event = await receive()
            if event["type"] == "http.request":
                seen += len(event.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge("body")
            return event

        async def tracked(event):
            nonlocal started
            started = started or event["type"] == "http.response.start"
            await send(event)

        try:
            return await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            return await _refusal(too_large)(scope, receive, send)


def _replay(body: bytes, receive):
    """A `receive` that gives `body` once, then whatever the client sends next (disconnect)."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
