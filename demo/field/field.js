// Field technician: an OpenID Connect public client that runs entirely in the browser.
// Discovery, PKCE (S256 with crypto.subtle), the redirect to /authorize, the code
// exchange at /token and a /userinfo call, all cross-origin with fetch (the IdP answers
// this origin because it is the origin of the client's registered redirect URI).
"use strict";

(function () {
  const PENDING = "field.pending";  // verifier, state and nonce across the redirect

  function element(id) {
    return document.getElementById(id);
  }

  function base64url(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString(size) {
    return base64url(crypto.getRandomValues(new Uint8Array(size)));
  }

  function showError(text) {
    element("error").textContent = text;
    element("error").hidden = !text;
  }

  async function json(response, what) {
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const reason = body.error_description || body.error || response.status;
      throw new Error(what + " refused: " + reason);
    }
    return body;
  }

  async function loadConfig() {
    return json(await fetch("/config.json", { cache: "no-store" }), "configuration");
  }

  async function discover(config) {
    const url = config.issuer + "/.well-known/openid-configuration";
    const metadata = await json(await fetch(url), "discovery");
    if (metadata.issuer !== config.issuer) throw new Error("discovery names another issuer");
    return metadata;
  }

  async function signIn(config) {
    const metadata = await discover(config);
    const verifier = randomString(32);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    const pending = { verifier: verifier, state: randomString(16), nonce: randomString(16) };
    sessionStorage.setItem(PENDING, JSON.stringify(pending));
    const query = new URLSearchParams({
      response_type: "code",
      client_id: config.client_id,
      redirect_uri: config.redirect_uri,
      scope: config.scope,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: base64url(digest),
      code_challenge_method: "S256",
    });
    window.location.assign(metadata.authorization_endpoint + "?" + query.toString());
  }

  function idTokenClaims(idToken) {
    // The ID Token came straight from the token endpoint (OIDC Core §3.1.3.7): its
    // claims are read here; the nonce ties it to this sign-in.
    const payload = idToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  }

  async function finish(config, query) {
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    sessionStorage.removeItem(PENDING);
    window.history.replaceState(null, "", "/");  // the code is single-use: off the URL
    if (query.get("error")) {
      throw new Error("the sign-in ended: " + (query.get("error_description") || query.get("error")));
    }
    if (!pending || query.get("state") !== pending.state) {
      throw new Error("this sign-in was not started here");
    }
    if (query.get("iss") !== null && query.get("iss") !== config.issuer) {
      throw new Error("the answer came from another issuer");  // RFC 9207
    }
    const metadata = await discover(config);
    const tokens = await json(
      await fetch(metadata.token_endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "authorization_code",
          code: query.get("code"),
          redirect_uri: config.redirect_uri,
          client_id: config.client_id,
          code_verifier: pending.verifier,
        }),
      }),
      "the token endpoint"
    );
    if (idTokenClaims(tokens.id_token).nonce !== pending.nonce) {
      throw new Error("the ID Token is not for this sign-in (nonce)");
    }
    const userinfo = await json(
      await fetch(metadata.userinfo_endpoint, {
        headers: { Authorization: "Bearer " + tokens.access_token },
      }),
      "the userinfo endpoint"
    );
    show(userinfo, tokens);
  }

  function show(userinfo, tokens) {
    element("user-name").textContent = userinfo.name || userinfo.preferred_username || userinfo.sub;
    element("userinfo").textContent = JSON.stringify(userinfo, null, 2);
    element("expires-in").textContent = String(tokens.expires_in);
    element("account").hidden = false;
    element("profile").hidden = false;
    element("welcome").hidden = true;
  }

  function signOut() {
    // The tokens lived in this page only; the IdP session ends at its /logout.
    window.location.assign("/");
  }

  async function start() {
    const config = await loadConfig();
    element("sign-in").addEventListener("click", () => signIn(config).catch((e) => showError(e.message)));
    element("sign-out").addEventListener("click", signOut);
    const query = new URLSearchParams(window.location.search);
    if (window.location.pathname === "/callback") await finish(config, query);
  }

  start().catch((error) => showError("Field technician: " + error.message));
})();
