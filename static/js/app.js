/* Rate grid keyboard editing. Each cell saves on its own (htmx swaps the whole row back in); htmx already
   puts focus back on the field with the same id. This keeps what was typed into that field while the
   previous cell was saving, so editing a row left to right with Tab never loses a keystroke. */
(function () {
  let pending = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    const active = document.activeElement;
    const target = event.detail.target;
    pending = null;
    if (!active || !active.id || active.tagName !== "INPUT" || !target || !target.contains(active)) return;
    if (event.detail.requestConfig && event.detail.requestConfig.elt === active) return;
    if (active.value !== active.defaultValue) {
      pending = {id: active.id, value: active.value, start: active.selectionStart, end: active.selectionEnd};
    }
  });
  /* Put it back at the swap itself: htmx has just moved the focus to the fresh field, and no keystroke can come
     in between. ("Settle" follows some milliseconds later; an Enter pressed before it found nothing to save.) */
  document.addEventListener("htmx:afterSwap", function () {
    if (!pending) return;
    const field = document.getElementById(pending.id);
    if (field && field.value === field.defaultValue) {
      field.value = pending.value;
      if (document.activeElement === field) field.setSelectionRange(pending.start, pending.end);
      commitLater(field);
    }
    pending = null;
  });

  /* Setting the value from script makes it the browser's baseline, so leaving the field (Tab, Enter, a click)
     would no longer fire "change" and the restored keystrokes would never be saved. Until the user types again
     (then the browser tracks the edit itself), leaving the field fires "change" for it. */
  function commitLater(field) {
    function done() {
      field.removeEventListener("input", done);
      field.removeEventListener("blur", commit);
      field.removeEventListener("keydown", onKey);
    }
    function commit() {
      done();
      if (field.isConnected && field.value !== field.defaultValue) {
        field.dispatchEvent(new Event("change", {bubbles: true}));
      }
    }
    function onKey(event) {
      if (event.key === "Enter") commit();
    }
    field.addEventListener("input", done);
    field.addEventListener("blur", commit);
    field.addEventListener("keydown", onKey);
  }
})();

/* A table that scrolls sideways must be reachable by keyboard (axe: scrollable-region-focusable). */
(function () {
  function mark() {
    document.querySelectorAll(".table-wrap, .table-scroll").forEach(function (el) {
      const scrolls = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        el.setAttribute("role", "region");
        const card = el.closest("section, .card");
        const heading = card && card.querySelector("h2, h3");
        el.setAttribute("aria-label", heading ? heading.textContent.trim() : "Table");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", mark);
  document.addEventListener("htmx:afterSettle", mark);
  window.addEventListener("resize", mark);
})();
