// Browser test: the security headers arrive, another site cannot frame the sign-in page, and a
// form posted from another site is refused while the same form posted here works.

import { createServer } from 'node:http';
import { test } from 'node:test';
import { assert, freePort, startPortico, waitFor } from './support.mjs';

/** A page on another origin (localhost instead of 127.0.0.1, another port) serving `html`. */
async function otherSite(t, html) {
  const port = await freePort();
  const server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  t.after(() => server.close());
  return `http://localhost:${port}/`;
}

test('security headers, no framing by another site, no cross-site form posts', async (t) => {
  const { base, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'staff@e2e.example', '--password-stdin'], 'e2e staff password\n');
  });
  const page = await (await browser.newContext()).newPage();
  const response = await page.goto(`${base}/login`);
  const headers = response.headers();
  assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.doesNotMatch(headers['content-security-policy'], /unsafe-inline/);
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'same-origin');
  assert.equal(headers['cache-control'], 'no-store');

  // Another site frames the sign-in page: the browser refuses to show it.
  const framing = await otherSite(t, `<h1>evil</h1><iframe id="f" src="${base}/login"></iframe>`);
  await page.goto(framing);
  await page.waitForTimeout(1000);
  const frame = page.frames().find((f) => f !== page.mainFrame());
  assert.ok(frame, 'the iframe exists');
  const framedForms = await frame.locator('input[name=password]').count().catch(() => 0);
  assert.equal(framedForms, 0, 'the sign-in form did not render inside another site');
  await shot(page, '30-framing-refused.png');

  // Another site posts the sign-in form, with a token it fetched itself: refused as cross-site.
  const evil = await otherSite(
    t,
    `<form id="f" method="post" action="${base}/login">
       <input name="csrf_token" value="anything"><input name="email" value="staff@e2e.example">
       <input name="password" value="e2e staff password"></form>
     <script>document.getElementById('f').submit()</script>`,
  );
  const victim = await (await browser.newContext()).newPage();
  await victim.goto(`${base}/login`);
  await victim.goto(evil);
  await waitFor(async () => victim.url().startsWith(base), 'the cross-site post');
  await victim.waitForLoadState();
  assert.match(await victim.textContent('main'), /sent from another site/);
  await shot(victim, '31-cross-site-refused.png');

  // The same form, from this site, signs in.
  await victim.goto(`${base}/login`);
  await victim.fill('#email', 'staff@e2e.example');
  await victim.fill('#password', 'e2e staff password');
  await Promise.all([victim.waitForURL(`${base}/staff/orgs`), victim.click('main button[type=submit]')]);
});
