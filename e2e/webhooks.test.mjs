// Browser test: an admin adds a webhook endpoint in the console (the secret is shown once),
// sends a test event to a receiver the test runs, and sees it delivered on the endpoint's page.

import { createServer } from 'node:http';
import { test } from 'node:test';
import { assert, freePort, startPortico, staffPage, waitFor } from './support.mjs';

test('an admin adds a webhook endpoint, sends a test event and sees it delivered', async (t) => {
  const received = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end('thanks');
    });
  });
  const port = await freePort();
  await new Promise((ok) => receiver.listen(port, '127.0.0.1', ok));
  t.after(() => receiver.close());
  const url = `http://127.0.0.1:${port}/hook`;

  const { base, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'admin@e2e.example', '--password-stdin'], 'e2e admin password\n');
    run(['org', 'create', '--slug', 'hooks', '--name', 'Hook Club', '--kind', 'nonprofit']);
  }, 'serve', { PORTICO_WEBHOOKS_ALLOW_PRIVATE: 'true', PORTICO_WEBHOOKS_POLL_MS: '100' });

  const staff = await staffPage(browser, base, 'admin@e2e.example', 'e2e admin password');
  await staff.goto(`${base}/staff/orgs/hooks`);
  await Promise.all([staff.waitForURL(`${base}/staff/orgs/hooks/webhooks`), staff.click('text=Webhooks')]);
  await staff.fill('#webhook-url', url);
  await staff.uncheck('input[value="member.updated"]');
  await staff.click('form[action="/staff/orgs/hooks/webhooks"] button[type=submit]');
  const secret = (await staff.textContent('code.token')).trim();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]{44}$/);
  await shot(staff, '40-webhook-secret-once.png');

  await staff.goto(`${base}/staff/orgs/hooks/webhooks`);
  assert.ok(!(await staff.textContent('main')).includes(secret), 'the secret is shown once');
  await Promise.all([staff.waitForURL(/\/staff\/orgs\/hooks\/webhooks\/\d+$/), staff.click('text=Send a test event')]);
  await waitFor(() => received.length === 1, 'the test event at the receiver');
  assert.match(received[0].headers['webhook-id'], /^msg_/);
  assert.match(received[0].headers['webhook-signature'], /^v1,/);
  assert.equal(JSON.parse(received[0].body).type, 'webhook.test');

  // The endpoint's page shows the delivery, delivered, with the receiver's answer.
  await waitFor(async () => {
    await staff.reload();
    return (await staff.textContent('main')).includes('delivered');
  }, 'the delivery shown as delivered');
  assert.match(await staff.textContent('main'), /thanks/);
  await shot(staff, '41-webhook-deliveries.png');
});
