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


class ImageTokenMismatch(CheckpointError):
    """A prompt's ``<IMG_CONTEXT>`` placeholders and the image features disagree in number (the checkpoint's
    config, tokenizer or vision tower do not belong together)."""

    def __init__(self, tokens: int, features: int):
        self.tokens, self.features = tokens, features
        super().__init__(f"image features and image tokens do not match: the prompt has {tokens} "
                         f"<IMG_CONTEXT> placeholders, the vision tower gave {features} feature vectors")
