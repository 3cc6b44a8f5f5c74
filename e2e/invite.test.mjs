// Browser test: staff signs in, invites someone, the test reads the email from an SMTP sink,
// opens the link as the invitee, sets a password and lands on the dashboard. Screenshots of
// every page are kept in target/e2e-screenshots/.

import { test } from 'node:test';
import { assert, startPortico, staffPage, textPart, waitFor } from './support.mjs';

const ORG = 'E2E <Club> "Makers"';

test('staff invites, the invitee sets a password and lands on the dashboard', async (t) => {
  const { base, sink, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'staff@e2e.example', '--password-stdin'], 'e2e staff password\n');
    run(['org', 'create', '--slug', 'e2e', '--name', ORG, '--kind', 'nonprofit']);
  });

  // Staff signs in and invites.
  const login = await (await browser.newContext()).newPage();
  await login.goto(`${base}/login`);
  await shot(login, '01-login.png');
  const staff = await staffPage(browser, base, 'staff@e2e.example', 'e2e staff password');
  await shot(staff, '02-console.png');
  await staff.goto(`${base}/staff/orgs/e2e`);
  assert.equal(await staff.textContent('h1'), ORG, 'the organisation name renders as text');
  await staff.fill('#invite-email', 'newcomer@e2e.example');
  await staff.selectOption('#invite-role', 'member');
  await Promise.all([staff.waitForURL(/\/staff\/orgs\/e2e/), staff.click('form[action="/staff/orgs/e2e/invitations"] button[type=submit]')]);
  assert.match(await staff.textContent('.flash'), /The invitation was sent/);
  await shot(staff, '03-invited.png');

  // The email arrives at the sink; the test reads the link from it.
  const raw = await waitFor(() => sink.messages[0], 'the invitation email');
  assert.match(raw, /^Subject: .*invited/im);
  const text = textPart(raw);
  assert.ok(text.includes(`You have been invited to ${ORG} on Portico`), text);
  const link = text.match(/https?:\/\/\S+\/invite\/[A-Za-z0-9_-]+/)?.[0];
  assert.ok(link, `a link in: ${text}`);

  // The invitee opens it in their own browser, sets a password, lands on the dashboard.
  const invitee = await (await browser.newContext()).newPage();
  await invitee.goto(link);
  assert.equal(await invitee.textContent('h1'), `Join ${ORG}`);
  await shot(invitee, '04-accept.png');
  await invitee.fill('#password', 'a long and fine passphrase');
  await invitee.fill('#password_confirm', 'a long and fine passphrase');
  await Promise.all([invitee.waitForURL(`${base}/dashboard`), invitee.click('main button[type=submit]')]);
  assert.match(await invitee.textContent('main'), /Welcome! You have joined the organisation\./);
  assert.ok((await invitee.textContent('main')).includes(ORG));
  await shot(invitee, '05-dashboard.png');

  // The staff console now shows the accepted invitation.
  await staff.reload();
  assert.match(await staff.textContent('#invitations + table'), /Accepted/);
  await shot(staff, '06-console-accepted.png');
});
