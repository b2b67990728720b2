// ArtiMuse gallery keys: culling as photographers do it. 1-5 stars, P pick, U unpick, X reject, 0 clear,
// arrows move, Enter open, C collect for compare (2-4), Z 100 % in the loupe, R in Compare rejects the others,
// N shows new pictures, A auto-advance, - and = grid density, S opens or closes a stack, B takes the highlighted
// picture as its stack's best and rejects the rest, Esc back. Decisions are POSTed with the page token.
//
// Stacks (near-duplicates, bursts) show collapsed: the stack's best stands for it with a "×N" badge (the first
// member in the grid where the best is filtered out), the others are folded away; S or a click on the badge
// opens the members next to it, with the reason the best was chosen.
//
// What a key acts on is the highlighted picture's library id (never a position in a list): the grid's live
// refresh, new pictures and htmx swaps can replace every tile and the key still rates what the user sees.
(function () {
  "use strict";
  const token = document.querySelector('meta[name="artimuse-token"]').content;
  const ORDER = "artimuse-order", CHOSEN = "artimuse-compare", ADVANCE = "artimuse-advance", DENSITY = "artimuse-density";
  const store = (key, fallback) => localStorage.getItem(key) ?? fallback;
  const toast = (text) => {
    const t = document.getElementById("toast");
    t.textContent = text; t.classList.add("show");
    clearTimeout(t._timer); t._timer = setTimeout(() => t.classList.remove("show"), 2200);
  };
  function decisionText(d) {
    if (d.rejected) return "rejected";
    let text = "";
    if (d.score !== null && d.score !== undefined) {
      const n = Math.max(0, Math.min(5, Math.round(d.stars || (d.score + 10) / 20)));
      text = "★".repeat(n) + "☆".repeat(5 - n);
    }
    return d.picked ? (text + " ⚑ pick").trim() : text;
  }
  const advancing = () => store(ADVANCE, "1") === "1";

  // ------------------------------------------------------------------------------- compare basket
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

  // ------------------------------------------------------------------------------- decisions
  function ratingFor(key) {
    if (key >= "1" && key <= "5") return {stars: Number(key)};
    if (key === "p" || key === "P") return {pick: true};
    if (key === "u" || key === "U") return {unpick: true};
    if (key === "x" || key === "X") return {reject: true};
    if (key === "0") return {clear: true};
    return null;
  }
  const post = async (url, body) => {
    const answer = await fetch(url, {
      method: "POST", headers: {"Content-Type": "application/json", "X-ArtiMuse-Token": token},
      body: JSON.stringify(body), credentials: "same-origin",
    });
    const data = await answer.json();
    if (!answer.ok) { toast("Not stored: " + data.error); return null; }
    return data;
  };
  function show(id, data) {
    // Every place that shows this picture (its tile, the loupe's panel, its compare column), found by id now.
    const text = decisionText(data);
    document.querySelectorAll(`[data-id="${id}"]`).forEach((where) => {
      where.querySelectorAll("[data-rating]").forEach((e) => { e.textContent = text; });
      where.classList.toggle("rejected", !!data.rejected);
      where.classList.toggle("picked", !!data.picked);
    });
    return text;
  }
  async function rate(id, body) {
    const data = await post("/api/images/" + id + "/rating", body);
    if (!data) return null;
    const text = show(id, data);
    document.body.dataset.lastRating = id + ":" + (data.score === null ? "none" : data.score);
    document.body.dataset.lastDecision = JSON.stringify({id: Number(id), score: data.score, stars: data.stars,
                                                         picked: data.picked, rejected: data.rejected});
    toast(data.name + ": " + (text || "cleared") + " — stored");
    return data;
  }

  // ------------------------------------------------------------------------------- the grid
  const tiles = () => Array.from(document.querySelectorAll("#grid .tile:not(.folded)"));
  let highlighted = null;  // the highlighted picture's library id
  const tileOf = (id) => (id ? document.querySelector(`#grid .tile:not(.folded)[data-id="${id}"]`) : null);
  function highlight(id, scroll = true) {
    highlighted = id;
    tiles().forEach((t) => t.classList.toggle("selected", t.dataset.id === id));
    const tile = tileOf(id);
    if (tile && scroll) { tile.scrollIntoView({block: "nearest"}); tile.focus({preventScroll: true}); }
    document.body.dataset.highlighted = id || "";
  }
  function step(delta) {
    const ids = tiles().map((t) => t.dataset.id); if (!ids.length) return;
    const at = ids.indexOf(highlighted);
    highlight(ids[at < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, at + delta))]);
  }
  function columns() {
    const all = tiles(); if (all.length < 2) return 1;
    const top = all[0].offsetTop; const n = all.findIndex((t) => t.offsetTop !== top);
    return n < 0 ? all.length : n;
  }
  function remember() { sessionStorage.setItem(ORDER, JSON.stringify(tiles().map((t) => t.dataset.id))); }
  function showNew() {
    const bar = document.querySelector("#new-bar .new-bar"); if (!bar) return;
    const form = document.getElementById("filters");
    const query = form ? new URLSearchParams(new FormData(form)) : new URLSearchParams();
    // As many tiles as are loaded now plus the new ones: every picture the user scrolled to stays, the highlight too.
    const loaded = document.querySelectorAll("#grid .tile:not(.in-stack)").length;  // folded members too
    query.set("shown", String(loaded + Number(bar.dataset.count || 0)));
    htmx.ajax("GET", "/?" + query.toString(), {target: "#gallery", select: "#gallery", swap: "outerHTML"});
  }
  function density(value) {
    document.body.dataset.density = value; localStorage.setItem(DENSITY, value);
    const select = document.getElementById("density"); if (select) select.value = value;
  }
  function toggleAdvance() {
    localStorage.setItem(ADVANCE, advancing() ? "0" : "1");
    const box = document.getElementById("advance"); if (box) box.checked = advancing();
    toast("Auto-advance " + (advancing() ? "on" : "off"));
  }

  // ------------------------------------------------------------------------------- stacks
  const opened = new Set();  // the stacks shown open, by stack id: they stay open across every swap
  const placed = () => Array.from(document.querySelectorAll("#grid .tile[data-stack]:not(.in-stack)"));
  function fold() {
    // One tile stands for each stack: its best when the grid holds it, else the first member the grid holds. A
    // tile that already stands for its stack keeps doing so (a next page bringing the best in moves nothing).
    const leaders = new Map(placed().filter((t) => t.classList.contains("leader")).map((t) => [t.dataset.stack, t]));
    const kept = new Set(leaders.keys());
    for (const tile of placed()) {
      const stack = tile.dataset.stack, now = leaders.get(stack);
      if (kept.has(stack)) continue;
      if (!now || (tile.dataset.id === tile.dataset.best && now.dataset.id !== now.dataset.best)) leaders.set(stack, tile);
    }
    for (const tile of placed()) {
      const leader = leaders.get(tile.dataset.stack) === tile;
      tile.classList.toggle("leader", leader); tile.classList.toggle("folded", !leader);
      tile.classList.toggle("open", leader && opened.has(tile.dataset.stack));
    }
    return leaders;
  }
  const leaderOf = (stack) => document.querySelector(`#grid .tile.leader[data-stack="${stack}"]`);
  function close(stack) {
    document.querySelectorAll(`#grid [data-member-of="${stack}"]`).forEach((e) => e.remove());
    opened.delete(stack); const leader = leaderOf(stack); if (leader) leader.classList.remove("open");
  }
  async function open(stack) {
    const leader = leaderOf(stack); if (!leader) return;
    const answer = await fetch("/stack/" + leader.dataset.id, {credentials: "same-origin"});
    if (!answer.ok) { toast("Stack not shown: " + (await answer.text())); return; }
    close(stack); opened.add(stack);
    const now = leaderOf(stack); if (!now) return;
    now.insertAdjacentHTML("afterend", await answer.text()); now.classList.add("open");
    showChosen(); highlight(highlighted, false);
  }
  async function toggleStack(id) {
    const tile = tileOf(id), stack = tile && tile.dataset.stack;
    if (!stack) { toast("Not in a stack"); return; }
    if (opened.has(stack)) {
      close(stack);
      if (!tileOf(highlighted)) highlight(leaderOf(stack).dataset.id);  // the member closed away: its stack's tile
    } else await open(stack);
  }
  async function takeBest(id) {
    const tile = tileOf(id) || document.querySelector(`.viewer[data-id="${id}"]`);  // a grid tile or the loupe
    if (!tile || !tile.dataset.stack) { toast("Not in a stack: nothing stored"); return; }
    const data = await post("/api/images/" + id + "/stack", {take: true});
    if (!data) return;
    data.decisions.forEach((d) => show(d.image_id, d));
    // The tile that stands for the stack stays where it is until the grid is loaded again (nothing moves
    // under the keys); the library makes the pick the stack's best from then on.
    const heading = document.querySelector(`[data-stack-panel="${tile.dataset.stack}"] strong`);
    if (heading) heading.textContent = "Stack of " + heading.dataset.size + " · your pick: " + data.name;
    document.body.dataset.lastStack = JSON.stringify({winner: Number(id), rejected: data.rejected});
    toast(data.name + ": picked, the other " + data.rejected.length + " of its stack rejected — stored");
  }
  function refold() {
    fold();
    for (const stack of Array.from(opened)) {
      if (!leaderOf(stack)) opened.delete(stack);
      else if (!document.querySelector(`#grid [data-member-of="${stack}"]`)) open(stack);
    }
  }

  // ------------------------------------------------------------------------------- the loupe
  function zoom(event) {
    const figure = document.getElementById("loupe"), img = document.getElementById("large");
    if (!figure || !img) return;
    const on = !figure.classList.contains("zoomed");
    const fx = event && event.offsetX !== undefined ? event.offsetX / img.clientWidth : 0.5;
    const fy = event && event.offsetY !== undefined ? event.offsetY / img.clientHeight : 0.5;
    figure.classList.toggle("zoomed", on);
    if (on) {
      const centre = () => { figure.scrollLeft = fx * img.naturalWidth - figure.clientWidth / 2;
                             figure.scrollTop = fy * img.naturalHeight - figure.clientHeight / 2; };
      if (img.src.endsWith(img.dataset.full)) centre(); else { img.addEventListener("load", centre, {once: true}); img.src = img.dataset.full; }
    }
    document.body.dataset.zoom = on ? "100" : "fit";
  }

  // ------------------------------------------------------------------------------- compare
  const compareColumns = () => Array.from(document.querySelectorAll(".compare .column"));
  let compared = null;
  function highlightColumn(id) {
    compared = id;
    compareColumns().forEach((c) => c.classList.toggle("selected", c.dataset.id === id));
    document.body.dataset.highlighted = id || "";
  }
  function stepColumn(delta) {
    const ids = compareColumns().map((c) => c.dataset.id); if (!ids.length) return;
    const at = ids.indexOf(compared);
    highlightColumn(ids[at < 0 ? 0 : Math.max(0, Math.min(ids.length - 1, at + delta))]);
  }

  // ------------------------------------------------------------------------------- keys
  document.addEventListener("keydown", async (event) => {
    if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key, viewer = document.querySelector(".viewer"), rating = ratingFor(key);
    if (key === "a" || key === "A") { toggleAdvance(); return; }
    if (viewer) {
      const id = viewer.dataset.id;
      const order = JSON.parse(sessionStorage.getItem(ORDER) || "[]"), at = order.indexOf(id);
      const go = (delta) => { const next = order[at + delta]; if (at >= 0 && next) location.href = "/image/" + next; };
      if (rating) { event.preventDefault(); if ((await rate(id, rating)) && advancing() && !rating.clear) go(1); return; }
      if (key === "ArrowRight" || key === "ArrowLeft") go(key === "ArrowRight" ? 1 : -1);
      else if (key === "b" || key === "B") await takeBest(id);
      else if (key === "z" || key === "Z") zoom();
      else if (key === "c" || key === "C") choose(id);
      else if (key === "Escape") history.length > 1 ? history.back() : (location.href = "/");
      return;
    }
    if (document.querySelector(".compare")) {
      if (key === "ArrowRight" || key === "ArrowLeft") { stepColumn(key === "ArrowRight" ? 1 : -1); event.preventDefault(); return; }
      if (key === "Escape") { location.href = "/"; return; }
      if (!compared) highlightColumn(compareColumns()[0].dataset.id);
      const id = compared;
      if (key === "r" || key === "R") {
        const others = compareColumns().map((c) => c.dataset.id).filter((x) => x !== id);
        for (const other of others) await rate(other, {reject: true});
        toast("Rejected the " + others.length + " other" + (others.length === 1 ? "" : "s"));
        return;
      }
      if (key === "Enter") { location.href = "/image/" + id; return; }
      // A pick stays on the winner (R then rejects the others); stars move on to the next column.
      if (rating) { event.preventDefault(); if ((await rate(id, rating)) && advancing() && rating.stars) stepColumn(1); }
      return;
    }
    const all = tiles();
    if (key === "n" || key === "N") { showNew(); return; }
    if (key === "-" || key === "=" || key === "+") {
      const sizes = ["s", "m", "l"], now = sizes.indexOf(document.body.dataset.density || "m");
      density(sizes[Math.max(0, Math.min(2, now + (key === "-" ? -1 : 1)))]); return;
    }
    if (!all.length) return;
    const moves = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns()};
    if (key in moves) { step(highlighted ? moves[key] : 0); event.preventDefault(); return; }
    if (key === "/") { document.getElementById("q").focus(); event.preventDefault(); return; }
    const acts = rating || ["Enter", "c", "C", "b", "B", "s", "S"].includes(key);
    if (highlighted && !tileOf(highlighted) && acts) {
      // Never another picture in its place: the highlighted one left the grid (a filter, a deletion).
      highlight(all[0].dataset.id);
      toast("The highlighted picture left the grid: nothing stored; the first picture is highlighted now"); return;
    }
    if (!tileOf(highlighted)) highlight(all[0].dataset.id);
    const id = highlighted;
    if (key === "s" || key === "S") { await toggleStack(id); return; }
    if (key === "b" || key === "B") { event.preventDefault(); await takeBest(id); return; }
    if (rating) {
      event.preventDefault();
      if ((await rate(id, rating)) && advancing() && !rating.clear && highlighted === id) step(1);
    } else if (key === "Enter") { remember(); location.href = tileOf(id).href; }
    else if (key === "c" || key === "C") choose(id);
  });
  document.addEventListener("click", (event) => {
    const badge = event.target.closest("#grid .stack-badge");
    if (badge) {  // the badge opens or closes its stack (the tile's link is not followed)
      event.preventDefault(); const tile = badge.closest(".tile");
      highlight(tile.dataset.id, false); toggleStack(tile.dataset.id); return;
    }
    const tile = event.target.closest("#grid .tile");
    if (tile) { highlight(tile.dataset.id, false); remember(); return; }
    if (event.target.closest(".new-bar")) { showNew(); return; }
    const column = event.target.closest(".compare .column");
    if (column && !event.target.closest("a")) highlightColumn(column.dataset.id);
    if (event.target.id === "large") zoom(event);
  });
  document.addEventListener("change", (event) => {
    if (event.target.id === "density") density(event.target.value);
    if (event.target.id === "advance") { localStorage.setItem(ADVANCE, event.target.checked ? "1" : "0"); }
  });
  // After any swap (the live poller every few seconds, a filter, "N new", the next page), the highlight is put
  // back on the same picture by id; nothing else moves.
  document.body.addEventListener("htmx:afterSwap", () => { refold(); highlight(highlighted, false); showChosen(); });
  document.body.addEventListener("htmx:oobAfterSwap", showChosen);
  fold();
  density(store(DENSITY, "m"));
  const box = document.getElementById("advance"); if (box) box.checked = advancing();
  showChosen();
})();
