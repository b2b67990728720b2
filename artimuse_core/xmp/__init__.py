"""Photo managers' metadata: scores and critiques into XMP, and the stars users gave back out of it.

Lightroom Classic, darktable, digiKam, Capture One and Photo Mechanic all read XMP; this package writes a
score as ``xmp:Rating`` (stars through a documented ``RatingMapping``), optionally ``xmp:Label``,
``dc:description`` and an ``artimuse/score/80-89`` keyword, and everything ArtiMuse knows in its own
namespace, into a sidecar (or, only when asked, into the JPEG/TIFF/DNG itself). It never destroys what the
user wrote: see ``writing``. ``read_rating`` reads the stars back for fine-tuning.

Namespace: prefix ``artimuse``, URI ``http://ns.artimuse.studio/1.0/``; properties: ``PROPERTIES`` plus one
``Critique<Attribute>`` per critique (``critique_property``). The XMP work is done by exiv2 (python-exiv2);
importing this package does not import it (nor torch).
"""

from ..errors import InvalidSidecar, MetadataUnreadable, SidecarConflict, SidecarWriteError, XmpError
from .mapping import (
    DEFAULT_CATEGORY_LABELS,
    DEFAULT_PERCENTILES,
    DEFAULT_THRESHOLDS,
    LABELS,
    RATING_MAPPING,
    RatingMapping,
    StarScale,
    XmpSettings,
    scales_by_folder,
    score_keyword,
)
from .packets import NAMESPACE, PREFIX
from .reading import RatingRecord, iter_ratings, read_rating
from .sidecars import STYLES, Sidecar, choose_sidecar, find_sidecars, sidecar_path
from .writing import PROPERTIES, ScoreFacts, XmpWrite, critique_property, write_xmp

__all__ = [
    "NAMESPACE",
    "PREFIX",
    "PROPERTIES",
    "RATING_MAPPING",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_PERCENTILES",
    "LABELS",
    "DEFAULT_CATEGORY_LABELS",
    "STYLES",
    "RatingMapping",
    "StarScale",
    "XmpSettings",
    "ScoreFacts",
    "XmpWrite",
    "RatingRecord",
    "Sidecar",
    "XmpError",
    "InvalidSidecar",
    "SidecarWriteError",
    "SidecarConflict",
    "MetadataUnreadable",
    "write_xmp",
    "read_rating",
    "iter_ratings",
    "sidecar_path",
    "find_sidecars",
    "choose_sidecar",
    "scales_by_folder",
    "score_keyword",
    "critique_property",
]
