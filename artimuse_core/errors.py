"""Every error this package raises on purpose, in one place: each says in one line what went wrong and,
where it can, what to do.

Per-image errors (``ImageError`` and subclasses) fail one file only; the engine records them on that
file's result and goes on with the rest of the batch.
"""

from __future__ import annotations

import os

from .paths import display_path


class ArtiMuseError(Exception):
    """Base class of every error this package raises on purpose."""


class CheckpointError(ArtiMuseError):
    """A checkpoint folder is missing, incomplete, of an unknown layout or unsafe to load."""


class CheckpointNotFound(CheckpointError):
    """A model name or Hugging Face id that is neither a local folder nor in the local cache."""


class DeviceError(ArtiMuseError):
    """A device, dtype or quantisation choice that cannot work on this machine."""


class ImageError(ArtiMuseError):
    """One image could not be turned into pixels. ``kind`` is a short machine-readable tag.

    ``path`` is the path as given (a ``str`` that may hold surrogates from ``os.fsdecode``: use it to
    match results to inputs); the message shows its printable form (``paths.display_path``).
    ``passed_over`` is True for files the product chooses not to score (with the reason), as opposed to
    files that are broken.
    """

    kind = "image"
    passed_over = False

    def __init__(self, path: object, reason: str):
        self.path = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
        self.reason = reason
        super().__init__(f"{display_path(self.path)}: {reason}")


class NotAnImage(ImageError):
    """Not an image file Pillow can read (a text file, a RAW without a decoder...)."""

    kind = "not_an_image"


class CorruptImage(ImageError):
    """An image file that is damaged or truncated."""

    kind = "corrupt"


class ImageTooLarge(ImageError):
    """An image over the ``max_pixels`` setting (a decompression-bomb guard)."""

    kind = "too_large"


class UnreadableFile(ImageError):
    """A file the operating system will not let us read (permissions, I/O error)."""

    kind = "unreadable"


class InvalidValue(ArtiMuseError, ValueError):
    """A value the user chose (a setting, a category, a star rating...) that is not allowed.

    Also a ``ValueError``, so code that validates with ``except ValueError`` keeps working. The message
    names the setting (``batch_size``, ``max_pixels``), never a command-line flag: front ends map setting
    names to their own spelling when they print it.
    """


class ConfigError(ArtiMuseError):
    """The configuration (config file or ``ARTIMUSE_*`` environment variable) is unreadable or invalid.
    The message names the file or variable and the key."""


class LibraryError(ArtiMuseError):
    """The library database cannot do what was asked: locked for too long, newer than this version,
    not an ArtiMuse library, or the image is not in it."""


class FinetuneError(ArtiMuseError):
    """Fine-tuning cannot start or was interrupted (too few ratings, nothing to resume...)."""


class MissingExtra(ArtiMuseError):
    """An optional part needs a package that is not installed. The GPL-licensed bindings (python-exiv2 for
    XMP, pillow-heif and pillow-jxl-plugin for HEIC/JPEG XL) are optional extras of this Apache-2.0 project;
    the message names the extra to install."""

    def __init__(self, extra: str, package: str, feature: str, cause: BaseException | None = None):
        self.extra, self.package = extra, package
        detail = f" ({cause})" if cause is not None and str(cause) else ""
        super().__init__(
            f"{feature} need {package}, the optional '{extra}' extra: pip install 'artimuse-studio[{extra}]'{detail}"
        )


class ImageTokenMismatch(CheckpointError):
    """A prompt's ``<IMG_CONTEXT>`` placeholders and the image features disagree in number (the checkpoint's
    config, tokenizer or vision tower do not belong together)."""

    def __init__(self, tokens: int, features: int):
        self.tokens, self.features = tokens, features
        super().__init__(
            f"image features and image tokens do not match: the prompt has {tokens} "
            f"<IMG_CONTEXT> placeholders, the vision tower gave {features} feature vectors"
        )


class EmptyFile(ImageError):
    """A zero-byte file: often a copy still in progress, or a failed export."""

    kind = "empty"


class FileGone(UnreadableFile):
    """The file vanished (deleted or renamed) between being found and being read."""

    kind = "gone"


class SymlinkLoop(UnreadableFile):
    """A symbolic link that points (through others) back to itself."""

    kind = "symlink_loop"


class PassedOver(ImageError):
    """A file deliberately not scored, with the reason: not an error of the file."""

    kind = "passed_over"
    passed_over = True


class NotARegularFile(PassedOver):
    """A FIFO, socket or device: never opened (reading a FIFO blocks forever)."""

    kind = "special"


class NoDecoder(PassedOver):
    """A format (HEIC, JPEG XL, RAW) whose decoder package is not installed; the message says which."""

    kind = "no_decoder"


class ThumbnailOnly(PassedOver):
    """A RAW file whose only embedded picture is a small thumbnail: scoring it would not score the photo."""

    kind = "thumbnail_only"


#: ``kind`` tags of files passed over (not failed): counted apart in summaries.
PASSED_OVER_KINDS = frozenset({PassedOver.kind, NotARegularFile.kind, NoDecoder.kind, ThumbnailOnly.kind})


class XmpError(ArtiMuseError):
    """One file's XMP metadata could not be read or written; the file itself is left as it was.
    ``kind`` is a short machine-readable tag, as on ``ImageError``."""

    kind = "xmp"

    def __init__(self, path: object, reason: str):
        self.path = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else str(path)
        self.reason = reason
        super().__init__(f"{display_path(self.path)}: {reason}")


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
