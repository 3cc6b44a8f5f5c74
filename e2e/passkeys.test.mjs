// Browser test: passkeys with Chromium's virtual authenticator (the DevTools `WebAuthn` domain:
// a CTAP2 authenticator with resident keys and user verification, which nobody here wrote).
// A staff member adds a passkey on the security page; signing in again asks for the second
// step, which the passkey passes; then the passkey alone signs them in, no password typed.

import { test } from 'node:test';
import { assert, assertAccessible, startPortico } from './support.mjs';

test('a passkey is added, passes the second step, and signs in alone', async (t) => {
  const { base, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'key@e2e.example', '--role', 'admin', '--password-stdin'], 'e2e key password\n');
  }, 'serve', {}, 'localhost');
  const page = await (await browser.newContext()).newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  const signInWithPassword = async () => {
    await page.goto(`${base}/login`);
    await page.fill('#email', 'key@e2e.example');
    await page.fill('#password', 'e2e key password');
    await page.click('main form button[type=submit]');
  };
  await signInWithPassword();
  await page.waitForURL(`${base}/staff/orgs`);

  await page.goto(`${base}/account/security`);
  await page.fill('#passkey-name', 'laptop');
  await Promise.all([page.waitForURL(`${base}/account/security`), page.click('[data-passkey=add]')]);
  await page.waitForSelector('ul.passkeys li');
  assert.match(await page.textContent('ul.passkeys'), /laptop/);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].isResidentCredential, true, 'discoverable, so it can sign in alone');
  await assertAccessible(page, 'the security page with a passkey');
  await shot(page, '62-passkey-added.png');

  // The passkey is a second factor now: the password leads to the second step.
  await Promise.all([page.waitForURL(/\/login/), page.click('header form[action="/logout"] button')]);
  await signInWithPassword();
  await page.waitForURL(`${base}/login/second-factor`);
  await Promise.all([page.waitForURL(`${base}/staff/orgs`), page.click('[data-passkey=second-step]')]);

  // And alone: no password.
  await Promise.all([page.waitForURL(/\/login/), page.click('header form[action="/logout"] button')]);
  await page.goto(`${base}/login`);
  await assertAccessible(page, 'the sign-in page with its passkey button');
  await Promise.all([page.waitForURL(`${base}/staff/orgs`), page.click('[data-passkey=sign-in]')]);
  assert.match(await page.textContent('header'), /key@e2e\.example/);
});
