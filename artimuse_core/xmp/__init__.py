"""Photo managers' metadata: scores and critiques into XMP, and the stars users gave back out of it.

Lightroom Classic, darktable, digiKam, Capture One and Photo Mechanic all read XMP; this package writes the
user's own decisions (stars, ``-1`` for a reject, the pick label) and, where they gave none, a score as
``xmp:Rating`` (stars through a documented ``RatingMapping``), optionally ``xmp:Label``,
``dc:description`` and an ``artimuse/score/80-89`` keyword, and everything ArtiMuse knows in its own
namespace, into a sidecar (or, only when asked, into the JPEG/TIFF/DNG itself). It never destroys what the
user wrote: see ``writing``. ``read_rating`` reads the stars back for fine-tuning; ``batch`` writes many
images (star scales per folder or collection, counts); ``settings`` declares the XMP settings once.

Namespace: prefix ``artimuse``, URI ``http://ns.artimuse.studio/1.0/``; properties: ``PROPERTIES`` plus one
``Critique<Attribute>`` per critique (``critique_property``). The XMP work is done by exiv2 (python-exiv2);
importing this package does not import it (nor torch). Names load on first use (PEP 562): ``Config`` reads
``settings`` on every command without loading the writer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    **{name: "..errors" for name in ("InvalidSidecar", "MetadataUnreadable", "SidecarConflict", "SidecarWriteError")},
    "XmpError": "..errors",
    **{
        name: ".mapping"
        for name in (
            "DEFAULT_CATEGORY_LABELS",
            "DEFAULT_PERCENTILES",
            "DEFAULT_THRESHOLDS",
            "LABELS",
            "RATING_MAPPING",
            "RatingMapping",
            "StarScale",
            "XmpSettings",
            "scales_by_folder",
            "score_keyword",
        )
    },
    "NAMESPACE": ".packets",
    "PREFIX": ".packets",
    **{name: ".reading" for name in ("RatingRecord", "iter_ratings", "read_rating")},
    **{name: ".sidecars" for name in ("STYLES", "Sidecar", "choose_sidecar", "find_sidecars", "sidecar_path")},
    **{
        name: ".writing"
        for name in ("PROPERTIES", "ScoreFacts", "UserDecision", "XmpWrite", "critique_property", "write_xmp")
    },
    **{name: ".batch" for name in ("XmpCounts", "XmpOutcome", "library_facts", "star_scales", "write_many")},
    **{name: ".settings" for name in ("XMP_SETTINGS", "xmp_settings")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'artimuse_core.xmp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
