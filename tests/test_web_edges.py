"""The gallery server's edges, through Starlette's TestClient on a real library: every route's parameters
checked (out-of-range ids and values answer 4xx, never 500), routes fuzzed with hypothesis (derandomized:
the same examples every run), security headers on every response, and the Origin check comparing scheme,
host and port."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from artimuse_web.app import create_app  # noqa: E402
from tests.web_library import scored_library  # noqa: E402

TOKEN = "test-token"
ORIGIN = "http://127.0.0.1"
HUGE = "9" * 30
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One gallery for the module (the fuzzing reads only; the few writes rate one image)."""
    folder = tmp_path_factory.mktemp("gallery")
    library, paths = scored_library(folder, 4)
    app = create_app(library, thumbnails=folder / "home" / "thumbnails", token=TOKEN, page_size=3)
    client = TestClient(app, base_url=ORIGIN, raise_server_exceptions=False)
    yield client, library, paths
    library.close()


def post_rating(client, image, body, **headers):
    sent = {"X-ArtiMuse-Token": TOKEN, "Origin": ORIGIN, "Content-Type": "application/json", **headers}
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(f"/api/images/{image}/rating", content=data, headers=sent)


def assert_guarded(answer) -> None:
    """Every response: the security headers, and CSP forbidding any frame ancestor."""
    for name, value in HEADERS.items():
        assert answer.headers.get(name) == value, (answer.request.url, name, dict(answer.headers))
    policy = answer.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, policy


OUT_OF_RANGE = [
    f"/image/{HUGE}",
    f"/picture/{HUGE}/s",
    f"/picture/{HUGE}/l",
    f"/live?after={HUGE}",
    "/live?after=-1",
    "/live?after=1e3",
    "/?since=99999999999d",
    "/?since=99999999999w",
    "/tiles?since=99999999999d",
    f"/tiles?after=1.0:{HUGE}",
    "/tiles?after=nan:1",
    f"/compare?ids=1,{HUGE}",
    "/compare?ids=1,-2",
    "/?min_score=nan",
    "/?min_score=1e999",
    "/?folder=%00",
    "/?q=%00",
]


@pytest.mark.parametrize("url", OUT_OF_RANGE)
def test_out_of_range_ids_and_parameters_answer_4xx_not_500(served, url):
    client, _, _ = served
    answer = client.get(url)
    assert 400 <= answer.status_code < 500, (url, answer.status_code, answer.text[:300])
    assert "Traceback" not in answer.text and "OverflowError" not in answer.text
    assert_guarded(answer)


@pytest.mark.parametrize(
    "image, body",
    [
        (HUGE, {"stars": 3}),
        ("1", '{"stars": 1' + "0" * 400 + "}"),  # an integer too large for a float
        ("1", '{"stars": NaN}'),
        ("1", '{"stars": Infinity}'),
        ("1", '{"stars": -Infinity}'),
        ("1", {"stars": 1e308}),
        ("1", {"stars": 0}),
        ("1", {"stars": "4"}),
        ("1", "[" * 5000 + "]" * 5000),  # nested too deep for the JSON decoder
    ],
)
def test_a_rating_out_of_range_is_4xx_and_stores_nothing(served, image, body):
    client, library, paths = served
    before = len(library.ratings())
    answer = post_rating(client, image, body)
    assert 400 <= answer.status_code < 500, (image, str(body)[:40], answer.status_code, answer.text[:300])
    assert "error" in answer.json()
    assert len(library.ratings()) == before
    assert_guarded(answer)


def test_every_kind_of_response_carries_the_security_headers(served):
    client, library, paths = served
    image = library.image_id(str(paths[0]))
    answers = [
        client.get("/"),
        client.get("/tiles"),
        client.get("/live?after=0"),
        client.get(f"/image/{image}"),
        client.get(f"/picture/{image}/s"),
        client.get("/static/app.js"),
        client.get("/no/such/page"),
        client.get("/", headers={"Host": "evil.example"}),  # refused by the host guard: headers even then
        post_rating(client, image, {"stars": 4}, Origin="http://evil.example"),  # refused by the origin guard
        post_rating(client, image, {"stars": 4}),  # stored
        client.put(f"/api/images/{image}/rating", headers={"X-ArtiMuse-Token": TOKEN, "Origin": ORIGIN}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 200, 404, 400, 403, 200, 405]
    for answer in answers:
        assert_guarded(answer)


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("http://127.0.0.1", True),
        ("https://127.0.0.1", False),  # the same host and port on another scheme is another origin
        ("http://127.0.0.1:80", True),  # the scheme's default port, written out
        ("http://127.0.0.1:8080", False),
        ("http://127.0.0.1.evil.example", False),
        ("http://evil.example", False),
        ("null", False),  # a sandboxed frame or a file: page
        ("127.0.0.1", False),
        ("http://user@127.0.0.1", False),
    ],
)
def test_the_origin_check_compares_scheme_host_and_port(served, origin, allowed):
    client, library, paths = served
    image = library.image_id(str(paths[1]))
    answer = post_rating(client, image, {"stars": 2}, Origin=origin)
    assert answer.status_code == (200 if allowed else 403), (origin, answer.text)


def test_the_origin_check_holds_on_another_port_and_scheme(tmp_path):
    """A server on https://localhost:8443 accepts only that origin (not http://, not another port)."""
    library, paths = scored_library(tmp_path, 1)
    app = create_app(library, thumbnails=tmp_path / "thumbs", token=TOKEN)
    client = TestClient(app, base_url="https://localhost:8443", raise_server_exceptions=False)
    image = library.image_id(str(paths[0]))
    codes = {
        origin: post_rating(client, image, {"stars": 3}, Origin=origin).status_code
        for origin in ("https://localhost:8443", "http://localhost:8443", "https://localhost", "https://localhost:8444")
    }
    library.close()
    assert codes == {
        "https://localhost:8443": 200,
        "http://localhost:8443": 403,
        "https://localhost": 403,
        "https://localhost:8444": 403,
    }


# --- fuzzing: whatever a URL holds, the answer is never a 500 and always guarded ------------------------------
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
NUMBERISH = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "0", "-0", "1e999", "nan", "0x10", "  7 ", "1_000", "٣"]),
    TEXT,
)
PARAMS = st.dictionaries(
    st.sampled_from(["rank", "category", "folder", "model", "adapter", "since", "min_score", "rating", "q", "after",
                     "ids"]),
    st.one_of(NUMBERISH, st.builds(lambda n, u: f"{n}{u}", NUMBERISH, st.sampled_from("mhdwx"))),
    max_size=4,
)  # fmt: skip
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(route=st.sampled_from(["/", "/tiles", "/live", "/compare"]), params=PARAMS)
def test_fuzzed_query_parameters_never_answer_500(served, route, params):
    client, _, _ = served
    answer = client.get(route, params=params)
    assert answer.status_code < 500, (route, params, answer.text[:300])
    assert_guarded(answer)


@FUZZ
@given(
    route=st.sampled_from(["/image/{}", "/picture/{}/s", "/picture/{}/{}", "/compare?ids={},{}"]),
    parts=st.lists(NUMBERISH, min_size=2, max_size=2),
)
def test_fuzzed_path_parameters_never_answer_500(served, route, parts):
    client, _, _ = served
    from urllib.parse import quote

    url = route.format(*(quote(p, safe="") or "0" for p in parts))
    answer = client.get(url)
    assert answer.status_code < 500, (url, answer.text[:300])
    assert_guarded(answer)


@FUZZ
@given(
    image=NUMBERISH,
    body=st.one_of(
        st.dictionaries(st.sampled_from(["stars", "pick", "reject", "score"]),
                        st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), TEXT), max_size=3),
        TEXT,
        st.just('{"stars": NaN}'),
    ),
)  # fmt: skip
def test_fuzzed_ratings_never_answer_500(served, image, body):
    from urllib.parse import quote

    client, _, _ = served
    answer = post_rating(client, quote(image, safe="") or "0", body)
    assert answer.status_code < 500, (image, body, answer.text[:300])
    assert_guarded(answer)
