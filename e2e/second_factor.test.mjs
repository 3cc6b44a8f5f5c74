// Browser test: a staff member, who must have a second factor, is sent to add one after the
// password; they scan nothing but read the key the page shows, and Debian's `oathtool` (an
// independent RFC 6238 implementation) makes the codes. Signing in again takes two steps.
// Both pages pass axe's WCAG 2.1 AA checks.

import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { assert, assertAccessible, startPortico } from './support.mjs';

/** oathtool's code for `secret` at `unix` seconds. */
const totp = (secret, unix) =>
  execFileSync('oathtool', ['--totp', '-b', secret, '--now', `@${unix}`]).toString().trim();

/** Now, away from the end of a 30-second step. */
async function steadyNow() {
  for (;;) {
    const now = Math.floor(Date.now() / 1000);
    if (now % 30 < 25) return now;
    await new Promise((ok) => setTimeout(ok, 500));
  }
}

test('staff add an authenticator application first, then sign in in two steps', async (t) => {
  const { base, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'ops@e2e.example', '--role', 'admin', '--password-stdin'], 'e2e ops password\n');
    run(['settings', 'set', 'security.staff_second_factor_required', '1']);
  });
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/login`);
  await page.fill('#email', 'ops@e2e.example');
  await page.fill('#password', 'e2e ops password');
  await Promise.all([page.waitForURL(`${base}/account/security`), page.click('main button[type=submit]')]);
  assert.match(await page.textContent('main'), /Your account needs a second factor/);
  // Elsewhere is closed until then.
  await page.goto(`${base}/staff/orgs`);
  assert.equal(new URL(page.url()).pathname, '/account/security');

  await Promise.all([page.waitForLoadState(), page.click('text=Set up an authenticator application')]);
  assert.ok(await page.locator('figure.qr svg').count(), 'the QR code is drawn');
  const uri = await page.textContent('#otpauth-uri');
  assert.match(uri, /^otpauth:\/\/totp\/Portico:ops%40e2e\.example\?secret=[A-Z2-7]+&issuer=Portico/);
  const secret = await page.textContent('#totp-secret');
  await assertAccessible(page, 'the security page while adding a TOTP');
  await shot(page, '60-totp-enrol.png');
  const now = await steadyNow();
  await page.fill('#totp-code', totp(secret, now));
  await Promise.all([page.waitForLoadState(), page.click('text=Confirm')]);
  assert.equal(await page.locator('.recovery-codes li').count(), 10);
  await assertAccessible(page, 'the recovery codes');

  // Signed out and in again: the password, then a code.
  await Promise.all([page.waitForURL(/\/login/), page.click('header form[action="/logout"] button')]);
  await page.goto(`${base}/login`);
  await page.fill('#email', 'ops@e2e.example');
  await page.fill('#password', 'e2e ops password');
  await Promise.all([page.waitForURL(`${base}/login/second-factor`), page.click('main button[type=submit]')]);
  await assertAccessible(page, 'the second step');
  await shot(page, '61-second-step.png');
  await page.fill('#code', '000000');
  await Promise.all([page.waitForLoadState(), page.click('main button[type=submit]')]);
  assert.match(await page.textContent('#code-error'), /That code did not work/);
  await page.fill('#code', totp(secret, now + 30));
  await Promise.all([page.waitForURL(`${base}/staff/orgs`), page.click('main button[type=submit]')]);
});
