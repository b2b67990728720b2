"""The gallery's stacks through Starlette's TestClient, over a library the stacks core grouped from real
photographs (``tests.stack_library``): every member tile names its stack and the stack's best, the badge says
×N with the library's reason, opening a stack gives its other members, and the take-best write picks the
picture and rejects the rest of its stack, behind the same guards as a rating (the browser journey is
test_gallery_stacks_journey.py)."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("imagehash")

from starlette.testclient import TestClient  # noqa: E402

from artimuse_web.app import create_app  # noqa: E402
from tests.stack_library import stacked_library  # noqa: E402
from tests.test_web_edges import assert_guarded  # noqa: E402

TOKEN = "test-token"
ORIGIN = "http://127.0.0.1"


@pytest.fixture()
def stacked(tmp_path):
    made = stacked_library(tmp_path)
    app = create_app(made.library, thumbnails=tmp_path / "thumbnails", token=TOKEN)
    yield TestClient(app, base_url=ORIGIN), made
    made.library.close()


def take(client, image, body, **headers):
    sent = {"X-ArtiMuse-Token": TOKEN, "Origin": ORIGIN, "Content-Type": "application/json", **headers}
    return client.post(f"/api/images/{image}/stack", content=json.dumps(body), headers=sent)


def tiles(html: str) -> dict[int, dict[str, str]]:
    """Each tile's data attributes, by its library id."""
    found = {}
    for tag in re.findall(r'<a class="tile[^>]*>', html):
        attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))
        found[int(attributes["id"])] = attributes
    return found


def test_every_member_tile_names_its_stack_and_best_and_the_badge_gives_size_and_reason(stacked):
    client, made = stacked
    page = client.get("/")
    assert page.status_code == 200
    shown = tiles(page.text)
    assert len(shown) == 9  # every picture is sent; the page folds a stack's members behind its best
    astro, coffee = ([made.id(n) for n in burst] for burst in made.bursts)
    for members, best in ((astro, made.id("astro_2.jpg")), (coffee, made.id("coffee_1.jpg"))):
        assert {shown[i]["stack"] for i in members} == {str(min(members))}
        assert {shown[i]["best"] for i in members} == {str(best)}
    assert all("stack" not in shown[made.id(n)] for n in made.singles)
    badges = re.findall(r'<span class="stack-badge" role="button" title="([^"]*)">×(\d)</span>', page.text)
    assert sorted(int(n) for _, n in badges) == [2, 2, 4, 4, 4, 4]  # on each member; the page shows the leader's
    reason = next(title for title, n in badges if n == "4")
    assert "astro_2.jpg" in reason and "lower bound 78.0" in reason, reason
    assert_guarded(page)


def test_opening_a_stack_gives_its_other_members_and_the_reason(stacked):
    client, made = stacked
    best = made.id("astro_2.jpg")
    opened = client.get(f"/stack/{best}")
    assert opened.status_code == 200
    assert_guarded(opened)
    members = tiles(opened.text)
    assert set(members) == {made.id(n) for n in ("astro_1.jpg", "astro_3.jpg", "astro_4.jpg")}
    assert all(m["member-of"] == m["stack"] for m in members.values())
    assert "Stack of 4" in opened.text and "highest lower bound" in opened.text
    # From another member (the leader when the best is filtered out): the best is among the others, marked.
    other = client.get(f"/stack/{made.id('astro_1.jpg')}")
    assert best in tiles(other.text) and '<span class="best-mark"' in other.text
    for path in (f"/stack/{made.id('chelsea.jpg')}", "/stack/99999", "/stack/1234567890123456789012", "/stack/x"):
        refused = client.get(path)  # alone; not in the library; no route for a 22-digit id or a word
        assert refused.status_code == 404, path
        assert_guarded(refused)
    assert "in no stack" in client.get(f"/stack/{made.id('chelsea.jpg')}").text


def test_take_best_picks_the_picture_and_rejects_the_rest_of_its_stack(stacked):
    client, made = stacked
    winner = made.id("astro_3.jpg")  # not the library's best: the user's choice wins
    answer = take(client, winner, {"take": True})
    assert answer.status_code == 200, answer.text
    assert_guarded(answer)
    data = answer.json()
    rest = {made.id(n) for n in ("astro_1.jpg", "astro_2.jpg", "astro_4.jpg")}
    assert data["name"] == "astro_3.jpg" and set(data["rejected"]) == rest
    assert {d["image_id"] for d in data["decisions"]} == rest | {winner}
    library = made.library
    assert library.show(made.paths["astro_3.jpg"]).ratings[0].picked
    for name in ("astro_1.jpg", "astro_2.jpg", "astro_4.jpg"):
        assert library.show(made.paths[name]).ratings[0].rejected, name
    assert all(library.show(made.paths[n]).ratings == [] for n in (*made.bursts[1], *made.singles))
    assert library.stack_of(made.paths["astro_1.jpg"]).best_id == winner  # the pick now wins the stack
    again = take(client, winner, {"take": True}).json()  # twice: nothing new to reject
    assert again["rejected"] == [] and set(again["already_rejected"]) == rest


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"take": 1}, {}, 400),
        ({"take": "yes"}, {}, 400),
        ({}, {}, 400),
        ({"take": True}, {"X-ArtiMuse-Token": "wrong"}, 403),
        ({"take": True}, {"Origin": "http://evil.example"}, 403),
    ],
)
def test_take_best_is_refused_without_the_page_token_or_with_a_bad_body(stacked, body, headers, status):
    client, made = stacked
    answer = take(client, made.id("astro_1.jpg"), body, **headers)
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    assert_guarded(answer)
    assert all(made.library.show(p).ratings == [] for p in made.paths.values())


def test_take_best_on_a_picture_in_no_stack_stores_nothing(stacked):
    client, made = stacked
    answer = take(client, made.id("chelsea.jpg"), {"take": True})
    assert answer.status_code == 404 and "no stack" in answer.json()["error"]
    assert take(client, 99999, {"take": True}).status_code == 404
    assert all(made.library.show(p).ratings == [] for p in made.paths.values())


def test_take_best_on_a_picture_whose_file_is_gone_stores_nothing(stacked):
    """The rule a rating follows: a file that cannot be shown (here deleted since it was scored) is not
    decided on, and nothing else of its stack is touched."""
    client, made = stacked
    made.paths["astro_1.jpg"].unlink()
    answer = take(client, made.id("astro_1.jpg"), {"take": True})
    assert answer.status_code == 409 and "not stored" in answer.json()["error"]
    assert_guarded(answer)
    assert all(made.library.show(p).ratings == [] for n, p in made.paths.items() if n != "astro_1.jpg")


def test_the_loupe_says_which_stack_a_picture_is_in_and_why_its_best_won(stacked):
    client, made = stacked
    page = client.get(f"/image/{made.id('astro_1.jpg')}")
    assert page.status_code == 200
    stack = min(made.id(n) for n in made.bursts[0])
    viewer = f'class="viewer" data-id="{made.id("astro_1.jpg")}" data-name="astro_1.jpg" data-stack="{stack}"'
    assert viewer in page.text
    assert "One of 4 near-duplicates" in page.text and f'href="/image/{made.id("astro_2.jpg")}"' in page.text
    assert "highest lower bound" in page.text and "<kbd>B</kbd> best of its stack" in page.text
    best = client.get(f"/image/{made.id('astro_2.jpg')}").text
    assert "best: this one" in best
    alone = client.get(f"/image/{made.id('chelsea.jpg')}").text
    assert "near-duplicates" not in alone and "data-stack" not in alone


def test_every_frame_shows_the_stacks_members_as_plain_tiles_and_a_bad_value_is_refused(stacked):
    client, made = stacked
    every = client.get("/?stacks=all")
    assert every.status_code == 200
    assert len(tiles(every.text)) == 9 and all("stack" not in t for t in tiles(every.text).values())
    assert 'hx-get="/live?stacks=all&amp;after=' in every.text  # carried on the page's own requests
    assert "checked> every frame" in every.text and "checked> every frame" not in client.get("/").text
    for bad in ("/?stacks=some", "/tiles?stacks=x"):
        refused = client.get(bad)
        assert refused.status_code == 400 and "stacks must be one of" in refused.text, bad
        assert_guarded(refused)
