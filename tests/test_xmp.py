"""XMP for photo managers, checked by an independent reader: exiftool reads what we write, exiftool writes
what users' tools leave behind (Lightroom keywords, darktable history, digiKam and Photo Mechanic flags)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artimuse_core.library import stars_to_score
from artimuse_core.prompts import ATTRIBUTES
from artimuse_core.results import Provenance, ScoreResult
from artimuse_core.xmp import (
    NAMESPACE,
    InvalidSidecar,
    RatingMapping,
    ScoreFacts,
    SidecarConflict,
    SidecarWriteError,
    XmpSettings,
    critique_property,
    iter_ratings,
    read_rating,
    sidecar_path,
    write_xmp,
    writing,
)

REPO = Path(__file__).resolve().parents[1]
EXIFTOOL = shutil.which("exiftool")
if EXIFTOOL is None and os.environ.get("CI"):
    raise RuntimeError("exiftool is missing: .ci/run installs libimage-exiftool-perl")
pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool (apt install libimage-exiftool-perl)")

# exiftool 12.57 (Debian 12) does not know darktable's namespace: teach it, as a user's config would.
DARKTABLE_CONFIG = """%Image::ExifTool::UserDefined = ('Image::ExifTool::XMP::Main' => {
  darktable => { SubDirectory => { TagTable => 'Image::ExifTool::UserDefined::darktable' } } });
%Image::ExifTool::UserDefined::darktable = (
  GROUPS => { 0 => 'XMP', 1 => 'XMP-darktable', 2 => 'Image' },
  NAMESPACE => { 'darktable' => 'http://darktable.sf.net/' }, WRITABLE => 'string',
  xmp_version => { Name => 'XmpVersion', Writable => 'integer' },
  colorlabels => { Name => 'ColorLabels', List => 'Seq' },
  history => { List => 'Seq', Struct => { STRUCT_NAME => 'DarktableHistory', NAMESPACE => 'darktable',
    operation => { }, enabled => { Writable => 'integer' }, params => { } } } );
1;
"""
CRITIQUES = {a: f'{a}: strong diagonal & <leading> lines;\nwarm "light" — ünïcödé 日本' for a in ATTRIBUTES}
FACTS = ScoreFacts(
    score=83.456,
    std=4.2,
    category="photography",
    model="artimuse-tiny",
    fingerprint="0123456789abcdef",
    adapter="my-stars",
    engine_version="0.1.0",
    scored_at="2026-11-29T21:00:00+00:00",
    critiques=CRITIQUES,
)


@pytest.fixture(scope="module")
def exif_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exiftool") / "darktable.config"
    path.write_text(DARKTABLE_CONFIG)
    return path


class ExifTool:
    """One exiftool process for the whole module (``-stay_open``): perl starts once, not per call."""

    def __init__(self, config: Path):
        self.process = subprocess.Popen(
            [EXIFTOOL, "-config", str(config), "-stay_open", "True", "-@", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
        )
        self.count = 0

    def __call__(self, *args: str | os.PathLike) -> str:
        self.count += 1
        ready = f"{{ready{self.count}}}"
        lines = [os.fsdecode(a) if isinstance(a, Path) else str(a) for a in args]
        lines += ["-echo4", ready, f"-execute{self.count}"]
        self.process.stdin.write("\n".join(lines) + "\n")
        self.process.stdin.flush()
        out, err = self._until(self.process.stdout, ready), self._until(self.process.stderr, ready)
        if "Error" in err:
            raise AssertionError(f"exiftool {args}: {err}")
        return out

    @staticmethod
    def _until(stream, marker: str) -> str:
        lines = []
        for line in stream:
            if line.rstrip("\n") == marker:
                return "".join(lines)
            lines.append(line)
        raise AssertionError("exiftool stopped")

    def close(self):
        self.process.stdin.write("-stay_open\nFalse\n")
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def exiftool(exif_config):
    tool = ExifTool(exif_config)
    yield tool
    tool.close()


@pytest.fixture()
def read_tags(exiftool):
    """Every XMP (and EXIF) tag exiftool finds, as {group:tag: value}, numbers as numbers."""

    def read(path: Path, groups: str = "-XMP:all") -> dict:
        data = json.loads(exiftool("-j", "-G1", "-struct", "-n", groups, path))[0]
        data.pop("SourceFile")
        data.pop("XMP-x:XMPToolkit", None)
        return data

    return read


def make_jpeg(path: Path, rgb=(200, 120, 60)) -> Path:
    Image.new("RGB", (48, 32), rgb).save(path, quality=90)
    return path


def make_raw(path: Path) -> Path:
    """A 'RAW' for sidecar purposes: bytes no metadata reader understands."""
    path.write_bytes(os.urandom(4096))
    return path


def user_sidecar(exiftool, path: Path, rating: int | None = 2) -> Path:
    """A sidecar as Lightroom, darktable and a keyword tool leave it, written by exiftool."""
    args = [
        "-q",
        "-o",
        path,
        "-XMP-xmp:Label=Red",
        "-XMP-lr:HierarchicalSubject=Places|Europe|Paris",
        "-XMP-lr:HierarchicalSubject=People|Anna",
        "-XMP-dc:Subject=paris",
        "-XMP-dc:Subject=anna",
        "-XMP-dc:Description=Café at dusk",
        "-XMP-dc:Description-de=Café in der Dämmerung",
        "-XMP-darktable:XmpVersion=5",
        "-XMP-darktable:History=[{Operation=exposure,Enabled=1,Params=0000803f},"
        "{Operation=sharpen,Enabled=0,Params=ab}]",
        "-XMP-exif:DateTimeOriginal=2024:05:06 07:08:09+02:00",
        "-XMP-crs:Exposure2012=+0.50",
        "-XMP-digiKam:TagsList=Places/Europe/Paris",
        "-XMP-photoshop:City=Paris",
    ]
    if rating is not None:
        args.append(f"-XMP-xmp:Rating={rating}")
    exiftool(*args)
    return path


def ours(tags: dict) -> dict:
    return {k.split(":", 1)[1]: v for k, v in tags.items() if k.startswith("XMP-artimuse:")}


def others(tags: dict, *also: str) -> dict:
    return {k: v for k, v in tags.items() if not k.startswith("XMP-artimuse:") and k not in also}


# ------------------------------------------------------------------------------------------ naming
def test_sidecar_names_follow_the_photo_manager():
    assert sidecar_path("/p/IMG_0001.CR2", "lightroom") == Path("/p/IMG_0001.xmp")
    assert sidecar_path("/p/IMG_0001.CR2", "darktable") == Path("/p/IMG_0001.CR2.xmp")
    assert sidecar_path("/p/IMG_0001.jpg", "darktable") == Path("/p/IMG_0001.jpg.xmp")
    with pytest.raises(ValueError, match="naming"):
        sidecar_path("/p/a.jpg", "capture-one")


@pytest.mark.parametrize(
    "naming, image_name, expected",
    [
        ("lightroom", "IMG_0001.CR2", "IMG_0001.xmp"),
        ("darktable", "IMG_0001.CR2", "IMG_0001.CR2.xmp"),
        ("lightroom", "IMG_0002.jpg", "IMG_0002.xmp"),
        ("darktable", "IMG_0002.jpg", "IMG_0002.jpg.xmp"),
    ],
)
def test_exiftool_reads_everything_we_write(tmp_path, read_tags, naming, image_name, expected):
    image = make_jpeg(tmp_path / image_name) if image_name.endswith(".jpg") else make_raw(tmp_path / image_name)
    before = image.read_bytes()
    settings = XmpSettings(naming=naming, label="category", description=True, keywords=True)
    result = write_xmp(image, FACTS, settings)

    assert (result.path, result.style, result.status) == (str(tmp_path / expected), naming, "created")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([image_name, expected])  # no temp litter
    assert image.read_bytes() == before  # the image itself is never touched by default
    sidecar_mode = stat.S_IMODE((tmp_path / expected).stat().st_mode)
    assert sidecar_mode == stat.S_IMODE(image.stat().st_mode) & 0o666  # readable by whoever reads the image
    tags = read_tags(tmp_path / expected)
    assert tags["XMP-xmp:Rating"] == 5 and result.rating == 5
    assert tags["XMP-xmp:Label"] == "Blue" == result.label  # photography's default label
    assert tags["XMP-dc:Description"].startswith("ArtiMuse aesthetic score 83.5/100 (± 4.2). photography. ")
    assert tags["XMP-dc:Subject"] == ["artimuse/score/80-89"]
    assert tags["XMP-lr:HierarchicalSubject"] == ["artimuse|score|80-89"]
    expected_ours = {
        "Score": 83.46,
        "Std": 4.2,
        "LowerBound": 79.26,
        "LowerBoundK": 1,
        "Category": "photography",
        "Model": "artimuse-tiny",
        "ModelFingerprint": "0123456789abcdef",
        "Adapter": "my-stars",
        "EngineVersion": "0.1.0",
        "ScoredAt": "2026:11:29 21:00:00+00:00",
        "SourceFile": image_name,
        "SuggestedRating": 5,
        "RatingMapping": "thresholds 20/40/60/80",
        "WrittenRating": 5,
        "WrittenLabel": "Blue",
        "WrittenDescription": tags["XMP-dc:Description"],
        "RatingSource": "model",  # whose rating xmp:Rating holds: ratings import never takes the model's
        "LabelSource": "category",
        **{critique_property(a)[0].upper() + critique_property(a)[1:]: text for a, text in CRITIQUES.items()},
    }
    assert ours(tags) == expected_ours
    raw = (tmp_path / expected).read_text(encoding="utf-8")
    assert f'xmlns:artimuse="{NAMESPACE}"' in raw


def test_critique_properties_are_one_per_attribute():
    names = [critique_property(a) for a in ATTRIBUTES]
    assert names[0] == "CritiqueCompositionAndDesign" and len(set(names)) == len(ATTRIBUTES)


# ------------------------------------------------------------------------------------------ merging
def test_update_keeps_every_other_namespace_and_the_users_rating(tmp_path, exiftool, read_tags):
    image = make_raw(tmp_path / "IMG_0001.CR2")
    sidecar = user_sidecar(exiftool, tmp_path / "IMG_0001.xmp", rating=2)
    sidecar.chmod(0o640)
    before = read_tags(sidecar)
    assert before["XMP-darktable:History"][1]["Operation"] == "sharpen"  # the fixture is what we think

    result = write_xmp(image, ScoreFacts(score=91.0, std=3.0), XmpSettings(naming="darktable"))
    assert result.path == str(sidecar) and result.status == "updated"  # the existing sidecar, whatever naming
    assert result.kept_user_rating and result.rating == 2 and result.suggested_rating == 5
    after = read_tags(sidecar)
    assert others(after) == others(before)  # every other property exactly, the user's rating included
    assert ours(after)["SuggestedRating"] == 5 and "WrittenRating" not in ours(after)
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640  # the replacement keeps the file's permissions

    forced = write_xmp(image, ScoreFacts(score=91.0, std=3.0), XmpSettings(overwrite_ratings=True))
    assert forced.rating == 5 and not forced.kept_user_rating
    final = read_tags(sidecar)
    assert final["XMP-xmp:Rating"] == 5 and ours(final)["WrittenRating"] == 5
    assert others(final, "XMP-xmp:Rating") == others(before, "XMP-xmp:Rating")


def test_keywords_join_the_users_keywords_in_their_bag(tmp_path, exiftool, read_tags):
    image = make_raw(tmp_path / "IMG_0001.CR2")
    sidecar = user_sidecar(exiftool, tmp_path / "IMG_0001.xmp")
    write_xmp(image, ScoreFacts(score=55.0), XmpSettings(keywords=True))
    write_xmp(image, ScoreFacts(score=72.0), XmpSettings(keywords=True))  # replaces our keyword, not theirs
    tags = read_tags(sidecar)
    assert tags["XMP-dc:Subject"] == ["paris", "anna", "artimuse/score/70-79"]
    assert tags["XMP-lr:HierarchicalSubject"] == ["Places|Europe|Paris", "People|Anna", "artimuse|score|70-79"]
    assert tags["XMP-dc:Description"] == "Café at dusk"  # the user's caption: never ours to change
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    root = ElementTree.parse(sidecar).getroot()
    for prop in (
        "{http://purl.org/dc/elements/1.1/}subject",
        "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject",
    ):
        (element,) = root.iter(prop)
        assert element.find(rdf + "Bag") is not None  # still an unordered bag, as the spec and the user had it


def test_our_rating_follows_the_score_until_the_user_changes_it(tmp_path, exiftool, read_tags):
    image = make_jpeg(tmp_path / "a.jpg")
    sidecar = tmp_path / "a.jpg.xmp"
    assert write_xmp(image, ScoreFacts(score=91.0)).rating == 5
    assert read_rating(image).status == "ours"  # never train on our own stars
    assert write_xmp(image, ScoreFacts(score=31.0)).rating == 2  # still ours: updated
    exiftool("-q", "-overwrite_original", "-XMP-xmp:Rating=4", sidecar)  # the user disagrees
    result = write_xmp(image, ScoreFacts(score=91.0))
    assert result.rating == 4 and result.kept_user_rating
    record = read_rating(image)
    assert (record.status, record.stars, record.score, record.source) == (
        "rated",
        4,
        stars_to_score(4),
        "xmp:darktable",
    )
    assert json.loads(json.dumps(record.to_dict()))["origin"] == str(sidecar)
    assert json.loads(json.dumps(result.to_dict()))["kept_user_rating"] is True


def test_repeating_a_write_changes_nothing(tmp_path, exiftool):
    image = make_raw(tmp_path / "IMG_7.NEF")
    sidecar = user_sidecar(exiftool, tmp_path / "IMG_7.xmp")
    settings = XmpSettings(naming="lightroom", keywords=True, description=True, label="category")
    assert write_xmp(image, FACTS, settings).status == "updated"
    stamp = sidecar.stat().st_mtime_ns, sidecar.read_bytes()
    assert write_xmp(image, FACTS, settings).status == "unchanged"
    assert (sidecar.stat().st_mtime_ns, sidecar.read_bytes()) == stamp


def test_a_raw_and_jpeg_pair_keeps_separate_darktable_sidecars(tmp_path, exiftool):
    raw, jpeg = make_raw(tmp_path / "IMG_9.CR2"), make_jpeg(tmp_path / "IMG_9.jpg")
    lightroom = user_sidecar(exiftool, tmp_path / "IMG_9.xmp")
    before = lightroom.read_bytes()
    result = write_xmp(jpeg, ScoreFacts(score=40.0))  # darktable naming: IMG_9.xmp is the pair's, not the JPEG's
    assert result.path == str(tmp_path / "IMG_9.jpg.xmp") and lightroom.read_bytes() == before
    assert write_xmp(raw, ScoreFacts(score=40.0)).path == str(lightroom)  # the RAW's own sidecar is updated


# ------------------------------------------------------------------------------------------ bad input
BROKEN = {
    "empty": b"",
    "binary": bytes(range(256)),
    "truncated": b"<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF",
    "not-xmp": b"<?xml version='1.0'?><html><body>hello</body></html>",
    "bad-rdf": (
        b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        b"<rdf:Description rdf:about='' xmlns:xmp='http://ns.adobe.com/xap/1.0/'><xmp:Rating><rdf:li>3"
        b"</rdf:li></xmp:Rating></rdf:Description></rdf:RDF></x:xmpmeta>"
    ),
    "jpeg-named-xmp": None,  # filled below: a JPEG's bytes in a .xmp file
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_invalid_sidecar_is_reported_and_left_untouched(tmp_path, kind):
    image = make_jpeg(tmp_path / "b.jpg")
    sidecar = tmp_path / "b.jpg.xmp"
    sidecar.write_bytes(BROKEN[kind] if BROKEN[kind] is not None else image.read_bytes())
    stamp = sidecar.read_bytes(), sidecar.stat().st_mtime_ns
    with pytest.raises(InvalidSidecar) as caught:
        write_xmp(image, ScoreFacts(score=70.0))
    assert caught.value.path == str(sidecar) and caught.value.kind == "invalid_sidecar"
    assert "\n" not in str(caught.value)
    assert (sidecar.read_bytes(), sidecar.stat().st_mtime_ns) == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jpg", "b.jpg.xmp"]
    (record,) = iter_ratings([image])
    assert (record.status, record.error_kind, record.origin) == ("failed", "invalid_sidecar", str(sidecar))


@pytest.fixture()
def make_read_only():
    """Make a folder nobody may write in (root ignores mode bits, so as root: immutable); undone after."""
    undo = []

    def lock(folder: Path) -> None:
        if os.geteuid() != 0:
            folder.chmod(0o555)
            undo.append(lambda: folder.chmod(0o755))
            return
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a read-only folder as root here: {done.stderr.strip()}")
        undo.append(lambda: subprocess.run(["chattr", "-i", str(folder)], check=True))

    yield lock
    for step in undo:
        step()


def test_read_only_folder_gives_a_clear_error_and_loses_nothing(tmp_path, exiftool, make_read_only):
    make_raw(tmp_path / "IMG_1.CR2")
    user_sidecar(exiftool, tmp_path / "IMG_1.CR2.xmp")
    make_jpeg(tmp_path / "IMG_2.jpg")
    snapshot = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    make_read_only(tmp_path)

    for name in ("IMG_1.CR2", "IMG_2.jpg"):  # an existing sidecar to update, a new one to create
        with pytest.raises(SidecarWriteError, match="read-only") as caught:
            write_xmp(tmp_path / name, ScoreFacts(score=66.0))
        assert "\n" not in str(caught.value) and "nothing was changed" in str(caught.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == snapshot
    assert read_rating(tmp_path / "IMG_1.CR2").stars == 2  # reading still works


def test_a_user_edit_during_our_write_is_kept(tmp_path, exiftool, read_tags, monkeypatch):
    """The user's photo manager rewrites the sidecar between our read and our rename: we merge again."""
    image = make_raw(tmp_path / "IMG_5.CR2")
    sidecar = user_sidecar(exiftool, tmp_path / "IMG_5.CR2.xmp", rating=None)
    real_merge, calls = writing.merge_score, []

    def merge_while_the_user_edits(packet, *args):
        calls.append(1)
        if len(calls) == 1:
            exiftool("-q", "-overwrite_original", "-XMP-xmp:Rating=1", "-XMP-dc:Subject+=edited-meanwhile", sidecar)
        return real_merge(packet, *args)

    monkeypatch.setattr(writing, "merge_score", merge_while_the_user_edits)
    result = write_xmp(image, ScoreFacts(score=95.0))

    assert (result.retries, len(calls)) == (1, 2)
    tags = read_tags(sidecar)
    assert tags["XMP-dc:Subject"] == ["paris", "anna", "edited-meanwhile"]  # the user's edit survived
    assert tags["XMP-xmp:Rating"] == 1 and result.kept_user_rating  # and so did the rating they just set
    assert ours(tags)["Score"] == 95.0


def test_a_sidecar_created_during_our_write_is_not_overwritten(tmp_path, exiftool, read_tags, monkeypatch):
    image = make_jpeg(tmp_path / "new.jpg")
    sidecar = tmp_path / "new.jpg.xmp"
    real_merge, calls = writing.merge_score, []

    def merge_while_darktable_creates_it(packet, *args):
        calls.append(1)
        if len(calls) == 1:
            user_sidecar(exiftool, sidecar, rating=3)
        return real_merge(packet, *args)

    monkeypatch.setattr(writing, "merge_score", merge_while_darktable_creates_it)
    result = write_xmp(image, ScoreFacts(score=95.0))
    assert (result.status, result.retries, result.rating) == ("updated", 1, 3)
    assert read_tags(sidecar)["XMP-darktable:History"][0]["Operation"] == "exposure"


def test_an_editor_that_never_stops_wins(tmp_path, exiftool, monkeypatch):
    image = make_jpeg(tmp_path / "busy.jpg")
    sidecar = user_sidecar(exiftool, tmp_path / "busy.jpg.xmp")
    real_merge, count = writing.merge_score, iter(range(100))

    def merge_while_editing(packet, *args):
        exiftool("-q", "-overwrite_original", f"-XMP-dc:Title=edit {next(count)}", sidecar)
        return real_merge(packet, *args)

    monkeypatch.setattr(writing, "merge_score", merge_while_editing)
    with pytest.raises(SidecarConflict):
        write_xmp(image, ScoreFacts(score=50.0), XmpSettings(retries=2))
    assert "edit 2" in sidecar.read_text(encoding="utf-8") and "artimuse" not in sidecar.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.jpg", "busy.jpg.xmp"]


def test_score_facts_from_an_engine_result():
    provenance = Provenance(
        model="artimuse-tiny",
        repo_id=None,
        fingerprint="f" * 16,
        layout="chat",
        device="cpu",
        dtype="float32",
        engine_version="0.1.0",
        prompt_hash="p",
        adapter="mine",
    )
    result = ScoreResult(path="a.jpg", score=61.5, std=3.5, provenance=provenance, category="aigc")
    facts = ScoreFacts.from_result(result, critiques={"Overall Gestalt": "ok"}, scored_at="2026-01-01T00:00:00+00:00")
    assert (
        facts.score,
        facts.std,
        facts.category,
        facts.model,
        facts.fingerprint,
        facts.adapter,
        facts.engine_version,
        dict(facts.critiques),
    ) == (61.5, 3.5, "aigc", "artimuse-tiny", "f" * 16, "mine", "0.1.0", {"Overall Gestalt": "ok"})
    with pytest.raises(ValueError, match="no score to write"):
        ScoreFacts.from_result(ScoreResult(path="b.jpg", error="corrupt"))
    with pytest.raises(ValueError, match="within 0-100"):
        ScoreFacts(score=101.0)


def test_missing_image_and_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(SidecarWriteError, match="image is not there"):
        write_xmp(tmp_path / "gone.jpg", ScoreFacts(score=50.0))
    with pytest.raises(ValueError, match="percentile ratings need"):
        write_xmp(
            make_jpeg(tmp_path / "p.jpg"), ScoreFacts(score=50.0), XmpSettings(rating=RatingMapping(mode="percentiles"))
        )
    with pytest.raises(ValueError, match="cuts must rise"):
        RatingMapping(cuts=(50, 40, 60, 80))
    with pytest.raises(ValueError, match="pick_at"):
        XmpSettings(label="pick")


# ------------------------------------------------------------------------------------------ embedded
def test_embedded_xmp_only_on_request_and_pixels_untouched(tmp_path, exiftool, read_tags):
    image = make_jpeg(tmp_path / "e.jpg")
    exiftool("-q", "-overwrite_original", "-EXIF:Make=Fujifilm", "-EXIF:Artist=Anna", image)
    original, pixels = image.read_bytes(), np.asarray(Image.open(image))
    write_xmp(image, ScoreFacts(score=64.0))
    assert image.read_bytes() == original  # default: a sidecar, the JPEG untouched

    result = write_xmp(
        image, ScoreFacts(score=64.0), XmpSettings(target="embedded", label="pick", rating=RatingMapping(pick_at=60))
    )
    assert (result.path, result.style, result.status) == (str(image), "embedded", "updated")
    tags = read_tags(image, "-All")
    assert (tags["XMP-xmp:Rating"], tags["XMP-xmp:Label"], ours(tags)["Score"]) == (4, "Green", 64.0)
    assert (tags["IFD0:Make"], tags["IFD0:Artist"]) == ("Fujifilm", "Anna")
    assert np.array_equal(np.asarray(Image.open(image)), pixels)
    png = tmp_path / "e.png"
    Image.new("RGB", (8, 8)).save(png)
    with pytest.raises(SidecarWriteError, match="only into JPEG, TIFF or DNG"):
        write_xmp(png, ScoreFacts(score=64.0), XmpSettings(target="embedded"))


# ------------------------------------------------------------------------------------------ reading
def test_raw_with_sidecar_is_rated_from_the_sidecar(tmp_path, exiftool):
    lightroom_raw = make_raw(tmp_path / "IMG_1.CR2")
    exiftool("-q", "-o", tmp_path / "IMG_1.xmp", "-XMP-xmp:Rating=4", "-XMP-xmp:Label=Yellow")
    record = read_rating(lightroom_raw)
    assert (record.status, record.stars, record.score, record.label) == ("rated", 4, 70.0, "Yellow")
    assert (record.source, record.origin) == ("xmp:lightroom", str(tmp_path / "IMG_1.xmp"))

    darktable_raw = make_raw(tmp_path / "IMG_2.NEF")
    exiftool("-q", "-o", tmp_path / "IMG_2.NEF.xmp", "-XMP-xmp:Rating=1", "-XMP-darktable:ColorLabels=2")
    record = read_rating(darktable_raw)
    assert (record.status, record.stars, record.label, record.source) == ("rated", 1, "Green", "xmp:darktable")

    bare = make_raw(tmp_path / "IMG_3.CR2")
    (record,) = iter_ratings([bare])
    assert record.status == "failed" and record.error_kind == "metadata_unreadable"
    assert "no sidecar" in record.reason


def test_ratings_from_embedded_xmp_exif_and_flags(tmp_path, exiftool):
    def jpeg(name, *tags):
        path = make_jpeg(tmp_path / name)
        if tags:
            exiftool("-q", "-overwrite_original", *tags, path)
        return path

    cases = {
        jpeg("xmp.jpg", "-XMP-xmp:Rating=5", "-EXIF:Rating=2"): ("rated", 5, "xmp:embedded"),
        jpeg("exif.jpg", "-EXIF:Rating=3"): ("rated", 3, "exif"),
        jpeg("windows.jpg", "-EXIF:RatingPercent=75"): ("rated", 4, "exif"),
        jpeg("reject.jpg", "-XMP-xmp:Rating=-1"): ("rejected", -1, "xmp:embedded"),
        jpeg("digikam-reject.jpg", "-XMP-digiKam:PickLabel=1"): ("rejected", None, "xmp:embedded"),
        jpeg("zero.jpg", "-XMP-xmp:Rating=0"): ("unrated", None, None),
        jpeg("plain.jpg"): ("unrated", None, None),
    }
    picked = jpeg("picked.jpg", "-XMP-xmp:Rating=2", "-XMP-photomech:Tagged=Yes")
    records = list(iter_ratings([*cases, picked]))
    for record, (status, stars, source) in zip(records, cases.values()):
        assert (record.status, record.stars, record.source) == (status, stars, source), record.image
    assert records[-1].picked and records[-1].stars == 2
    assert all(r.reason for r in records if r.status == "unrated")  # never silently passed over


def test_sidecar_wins_over_embedded_and_both_names_are_found(tmp_path, exiftool):
    image = make_jpeg(tmp_path / "both.jpg")
    exiftool("-q", "-overwrite_original", "-XMP-xmp:Rating=1", image)
    exiftool("-q", "-o", tmp_path / "both.xmp", "-XMP-xmp:Rating=3")
    assert read_rating(image).stars == 3
    exiftool("-q", "-o", tmp_path / "both.jpg.xmp", "-XMP-xmp:Rating=5")
    assert read_rating(image).stars == 5  # darktable style preferred by default
    assert read_rating(image, prefer="lightroom").stars == 3


def test_non_utf8_file_names(tmp_path, read_tags):
    folder = os.fsencode(tmp_path)
    name = os.fsdecode(folder + b"/caf\xe9-\xff.jpg")
    make_jpeg(Path(name))
    write_xmp(name, ScoreFacts(score=12.0))
    assert read_rating(name).status == "ours"
    (sidecar,) = [p for p in tmp_path.iterdir() if p.suffix == ".xmp"]
    assert read_tags(sidecar)["XMP-xmp:Rating"] == 1


# ------------------------------------------------------------------------------------------ mapping
def test_default_thresholds_invert_the_library_star_scores():
    scale = RatingMapping().scale()
    assert [scale.stars(stars_to_score(s)) for s in (1, 2, 3, 4, 5)] == [1, 2, 3, 4, 5]
    assert [scale.stars(s) for s in (0, 19.99, 20, 59.9, 80, 100)] == [1, 1, 2, 3, 5, 5]


def test_percentiles_give_the_best_tenth_five_stars_whatever_the_scale():
    narrow = [48 + i * 0.1 for i in range(30)]  # an AVA checkpoint: everything within 3 points
    assert {RatingMapping().scale().stars(s) for s in narrow} == {3}
    scale = RatingMapping(mode="percentiles", reject_below=5).scale(narrow)
    stars = [scale.stars(s) for s in narrow]
    assert stars.count(5) == 3 and stars[-3:] == [5, 5, 5]
    assert stars[:1] == [-1] and stars.count(1) == 2  # the bottom 5 % rejected, the rest of the bottom 10 %: 1
    assert stars == sorted(stars)
    assert "percentiles 10/30/70/90 of 30 scores" in scale.description


def test_writes_from_many_threads(tmp_path, read_tags):
    images = [make_jpeg(tmp_path / f"t{i}.jpg") for i in range(24)]
    errors = []

    def work(chunk):
        try:
            for image in chunk:
                score = 4 * int(image.stem[1:]) + 1
                write_xmp(image, ScoreFacts(score=score, critiques=CRITIQUES))
                assert read_rating(image).stars == RatingMapping().scale().stars(score)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(images[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ours(read_tags(tmp_path / "t23.jpg.xmp"))["Score"] == 93.0


def test_importing_the_module_is_cheap():
    """Commands that only write or read XMP must start fast: no torch, no exiv2 until used."""
    code = (
        "import sys\n"
        "import artimuse_core.xmp\n"
        "print(sorted(m for m in ('torch', 'exiv2', 'sqlalchemy', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_without_the_xmp_extra_one_clear_line_names_it(tmp_path, monkeypatch):
    """python-exiv2 is the optional 'xmp' extra (GPL): without it, writing and reading say what to install."""
    from artimuse_core.errors import MissingExtra
    from artimuse_core.xmp import packets

    image = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(image)
    monkeypatch.setattr(packets, "_exiv2", None)
    monkeypatch.setitem(sys.modules, "exiv2", None)  # what an environment without the package gives
    for call in (lambda: write_xmp(image, FACTS), lambda: read_rating(image)):
        with pytest.raises(MissingExtra) as caught:
            call()
        assert "pip install 'artimuse-studio[xmp]'" in str(caught.value) and "\n" not in str(caught.value)
    assert not sidecar_path(image, "darktable").exists()  # nothing half-written
