"""Typed errors: each says in one line what went wrong and, where it can, what to do.

Per-image errors (``ImageError`` and subclasses) fail one file only; the engine records them on that
file's result and goes on with the rest of the batch.
"""

from __future__ import annotations


class ArtiMuseError(Exception):
    """Base class of every error this package raises on purpose."""


class CheckpointError(ArtiMuseError):
    """A checkpoint folder is missing, incomplete, of an unknown layout or unsafe to load."""


class CheckpointNotFound(CheckpointError):
    """A model name or Hugging Face id that is neither a local folder nor in the local cache."""


class DeviceError(ArtiMuseError):
    """A device, dtype or quantisation choice that cannot work on this machine."""


class ImageError(ArtiMuseError):
    """One image could not be turned into pixels. ``kind`` is a short machine-readable tag."""

    kind = "image"

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NotAnImage(ImageError):
    kind = "not_an_image"


class CorruptImage(ImageError):
    kind = "corrupt"


class ImageTooLarge(ImageError):
    kind = "too_large"


class UnreadableFile(ImageError):
    kind = "unreadable"


class XmpError(ArtiMuseError):
    """One file's XMP metadata could not be read or written; the file itself is left as it was.
    ``kind`` is a short machine-readable tag, as on ``ImageError``."""

    kind = "xmp"

    def __init__(self, path: object, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class InvalidSidecar(XmpError):
    """A sidecar (or embedded packet) that is not valid XMP: reported and never overwritten."""

    kind = "invalid_sidecar"


class SidecarWriteError(XmpError):
    """The sidecar or image could not be written (read-only folder, permissions, disk full)."""

    kind = "sidecar_unwritable"


class SidecarConflict(XmpError):
    """Another program kept changing the file while we merged into it; we gave up rather than lose its edit."""

    kind = "sidecar_conflict"


class MetadataUnreadable(XmpError):
    """An image whose metadata exiv2 cannot read (unknown format, truncated, empty)."""

    kind = "metadata_unreadable"
