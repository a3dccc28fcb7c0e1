// Passkeys (WebAuthn): the one script of Tollhouse's pages, loaded only where a passkey
// can be added or used (CSP script-src 'self' there; every other page runs none).
// A button with data-passkey="create" or "get" runs the ceremony with the options in
// its form's passkey_options field, puts the browser's answer (JSON) in the passkey
// field and submits the form. Without WebAuthn the button stays hidden.
"use strict";
(function () {
  var api = window.PublicKeyCredential;
  if (!api || !api.parseCreationOptionsFromJSON || !api.parseRequestOptionsFromJSON) {
    return;
  }
  document.querySelectorAll("button[data-passkey]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var form = button.form;
      var options = JSON.parse(form.elements.passkey_options.value);
      var ceremony = button.dataset.passkey === "create"
        ? navigator.credentials.create({ publicKey: api.parseCreationOptionsFromJSON(options) })
        : navigator.credentials.get({ publicKey: api.parseRequestOptionsFromJSON(options) });
      ceremony.then(function (credential) {
        form.elements.passkey.value = JSON.stringify(credential.toJSON());
        form.submit();
      }).catch(function () {
        var note = form.querySelector(".passkey-error");
        if (note) {
          note.hidden = false;
        }
      });
    });
  });
})();
