// ArtiMuse gallery keys: culling as photographers do it. 1-5 rate, P pick, X reject, arrows move,
// Enter open, C collect for compare (2-4), Esc back. Ratings are POSTed with the page token.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="artimuse-token"]').content;
  const ORDER = "artimuse-order", CHOSEN = "artimuse-compare";
  const toast = (text) => {
    const t = document.getElementById("toast");
    t.textContent = text; t.classList.add("show");
    clearTimeout(t._timer); t._timer = setTimeout(() => t.classList.remove("show"), 1600);
  };
  const starsText = (r) => r.score <= 0 ? "rejected" : "★".repeat(Math.round(r.stars || (r.score + 10) / 20)).padEnd(5, "☆");
  const chosen = () => JSON.parse(sessionStorage.getItem(CHOSEN) || "[]");
  function showChosen() {
    const ids = chosen(), link = document.getElementById("compare-link");
    link.hidden = ids.length < 2; link.href = "/compare?ids=" + ids.join(",");
    document.getElementById("compare-count").textContent = ids.length;
    document.querySelectorAll(".tile").forEach((t) => t.classList.toggle("chosen", ids.includes(t.dataset.id)));
  }
  function choose(id) {
    let ids = chosen();
    ids = ids.includes(id) ? ids.filter((x) => x !== id) : ids.concat([id]).slice(-4);
    sessionStorage.setItem(CHOSEN, JSON.stringify(ids)); showChosen();
    toast(ids.length + " to compare" + (ids.length >= 2 ? " — open Compare" : ""));
  }
  async function rate(id, body, where) {
    const answer = await fetch("/api/images/" + id + "/rating", {
      method: "POST", headers: {"Content-Type": "application/json", "X-ArtiMuse-Token": token},
      body: JSON.stringify(body), credentials: "same-origin",
    });
    const data = await answer.json();
    if (!answer.ok) { toast("Not stored: " + data.error); return; }
    const text = starsText(data);
    where.querySelectorAll("[data-rating]").forEach((e) => { e.textContent = text; });
    if (where.classList.contains("tile")) where.classList.toggle("rejected", data.score <= 0);
    document.body.dataset.lastRating = id + ":" + data.score;
    toast((data.score <= 0 ? "Rejected" : text) + " stored");
  }
  function ratingFor(key) {
    if (key >= "1" && key <= "5") return {stars: Number(key)};
    if (key === "p" || key === "P") return {pick: true};
    if (key === "x" || key === "X") return {reject: true};
    return null;
  }
  const tiles = () => Array.from(document.querySelectorAll("#grid .tile"));
  let current = -1;
  function select(i) {
    const all = tiles(); if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, i));
    all.forEach((t, n) => t.classList.toggle("selected", n === current));
    all[current].scrollIntoView({block: "nearest"}); all[current].focus({preventScroll: true});
  }
  function columns() {
    const all = tiles(); if (all.length < 2) return 1;
    const top = all[0].offsetTop; const n = all.findIndex((t) => t.offsetTop !== top);
    return n < 0 ? all.length : n;
  }
  function remember() { sessionStorage.setItem(ORDER, JSON.stringify(tiles().map((t) => t.dataset.id))); }
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key, viewer = document.querySelector(".viewer");
    if (viewer) {
      const id = viewer.dataset.id, rating = ratingFor(key);
      if (rating) { rate(id, rating, document.body); event.preventDefault(); return; }
      const order = JSON.parse(sessionStorage.getItem(ORDER) || "[]"), at = order.indexOf(id);
      if ((key === "ArrowRight" || key === "ArrowLeft") && at >= 0) {
        const next = order[at + (key === "ArrowRight" ? 1 : -1)];
        if (next) location.href = "/image/" + next;
      } else if (key === "c" || key === "C") choose(id);
      else if (key === "Escape") history.length > 1 ? history.back() : (location.href = "/");
      return;
    }
    if (document.querySelector(".compare")) { if (key === "Escape") location.href = "/"; return; }
    const all = tiles(); if (!all.length) return;
    const moves = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns()};
    if (key in moves) { select(current < 0 ? 0 : current + moves[key]); event.preventDefault(); return; }
    if (key === "/") { document.getElementById("q").focus(); event.preventDefault(); return; }
    if (current < 0) select(0);
    const tile = all[current], rating = ratingFor(key);
    if (rating) { rate(tile.dataset.id, rating, tile); event.preventDefault(); }
    else if (key === "Enter") { remember(); location.href = tile.href; }
    else if (key === "c" || key === "C") choose(tile.dataset.id);
  });
  document.addEventListener("click", (event) => { if (event.target.closest("#grid .tile")) remember(); });
  document.body.addEventListener("htmx:afterSwap", () => { current = -1; showChosen(); });
  document.body.addEventListener("htmx:oobAfterSwap", showChosen);
  showChosen();
})();
