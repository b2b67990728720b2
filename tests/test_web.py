"""The web gallery over a real library of real JPEGs, through Starlette's TestClient (the browser tests are
in test_web_browser.py): keyset pages, filters, pictures by id only, placeholders, the host and CSRF guards,
ratings from the web and the CLI at once, the live view, compare, and the self-contained report."""

from __future__ import annotations

import json
import os
import re
import threading

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

from artimuse_core.errors import InvalidValue  # noqa: E402
from artimuse_core.library import Library, ScoredFile, file_facts  # noqa: E402
from artimuse_web.app import create_app  # noqa: E402
from artimuse_web.report import write_report  # noqa: E402
from artimuse_web.server import check_host  # noqa: E402
from tests.web_library import CATEGORIES, picture, result, scored_library  # noqa: E402

TOKEN = "test-token"
ORIGIN = "http://127.0.0.1"


@pytest.fixture()
def gallery(tmp_path, library_backend):
    library, paths = scored_library(tmp_path, 12, library_backend)
    app = create_app(library, thumbnails=tmp_path / "home" / "thumbnails", token=TOKEN, page_size=5)
    client = TestClient(app, base_url=ORIGIN)
    yield client, library, paths
    library.close()


def tile_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="tile[^"]*" href="/image/\d+" data-id="(\d+)"', html)]


def image_id(library, path) -> int:
    found = library.image_id(str(path))
    assert found is not None
    return found


def post_rating(client, image, body, **headers):
    sent = {"X-ArtiMuse-Token": TOKEN, "Origin": ORIGIN, "Content-Type": "application/json", **headers}
    return client.post(f"/api/images/{image}/rating", content=json.dumps(body), headers=sent)


# --- the library's pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rank", ["mean", "lower"])
def test_keyset_pages_walk_the_whole_ranking_once_in_order(tmp_path, rank, library_backend):
    library, paths = scored_library(tmp_path, 12, library_backend)
    seen, after = [], None
    while True:
        page = library.browse(rank=rank, limit=5, after=after)
        seen += page.items
        if page.next_cursor is None:
            break
        after = page.next_cursor
    key = (lambda i: i.score) if rank == "mean" else (lambda i: i.score - i.std)
    expected = sorted(seen, key=lambda i: (key(i), i.evaluation_id), reverse=True)
    assert [i.evaluation_id for i in seen] == [i.evaluation_id for i in expected]
    assert len({i.path for i in seen}) == 12 and len(seen) == 12
    assert [i.path for i in library.browse(limit=12).items] == [str(p) for p in paths]  # scores fall with index


def test_browse_filters(tmp_path, library_backend):
    library, paths = scored_library(tmp_path, 12, library_backend)
    assert {i.category for i in library.browse(category="aigc").items} == {"aigc"}
    assert len(library.browse(category="aigc").items) == 4
    assert [i.score for i in library.browse(min_score=70).items] == [90, 84.5, 79, 73.5]
    # Critique search (FTS5, porter + prefix): index 2 and 8 have the crimson palette.
    assert sorted(i.path for i in library.browse(search="crims").items) == [str(paths[2]), str(paths[8])]
    library.rate(paths[3], stars=4)
    library.rate(paths[5], rejected=True)
    assert [i.path for i in library.browse(rating="4").items] == [str(paths[3])]
    assert [i.path for i in library.browse(rating="rejected").items] == [str(paths[5])]
    assert len(library.browse(rating="unrated").items) == 10
    assert [i.stars for i in library.browse(rating="rated").items] == [4.0]  # a reject has no stars
    assert library.browse(folder=tmp_path / "elsewhere").items == []
    with pytest.raises(InvalidValue, match="cursor"):
        library.browse(after="not-a-cursor")
    with pytest.raises(InvalidValue, match="rating"):
        library.browse(rating="six")


# --- pages --------------------------------------------------------------------------------------------------


def test_grid_is_ranked_filtered_and_paged(gallery):
    client, library, paths = gallery
    page = client.get("/")
    assert page.status_code == 200
    first = tile_ids(page.text)
    assert first == [image_id(library, p) for p in paths[:5]]
    more = re.search(r'hx-get="(/tiles\?[^"]+)"', page.text).group(1).replace("&amp;", "&")
    second = tile_ids(client.get(more).text)
    assert second == [image_id(library, p) for p in paths[5:10]]
    aigc = client.get("/?category=aigc").text
    assert set(re.findall(r'data-category="([^"]*)"', aigc)) == {"aigc"}
    bad = client.get("/?min_score=lots")
    assert bad.status_code == 400 and "min_score must be a number" in bad.text


def test_image_page_shows_score_distribution_critiques_history(gallery):
    client, library, paths = gallery
    page = client.get(f"/image/{image_id(library, paths[1])}")
    assert page.status_code == 200
    assert "84.5" in page.text and "± 4.0" in page.text
    assert '<svg class="dist"' in page.text and page.text.count("<rect x=") > 20
    assert "Composition &amp; Design" in page.text and "bold diagonal" in page.text
    assert "fakeprompt00" in page.text and "img_001.jpg" in page.text


def test_pictures_are_cached_by_content_under_the_home_never_beside_photos(gallery, tmp_path):
    client, library, paths = gallery
    before = sorted(os.listdir(paths[0].parent))
    answer = client.get(f"/picture/{image_id(library, paths[0])}/s")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.content[:2] == b"\xff\xd8"
    digest = file_facts(paths[0]).content_hash
    assert (tmp_path / "home" / "thumbnails" / digest[:2] / f"{digest}-480.jpg").is_file()
    assert sorted(os.listdir(paths[0].parent)) == before
    assert client.get(f"/picture/{image_id(library, paths[0])}/l").status_code == 200


TRAVERSALS = [
    "/picture/../../etc/passwd",
    "/picture/%2e%2e%2f%2e%2e%2fetc%2fpasswd/s",
    "/picture/1/..%2f..%2fetc%2fpasswd",
    "/picture/-1/s",
    "/picture/999999/s",
    "/picture/1/x",
    "/image/999999",
    "/static/../library.db",
    "/static/%2e%2e/app.py",
]


def test_traversal_and_unknown_ids_are_refused(gallery):
    client, _, _ = gallery
    for url in TRAVERSALS:
        answer = client.get(url)
        assert answer.status_code == 404, (url, answer.text[:200])
        assert b"root:" not in answer.content and b"SQLite" not in answer.content


def test_missing_moved_changed_and_linked_out_files_get_a_placeholder_with_the_reason(gallery, tmp_path):
    client, library, paths = gallery
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(paths[2].read_bytes())  # the same content: only the link check can refuse it
    paths[2].unlink()
    paths[2].symlink_to(outside)
    paths[0].unlink()
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[::-1])  # same size, other content
    inside = paths[3].with_name("inside.jpg")
    paths[3].rename(inside)
    paths[3].symlink_to(inside)  # a link within the folder is fine
    reasons = {}
    for index in range(4):
        answer = client.get(f"/picture/{image_id(library, paths[index])}/s")
        assert answer.status_code == 200
        reasons[index] = answer.headers.get("x-artimuse-unavailable")
    assert reasons[0].startswith("not found: moved or deleted")
    assert reasons[1].startswith("changed since it was scored (different content)")
    assert reasons[2].startswith("a link out of its folder")
    assert reasons[3] is None
    page = client.get(f"/image/{image_id(library, paths[0])}")
    assert page.status_code == 200 and "Cannot show this image: not found" in page.text


def test_a_foreign_host_header_is_refused(gallery):
    client, _, _ = gallery
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_ratings_need_the_page_token_and_the_same_origin(gallery):
    client, library, paths = gallery
    image = image_id(library, paths[4])
    assert post_rating(client, image, {"stars": 4}, **{"X-ArtiMuse-Token": ""}).status_code == 403
    assert post_rating(client, image, {"stars": 4}, Origin="http://evil.example").status_code == 403
    assert post_rating(client, image, {"stars": 4}, **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert library.show(paths[4]).ratings == []
    stored = post_rating(client, image, {"stars": 4})
    assert stored.status_code == 200 and stored.json()["score"] == 70 and stored.json()["stars"] == 4
    assert post_rating(client, image, {"reject": True}).json()["score"] == 0
    picked = post_rating(client, image, {"pick": True}).json()  # a pick is a flag: a reject's no-stars stays
    assert (picked["picked"], picked["rejected"], picked["stars"], picked["name"]) == (True, False, None, "img_004.jpg")
    assert post_rating(client, image, {"stars": 5}).json()["picked"] is True  # stars keep the pick
    shown = [(r.score, r.stars, r.rejected, r.picked) for r in library.show(paths[4]).ratings]
    assert shown == [(90, 5, False, True), (None, None, False, True), (0, None, True, False), (70, 4, False, False)]
    assert [r.stars for r in library.ratings() if r.path == str(paths[4])] == [5]  # what finetune reads: the latest
    cleared = post_rating(client, image, {"clear": True}).json()
    assert (cleared["score"], cleared["picked"], cleared["rejected"]) == (None, False, False)
    assert [r for r in library.ratings() if r.path == str(paths[4])] == []  # a clear: nothing to train on
    assert post_rating(client, image, {"stars": 9}).status_code == 400
    assert post_rating(client, image, ["x"]).status_code == 400
    assert post_rating(client, 999999, {"stars": 3}).status_code == 404


def test_concurrent_ratings_from_the_web_and_the_cli_are_all_kept(gallery, tmp_path):
    client, library, paths = gallery
    image = image_id(library, paths[6])
    other = Library(str(library.url))  # what `artimuse rate` opens: its own connection

    def web():
        for i in range(15):
            assert post_rating(client, image, {"stars": 1 + i % 5}).status_code == 200

    def cli():
        for i in range(15):
            other.rate(paths[6], score=float(i))

    threads = [threading.Thread(target=web), threading.Thread(target=cli)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(library.show(paths[6]).ratings) == 30
    other.close()


def test_live_view_counts_new_pictures_in_a_bar_and_moves_no_tile(gallery, tmp_path):
    """New pictures never go into the grid by themselves (a key would then act on a tile that moved under the
    user): the poller answers how many there are, for a bar the user opens."""
    client, library, _ = gallery
    last = library.last_evaluation_id()
    quiet = client.get(f"/live?after={last}")
    assert tile_ids(quiet.text) == [] and f"after={last}" in quiet.text and 'class="new-bar"' not in quiet.text
    for i in (40, 41):
        new = picture(tmp_path / "photos" / f"new{i}.jpg", i)
        library.record_scores([ScoredFile(file_facts(new), result(new, i, 99.0, 1.0), "aigc", "option")])
    fresh = client.get(f"/live?after={last}&category=aigc")
    assert tile_ids(fresh.text) == [] and "afterbegin" not in fresh.text  # no tile is pushed in
    assert "2 new pictures" in fresh.text and 'hx-swap-oob="outerHTML"' in fresh.text
    assert f"after={last}" in fresh.text and "category=aigc" in fresh.text  # counting on from the page's last id


def test_opening_new_pictures_keeps_every_tile_the_user_had_loaded(gallery):
    """The "N new" bar reloads the grid with ``shown`` tiles (those loaded plus the new ones), not one page:
    a highlight far down the grid stays on its picture."""
    client, _, _ = gallery
    assert len(tile_ids(client.get("/").text)) == 5  # one page
    assert len(tile_ids(client.get("/?shown=11").text)) == 11
    assert len(tile_ids(client.get("/?shown=0").text)) == 5
    assert len(tile_ids(client.get(f"/?shown={10**12}").text)) == 12  # capped at MAX_SHOWN, all there are
    assert client.get("/?shown=lots").status_code == 400  # the validation layer's answer, as for every number


def test_compare_two_or_four(gallery):
    client, library, paths = gallery
    ids = [image_id(library, p) for p in paths[:4]]
    two = client.get(f"/compare?ids={ids[1]},{ids[0]}")
    assert two.status_code == 200 and two.text.count('class="column') == 2
    assert re.search(rf'class="column best" data-id="{ids[0]}"', two.text)
    assert client.get("/compare?ids=" + ",".join(map(str, ids))).text.count('class="column') == 4
    assert client.get(f"/compare?ids={ids[0]}").status_code == 400
    assert client.get("/compare?ids=1,zz").status_code == 400


# --- the report and the host policy -------------------------------------------------------------------------


def test_report_is_one_self_contained_file(gallery, tmp_path):
    _, library, paths = gallery
    from artimuse_web.pictures import Renditions

    paths[5].unlink()
    output = tmp_path / "report.html"
    summary = write_report(library, output, renditions=Renditions(tmp_path / "thumbs"), paths=[paths[0].parent])
    html = output.read_text(encoding="utf-8")
    assert summary.images == 12 and len(summary.problems) == 1 and "img_005.jpg" in summary.problems[0]
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == 12 and all(s.startswith("data:image/") for s in sources)
    assert sum(s.startswith("data:image/jpeg;base64,") for s in sources) == 11
    assert not re.search(r'(src|href)="(https?:)?//', html) and "<link" not in html and "<script" not in html
    assert html.index("img_000.jpg") < html.index("img_001.jpg") < html.index("img_011.jpg")
    assert html.count('<svg class="dist"') == 12


def test_cli_report_and_serve_refuses_a_public_host_without_the_flag(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path))
    library, paths = scored_library(tmp_path, 6)
    library.close()
    output = tmp_path / "r.html"
    done = run_cli("report", "-o", output, "--query", "category=aigc", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["images"] == 2
    assert {m for m in re.findall(r"img_00\d", output.read_text())} == {"img_001", "img_004"}
    refused = run_cli("serve", "--host", "0.0.0.0")
    assert refused.exit_code != 0 and "allow_remote" in refused.output
    assert check_host("127.0.0.1", False) is None and check_host("::1", False) is None
    assert "anyone who can reach" in check_host("0.0.0.0", True)
    with pytest.raises(InvalidValue):
        check_host("192.168.1.10", False)
    assert CATEGORIES[1] == "aigc"
