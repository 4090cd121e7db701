/* twostep: small helpers for the code pages; every page works without them.
   - a code field (input.code-input[data-digits]) submits its form once it holds that many digits,
     typed, pasted or filled in by the phone (autocomplete="one-time-code", WebOTP for SMS);
   - a pasted "123 456", "123-456" or "Your code is 123456" becomes just the digits;
   - "Send a new code" waits out its cooldown visibly (#resend-wait[data-seconds]);
   - Copy and Print buttons for recovery codes (shown only when this script runs). */
(function () {
  "use strict";

  function digitsOf(text) { return (text || "").replace(/[\s-]/g, ""); }

  function submitWhenComplete(input) {
    var want = parseInt(input.getAttribute("data-digits"), 10);
    var value = digitsOf(input.value);
    if (!want || value.length !== want || !/^[0-9]+$/.test(value)) return;
    var form = input.form;
    if (!form || form.getAttribute("data-submitted")) return;
    form.setAttribute("data-submitted", "1");
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function setUpCodeField(input) {
    input.addEventListener("input", function (event) {
      // Typed digit by digit, or filled in by the browser or the phone: submit at the last digit.
      // A whole code inserted as text in one go (dictation, a test driver's fill) waits for the button.
      var typed = event.inputType === "insertText" && (event.data || "").length === 1;
      var filled = !event.inputType || event.inputType === "insertReplacementText" || event.inputType === "insertFromPaste";
      if (typed || filled) submitWhenComplete(input);
    });
    input.addEventListener("paste", function (event) {
      var text = (event.clipboardData || window.clipboardData).getData("text");
      var want = parseInt(input.getAttribute("data-digits"), 10) || 6;
      var match = new RegExp("(?:^|\\D)((?:\\d[\\s-]?){" + (want - 1) + "}\\d)(?!\\d)").exec(text || "");
      if (!match) return;
      event.preventDefault();
      input.value = digitsOf(match[1]);
      submitWhenComplete(input);
    });
    if (input.getAttribute("data-webotp") && "OTPCredential" in window && navigator.credentials) {
      var abort = new AbortController();
      if (input.form) input.form.addEventListener("submit", function () { abort.abort(); });
      navigator.credentials.get({ otp: { transport: ["sms"] }, signal: abort.signal }).then(function (otp) {
        if (otp && otp.code) { input.value = otp.code; submitWhenComplete(input); }
      }).catch(function () { /* not offered, or cancelled: typing still works */ });
    }
  }

  function countDown(label) {
    var left = parseInt(label.getAttribute("data-seconds"), 10) || 0;
    var button = document.getElementById("resend");
    if (!button || left <= 0) return;
    var template = label.textContent;
    button.disabled = true;
    var timer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        clearInterval(timer);
        button.disabled = false;
        label.hidden = true;
        return;
      }
      label.textContent = template.replace(/\d+/, String(left));
    }, 1000);
  }

  function setUpCodesTools(box) {
    var list = document.getElementById(box.getAttribute("data-codes"));
    if (!list) return;
    box.hidden = false;
    var copy = box.querySelector("[data-action=copy]");
    var done = box.querySelector("[data-copied]");
    if (copy) {
      copy.addEventListener("click", function () {
        var codes = Array.prototype.map.call(list.querySelectorAll("code"), function (c) { return c.textContent; });
        var text = codes.join("\n") + "\n";
        var shown = function () { if (done) { done.hidden = false; } };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(shown, function () { selectCodes(list); });
        } else { selectCodes(list); }
      });
    }
    var print = box.querySelector("[data-action=print]");
    if (print) print.addEventListener("click", function () { window.print(); });
  }

  function selectCodes(list) {
    var range = document.createRange();
    range.selectNodeContents(list);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function oncePerForm(event) {
    var form = event.target;
    if (form.getAttribute && form.getAttribute("data-submitted") === "2") event.preventDefault();
    else if (form.getAttribute && form.getAttribute("data-submitted") === "1") form.setAttribute("data-submitted", "2");
  }

  function start() {
    document.addEventListener("submit", oncePerForm, true);
    Array.prototype.forEach.call(document.querySelectorAll("input.code-input[data-digits]"), setUpCodeField);
    var wait = document.getElementById("resend-wait");
    if (wait) countDown(wait);
    Array.prototype.forEach.call(document.querySelectorAll("[data-codes]"), setUpCodesTools);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
