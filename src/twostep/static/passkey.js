/* Passkeys (WebAuthn) on twostep's pages: no framework, no CDN, no inline script (the CSP allows
 * only this site's files). Progressive enhancement: every page works without this file; it reveals
 * the passkey buttons when the browser supports passkeys, and starts autofill on the sign-in page.
 *
 * Each passkey block is an element with data-passkey="register|sign_in|second_step|reauth|reset",
 * data-csrf (the page's CSRF token, sent as X-CSRF-Token) and data-error (the page's generic error
 * text); its [data-passkey-error] element shows what went wrong (role="alert"). The server's ceremony
 * endpoints are /webauthn/{register,authenticate}/{options,verify}; refusals are problem+json with a
 * translated "detail" and, sometimes, a "redirect".
 */
(function () {
  "use strict";

  var supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

  function toBuffer(value) {
    var text = value.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) { text += "="; }
    var binary = atob(text);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      var copy = { type: item.type, id: toBuffer(item.id) };
      if (item.transports) { copy.transports = item.transports; }
      return copy;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      out.response.userHandle = toBase64url(response.userHandle);
    }
    return out;
  }

  function post(block, url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": block.getAttribute("data-csrf") || "" },
      body: JSON.stringify(body)
    }).then(function (answer) {
      return answer.json().then(function (data) {
        if (!answer.ok) {
          var error = new Error(data.detail || "");
          error.problem = data;
          throw error;
        }
        return data;
      });
    });
  }

  function say(block, error) {
    if (error && error.name === "AbortError") { return; }
    var problem = error && error.problem;
    if (problem && problem.redirect) {
      window.location.assign(problem.redirect);
      return;
    }
    var place = block.querySelector("[data-passkey-error]") || document.querySelector("[data-passkey-error]");
    if (!place) { return; }
    place.textContent = (problem && problem.detail) || block.getAttribute("data-error") || "";
    place.hidden = false;
    if (place.focus) { place.focus(); }
  }

  function busy(button, on) {
    if (button) { button.disabled = on; button.setAttribute("aria-busy", on ? "true" : "false"); }
  }

  function follow(data) {
    window.location.assign(data.redirect || "/account");
  }

  /* ---- registration: /enroll/passkey ---- */
  function register(block) {
    var button = block.querySelector("[data-passkey-start]");
    button.addEventListener("click", function () {
      busy(button, true);
      post(block, "/webauthn/register/options", {})
        .then(function (json) {
          return navigator.credentials.create({ publicKey: creationOptions(json) });
        })
        .then(function (credential) {
          return post(block, "/webauthn/register/verify", { credential: credentialJSON(credential) });
        })
        .then(function () { block.submit(); })
        .catch(function (error) { busy(button, false); say(block, error); });
    });
  }

  /* ---- signing in: /login (button and autofill), /login/code, /account/reauth ---- */
  var pending = null;

  function authenticate(block, purpose, mediation) {
    if (pending) { pending.abort(); }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    pending = controller;
    return post(block, "/webauthn/authenticate/options", { purpose: purpose })
      .then(function (json) {
        var request = { publicKey: requestOptions(json) };
        if (mediation) { request.mediation = mediation; }
        if (controller) { request.signal = controller.signal; }
        return navigator.credentials.get(request);
      })
      .then(function (credential) {
        if (!credential) { throw new Error(""); }
        return post(block, "/webauthn/authenticate/verify", {
          purpose: purpose,
          credential: credentialJSON(credential),
          next: block.getAttribute("data-next") || ""
        });
      })
      .then(follow);
  }

  function signIn(block) {
    var purpose = block.getAttribute("data-passkey");
    var button = block.querySelector("[data-passkey-start]");
    if (button) {
      button.addEventListener("click", function () {
        busy(button, true);
        authenticate(block, purpose, null).catch(function (error) { busy(button, false); say(block, error); });
      });
    }
    if (purpose === "sign_in" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (available) {
          authenticate(block, purpose, "conditional").catch(function (error) { say(block, error); });
        }
      });
    }
  }

  function start() {
    var blocks = document.querySelectorAll("[data-passkey]");
    for (var i = 0; i < blocks.length; i++) {
      var block = blocks[i];
      var fallback = document.querySelectorAll("[data-passkey-fallback]");
      if (!supported) {
        continue;
      }
      for (var j = 0; j < fallback.length; j++) { fallback[j].hidden = true; }
      var shown = block.querySelectorAll("[data-passkey-start], [data-passkey-when-supported]");
      for (var k = 0; k < shown.length; k++) { shown[k].hidden = false; }
      if (block.getAttribute("data-passkey") === "register") { register(block); } else { signIn(block); }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
