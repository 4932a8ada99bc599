// The console's only script besides htmx: confirm before destructive actions, select a
// setup link for copying. No inline handlers (the Content-Security-Policy forbids them).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.classList.contains("danger") && !window.confirm(button.textContent.trim() + "?")) {
    event.preventDefault();
  }
});
document.addEventListener("focusin", function (event) {
  if (event.target && event.target.id === "setup-link") { event.target.select(); }
});
