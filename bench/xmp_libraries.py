"""Compare the XMP libraries that could write sidecars, on this machine, for what ArtiMuse does with sidecars.

Candidates: exiv2 through ``pyexiv2`` (LeoHsiao), exiv2 through ``exiv2`` (python-exiv2, Jim Easterbrook)
and exempi through ``python-xmp-toolkit`` (needs Debian's ``libexempi8``). None of them but ``exiv2`` is a
dependency of this project, so install them in a scratch environment first::

    apt-get install libimage-exiftool-perl libexempi8
    python3 -m venv /tmp/xmpcmp && /tmp/xmpcmp/bin/pip install pyexiv2 python-xmp-toolkit exiv2
    /tmp/xmpcmp/bin/python bench/xmp_libraries.py

For each library it prints one JSON line: import seconds (fresh interpreter, median of 3), whether a merge
(xmp:Rating + two ``artimuse:`` properties) into a sidecar written by exiftool keeps every other property
as exiftool reads it, whether appending a keyword keeps ``dc:subject`` an unordered ``rdf:Bag``, whether it
can start a sidecar from nothing, how it reports a broken sidecar, milliseconds per merge, and how many of
800 merges from 8 threads at once went wrong without a lock of our own.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NS = "http://ns.artimuse.studio/1.0/"
CRITIQUE = 'Strong diagonal & <leading> lines;\nwarm "light" - ünïcödé 日本'
KEYWORD = "artimuse/score/80-89"
DARKTABLE_CONFIG = """%Image::ExifTool::UserDefined = ('Image::ExifTool::XMP::Main' => {
  darktable => { SubDirectory => { TagTable => 'Image::ExifTool::UserDefined::darktable' } } });
%Image::ExifTool::UserDefined::darktable = (
  GROUPS => { 0 => 'XMP', 1 => 'XMP-darktable', 2 => 'Image' },
  NAMESPACE => { 'darktable' => 'http://darktable.sf.net/' }, WRITABLE => 'string',
  xmp_version => { Name => 'XmpVersion', Writable => 'integer' },
  history => { List => 'Seq', Struct => { STRUCT_NAME => 'DarktableHistory', NAMESPACE => 'darktable',
    operation => { }, enabled => { Writable => 'integer' }, params => { } } } );
1;
"""


def user_sidecar(folder: Path) -> Path:
    """A sidecar as a user's tools leave it: Lightroom keywords, darktable history, a German caption."""
    config = folder / "darktable.config"
    config.write_text(DARKTABLE_CONFIG)
    sidecar = folder / "user.xmp"
    subprocess.run(
        [
            "exiftool",
            "-config",
            str(config),
            "-q",
            "-o",
            str(sidecar),
            "-XMP-xmp:Rating=3",
            "-XMP-xmp:Label=Red",
            "-XMP-lr:HierarchicalSubject=Places|Europe|Paris",
            "-XMP-lr:HierarchicalSubject=People|Anna",
            "-XMP-dc:Subject=paris",
            "-XMP-dc:Subject=anna",
            "-XMP-dc:Description=Café at dusk",
            "-XMP-dc:Description-de=Café in der Dämmerung",
            "-XMP-darktable:XmpVersion=5",
            "-XMP-darktable:History=[{Operation=exposure,Enabled=1,Params=0000803f},{Operation=sharpen,Enabled=0,Params=ab}]",
            "-XMP-exif:DateTimeOriginal=2024:05:06 07:08:09",
            "-XMP-crs:Exposure2012=+0.50",
        ],
        check=True,
    )
    return sidecar


def exiftool_dump(path: Path, config: Path) -> dict:
    out = subprocess.run(
        ["exiftool", "-config", str(config), "-j", "-G1", "-struct", "-XMP:all", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)[0]
    data.pop("SourceFile")
    data.pop("XMP-x:XMPToolkit", None)
    return data


def adapter(name: str):
    """(merge(packet, keyword) -> packet, new() -> packet) for one library."""
    if name == "pyexiv2":
        import pyexiv2

        pyexiv2.registerNs(NS, "artimuse")

        def merge(src: bytes, keyword: bool = False) -> bytes:
            image = pyexiv2.ImageData(src)
            try:
                changes = {"Xmp.xmp.Rating": "4", "Xmp.artimuse.Score": "81.25", "Xmp.artimuse.Critique": CRITIQUE}
                if keyword:
                    changes["Xmp.dc.subject"] = image.read_xmp().get("Xmp.dc.subject", []) + [KEYWORD]
                image.modify_xmp(changes)
                return image.get_bytes()
            finally:
                image.close()

        empty = b"<?xpacket begin='\xef\xbb\xbf' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
        return merge, lambda: merge(empty + b"<?xpacket end='w'?>")
    if name == "python-xmp-toolkit":
        from libxmp import XMPMeta, consts

        XMPMeta.register_namespace(NS, "artimuse")

        def fill(meta, keyword):
            meta.set_property(consts.XMP_NS_XMP, "Rating", "4")
            meta.set_property(NS, "Score", "81.25")
            meta.set_property(NS, "Critique", CRITIQUE)
            if keyword:
                meta.append_array_item(consts.XMP_NS_DC, "subject", KEYWORD, {"prop_array_is_unordered": True})
            return meta.serialize_to_str().encode()

        return (lambda src, keyword=False: fill(XMPMeta(xmp_str=src.decode()), keyword)), (
            lambda: fill(XMPMeta(), False)
        )
    if name == "exiv2":
        import exiv2

        exiv2.XmpParser.initialize()
        exiv2.XmpProperties.registerNs(NS, "artimuse")

        def edit(image, keyword):
            image.readMetadata()
            data = image.xmpData()
            data["Xmp.xmp.Rating"] = "4"
            data["Xmp.artimuse.Score"] = "81.25"
            data["Xmp.artimuse.Critique"] = CRITIQUE
            if keyword:
                value = exiv2.XmpArrayValue(exiv2.TypeId.xmpBag)
                if "Xmp.dc.subject" in data:
                    value = data["Xmp.dc.subject"].getValue()
                value.read(KEYWORD)
                data["Xmp.dc.subject"] = value
            image.writeMetadata()
            io = image.io()
            io.open()
            try:
                return bytes(io.mmap())
            finally:
                io.munmap()
                io.close()

        return (lambda src, keyword=False: edit(exiv2.ImageFactory.open(src), keyword)), (
            lambda: edit(exiv2.ImageFactory.create(exiv2.ImageType.xmp), False)
        )
    raise SystemExit(f"unknown library {name}")


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(3)
    ]
    return round(statistics.median(runs), 3)


def measure(name: str, folder: Path) -> dict:
    module = {"pyexiv2": "pyexiv2", "python-xmp-toolkit": "libxmp", "exiv2": "exiv2"}[name]
    result: dict = {"library": name, "import_s": import_seconds(module)}
    merge, new = adapter(name)
    config = folder / "darktable.config"
    source = (folder / "user.xmp").read_bytes()
    before = exiftool_dump(folder / "user.xmp", config)
    out = folder / f"merged-{name}.xmp"
    out.write_bytes(merge(source, True))
    after = exiftool_dump(out, config)
    ours = {"XMP-xmp:Rating", "XMP-artimuse:Score", "XMP-artimuse:Critique", "XMP-dc:Subject"}
    result["others_kept"] = (
        sorted(k for k in set(before) | set(after) if k not in ours and before.get(k) != after.get(k)) or True
    )
    result["critique_exact"] = after.get("XMP-artimuse:Critique") == CRITIQUE
    text = out.read_text(encoding="utf-8")
    subject = text[text.find("dc:subject") :][:80]
    result["keyword_keeps_bag"] = "rdf:Bag" in subject and after.get("XMP-dc:Subject") == ["paris", "anna", KEYWORD]
    try:
        fresh = folder / f"new-{name}.xmp"
        fresh.write_bytes(new())
        result["new_sidecar"] = exiftool_dump(fresh, config).get("XMP-artimuse:Critique") == CRITIQUE
    except Exception as exc:  # noqa: BLE001 - reported, this is a comparison
        result["new_sidecar"] = f"{type(exc).__name__}: {exc}"[:80]
    try:
        merge(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>broken")
        result["broken_sidecar"] = "accepted"
    except Exception as exc:  # noqa: BLE001
        result["broken_sidecar"] = f"{type(exc).__name__}"
    start, count = time.perf_counter(), 200
    for _ in range(count):
        merge(source)
    result["merge_ms"] = round((time.perf_counter() - start) / count * 1000, 2)
    expected, errors = merge(source), []

    def work():
        for _ in range(100):
            try:
                if merge(source) != expected:
                    errors.append("different output")
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result["thread_failures_of_800"] = len(errors)
    return result


def main() -> None:
    names = sys.argv[1:] or ["pyexiv2", "python-xmp-toolkit", "exiv2"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        user_sidecar(folder)
        for name in names:
            try:
                print(json.dumps(measure(name, folder), ensure_ascii=False), flush=True)
            except ImportError as exc:
                print(json.dumps({"library": name, "error": f"not installed: {exc}"}))


if __name__ == "__main__":
    main()
