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
importing this package does not import it (nor torch). Its names (the imports of the ``TYPE_CHECKING``
block below) are the front ends' way in; each loads on first use (PEP 562, ``..exports``): ``Config`` reads
``settings`` on every command without loading the writer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exports import lazy_exports

if TYPE_CHECKING:
    from ..errors import InvalidSidecar as InvalidSidecar
    from ..errors import MetadataUnreadable as MetadataUnreadable
    from ..errors import SidecarConflict as SidecarConflict
    from ..errors import SidecarWriteError as SidecarWriteError
    from ..errors import XmpError as XmpError
    from .batch import XmpCounts as XmpCounts
    from .batch import XmpOutcome as XmpOutcome
    from .batch import library_facts as library_facts
    from .batch import library_folder_scores as library_folder_scores
    from .batch import star_scales as star_scales
    from .batch import write_after_scoring as write_after_scoring
    from .batch import write_many as write_many
    from .mapping import DEFAULT_CATEGORY_LABELS as DEFAULT_CATEGORY_LABELS
    from .mapping import DEFAULT_PERCENTILES as DEFAULT_PERCENTILES
    from .mapping import DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS
    from .mapping import LABELS as LABELS
    from .mapping import RATING_MAPPING as RATING_MAPPING
    from .mapping import RatingMapping as RatingMapping
    from .mapping import StarScale as StarScale
    from .mapping import XmpSettings as XmpSettings
    from .mapping import scales_by_folder as scales_by_folder
    from .mapping import score_keyword as score_keyword
    from .packets import NAMESPACE as NAMESPACE
    from .packets import PREFIX as PREFIX
    from .packets import exiv2_module as exiv2_module
    from .reading import RatingRecord as RatingRecord
    from .reading import iter_ratings as iter_ratings
    from .reading import read_rating as read_rating
    from .settings import XMP_SETTINGS as XMP_SETTINGS
    from .settings import xmp_settings as xmp_settings
    from .sidecars import STYLES as STYLES
    from .sidecars import Sidecar as Sidecar
    from .sidecars import choose_sidecar as choose_sidecar
    from .sidecars import find_sidecars as find_sidecars
    from .sidecars import sidecar_path as sidecar_path
    from .writing import PROPERTIES as PROPERTIES
    from .writing import ScoreFacts as ScoreFacts
    from .writing import UserDecision as UserDecision
    from .writing import XmpWrite as XmpWrite
    from .writing import critique_property as critique_property
    from .writing import write_xmp as write_xmp
else:
    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
