// Every role's console, driven in headless Chromium against the real server, from the admin
// making named tokens to the applicant downloading the certificate:
// - admin: makes every person's token on /console/admin/tokens, rotates the signing key;
// - applicant 陈晓: applies for two items decided in parallel (人社 and 公安), is refused once
//   (an employer one character too long), uploads four materials (SHA-256 computed in the
//   browser), submits, fixes the returned 劳动合同 and submits again;
// - pre-reviewer 周敏: views the materials (sandboxed previews, the .txt only as a download),
//   returns 劳动合同 with a reason, then approves;
// - approvers 刘强 (人力社保局) and 孙丽 (公安局): each decides their own item;
// - clerk 王芳: checks the four brought files at the window and issues;
// - applicant: downloads the PDF, whose text names the holder, and files an amendment from it
//   (the form prefilled from the permit).
// On every page: full-page screenshots at 390×844 and 1280×900 (e2e/screenshots/roles/, printed
// at the start), no horizontal scroll at 390 px, no serious or critical axe-core violation; and
// no token ever in a page or a URL but the one answer that hands it over. These quality findings
// are collected and asserted at the end, so one run lists them all.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { start, launchBrowser } = require('./server');

const SHOTS = path.join(__dirname, 'screenshots', 'roles');
const PORTRAIT = path.join(__dirname, '..', 'tests', 'fixtures', 'portrait.png');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

const HOLDER_ID = '11010519491231002X';
const HOLDER_NAME = '陈晓';
const MATERIALS = ['身份证', '证件照', '劳动合同', '学历或职称证书'];

/** A small but well-formed one-page PDF (offsets in its xref are right), with ASCII text. */
function pdf(lines) {
  const text = lines.map((l, i) => `${i ? '0 -22 Td ' : ''}(${l}) Tj`).join(' ');
  const content = `BT /F1 16 Tf 72 760 Td ${text} ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((o, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

test('every role in the console, from tokens to the certificate', { timeout: 300_000 }, async (t) => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots: ${SHOTS}`);

  const server = await start();
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    await server.stop();
  });
  const url = server.url;

  // --- The files the applicant uploads and later brings to the window. ---
  const files = path.join(server.dir, 'files');
  fs.mkdirSync(files);
  const put = (name, bytes) => {
    const file = path.join(files, name);
    fs.writeFileSync(file, bytes);
    return { file, bytes, sha: sha256(bytes) };
  };
  const upload = {
    身份证: put('id-card.pdf', pdf(['Resident identity card', `ID ${HOLDER_ID}`, 'front and back'])),
    证件照: put('portrait.png', fs.readFileSync(PORTRAIT)),
    劳动合同: put('contract-page1.pdf', pdf(['Labour contract', 'page 1 of 2'])),
    学历或职称证书: put('degree.txt', Buffer.from('Master of Engineering, Zhejiang University, 2015\n')),
  };
  const contractFixed = put('contract-full.pdf', pdf(['Labour contract', 'page 1 of 2', 'page 2 of 2', 'signed']));

  // --- What every page showed, for the token check at the end. ---
  const seenUrls = [];
  const seenHtml = []; // { where, html, allowed }: `allowed` is the one secret a page may show
  const secrets = [server.admin];
  const watch = (page) => {
    page.on('request', (r) => seenUrls.push(r.url()));
    page.on('response', async (r) => {
      if (!(r.headers()['content-type'] || '').startsWith('text/html')) return;
      let html;
      try { html = await r.text(); } catch { return; /* redirect bodies are not kept */ }
      // The answer to making a token shows that token, once, in #new-token.
      const made = r.request().method() === 'POST' && new URL(r.url()).pathname === '/console/admin/tokens'
        ? /id="new-token">(ot_[^<\s]+)</.exec(html) : null;
      seenHtml.push({ where: `${r.request().method()} ${r.url()}`, html, allowed: made && made[1] });
    });
  };

  // --- Quality findings, asserted together at the end. ---
  const overflow = [];
  const violations = [];
  const findings = []; // other soft checks: names instead of ids, headers
  const expect = (ok, message) => { if (!ok) findings.push(message); };
  const quality = () => [
    ...overflow.map((o) => `horizontal scroll at 390 px: ${o}`),
    ...violations.map((v) => `axe: ${v}`),
    ...findings,
  ];
  let reported = false;
  t.after(() => {
    // A step that failed outright stops the run: still list what was found before it.
    if (!reported && quality().length) console.log(`quality findings so far:\n  ${quality().join('\n  ')}`);
  });

  let shot = 0;
  /** Screenshots at both sizes, the 390 px scroll check, axe-core, and the page's HTML kept. */
  const check = async (page, name, { allowed = null } = {}) => {
    shot += 1;
    const base = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}`);
    // Chromium's PDF viewer draws a moment after its frame loads (and again after a resize).
    const previews = await page.locator('iframe.preview').count();
    const settle = () => (previews ? page.waitForTimeout(1500) : null);
    await page.setViewportSize(PHONE);
    await settle();
    // innerWidth as asked, and clientWidth too: a classic scrollbar would hide up to 15 px.
    const widths = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      inner: window.innerWidth,
      client: document.documentElement.clientWidth,
    }));
    if (widths.scroll > Math.min(widths.inner, widths.client)) {
      const wide = await page.evaluate(() => {
        // The outermost elements past the edge that no scrolling box of their own contains.
        const limit = document.documentElement.clientWidth;
        const past = (el) => el.getBoundingClientRect().right > limit + 0.5;
        const clipped = (el) => {
          for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
            if (getComputedStyle(a).overflowX !== 'visible') return true;
          }
          return false;
        };
        return Array.from(document.querySelectorAll('body *'))
          .filter((el) => past(el) && !clipped(el))
          .filter((el) => !el.parentElement || !past(el.parentElement))
          .slice(0, 4)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} (right ${Math.round(el.getBoundingClientRect().right)})`);
      });
      overflow.push(`${name}: scrollWidth ${widths.scroll} > ${Math.min(widths.inner, widths.client)} (innerWidth ${widths.inner}); widest: ${wide.join(', ')}`);
    }
    await page.screenshot({ path: `${base}-390.png`, fullPage: true });
    await page.setViewportSize(DESKTOP);
    await settle();
    await page.screenshot({ path: `${base}-1280.png`, fullPage: true });

    // The pages' CSP (script-src 'self') would block an inline <script>; evaluation over the
    // DevTools protocol is not subject to it. The material previews' frames are left out: they
    // hold the applicant's documents, not our markup.
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
    const result = await page.evaluate(() => window.axe.run(document, {
      runOnly: ['wcag2a', 'wcag2aa', 'best-practice'],
      iframes: false,
      resultTypes: ['violations'],
    }));
    for (const v of result.violations) {
      if (v.impact === 'serious' || v.impact === 'critical') {
        const targets = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ');
        violations.push(`${name}: ${v.id} (${v.impact}, ${v.nodes.length} node${v.nodes.length > 1 ? 's' : ''}): ${targets}`);
      }
    }
    seenHtml.push({ where: `DOM of ${name}`, html: await page.content(), allowed });
  };

  /** A fresh browser session for one person, signed in with their token on the sign-in page. */
  const signIn = async (who, token, { screenshot = false } = {}) => {
    const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
    const page = await context.newPage();
    watch(page);
    await page.goto(`${url}/console`);
    assert.match(page.url(), /\/console\/login$/, `${who}: /console asks to sign in first`);
    if (screenshot) await check(page, 'login');
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${url}/console`), page.click('form[action="/console/login"] button[type=submit]')]);
    return { context, page };
  };

  const submitAndWait = async (page, selector, urlPattern) => {
    const [response] = await Promise.all([page.waitForNavigation({ url: urlPattern }), page.click(selector)]);
    return response;
  };

  // ===================== Admin: the people's tokens and the signing key =====================
  const admin = await signIn('admin', server.admin, { screenshot: true });
  await check(admin.page, 'admin-home');
  await admin.page.goto(`${url}/console/admin/tokens`);
  await check(admin.page, 'admin-tokens');

  const people = {};
  const makeToken = async (key, { name, role, department = '', holder = '' }, screenshot) => {
    const page = admin.page;
    await page.goto(`${url}/console/admin/tokens`);
    await page.fill('#new-token-form #name', name);
    await page.selectOption('#new-token-form #role', role);
    await page.selectOption('#new-token-form #department', department);
    await page.fill('#new-token-form #holder', holder);
    const response = await submitAndWait(page, '#new-token-form button[type=submit]', /\/console\/admin\/tokens$/);
    assert.equal(response.status(), 201, `making ${name}'s token: ${await page.textContent('main')}`);
    const secret = (await page.textContent('#new-token')).trim();
    assert.match(secret, /^ot_/, `${name}'s token`);
    expect(/no-store/.test(response.headers()['cache-control'] || ''),
      `POST /console/admin/tokens: the answer showing a token is not marked Cache-Control: no-store (${response.headers()['cache-control']})`);
    assert.ok(await page.locator('table#tokens tbody tr', { hasText: name }).count() >= 1, `${name} listed in table#tokens`);
    if (screenshot) await check(page, 'admin-token-made', { allowed: secret });
    secrets.push(secret);
    people[key] = { name, secret };
  };
  await makeToken('applicant', { name: HOLDER_NAME, role: 'applicant', holder: HOLDER_ID }, true);
  await makeToken('reviewer', { name: '周敏', role: 'reviewer' });
  await makeToken('rsj', { name: '刘强', role: 'approver', department: 'RSJ' });
  await makeToken('gaj', { name: '孙丽', role: 'approver', department: 'GAJ' });
  await makeToken('clerk', { name: '王芳', role: 'clerk' });

  // Listed again: every person by name, no secret.
  await admin.page.goto(`${url}/console/admin/tokens`);
  assert.equal(await admin.page.locator('#new-token').count(), 0, 'the secret is shown once only');
  const tokensTable = await admin.page.textContent('table#tokens');
  for (const p of Object.values(people)) assert.ok(tokensTable.includes(p.name), `${p.name} in table#tokens`);
  assert.ok(tokensTable.includes('人力社保局') && tokensTable.includes('公安局'), 'departments by name in table#tokens');
  await check(admin.page, 'admin-tokens-listed');

  // Rotate the signing key: the old one retires, the new one signs the certificate below.
  await admin.page.goto(`${url}/console/admin/keys`);
  const keysBefore = await admin.page.locator('table#keys tr[data-kid]').count();
  assert.equal(keysBefore, 1, 'one signing key at first');
  await check(admin.page, 'admin-keys');
  await admin.page.check('form#rotate input[name=confirm]');
  await submitAndWait(admin.page, 'form#rotate button[type=submit]', /\/console\/admin\/keys$/);
  const keyRows = admin.page.locator('table#keys tr[data-kid]');
  assert.equal(await keyRows.count(), 2, 'two keys after rotating');
  assert.equal(await keyRows.filter({ hasText: /在用|active/ }).count(), 1, 'one active key');
  assert.equal(await keyRows.filter({ hasText: /已退役|retired/ }).count(), 1, 'one retired key');
  await check(admin.page, 'admin-keys-rotated');

  // ===================== Applicant: apply =====================
  const applicant = await signIn('applicant', people.applicant.secret);
  let page = applicant.page;
  assert.equal(await page.locator(`nav.who a[href="/console/services"], main a[href="/console/services"]`).count() >= 1, true,
    'the applicant home links to /console/services');
  await check(page, 'applicant-home-empty');
  await Promise.all([page.waitForURL(`${url}/console/services`), page.click('main a[href="/console/services"]')]);
  assert.equal(await page.locator('#services a[href="/console/apply/talent-permit"]').count(), 1, '#services links to /console/apply/talent-permit');
  await check(page, 'services');

  await page.goto(`${url}/console/apply/talent-review`);
  await page.waitForSelector('form#apply');
  await page.fill('#holder_name', HOLDER_NAME);
  const tooLong = '杭州'.repeat(30) + '司'; // 61 characters; the limit is 60
  await page.fill('#field-employer', tooLong);
  await page.fill('#field-residence_address', '浙江省杭州市滨江区网商路599号3幢1201室');
  await page.check('form#apply input[name=item][value=talent-review]');
  await page.check('form#apply input[name=item][value=permit-production]');
  if (await page.isChecked('form#apply input[name=item][value=talent-permit]')) {
    await page.uncheck('form#apply input[name=item][value=talent-permit]');
  }
  assert.match(await page.textContent('.counter[data-counter-for="field-employer"]'), /^61 \/ 60/, 'the live counter');
  await check(page, 'apply');

  // Keyboard: Tab from the name reaches the fields in order, then the submit button; Enter sends.
  await page.focus('#holder_name');
  const order = ['holder_name'];
  for (let i = 0; i < 15; i += 1) {
    await page.keyboard.press('Tab');
    const here = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el) return '';
      if (el.matches('form#apply button[type=submit]')) return 'submit';
      if (el.name === 'item') return `item:${el.value}`;
      return el.id || el.tagName.toLowerCase();
    });
    order.push(here);
    if (here === 'submit') break;
  }
  const at = (id) => order.indexOf(id);
  // The fields in order, then the items (in the catalogue's order), then the submit button.
  const fieldsInOrder = ['holder_name', 'field-employer', 'field-residence_address', 'submit'];
  assert.ok(fieldsInOrder.every((id, i) => at(id) >= 0 && (i === 0 || at(id) > at(fieldsInOrder[i - 1]))),
    `Tab order of the apply form: ${order.join(' → ')}`);
  for (const item of ['item:talent-review', 'item:permit-production']) {
    assert.ok(at(item) > at('field-residence_address') && at(item) < at('submit'),
      `Tab order of the apply form: ${order.join(' → ')}`);
  }
  const [refused] = await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  assert.equal(refused.status(), 422, 'an employer of 61 characters is refused');
  assert.equal(await page.getAttribute('#form-error', 'role'), 'alert');
  assert.match(await page.textContent('#form-error'), /employer/, '#form-error names the field');
  assert.equal(await page.inputValue('#holder_name'), HOLDER_NAME, 'values kept');
  assert.equal(await page.inputValue('#field-employer'), tooLong, 'values kept');
  assert.ok(await page.isChecked('form#apply input[name=item][value=talent-review]'), 'items kept');
  assert.ok(await page.isChecked('form#apply input[name=item][value=permit-production]'), 'items kept');
  assert.match(await page.textContent('.counter[data-counter-for="field-employer"]'), /^61 \/ 60/);
  expect(await page.getAttribute('#field-employer', 'aria-invalid') === 'true', 'apply refused: #field-employer is not aria-invalid');
  await check(page, 'apply-refused');

  await page.fill('#field-employer', '杭州样本科技有限公司');
  await submitAndWait(page, 'form#apply button[type=submit]', /\/console\/submissions\/[^/#?]+$/);
  const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  const subUrl = `${url}/console/submissions/${encodeURIComponent(id)}`;
  for (const m of MATERIALS) assert.equal(await page.locator(`tr[data-material="${m}"]`).count(), 1, `a row for ${m}`);
  // With upload.js running, the fallback's button and the empty digests are hidden.
  expect(!(await page.isVisible('[data-upload-fallback]')),
    'submission page (draft), button[data-upload-fallback]: visible although upload.js set hidden (CSS `button { display: inline-block }` overrides [hidden])');
  expect(!(await page.locator('#materials dl.digests').first().isVisible()),
    'submission page (draft), dl.digests[hidden]: visible with empty 本机计算/服务器计算 before any upload (CSS `dl { display: grid }` overrides [hidden])');
  await check(page, 'submission-draft');

  // ===================== Applicant: upload, SHA-256 in the browser =====================
  const uploadInRow = async (material, file) => {
    const row = page.locator(`#materials tr[data-material="${material}"]`);
    await row.locator('input[data-material-input]').setInputFiles(file.file);
    await page.waitForFunction((m) => {
      const el = document.querySelector(`#materials tr[data-material="${m}"]`);
      return el && (el.dataset.state === 'done' || el.dataset.state === 'error');
    }, material, { timeout: 30_000 });
    assert.equal(await row.getAttribute('data-state'), 'done', `${material}: ${await row.locator('.upload-state').textContent()}`);
    assert.equal(await row.getAttribute('data-sha256'), file.sha, `${material}: data-sha256 is the file's SHA-256`);
    assert.equal((await row.locator('.browser-sha').textContent()).trim(), file.sha, `${material}: .browser-sha`);
    assert.equal((await row.locator('.server-sha').textContent()).trim(), file.sha, `${material}: .server-sha`);
    expect(!(await row.textContent()).includes('尚未上传'),
      `submission page, tr[data-material="${material}"]: still says 尚未上传 not uploaded after the upload is done`);
  };
  for (const m of MATERIALS) await uploadInRow(m, upload[m]);
  await check(page, 'submission-uploaded');
  await submitAndWait(page, 'form#submit-form button#submit', /\/console\/submissions\/[^/]+$/);
  assert.equal(await page.locator('h1 [data-status=submitted]').count(), 1, 'status submitted');
  await check(page, 'submission-submitted');

  // ===================== Pre-reviewer: view, return one material =====================
  const reviewer = await signIn('reviewer', people.reviewer.secret);
  page = reviewer.page;
  const queued = page.locator(`#review-queue a[href="/console/submissions/${id}"]`);
  assert.equal(await queued.count(), 1, 'the submission is in #review-queue');
  await check(page, 'reviewer-home');
  await Promise.all([page.waitForURL(subUrl), queued.click()]);

  const row = (m) => page.locator(`#materials tr[data-material="${m}"]`);
  assert.equal(await row('身份证').locator('details iframe.preview').count(), 1, '身份证 (PDF) previewed in an iframe');
  assert.equal(await row('劳动合同').locator('details iframe.preview').count(), 1, '劳动合同 (PDF) previewed in an iframe');
  const img = row('证件照').locator('details img.preview');
  assert.equal(await img.count(), 1, '证件照 previewed as an image');
  await img.scrollIntoViewIfNeeded();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 10_000 })
    .catch(() => {});
  assert.equal(await img.evaluate((el) => el.naturalWidth), 480, 'the portrait preview loaded');
  assert.equal(await row('学历或职称证书').locator('.preview').count(), 0, 'no preview of a .txt');
  assert.equal(await row('学历或职称证书').locator('a[download]').count(), 1, 'the .txt is a download link');

  // The materials as served: sandboxed, never sniffed; the .txt only as an attachment.
  const cookie = (await reviewer.context.cookies()).find((c) => c.name === 'onetrip_console');
  assert.ok(cookie, 'the reviewer has a session cookie');
  const material = async (m) => {
    const where = `${url}${await row(m).getAttribute('data-url')}`;
    const response = await fetch(where, { headers: { Cookie: `${cookie.name}=${cookie.value}` } });
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(response.status, 200, `GET ${where}`);
    assert.equal(sha256(bytes), upload[m].sha, `${m} served as uploaded`);
    return response.headers;
  };
  for (const m of ['身份证', '证件照', '学历或职称证书']) {
    const h = await material(m);
    assert.match(h.get('content-security-policy') || '', /\bsandbox\b/, `${m}: Content-Security-Policy sandbox`);
    assert.equal(h.get('x-content-type-options'), 'nosniff', `${m}: X-Content-Type-Options`);
    if (m === '学历或职称证书') {
      assert.match(h.get('content-disposition') || '', /^attachment/, 'the .txt is served as an attachment');
    } else {
      assert.match(h.get('content-type') || '', m === '证件照' ? /^image\/png/ : /^application\/pdf/, `${m}: content type`);
    }
  }
  await check(page, 'review-submission');

  const reason = '合同缺少第2页';
  await page.fill('form#pre-review input[name="reason.劳动合同"]', reason);
  await submitAndWait(page, 'form#pre-review #return', `${url}/console`);
  assert.equal(await page.locator(`#review-queue a[href="/console/submissions/${id}"]`).count(), 0, 'returned: out of the queue');
  await check(page, 'reviewer-home-after-return');

  // ===================== Applicant: replace the returned file =====================
  page = applicant.page;
  await page.goto(`${url}/console`);
  assert.equal(await page.locator(`#mine a[href="/console/submissions/${id}"]`).count(), 1, 'the submission in #mine');
  await check(page, 'applicant-home-returned');
  await page.goto(subUrl);
  assert.equal(await page.locator('h1 [data-status=returned]').count(), 1, 'status returned');
  assert.match(await page.textContent('#materials tr[data-material="劳动合同"] .field-error'), new RegExp(reason));
  assert.equal(await page.locator('#materials .field-error').count(), 1, 'only 劳动合同 has a reason');
  await check(page, 'submission-returned');
  await uploadInRow('劳动合同', contractFixed);
  upload.劳动合同 = contractFixed;
  await submitAndWait(page, 'form#submit-form button#submit', /\/console\/submissions\/[^/]+$/);
  assert.equal(await page.locator('h1 [data-status=submitted]').count(), 1, 'submitted again');

  // ===================== Pre-reviewer approves =====================
  page = reviewer.page;
  await page.goto(`${url}/console`);
  await Promise.all([page.waitForURL(subUrl), page.click(`#review-queue a[href="/console/submissions/${id}"]`)]);
  await material('劳动合同'); // the reviewer now gets the replacement, byte for byte
  await check(page, 'review-resubmitted');
  await submitAndWait(page, 'form#pre-review #approve', `${url}/console`);

  // ===================== Approvers: 人社 then 公安, each their own item =====================
  const decide = async (key, item, department, other, comment) => {
    const who = await signIn(key, people[key].secret);
    const p = who.page;
    const link = p.locator(`#approval-queue a[href^="/console/submissions/${id}"]`);
    assert.equal(await link.count(), 1, `${people[key].name}: the submission in #approval-queue`);
    await check(p, `${key}-home`);
    await Promise.all([p.waitForURL(new RegExp(`/console/submissions/${id}(#.*)?$`)), link.click()]);
    const mine = p.locator(`#items tr[data-item="${item}"]`);
    assert.equal(await mine.locator('form.decide').count(), 1, `${people[key].name}: form.decide in the ${item} row`);
    assert.equal(await p.locator(`#items tr[data-item="${other}"] form.decide`).count(), 0,
      `${people[key].name} cannot decide ${other}`);
    await check(p, `${key}-submission`);
    await mine.locator('form.decide textarea').fill(comment);
    await submitAndWait(p, `#items tr[data-item="${item}"] form.decide button[name=decision][value=approve]`,
      new RegExp(`/console/submissions/${id}(#.*)?$`));
    const decided = await p.textContent(`#items tr[data-item="${item}"]`);
    assert.match(decided, /准予|approved/, `${item} approved`);
    assert.ok(decided.includes(comment), `${item}: the comment shown`);
    expect(decided.includes(department), `submission page, #items tr[data-item=${item}]: department not shown as ${department}`);
    expect(decided.includes(people[key].name), `submission page, #items tr[data-item=${item}]: decider not shown as ${people[key].name}: ${decided.replace(/\s+/g, ' ').trim()}`);
    expect(!/tok_[0-9a-f]/.test(decided), `submission page, #items tr[data-item=${item}]: a token id shown: ${decided.replace(/\s+/g, ' ').trim()}`);
    await check(p, `${key}-decided`);
    await p.goto(`${url}/console`);
    assert.equal(await p.locator(`#approval-queue a[href^="/console/submissions/${id}"]`).count(), 0,
      `${people[key].name}: decided, out of the queue`);
    return who;
  };
  const rsj = await decide('rsj', 'talent-review', '人力社保局', 'permit-production', '符合引进人才条件，同意');
  const gaj = await decide('gaj', 'permit-production', '公安局', 'talent-review', '同意制证');

  // ===================== Clerk: window check and issue =====================
  const clerk = await signIn('clerk', people.clerk.secret);
  page = clerk.page;
  await check(page, 'clerk-home');
  await page.fill('#q', HOLDER_ID);
  await Promise.all([page.waitForURL(/q=/), page.click('form[role=search] button')]);
  await Promise.all([page.waitForURL(subUrl), page.click(`#results a[href="/console/submissions/${id}"]`)]);
  assert.equal(await page.locator('h1 [data-status=pre_approved]').count(), 1, 'pre-approved, before the window');
  await check(page, 'clerk-submission');
  // The applicant's files under other names, as brought on a USB stick.
  const brought = path.join(server.dir, 'brought');
  fs.mkdirSync(brought);
  const broughtFiles = MATERIALS.map((m, i) => {
    const file = path.join(brought, `scan-${i + 1}${path.extname(upload[m].file)}`);
    fs.writeFileSync(file, upload[m].bytes);
    return file;
  });
  await page.setInputFiles('form#window-check input#files', broughtFiles);
  await Promise.all([page.waitForURL(/\/checks\/\d+$/), page.click('form#window-check button[type=submit]')]);
  assert.equal(await page.getAttribute('#outcome', 'data-outcome'), 'matched');
  for (const m of MATERIALS) {
    assert.equal(await page.getAttribute(`#report tr[data-material="${m}"]`, 'class'), 'status-matched', `${m} matched`);
  }
  const outcome = await page.textContent('#outcome');
  expect(!/tok_[0-9a-f]/.test(outcome), `window check report, #outcome: the clerk shown as a token id: ${outcome.replace(/\s+/g, ' ').trim()}`);
  expect(outcome.includes('王芳'), 'window check report, #outcome: the clerk\'s name 王芳 not shown');
  await check(page, 'clerk-report');

  await page.goto(subUrl);
  await Promise.all([page.waitForURL(/#certificate$/), page.click('button#issue')]);
  const serial = (await page.textContent('#serial')).trim();
  const code = (await page.textContent('#verification-code')).trim();
  assert.ok(serial && code, 'serial and verification code shown');
  assert.equal(await page.locator('a#download-pdf').count(), 1);
  const history = await page.textContent('#history');
  for (const name of [HOLDER_NAME, '周敏', '刘强', '孙丽', '王芳']) {
    expect(history.includes(name), `submission page, #history: ${name} not named`);
  }
  expect(!/tok_[0-9a-f]/.test(history), `submission page, #history: token ids shown (${(history.match(/\S*tok_[0-9a-f]+/g) || []).slice(0, 3).join(', ')})`);
  const issuedBy = await page.textContent('#certificate');
  expect(!/tok_[0-9a-f]/.test(issuedBy), 'submission page, #certificate: issued by a token id');
  await check(page, 'clerk-issued');

  // ===================== Applicant: the certificate =====================
  page = applicant.page;
  await page.goto(subUrl);
  assert.equal((await page.textContent('#verification-code')).trim(), code);
  await check(page, 'applicant-certificate');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a#download-pdf')]);
  const pdfPath = path.join(server.dir, 'certificate.pdf');
  await download.saveAs(pdfPath);
  const certificatePdf = fs.readFileSync(pdfPath);
  assert.equal(certificatePdf.subarray(0, 4).toString(), '%PDF');
  const r = await server.api('GET', server.admin, `/certificates/${serial}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(sha256(certificatePdf), r.body.pdf_sha256, 'the PDF downloaded is the one issued');
  const text = execFileSync('pdftotext', ['-enc', 'UTF-8', pdfPath, '-'], { encoding: 'utf8' });
  assert.ok(text.includes(HOLDER_NAME), `the PDF names the holder: ${text.slice(0, 300)}`);

  // An amendment starts from the permit: the same holder, fields and items, the permit named.
  await Promise.all([page.waitForURL(/\/console\/apply\/[^?]+\?amends=/), page.click('a#amend')]);
  assert.equal(await page.inputValue('#holder_name'), HOLDER_NAME);
  assert.equal(await page.inputValue('#field-employer'), '杭州样本科技有限公司');
  assert.ok(await page.isChecked('form#apply input[name=item][value=permit-production]'), 'items prefilled');
  await check(page, 'applicant-amend');
  await page.fill('#field-residence_address', '浙江省杭州市西湖区文三路90号');
  await submitAndWait(page, 'form#apply button[type=submit]', /\/console\/submissions\/[^/#?]+$/);
  const amendment = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  const filed = await server.api('GET', server.admin, `/submissions/${amendment}`);
  assert.equal(filed.body.amends, serial, 'the amendment names the permit it changes');
  assert.equal(filed.body.fields.residence_address, '浙江省杭州市西湖区文三路90号');

  // ===================== Everyone signs out =====================
  for (const who of [admin, applicant, reviewer, rsj, gaj, clerk]) {
    await who.page.goto(`${url}/console`);
    await Promise.all([who.page.waitForURL(/\/console\/login$/), who.page.click('nav.who form button')]);
    await who.page.goto(subUrl);
    assert.match(who.page.url(), /\/console\/login$/, 'signed out');
    await who.context.close();
  }

  // ===================== No token in a page, a URL or the log =====================
  assert.ok(seenHtml.length > 40, `checked ${seenHtml.length} pages`);
  for (const secret of secrets) {
    assert.ok(!seenUrls.some((u) => u.includes(secret)), 'a token in a URL');
    for (const { where, html, allowed } of seenHtml) {
      if (!html.includes(secret)) continue;
      assert.equal(allowed, secret, `a token in ${where}`);
      assert.equal(html.split(secret).length - 1, 1, `the token shown once in ${where}`);
    }
    assert.ok(!server.stderr().includes(secret), 'a token in the server log');
  }

  // ===================== The quality findings, all at once =====================
  const report = quality();
  reported = true;
  assert.equal(report.length, 0, `${report.length} quality finding(s):\n  ${report.join('\n  ')}`);
});
