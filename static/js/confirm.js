// A form with data-confirm asks before it does something that cannot be undone.
// A form with data-submit-once is sent once: a second tap while the first is on its way (a slow
// phone, a double click) would create a second class, application or payment.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.getAttribute) { return; }
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.hasAttribute("data-submit-once")) {
    if (form.getAttribute("data-sending") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sending", "1");
  }
});
// Back to a page kept by the browser: its forms may be sent again (the answer came, or the page changed).
window.addEventListener("pageshow", function () {
  var sending = document.querySelectorAll("form[data-sending]");
  for (var i = 0; i < sending.length; i++) { sending[i].removeAttribute("data-sending"); }
});
