// The README's Swagger UI walkthrough, driven in a real (headless) Chromium: Authorize with a
// token, then for each operation "Try it out", fill in the path parameters only, keep the
// prefilled request body, "Execute", and check the status Swagger UI shows. Every request-body
// prefill of the served document is executed unchanged at least once; the script fails if one
// is left out or answers anything but the expected status. Not run by CI.
//
// Needs a running service (the README's run command), Debian's chromium
// (`apt-get install chromium`) and playwright-core, installed from scripts/package.json:
//
//   mkdir -p target/swagger-walkthrough && cp scripts/package.json target/swagger-walkthrough/
//   npm install --prefix target/swagger-walkthrough --no-audit --no-fund
//   node scripts/swagger-walkthrough.mjs
//
// Environment:
//   BASE               the service (default http://127.0.0.1:8080)
//   JWT_HS256_SECRET   the service's secret (default the README's), to mint tokens
//   ACCESS_REQUESTS    how to run the binary for `token` (default `cargo run -q --`)
//   CHROMIUM           the browser (default /usr/bin/chromium)
//   SCREENSHOTS        a directory: a screenshot of each executed operation goes there

import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'target', 'swagger-walkthrough', 'package.json'));
const { chromium } = require('playwright-core');

const BASE = (process.env.BASE ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const SECRET = process.env.JWT_HS256_SECRET ?? 'dev-secret-at-least-32-bytes-long';
const RUN = (process.env.ACCESS_REQUESTS ?? 'cargo run -q --').split(' ');
const SCREENSHOTS = process.env.SCREENSHOTS;

/** Mints a token the way the README does. */
function token(sub, email) {
  const [cmd, ...args] = RUN;
  return execFileSync(cmd, [...args, 'token', '--sub', sub, '--email', email], {
    cwd: root,
    env: { ...process.env, JWT_HS256_SECRET: SECRET },
    encoding: 'utf8',
  }).trim();
}

const tokens = {
  admin: token('admin-1', 'admin@example.com'),
  member: token('member-1', 'sam@acme.com'),
};

const doc = await (await fetch(`${BASE}/api-docs/openapi.json`)).json();
/** operationId → {method, path, tag, prefill} for every operation of the document. */
const operations = {};
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!op.operationId) continue;
    const media = op.requestBody?.content?.['application/json'];
    operations[op.operationId] = { method, path, tag: op.tags[0], prefill: media?.example };
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), 'swagger-walkthrough-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  viewport: { width: 1400, height: 1000 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(30_000);
if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });

let authorizedAs = null;
/** Authorize (Swagger UI's dialog) with the token of `who`, logging out the previous one. */
async function authorize(who) {
  if (authorizedAs === who) return;
  await page.locator('.auth-wrapper button.authorize').click();
  const dialog = page.locator('.dialog-ux .modal-ux');
  const logout = dialog.locator('button', { hasText: 'Logout' });
  if (await logout.count()) await logout.click();
  await dialog.locator('input').first().fill(tokens[who]);
  await dialog.locator('button.authorize').click();
  await dialog.locator('button.btn-done').click();
  authorizedAs = who;
}

const results = [];
const executed = new Set();

/**
 * Runs one operation as `who`: Try it out, path parameters from `params`, the prefilled body
 * unchanged, Execute. Returns the parsed answer; fails unless the status is `expect`.
 */
async function run(step, who, operationId, params, expect, note = '') {
  const op = operations[operationId];
  if (!op) throw new Error(`${operationId} is not in the document`);
  await authorize(who);
  const block = page.locator(`#operations-${op.tag}-${operationId}`);
  await block.scrollIntoViewIfNeeded();
  if (!(await block.locator('.opblock-body').count())) await block.locator('.opblock-summary').first().click();
  const tryOut = block.locator('button.try-out__btn');
  if ((await tryOut.innerText()).trim() === 'Try it out') await tryOut.click();
  const filled = {};
  for (const [name, value] of Object.entries(params)) {
    const input = block.locator(`tr[data-param-name="${name}"] input`);
    const prefilled = await input.inputValue();
    if (prefilled === value) {
      filled[name] = `${value} (prefilled)`;
    } else {
      await input.fill(value);
      filled[name] = value;
    }
  }
  let body = null;
  const textarea = block.locator('textarea.body-param__text');
  if (await textarea.count()) {
    body = await textarea.inputValue();
    if (JSON.stringify(JSON.parse(body)) !== JSON.stringify(op.prefill)) {
      throw new Error(`${operationId}: the prefill shown is not the document's example`);
    }
    executed.add(operationId);
  }
  const path = op.path.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name]));
  const answered = page.waitForResponse((r) => r.request().method() === op.method.toUpperCase()
    && new URL(r.url()).pathname === path);
  await block.locator('button.execute').click();
  await answered;
  const cell = block.locator('.live-responses-table tr.response .response-col_status').first();
  await cell.waitFor();
  const status = Number((await cell.innerText()).trim().split(/\s/)[0]);
  const text = (await block.locator('.live-responses-table tr.response .highlight-code pre').first()
    .innerText().catch(() => '')).trim();
  let answer = null;
  try { answer = text ? JSON.parse(text) : null; } catch { answer = text; }
  if (SCREENSHOTS) await block.screenshot({ path: join(SCREENSHOTS, `${String(step).padStart(2, '0')}-${operationId}.png`) });
  results.push({ step, who, operationId, params: filled, body, status, expect, note, answer });
  // Clear the answer and collapse, so a later run of this operation reads its own answer.
  await block.locator('button.btn-clear').click();
  await block.locator('.opblock-summary').first().click();
  if (status !== expect) {
    throw new Error(`step ${step} ${operationId}: expected ${expect}, got ${status}: ${text}`);
  }
  return answer;
}

let failure = null;
try {
  await page.goto(`${BASE}/`); // `/` redirects to Swagger UI
  await page.waitForSelector('.opblock');

  const org = await run(1, 'admin', 'create_org', {}, 201);
  await run(2, 'admin', 'add_org_admin', { org_id: org.id, account_id: 'admin-1' }, 204);
  const site = await run(3, 'admin', 'create_site', { org_id: org.id }, 201);
  const rollout = await run(4, 'admin', 'set_site_rollout', { site_id: site.id }, 200);
  check(rollout.external_requests_enabled === true, 'the site takes outside requests');
  const product = await run(5, 'admin', 'upsert_product', { site_id: site.id, product_key: 'jira-software' }, 201);
  check(product.seat_limit === 100 && product.seats_used === 0, 'seat_limit 100, none used');
  const user = await run(6, 'admin', 'upsert_site_user', { site_id: site.id, account_id: 'member-1' }, 201);
  check(user.products.length === 0 && user.role === 'member', 'a member without products');

  const request = await run(7, 'member', 'create_access_request', { site_id: site.id }, 201);
  check(request.kind === 'self' && request.status === 'pending' && request.subject.account_id === 'member-1',
    'a pending self request of member-1');
  await run(7, 'member', 'list_my_access_requests', {}, 200);
  const review = await run(8, 'admin', 'review_access_request', { site_id: site.id, request_id: request.id }, 200);
  check(review.subject.role === 'member', 'the review knows the subject');
  const approved = await run(9, 'admin', 'approve_access_request', { site_id: site.id, request_id: request.id }, 200);
  check(approved.status === 'approved' && approved.grant_id, 'approved, with a grant');
  const moved = await run(10, 'admin', 'update_grant_expiry', { site_id: site.id, grant_id: approved.grant_id }, 200);
  check(moved.status === 'active' && moved.expires_at, 'the grant has an end');
  const revoked = await run(11, 'admin', 'revoke_grant', { site_id: site.id, grant_id: approved.grant_id }, 200);
  check(revoked.status === 'revoked' && revoked.end_reason === 'revoked', 'revoked');
  const after = await run(11, 'admin', 'get_site_user', { site_id: site.id, account_id: 'member-1' }, 200);
  check(after.products.length === 0, 'the product left the user');

  const second = await run(12, 'member', 'create_access_request', { site_id: site.id }, 201);
  const cancelled = await run(12, 'member', 'cancel_access_request', { site_id: site.id, request_id: second.id }, 200);
  check(cancelled.status === 'cancelled', 'cancelled');
  const third = await run(13, 'member', 'create_access_request', { site_id: site.id }, 201);
  const denied = await run(13, 'admin', 'deny_access_request', { site_id: site.id, request_id: third.id }, 200);
  check(denied.status === 'denied', 'denied');
  const blocks = await run(14, 'admin', 'list_request_blocks', { site_id: site.id }, 200);
  check(blocks.items.some((b) => b.account_id === 'member-1'), 'the denial blocked member-1');
  await run(14, 'admin', 'remove_request_block', { site_id: site.id, account_id: 'member-1' }, 204);

  const bulk = await run(15, 'admin', 'decide_access_requests', { site_id: site.id }, 200,
    'the example id is on no site');
  check(bulk.results.length === 1 && bulk.results[0].status === 404, 'one result, 404');
  await run(15, 'admin', 'update_access_request_settings', { site_id: site.id }, 200);
  await run(15, 'admin', 'send_feedback', { site_id: site.id }, 201);
  if (operations.retry_failed_webhook_deliveries) {
    await run(15, 'admin', 'retry_failed_webhook_deliveries', {}, 200);
  }
  await run(15, 'admin', 'list_audit_events', { site_id: site.id }, 200);

  const left = Object.entries(operations)
    .filter(([id, op]) => op.prefill !== undefined && !executed.has(id)).map(([id]) => id);
  check(left.length === 0, `every request-body prefill executed (left: ${left.join(', ')})`);
} catch (error) {
  failure = error;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}

function check(ok, what) {
  if (!ok) throw new Error(`not as expected: ${what}`);
}

/** One line on what an answer says. */
function gist(a) {
  if (a === null || typeof a !== 'object') return a ?? '';
  if (Array.isArray(a.results)) return `results ${JSON.stringify(a.results.map((r) => ({ status: r.status, code: r.problem?.code })))}`;
  if (Array.isArray(a.items)) return `${a.items.length} item(s)`;
  const keys = ['kind', 'status', 'role', 'products', 'seat_limit', 'external_requests_enabled', 'expires_at',
    'end_reason', 'grant_id', 'rating', 'requeued', 'pending_ttl_hours', 'name'];
  return keys.filter((k) => k in a).map((k) => `${k}=${JSON.stringify(a[k])}`).join(' ');
}

for (const r of results) {
  const params = Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ');
  const body = r.body === null ? '' : ` body=${JSON.stringify(JSON.parse(r.body))}`;
  console.log(`${String(r.step).padStart(2)} ${r.who.padEnd(6)} ${r.operationId} ${params}${body}`);
  console.log(`   → ${r.status} ${gist(r.answer)}${r.note ? ` (${r.note})` : ''}`);
}
if (failure) {
  console.error(`FAILED: ${failure.message}`);
  process.exit(1);
}
console.log(`ok: ${results.length} executions; request-body prefills executed unchanged: ${[...executed].sort().join(', ')}`);
