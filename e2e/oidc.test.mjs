// Browser test: sign in elsewhere with Portico. The relying party is an application this test
// runs with `openid-client` (npm, OpenID-certified; nobody here wrote it): headless Chromium
// goes to the application, signs in at Portico, allows it on the consent page and lands back
// signed in, with an ID token openid-client verified and userinfo it fetched. After staff
// suspend the member, the same sign-in stops at Portico's refusal page, which says why.

import { createServer } from 'node:http';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { assert, assertAccessible, freePort, staffPage, startPortico, textPart, waitFor } from './support.mjs';

test('an application signs a member in through Portico with openid-client, until the membership is suspended', async (t) => {
  const rpPort = await freePort();
  const rp = `http://127.0.0.1:${rpPort}`;
  let token = '';
  let created = '';
  const { base, browser, sink, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'admin@e2e.example', '--role', 'admin', '--password-stdin'], 'e2e admin password\n');
    token = run(['token', 'create', '--staff', 'admin@e2e.example']).toString().trim();
    run(['org', 'create', '--slug', 'club', '--name', 'Maker Club', '--kind', 'nonprofit']);
    created = run(['oidc', 'client', 'create', '--org', 'club', '--name', 'Club Wiki',
      '--redirect-uri', `${rp}/callback`]).toString();
  });
  const fields = Object.fromEntries(created.trim().split('\n').map((l) => l.split(': ')));
  const api = (method, path, body) => fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });

  // The relying party: /login starts the code flow, /callback finishes it.
  const issuer = new URL(`${base}/o/club`);
  const config = await oidc.discovery(issuer, fields.client_id, fields.client_secret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  const pending = {};
  const app = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, rp);
      if (url.pathname === '/login') {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        Object.assign(pending, { verifier, state, nonce });
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${rp}/callback`,
          scope: 'openid email profile groups',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        });
        res.writeHead(302, { location: to.href }).end();
        return;
      }
      const tokens = await oidc.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce,
      });
      const claims = tokens.claims();
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      res.writeHead(200, { 'content-type': 'text/html' })
        .end(`<html><body><h1 id="who">Signed in as ${info.email}</h1><p id="groups">${claims.groups.join(',')}</p></body></html>`);
    } catch (e) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`relying party error: ${e}`);
    }
  });
  await new Promise((ok) => app.listen(rpPort, '127.0.0.1', ok));
  t.after(() => app.close());

  // A member: invited by staff, the password set through the emailed link.
  assert.equal((await api('POST', '/api/v1/orgs/club/invitations', { email: 'ada@e2e.example', role: 'member' })).status, 201);
  await waitFor(() => sink.messages.length === 1, 'the invitation email');
  const link = textPart(sink.messages[0]).match(/https?:\/\/\S+\/invite\/[A-Za-z0-9_-]+/)[0];
  const invitee = await (await browser.newContext()).newPage();
  await invitee.goto(link);
  await invitee.fill('#password', 'ada long password');
  await invitee.fill('#password_confirm', 'ada long password');
  await Promise.all([invitee.waitForURL(/\/dashboard/), invitee.click('main button[type=submit]')]);

  // In a browser not signed in to Portico, the application sends the member to Portico's sign-in
  // page, then to the consent page.
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${rp}/login`);
  await page.waitForURL(/\/login\?next=/);
  await page.fill('#email', 'ada@e2e.example');
  await page.fill('#password', 'ada long password');
  await Promise.all([page.waitForURL(/\/o\/club\/oidc\/authorize/), page.click('main button[type=submit]')]);
  assert.match(await page.textContent('main'), /Club Wiki wants you to sign in with your Maker Club account/);
  await assertAccessible(page, 'the consent page');
  await shot(page, '50-oidc-consent.png');
  await Promise.all([page.waitForURL(`${rp}/callback**`), page.click('button[value=allow]')]);
  assert.equal(await page.textContent('#who'), 'Signed in as ada@e2e.example');
  assert.equal(await page.textContent('#groups'), 'member');

  // Suspended: the next sign-in stops at Portico and says why, though the session lives on.
  const members = await (await api('GET', '/api/v1/orgs/club/members')).json();
  const id = members.items.find((m) => m.email === 'ada@e2e.example').id;
  assert.equal((await api('PATCH', `/api/v1/orgs/club/members/${id}`, { status: 'suspended', reason: 'e2e' })).status, 200);
  const refused = await page.goto(`${rp}/login`);
  await page.waitForURL(/\/o\/club\/oidc\/authorize/);
  assert.match(await page.textContent('main'), /your membership is suspended/);
  assert.equal((await page.context().request.get(page.url())).status(), 403);
  await shot(page, '51-oidc-refused.png');
  assert.ok(refused);

  // Staff find the application, and its page with the back-channel logouts, in the console.
  const staff = await staffPage(browser, base, 'admin@e2e.example', 'e2e admin password');
  await staff.goto(`${base}/staff/orgs/club/oidc`);
  assert.match(await staff.textContent('main'), /Club Wiki/);
  await assertAccessible(staff, 'the applications page');
  await Promise.all([staff.waitForURL(/\/staff\/orgs\/club\/oidc\/pc_/), staff.click('text=Details and logouts')]);
  assert.match(await staff.textContent('main'), /Back-channel logouts sent to this application/);
  await assertAccessible(staff, "an application's page");
  await shot(staff, '52-oidc-client.png');
});
