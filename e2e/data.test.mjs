// Browser test of data in and out (SPEC §3.11): an admin imports members from a CSV file in the
// console (upload, a preview with a verdict per row, commit), and a member asks in /account to
// be erased, sees the date, and cancels. The new pages are checked with axe-core.

import { test } from 'node:test';
import { assert, assertAccessible, startPortico, staffPage, textPart, waitFor } from './support.mjs';

const CSV = [
  'email,first_name,last_name,tags,authorisations',
  'ada@e2e.example,Ada,Lovelace,0004711234,laser',
  'grace@e2e.example,Grace,Hopper,,laser',
  'not-an-address,Bad,Row,,',
].join('\n') + '\n';

test('an admin imports members in the console, and a member asks to be erased and cancels', async (t) => {
  const { base, sink, browser, shot } = await startPortico(t, (run) => {
    run(['staff', 'create', '--email', 'operator@e2e.example', '--role', 'admin', '--password-stdin'], 'e2e operator password\n');
    run(['org', 'create', '--slug', 'space', '--name', 'Hack Space', '--kind', 'nonprofit']);
  });
  const operator = await staffPage(browser, base, 'operator@e2e.example', 'e2e operator password');
  await operator.goto(`${base}/staff/orgs/space`);
  await Promise.all([operator.waitForURL(/\/staff\/orgs\/space\/import$/), operator.click('text=Import members from a CSV file')]);
  await assertAccessible(operator, 'the import page');
  await operator.setInputFiles('#import-file', { name: 'members.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
  await operator.check('input[name=skip_invalid]');
  await operator.check('input[name=create_authorisations]');
  await Promise.all([operator.waitForLoadState(), operator.click('main button[type=submit]')]);
  const summary = await operator.textContent('#import-summary');
  assert.equal(summary.trim(), 'created 2, updated 0, unchanged 0, refused 1');
  const rows = await operator.textContent('main');
  assert.ok(rows.includes('not an email address') && rows.includes('creates a membership'), rows);
  await shot(operator, '60-import-preview.png');
  await assertAccessible(operator, 'the import preview');
  await Promise.all([operator.waitForLoadState(), operator.click('text=Import these members')]);
  assert.equal((await operator.textContent('#import-summary')).trim(), 'created 2, updated 0, unchanged 0, refused 1');
  await assertAccessible(operator, 'the import result');
  await operator.goto(`${base}/staff/orgs/space`);
  assert.ok((await operator.textContent('main')).includes('ada@e2e.example'));

  // A member (by invitation) asks to be erased, sees when, and cancels.
  await operator.fill('#invite-email', 'maker@e2e.example');
  await Promise.all([operator.waitForURL(/\/staff\/orgs\/space/), operator.click('form[action="/staff/orgs/space/invitations"] button[type=submit]')]);
  const raw = await waitFor(() => sink.messages.find((m) => m.includes('maker@e2e.example')), 'the invitation email');
  const link = textPart(raw).match(/https?:\/\/\S+\/invite\/[A-Za-z0-9_-]+/)[0];
  const member = await (await browser.newContext()).newPage();
  await member.goto(link);
  await member.fill('#password', 'a long and fine passphrase');
  await member.fill('#password_confirm', 'a long and fine passphrase');
  await Promise.all([member.waitForURL(`${base}/dashboard`), member.click('main button[type=submit]')]);
  await member.goto(`${base}/account`);
  await member.fill('#erasure-confirm', 'erase');
  await Promise.all([member.waitForURL(`${base}/account`), member.click('form[action="/account/erasure"] button[type=submit]')]);
  const pending = await member.textContent('main');
  assert.ok(pending.includes('Your account will be erased on'), pending);
  await shot(member, '61-erasure-pending.png');
  await assertAccessible(member, 'the account page with an erasure pending');
  await Promise.all([member.waitForURL(`${base}/account`), member.click('text=Cancel the erasure')]);
  assert.ok((await member.textContent('main')).includes('nothing was removed'));
  await member.goto(`${base}/dashboard`);
  assert.equal(new URL(member.url()).pathname, '/dashboard', 'still a member, still signed in');
});
