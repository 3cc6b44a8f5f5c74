// Shared support for the browser tests: free ports, an SMTP sink, MIME text extraction, and a
// real `portico serve` on a fresh SQLite file with Debian's Chromium.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
export const portico = process.env.PORTICO_BIN || join(targetDir, 'debug', 'portico');
export const shots = join(repo, 'target', 'e2e-screenshots');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

export function freePort() {
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
export function smtpSink() {
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
export function textPart(raw) {
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

export async function waitFor(predicate, what, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


/** Starts a sink, a fresh database, `portico serve` (or `command`, e.g. `demo`) and Chromium;
 * `setup(run)` runs admin commands first; `printed()` is what the server wrote to stdout;
 * `extraEnv` adds settings.
 * Everything is torn down after the test. */
export async function startPortico(t, setup, command = 'serve', extraEnv = {}, host = '127.0.0.1') {
  mkdirSync(shots, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'portico-e2e-'));
  const sink = smtpSink();
  const sinkPort = await freePort();
  await new Promise((ok) => sink.server.listen(sinkPort, '127.0.0.1', ok));
  const port = await freePort();
  // `host` names the server in its base URL (`localhost` for passkeys: WebAuthn refuses an IP).
  const base = `http://${host}:${port}`;
  const env = {
    PATH: process.env.PATH,
    PORTICO_DATABASE_URL: `sqlite://${join(dir, 'portico.db')}`,
    PORTICO_BIND: `127.0.0.1:${port}`,
    PORTICO_BASE_URL: `${base}/`,
    PORTICO_SECRET_KEY: 'e2e-secret-key-0123456789abcdef-0123456789',
    PORTICO_SMTP_URL: `smtp://127.0.0.1:${sinkPort}`,
    PORTICO_OUTBOX_POLL_MS: '100',
    PORTICO_LOG: 'warn',
    ...extraEnv,
  };
  const run = (args, input) => execFileSync(portico, args, { env, input });
  // Staff sign in with a password alone here; the second-factor test requires one again.
  if (command === 'serve') {
    run(['migrate']);
    run(['settings', 'set', 'security.staff_second_factor_required', '0']);
  }
  setup(run);
  const server = spawn(portico, [command], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  server.stdout.on('data', (chunk) => { printed += chunk.toString(); });
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
  return {
    base, sink, browser,
    printed: () => printed,
    shot: (page, name) => page.screenshot({ path: join(shots, name), fullPage: true }),
  };
}

/** Signs a staff member in on a new page. */
export async function staffPage(browser, base, email, password) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/login`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/staff/orgs`), page.click('main button[type=submit]')]);
  return page;
}

const axeSource = resolve(here, 'node_modules', 'axe-core', 'axe.min.js');

/** Runs axe-core in the page against WCAG 2.1 A and AA; fails listing every violation. */
export async function assertAccessible(page, what) {
  // Through the DevTools protocol: the pages' Content-Security-Policy (rightly) refuses an
  // injected script tag.
  await page.evaluate(readFileSync(axeSource, 'utf8'));
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  const found = result.violations.map((v) =>
    `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
  assert.deepEqual(found, [], `accessibility of ${what}`);
}

export { assert };
