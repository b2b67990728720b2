"""The only module that touches exiv2 (python-exiv2, the library digiKam is built on).

exiv2's XMP toolkit keeps global state (namespace registry, initialisation) that is not thread-safe, and
python-exiv2 releases the GIL, so every call into it here runs under one process-wide lock. ``exiv2`` is
imported on first use, so importing ``artimuse_core.xmp`` stays cheap.

Sidecars are parsed with exiv2 and serialised with ``XmpParser.encode`` directly, not through exiv2's
sidecar writer, whose EXIF/IPTC converters could add properties the user never had.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InvalidSidecar, MetadataUnreadable, MissingExtra

NAMESPACE = "http://ns.artimuse.studio/1.0/"
PREFIX = "artimuse"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_LOCK = threading.RLock()
_exiv2 = None


def exiv2_module() -> Any:
    """python-exiv2, initialised once with our namespace registered (under the lock).

    Raises:
        MissingExtra: python-exiv2 is not installed (it is the optional ``xmp`` extra: GPL-3.0-or-later).
    """
    global _exiv2
    with _LOCK:
        if _exiv2 is None:
            try:
                import exiv2
            except ImportError as exc:
                raise MissingExtra("xmp", "python-exiv2", "XMP sidecars and ratings", exc) from exc

            exiv2.XmpParser.initialize()
            exiv2.XmpProperties.registerNs(NAMESPACE, PREFIX)
            _exiv2 = exiv2
        return _exiv2


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


@contextmanager
def _exiv2_warnings() -> Iterator[list[str]]:
    """What exiv2 logs meanwhile: it reports an undecodable packet only as a log message."""
    handler = _Collect()
    logger = logging.getLogger("exiv2")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _has_properties(data: bytes) -> bool:
    """Whether the RDF holds any property (checked with Python's XML parser, so an exiv2 that silently
    decoded nothing cannot make us replace a user's sidecar with an empty one)."""
    root = ElementTree.fromstring(data)
    for description in root.iter(_RDF + "Description"):
        if len(description) or any(key != _RDF + "about" for key in description.attrib):
            return True
    return False


class XmpPacket:
    """One XMP packet, read and edited property by property. Keys are exiv2's: ``Xmp.xmp.Rating``."""

    def __init__(self, image, origin: str, source: bytes | None = None):
        self._image, self._source = image, source  # exiv2 may point into both: keep them alive with us
        self._data = image.xmpData()
        self.origin = origin

    # -------------------------------------------------------------------------------- construction
    @classmethod
    def new(cls) -> XmpPacket:
        exiv2 = exiv2_module()
        with _LOCK:
            return cls(exiv2.ImageFactory.create(exiv2.ImageType.xmp), "new")

    @classmethod
    def parse_sidecar(cls, data: bytes, origin: str | os.PathLike) -> XmpPacket:
        """A sidecar's bytes -> packet. Raises ``InvalidSidecar`` (the file is then left alone) when it is
        empty, not XML, not XMP, or exiv2 could not decode all of it."""
        origin = str(origin)
        if not data.strip():
            raise InvalidSidecar(origin, "the file is empty")
        try:
            has_properties = _has_properties(data)
        except ElementTree.ParseError as exc:
            raise InvalidSidecar(origin, f"not valid XML ({exc})") from None
        exiv2 = exiv2_module()
        with _LOCK, _exiv2_warnings() as warnings:
            try:
                image = exiv2.ImageFactory.open(data)
                if image.imageType() != exiv2.ImageType.xmp:
                    raise InvalidSidecar(origin, f"it holds a {image.mimeType()} image, not XMP")
                image.readMetadata()
            except exiv2.Exiv2Error as exc:
                raise InvalidSidecar(origin, f"not XMP ({_message(exc)})") from None
            packet = cls(image, origin, data)
        if warnings:
            raise InvalidSidecar(origin, "exiv2 could not decode it: " + "; ".join(warnings))
        if has_properties and not packet.keys():
            raise InvalidSidecar(origin, "exiv2 decoded no properties from it")
        return packet

    def serialize(self) -> bytes:
        """The packet as sidecar bytes (UTF-8, ``<?xpacket?>`` wrapper, no padding)."""
        exiv2 = exiv2_module()
        with _LOCK:
            code, text = exiv2.XmpParser.encode(self._data, exiv2.XmpParser.XmpFormatFlags.useCompactFormat, 0)
        if code != 0:
            raise InvalidSidecar(self.origin, f"exiv2 could not write the XMP packet (code {code})")
        return text.encode("utf-8")

    # -------------------------------------------------------------------------------- reading
    def keys(self, prefix: str = "Xmp.") -> list[str]:
        with _LOCK:
            return [datum.key() for datum in self._data if datum.key().startswith(prefix)]

    def _find(self, key: str):
        """The datum for ``key`` or None. (Not ``key in data``: python-exiv2 aborts the process on a key whose
        prefix exiv2 has never seen, e.g. ``Xmp.photomechanic.Tagged``, so keys are compared as strings.)"""
        for datum in self._data:
            if datum.key() == key:
                return datum
        return None

    def snapshot(self) -> tuple[tuple[str, str, str], ...]:
        """Every property as (key, type, text), sorted: equal snapshots mean nothing changed."""
        with _LOCK:
            return tuple(sorted((d.key(), d.typeName(), d.toString()) for d in self._data))

    def get(self, key: str) -> str | None:
        """A simple property's text; None when absent. A language alternative gives its x-default."""
        with _LOCK:
            datum = self._find(key)
            if datum is None:
                return None
            if datum.typeName() == "LangAlt":
                values = dict(datum.getValue())
                return values.get("x-default", next(iter(values.values()), None))
            return datum.toString()

    def get_items(self, key: str) -> list[str]:
        """A bag's or sequence's items; [] when absent; a simple property counts as one item."""
        with _LOCK:
            datum = self._find(key)
            if datum is None:
                return []
            return _items(datum.getValue()) if datum.typeName() in _ARRAYS else [datum.toString()]

    # -------------------------------------------------------------------------------- editing
    def _check(self, key: str) -> None:
        """Raise ``ValueError`` for a key exiv2 cannot take (assigning one would abort the process)."""
        exiv2 = exiv2_module()
        try:
            exiv2.XmpKey(key)
        except exiv2.Exiv2Error as exc:
            raise ValueError(f"XMP key {key!r}: {_message(exc)}") from None

    def set(self, key: str, text: str) -> None:
        with _LOCK:
            self._check(key)
            self._data[key] = xml_text(text)

    def set_default_language(self, key: str, text: str) -> None:
        """Set the x-default text of a language alternative (dc:description), keeping other languages."""
        exiv2 = exiv2_module()
        with _LOCK:
            self._check(key)
            datum = self._find(key)
            if datum is not None and datum.typeName() == "LangAlt":
                value = datum.getValue()
            else:
                self._erase(key)
                value = exiv2.LangAltValue()
            value["x-default"] = xml_text(text)
            self._data[key] = value

    def set_items(self, key: str, items: list[str]) -> None:
        """Replace a bag's items, keeping the array type it already had (a new one is an unordered bag)."""
        exiv2 = exiv2_module()
        with _LOCK:
            self._check(key)
            kind = exiv2.TypeId.xmpBag
            datum = self._find(key)
            if datum is not None:
                kind = {"XmpSeq": exiv2.TypeId.xmpSeq, "XmpBag": exiv2.TypeId.xmpBag}.get(datum.typeName(), kind)
                self._erase(key)
            if not items:
                return
            value = exiv2.XmpArrayValue(kind)
            for item in items:
                value.read(xml_text(item))
            self._data[key] = value

    def delete(self, key: str) -> None:
        with _LOCK:
            self._erase(key)

    def _erase(self, key: str) -> None:
        exiv2 = exiv2_module()
        if self._find(key) is None:
            return
        position = self._data.findKey(exiv2.XmpKey(key))
        if position != self._data.end():
            self._data.erase(position)


_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    """Text XML 1.0 can hold: undecodable file-name bytes as ``\\xe9``, control characters as U+FFFD."""
    text = str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        pass  # other lone surrogates: replaced below
    return _NOT_XML.sub("\ufffd", text)


def _message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    return str(args[-1]) if args else str(exc)


# ------------------------------------------------------------------------------------ image files
_ARRAYS = ("XmpBag", "XmpSeq", "XmpAlt")


def _items(value) -> list[str]:
    return [value.toString(i) for i in range(value.count())]


def read_image_metadata(path: str | os.PathLike) -> tuple[dict[str, str | list[str]], dict[str, str]]:
    """(XMP, EXIF) of an image file as {exiv2 key: text, or items for a bag or sequence}, reading only the
    metadata (memory-mapped, so a 40 MB RAW is not read whole; any file name, UTF-8 or not).
    Raises ``MetadataUnreadable``."""
    path = Path(path)
    exiv2 = exiv2_module()
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise MetadataUnreadable(path, exc.strerror or str(exc)) from None
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise MetadataUnreadable(path, "the file is empty")
        view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            with _LOCK:
                try:
                    image = exiv2.ImageFactory.open(view)
                    image.readMetadata()
                except exiv2.Exiv2Error as exc:
                    raise MetadataUnreadable(path, _message(exc)) from None
                xmp = {
                    d.key(): _items(d.getValue()) if d.typeName() in _ARRAYS else d.toString() for d in image.xmpData()
                }
                exif = {d.key(): d.toString() for d in image.exifData()}
                del image
        finally:
            view.close()
    return xmp, exif


EMBEDDABLE = {"image/jpeg": "JPEG", "image/tiff": "TIFF", "image/x-adobe-dng": "DNG"}


class EmbeddedXmp:
    """The XMP inside a JPEG, TIFF or DNG, edited in memory; ``serialize`` gives the whole new file."""

    def __init__(self, data: bytes, origin: str | os.PathLike):
        exiv2 = exiv2_module()
        self.origin = str(origin)
        self._bytes = data
        with _LOCK, _exiv2_warnings() as warnings:
            try:
                self._image = exiv2.ImageFactory.open(data)
                self._image.readMetadata()
            except exiv2.Exiv2Error as exc:
                raise MetadataUnreadable(self.origin, _message(exc)) from None
            mime = self._image.mimeType()
        if mime not in EMBEDDABLE:
            raise MetadataUnreadable(self.origin, f"XMP is embedded only into JPEG, TIFF or DNG, not {mime}")
        if any("XMP" in message for message in warnings):
            raise InvalidSidecar(self.origin, "exiv2 could not decode its embedded XMP: " + "; ".join(warnings))
        self.packet = XmpPacket(self._image, self.origin, data)

    def serialize(self) -> bytes:
        with _LOCK:
            self._image.writeMetadata()
            io = self._image.io()
            io.open()
            try:
                return bytes(io.mmap())
            finally:
                io.munmap()
                io.close()
