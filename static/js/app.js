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
  document.addEventListener("htmx:afterSettle", function () {
    if (!pending) return;
    const field = document.getElementById(pending.id);
    if (field && field.value === field.defaultValue) {
      field.value = pending.value;
      if (document.activeElement === field) field.setSelectionRange(pending.start, pending.end);
    }
    pending = null;
  });
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
