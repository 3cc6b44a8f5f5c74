// Browser test: `portico demo` with no Stripe keys runs its built-in fake Stripe. A visitor signs
// up, is sent to the payment step, pays on the fake's TEST MODE checkout page, and comes back to
// an active membership; the dashboard shows the plan, the renewal date and the billing button.

import { test } from 'node:test';
import { assert, startPortico, textPart, waitFor } from './support.mjs';

test('the demo: signup, payment on the fake Stripe checkout, active dashboard', async (t) => {
  const { base, sink, browser, shot, printed } = await startPortico(t, () => {}, 'demo');
  const fakeUrl = (await waitFor(() => printed().match(/fake Stripe \(TEST MODE\) at (\S+)/), 'the fake Stripe'))[1];

  const visitor = await (await browser.newContext()).newPage();
  await visitor.goto(`${base}/o/demo/join`);
  await visitor.fill('#email', 'payer@e2e.example');
  await visitor.click('main button[type=submit]');
  await visitor.waitForSelector('text=Check your email');
  const raw = await waitFor(() => sink.messages[0], 'the verification email');
  const link = textPart(raw).match(/https?:\/\/\S+\/join\/verify\/[A-Za-z0-9_-]+/)?.[0];
  assert.ok(link, raw);
  await visitor.goto(link);
  await visitor.click('main button[type=submit]');
  await visitor.waitForSelector('#first_name');
  await visitor.fill('#first_name', 'Pat');
  await visitor.fill('#last_name', 'Payer');
  await visitor.fill('#username', 'pat');
  await visitor.fill('#birthday', '1990-01-02');
  await visitor.fill('#password', 'subscriptions are fun');
  await visitor.fill('#password_confirm', 'subscriptions are fun');
  await visitor.check('input[name=accept_terms]');
  await visitor.check('input[name=accept_waiver]');
  await Promise.all([visitor.waitForURL(`${base}/o/demo/join/payment`), visitor.click('main form button[type=submit]')]);
  assert.match(await visitor.textContent('main'), /Standard membership — €25 \/ month/);
  await shot(visitor, '30-payment-step.png');

  // To the fake's checkout page: a redirect to another origin, allowed by the page's form-action.
  await Promise.all([visitor.waitForURL(`${fakeUrl}checkout/**`), visitor.click('main form button[type=submit]')]);
  assert.match(await visitor.textContent('body'), /TEST MODE/);
  assert.match(await visitor.textContent('body'), /payer@e2e\.example/);
  await shot(visitor, '31-fake-checkout.png');
  await Promise.all([visitor.waitForURL(`${base}/o/demo/join/payment/done`), visitor.click('text=Pay (test mode)')]);
  assert.match(await visitor.textContent('main'), /is active/);
  await shot(visitor, '32-payment-done.png');

  await visitor.goto(`${base}/dashboard?org=demo`);
  const main = await visitor.textContent('main');
  assert.match(main, /Active/);
  assert.match(main, /Standard membership/);
  assert.match(main, /Renews on/);
  assert.ok(await visitor.isVisible('text=Manage billing'));
  await shot(visitor, '33-dashboard-active.png');

  // The billing button opens the fake's portal for this member's own customer.
  await Promise.all([visitor.waitForURL(`${fakeUrl}portal/**`), visitor.click('text=Manage billing')]);
  assert.match(await visitor.textContent('body'), /active/);
  await shot(visitor, '34-fake-portal.png');
});
