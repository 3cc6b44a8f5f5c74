// Browser test: `portico demo` shows a living space. Its organisation opens with figures (members
// in every status, one paying through the fake Stripe, who waits for what, the joins-and-leaves
// chart drawn by the server with its table), checked with axe-core; the sample members, the door
// device with a recent contact, the OpenID Connect client, the webhook deliveries at the dev
// receiver (signatures valid) and the history in the audit log are all there.

import { test } from 'node:test';
import { assert, assertAccessible, startPortico, staffPage, waitFor } from './support.mjs';

test('the demo organisation is a living space, at a glance', async (t) => {
  // No SMTP server: the dev mailbox and the dev webhook receiver are on, as in the real demo.
  const { base, browser, shot, printed } = await startPortico(t, () => {}, 'demo', { PORTICO_SMTP_URL: '' });
  const login = await waitFor(() => printed().match(/Staff login: (\S+)\s+password: (\S+)/), 'the printed staff login');
  assert.match(printed(), /sample members, keys, authorisations, a door device/);
  const staff = await staffPage(browser, base, login[1], login[2]);

  // The payment goes through the fake Stripe once the server answers: wait for it.
  const figures = async () => {
    await staff.goto(`${base}/staff/orgs/demo`);
    return staff.textContent('section.overview');
  };
  await waitFor(async () => /Paying members\s*1/.test(await figures()), 'the sample payment');
  const glance = await figures();
  for (const [label, n] of [['Members in all', 7], ['Active', 3], ['Pending', 2], ['Suspended', 1], ['Banned', 1], ['Paying members', 1]]) {
    assert.match(glance, new RegExp(`${label}\\s*${n}\\b`), `${label} ${n} in: ${glance}`);
  }
  assert.match(glance, /2 memberships wait for activation/);
  assert.match(glance, /1 for payment/);
  assert.match(glance, /1 for a signed waiver/);
  assert.equal(await staff.locator('section.overview svg rect.joins').count(), 12);
  assert.equal(await staff.locator('section.overview table tbody tr').count(), 12);
  await shot(staff, '70-demo-overview.png');
  await assertAccessible(staff, 'the organisation overview');

  // The sample members, labelled as such, with their keys and authorisations.
  const members = await staff.textContent('main');
  for (const who of ['ada@demo.example', 'grace@demo.example', 'katherine@demo.example', 'alan@demo.example', 'mallory@demo.example']) {
    assert.match(members, new RegExp(who));
  }
  await Promise.all([staff.waitForURL(/\/members\/\d+$/), staff.click('text=grace@demo.example')]);
  const grace = await staff.textContent('main');
  assert.match(grace, /Sample data made by `portico demo`/);
  assert.match(grace, /0004711001/);
  assert.match(grace, /laser-cutter/);
  await shot(staff, '71-demo-member.png');

  // The door device fetched its list at start; the OpenID Connect client is registered.
  await staff.goto(`${base}/staff/orgs/demo/devices`);
  assert.match(await staff.textContent('main'), /Front door \(demo\)/);
  await shot(staff, '72-demo-devices.png');
  await staff.goto(`${base}/staff/orgs/demo/oidc`);
  assert.match(await staff.textContent('main'), /Demo wiki \(sample client\)/);

  // Every change was an event the dev receiver took, each signature checked.
  await waitFor(async () => {
    await staff.goto(`${base}/dev/webhooks`);
    return /payment\.succeeded/.test(await staff.textContent('main'));
  }, 'the payment event at the dev receiver');
  const received = await staff.textContent('main');
  assert.match(received, /membership\.banned/);
  assert.doesNotMatch(received, /does not match/);
  await shot(staff, '73-demo-webhooks.png');

  // And the audit log holds the history.
  await staff.goto(`${base}/staff/audit?org=demo`);
  const audit = await staff.textContent('main');
  assert.match(audit, /member\.status_changed/);
  assert.match(audit, /Demo: ignored the safety rules/);
  await shot(staff, '74-demo-audit.png');
});
