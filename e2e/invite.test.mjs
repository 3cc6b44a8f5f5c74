// Browser test: staff signs in, invites someone, the test reads the email from an SMTP sink,
// opens the link as the invitee, sets a password and lands on the dashboard. Runs the real
// `portico serve` against a fresh SQLite file and Debian's Chromium through playwright-core.
// Screenshots of every page are kept in target/e2e-screenshots/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const portico = process.env.PORTICO_BIN || join(targetDir, 'debug', 'portico');
const shots = join(repo, 'target', 'e2e-screenshots');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const ORG = 'E2E <Club> "Makers"';

function freePort() {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
    server.on('error', fail);
  });
}

/** A minimal SMTP server that keeps every message it receives. */
function smtpSink() {
  const messages = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let buffer = '';
    let inData = false;
    let data = '';
    socket.write('220 sink ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      let index;
      while ((index = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messages.push(data);
            data = '';
            socket.write('250 OK\r\n');
          } else {
            data += (line.startsWith('..') ? line.slice(1) : line) + '\r\n';
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') socket.write('250-sink\r\n250 8BITMIME\r\n');
        else if (verb === 'DATA') { inData = true; socket.write('354 go ahead\r\n'); }
        else if (verb === 'QUIT') { socket.end('221 bye\r\n'); }
        else socket.write('250 OK\r\n');
      }
    });
    socket.on('error', () => {});
  });
  return { server, messages };
}

/** The decoded text/plain part of a MIME message. */
function textPart(raw) {
  const start = raw.search(/Content-Type: text\/plain/i);
  assert.ok(start >= 0, 'message has a text/plain part');
  const part = raw.slice(start);
  const headerEnd = part.indexOf('\r\n\r\n');
  const headers = part.slice(0, headerEnd);
  let body = part.slice(headerEnd + 4).split(/\r\n--/)[0];
  if (/quoted-printable/i.test(headers)) {
    body = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  } else if (/base64/i.test(headers)) {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return body;
}

async function waitFor(predicate, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('staff invites, the invitee sets a password and lands on the dashboard', async (t) => {
  mkdirSync(shots, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'portico-e2e-'));
  const sink = smtpSink();
  const sinkPort = await freePort();
  await new Promise((ok) => sink.server.listen(sinkPort, '127.0.0.1', ok));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    PORTICO_DATABASE_URL: `sqlite://${join(dir, 'portico.db')}`,
    PORTICO_BIND: `127.0.0.1:${port}`,
    PORTICO_BASE_URL: `${base}/`,
    PORTICO_SECRET_KEY: 'e2e-secret-key-0123456789abcdef-0123456789',
    PORTICO_SMTP_URL: `smtp://127.0.0.1:${sinkPort}`,
    PORTICO_OUTBOX_POLL_MS: '100',
    PORTICO_LOG: 'warn',
  };
  execFileSync(portico, ['staff', 'create', '--email', 'staff@e2e.example', '--password-stdin'], { env, input: 'e2e staff password\n' });
  execFileSync(portico, ['org', 'create', '--slug', 'e2e', '--name', ORG, '--kind', 'nonprofit'], { env });
  const server = spawn(portico, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  t.after(async () => {
    await browser.close();
    server.kill();
    sink.server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 'the server');

  // Staff signs in and invites.
  const staff = await (await browser.newContext()).newPage();
  await staff.goto(`${base}/login`);
  await staff.screenshot({ path: join(shots, '01-login.png'), fullPage: true });
  await staff.fill('#email', 'staff@e2e.example');
  await staff.fill('#password', 'e2e staff password');
  await Promise.all([staff.waitForURL(`${base}/staff/orgs`), staff.click('main button[type=submit]')]);
  await staff.screenshot({ path: join(shots, '02-console.png'), fullPage: true });
  await staff.goto(`${base}/staff/orgs/e2e`);
  assert.equal(await staff.textContent('h1'), ORG, 'the organisation name renders as text');
  await staff.fill('#invite-email', 'newcomer@e2e.example');
  await staff.selectOption('#invite-role', 'member');
  await Promise.all([staff.waitForURL(/\/staff\/orgs\/e2e/), staff.click('form[action="/staff/orgs/e2e/invitations"] button[type=submit]')]);
  assert.match(await staff.textContent('.flash'), /The invitation was sent/);
  await staff.screenshot({ path: join(shots, '03-invited.png'), fullPage: true });

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
  await invitee.screenshot({ path: join(shots, '04-accept.png'), fullPage: true });
  await invitee.fill('#password', 'a long and fine passphrase');
  await invitee.fill('#password_confirm', 'a long and fine passphrase');
  await Promise.all([invitee.waitForURL(`${base}/dashboard`), invitee.click('main button[type=submit]')]);
  assert.match(await invitee.textContent('main'), /Welcome! You have joined the organisation\./);
  assert.ok((await invitee.textContent('main table')).includes(ORG));
  await invitee.screenshot({ path: join(shots, '05-dashboard.png'), fullPage: true });

  // The staff console now shows the accepted invitation.
  await staff.reload();
  assert.match(await staff.textContent('#invitations + table'), /Accepted/);
  await staff.screenshot({ path: join(shots, '06-console-accepted.png'), fullPage: true });
});
