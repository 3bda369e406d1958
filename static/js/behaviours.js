/* Small page behaviours declared with data attributes, so templates need no inline event handlers (the
 * Content-Security-Policy allows scripts from this app's static files only):
 *   <form data-confirm="Question?">                     submit only when the user confirms
 *   <form data-prompt="Why?" data-prompt-field="reason"> ask for a value, put it in that field, cancel when empty
 *   <button data-remove-closest="form">                  remove the closest matching ancestor
 *   <select data-autosubmit>                             submit its form on change
 * Listeners are on the document (capture phase), so content swapped in by htmx works too, and a cancelled submit
 * never reaches htmx.
 */
(function () {
  "use strict";
  if (window.RatedeskBehaviours) { return; }
  window.RatedeskBehaviours = true;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var cancel = false;
    if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      cancel = true;
    }
    if (!cancel && form.hasAttribute("data-prompt")) {
      var answer = window.prompt(form.getAttribute("data-prompt"));
      var field = form.elements[form.getAttribute("data-prompt-field") || "reason"];
      if (!answer) { cancel = true; } else if (field) { field.value = answer; }
    }
    if (cancel) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-remove-closest]") : null;
    if (!button) { return; }
    var target = button.closest(button.getAttribute("data-remove-closest"));
    if (target) { target.remove(); }
  });

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) { el.form.submit(); }
  });
})();
