// Browser test: a visitor signs up from the email step, through the verification email, to the
// dashboard; staff then ban the member, who is locked out of every dashboard page.

import { test } from 'node:test';
import { assert, startPortico, staffPage, textPart, waitFor } from './support.mjs';

test('self-service signup to the dashboard, then a ban locks the member out', async (t) => {
  const { base, sink, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'staff@e2e.example', '--password-stdin'], 'e2e staff password\n');
    run(['org', 'create', '--slug', 'club', '--name', 'Hack <Club>', '--kind', 'nonprofit', '--signup', 'open']);
  });

  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(`${base}/o/club/join`);
  assert.equal(await visitor.textContent('h1'), 'Join Hack <Club>');
  await shot(visitor, '10-join.png');
  await visitor.fill('#email', 'maker@e2e.example');
  await visitor.click('main button[type=submit]');
  await visitor.waitForSelector('text=Check your email');
  await shot(visitor, '11-check-email.png');

  const raw = await waitFor(() => sink.messages[0], 'the verification email');
  const link = textPart(raw).match(/https?:\/\/\S+\/join\/verify\/[A-Za-z0-9_-]+/)?.[0];
  assert.ok(link, raw);
  await visitor.goto(link);
  await shot(visitor, '12-verify.png');
  await visitor.click('main button[type=submit]');
  await visitor.waitForSelector('#first_name');
  await visitor.fill('#first_name', 'Mara');
  await visitor.fill('#last_name', 'Maker');
  await visitor.fill('#username', 'mara');
  await visitor.fill('#birthday', '1995-05-17');
  await visitor.fill('#password', 'solder and sawdust');
  await visitor.fill('#password_confirm', 'solder and sawdust');
  // Leaving the agreements unticked is refused by the server with a message.
  await visitor.click('main form button[type=submit]');
  await visitor.waitForSelector('text=You need to accept this to join.');
  await shot(visitor, '13-details-errors.png');
  await visitor.fill('#password', 'solder and sawdust');
  await visitor.fill('#password_confirm', 'solder and sawdust');
  await visitor.check('input[name=accept_terms]');
  await visitor.check('input[name=accept_waiver]');
  await Promise.all([visitor.waitForURL(`${base}/dashboard`), visitor.click('main form button[type=submit]')]);
  assert.match(await visitor.textContent('main'), /Pending/);
  await shot(visitor, '14-dashboard-pending.png');

  // Staff ban the member from the console.
  const staff = await staffPage(browser, base, 'staff@e2e.example', 'e2e staff password');
  await staff.goto(`${base}/staff/orgs/club`);
  await staff.click('text=maker@e2e.example');
  await staff.selectOption('#status', 'banned');
  await staff.fill('#reason', 'broke the safety rules');
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/status"] button[type=submit]')]);
  assert.match(await staff.textContent('main'), /Banned/);
  await shot(staff, '15-console-banned.png');

  for (const path of ['/dashboard', '/dashboard/profile', '/dashboard/keys', '/dashboard/authorizations', '/dashboard/storage']) {
    await visitor.goto(`${base}${path}`);
    assert.ok(visitor.url().startsWith(`${base}/dashboard/locked`), `${path} → ${visitor.url()}`);
  }
  assert.equal(await visitor.textContent('h1'), 'Your membership is locked');
  await shot(visitor, '16-locked.png');
});
