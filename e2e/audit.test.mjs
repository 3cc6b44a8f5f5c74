// Browser test: a moderator bans a member with a reason; an operator finds who did it and why,
// first from the member's page, then from the audit log. The new staff and account pages are
// checked with axe-core (WCAG 2.1 A and AA).

import { test } from 'node:test';
import { assert, assertAccessible, startPortico, staffPage, textPart, waitFor } from './support.mjs';

const REASON = 'Left the soldering iron on twice';

test('an operator finds who banned a member and why, from the member page and the audit log', async (t) => {
  const { base, sink, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'operator@e2e.example', '--role', 'admin', '--password-stdin'], 'e2e operator password\n');
    run(['staff', 'create', '--email', 'moderator@e2e.example', '--role', 'support', '--password-stdin'], 'e2e moderator password\n');
    run(['org', 'create', '--slug', 'space', '--name', 'Hack Space', '--kind', 'nonprofit']);
  });

  // A member joins by invitation.
  const operator = await staffPage(browser, base, 'operator@e2e.example', 'e2e operator password');
  await operator.goto(`${base}/staff/orgs/space`);
  await operator.fill('#invite-email', 'maker@e2e.example');
  await Promise.all([operator.waitForURL(/\/staff\/orgs\/space/), operator.click('form[action="/staff/orgs/space/invitations"] button[type=submit]')]);
  const raw = await waitFor(() => sink.messages[0], 'the invitation email');
  const link = textPart(raw).match(/https?:\/\/\S+\/invite\/[A-Za-z0-9_-]+/)[0];
  const member = await (await browser.newContext()).newPage();
  await member.goto(link);
  await member.fill('#password', 'a long and fine passphrase');
  await member.fill('#password_confirm', 'a long and fine passphrase');
  await Promise.all([member.waitForURL(`${base}/dashboard`), member.click('main button[type=submit]')]);

  // The moderator bans them, with a reason.
  const moderator = await staffPage(browser, base, 'moderator@e2e.example', 'e2e moderator password');
  await moderator.goto(`${base}/staff/orgs/space`);
  await Promise.all([moderator.waitForURL(/\/members\/\d+$/), moderator.click('text=maker@e2e.example')]);
  const memberPage = moderator.url();
  await moderator.selectOption('#status', 'banned');
  await moderator.fill('#reason', REASON);
  await Promise.all([moderator.waitForURL(memberPage), moderator.click('form[aria-labelledby="status-title"] button[type=submit]')]);

  // The operator, from the member's page: the history says who and why.
  await operator.goto(memberPage);
  const history = operator.locator('#history + table tbody tr', { hasText: 'member.status_changed' }).first();
  const row = await history.textContent();
  assert.ok(row.includes('moderator@e2e.example'), row);
  assert.ok(row.includes(REASON), row);
  assert.ok(row.includes('banned'), row);
  await shot(operator, '50-member-history.png');
  await assertAccessible(operator, 'the member page');

  // From the audit log: filtered by what happened and to whom.
  await operator.click('text=This history in the audit log');
  await operator.waitForURL(/\/staff\/audit\?/);
  await operator.fill('#action', 'member.');
  await Promise.all([operator.waitForURL(/action=member\./), operator.click('form.filters button[type=submit]')]);
  const logRow = operator.locator('table.history tbody tr', { hasText: 'member.status_changed' }).first();
  const logText = await logRow.textContent();
  assert.ok(logText.includes('moderator@e2e.example') && logText.includes(REASON), logText);
  assert.ok(logText.includes('maker@e2e.example') && logText.includes('space'), logText);
  await shot(operator, '51-audit-log.png');
  await assertAccessible(operator, 'the audit log');

  // A bad filter: the form again with the message at the field, still accessible.
  await operator.goto(`${base}/staff/audit?action=${encodeURIComponent('not an action!')}`);
  assert.match(await operator.textContent('#action-error'), /letters, digits, dots and underscores/);
  await assertAccessible(operator, 'the audit log with a refused filter');

  // The other new pages.
  await operator.goto(`${base}/staff/people`);
  assert.ok((await operator.textContent('main')).includes('moderator@e2e.example'));
  await assertAccessible(operator, 'staff accounts');
  await operator.goto(`${base}/staff/settings`);
  await assertAccessible(operator, 'settings');
  await operator.goto(`${base}/account`);
  assert.ok((await operator.textContent('main')).includes('this browser'));
  await shot(operator, '52-account.png');
  await assertAccessible(operator, 'the account page');
});
