// Passkeys (WebAuthn) on Portico's pages: asks the server for a ceremony's options, hands them
// to the browser's authenticator, and sends its answer back. Buttons say what they do with
// `data-passkey`: `add` (security page), `second-step` (the second step of a sign-in) and
// `sign-in` (a passkey alone). Binary fields travel as base64url, as webauthn-rs reads them.
(() => {
  'use strict';
  const b64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const bytes = (text) => {
    let s = text.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer;
  };
  const csrf = () => (document.querySelector('input[name=csrf_token]') || {}).value || '';

  async function post(url, fields) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf_token: csrf(), ...fields }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || String(response.status));
    return answer;
  }

  function creation(options) {
    const pk = options.publicKey;
    pk.challenge = bytes(pk.challenge);
    pk.user.id = bytes(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = bytes(c.id); });
    return { publicKey: pk };
  }

  function request(options) {
    const pk = options.publicKey;
    pk.challenge = bytes(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = bytes(c.id); });
    return { publicKey: pk };
  }

  const registration = (c) => JSON.stringify({
    id: c.id,
    rawId: b64(c.rawId),
    type: c.type,
    response: {
      attestationObject: b64(c.response.attestationObject),
      clientDataJSON: b64(c.response.clientDataJSON),
      transports: c.response.getTransports ? c.response.getTransports() : undefined,
    },
    extensions: c.getClientExtensionResults(),
  });

  const assertion = (c) => JSON.stringify({
    id: c.id,
    rawId: b64(c.rawId),
    type: c.type,
    response: {
      authenticatorData: b64(c.response.authenticatorData),
      clientDataJSON: b64(c.response.clientDataJSON),
      signature: b64(c.response.signature),
      userHandle: c.response.userHandle ? b64(c.response.userHandle) : null,
    },
    extensions: c.getClientExtensionResults(),
  });

  function say(button, message) {
    const out = document.getElementById(button.dataset.status || '');
    if (out) out.textContent = message;
  }

  // Without WebAuthn in this browser, the buttons stay hidden.
  if (window.PublicKeyCredential) {
    document.querySelectorAll('[data-passkey]').forEach((b) => { b.hidden = false; });
  }

  document.addEventListener('click', async (event) => {
    const button = event.target.closest('[data-passkey]');
    if (!button) return;
    event.preventDefault();
    button.disabled = true;
    try {
      if (button.dataset.passkey === 'add') {
        const name = (document.getElementById('passkey-name') || {}).value || '';
        const started = await post('/account/security/passkeys/start', {});
        const credential = await navigator.credentials.create(creation(started.options));
        await post('/account/security/passkeys/finish', {
          ceremony: started.ceremony, name, credential: registration(credential),
        });
        window.location.assign('/account/security');
      } else {
        const base = button.dataset.passkey === 'second-step' ? '/login/second-factor/passkey' : '/login/passkey';
        const started = await post(`${base}/start`, {});
        const credential = await navigator.credentials.get(request(started.options));
        const next = (document.querySelector('input[name=next]') || {}).value || '';
        const done = await post(`${base}/finish`, { ceremony: started.ceremony, credential: assertion(credential), next });
        window.location.assign(done.location);
      }
    } catch (e) {
      say(button, `${button.dataset.failed || ''} ${e && e.message ? e.message : ''}`.trim());
      button.disabled = false;
    }
  });
})();
