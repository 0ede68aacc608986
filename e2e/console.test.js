// The window console and the verification page, driven in headless Chromium against the
// real server: sign in, a mismatching then a matching window check, the receipt, issuance,
// the PDF, verification by upload, a revoked certificate's page. Screenshots of every page go
// to e2e/screenshots/ (printed at the start).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { start, launchBrowser, licenceSubmission, ENTERPRISE } = require('./server');

const SHOTS = path.join(__dirname, 'screenshots', 'window');
const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

test('window console and verification page in a real browser', { timeout: 180_000 }, async (t) => {
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots: ${SHOTS}`);

  const server = await start();
  const browser = await launchBrowser();
  t.after(async () => {
    await browser.close();
    await server.stop();
  });

  // Everything the browser saw, to prove the clerk's token never reached a page or a URL.
  const seenUrls = [];
  const seenHtml = [];
  const watch = (page) => {
    page.on('request', (r) => seenUrls.push(r.url()));
    page.on('response', async (r) => {
      if ((r.headers()['content-type'] || '').startsWith('text/html')) {
        try { seenHtml.push(await r.text()); } catch { /* redirect bodies are not kept */ }
      }
    });
  };
  let shot = 0;
  const screenshot = async (page, name, options = {}) => {
    shot += 1;
    const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true, ...options });
    seenHtml.push(await page.content());
  };

  // --- An enterprise files a submission through the API, up to pre_approved. ---
  const applicant = await server.token('applicant', { holder: ENTERPRISE });
  const reviewer = await server.token('reviewer');
  const scjg = await server.token('approver', { department: 'SCJG' });
  let r = await server.api('POST', applicant, '/submissions', licenceSubmission(ENTERPRISE));
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body.id;
  const licence = Buffer.from('business licence scan\n');
  // Large enough for the progress bar to move.
  const report = Buffer.alloc(6 << 20, 'test report, all pages signed\n');
  const oldReport = Buffer.from('test report, page 3 unsigned\n');
  for (const [name, bytes] of [['营业执照副本', licence], ['产品检验报告', report]]) {
    r = await server.api('PUT', applicant, `/submissions/${id}/materials/${encodeURIComponent(name)}`, bytes);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  assert.equal((await server.api('POST', applicant, `/submissions/${id}/submit`)).status, 200);
  r = await server.api('POST', reviewer, `/submissions/${id}/pre-review`, { decision: 'approve' });
  assert.equal(r.body.status, 'pre_approved');

  const files = path.join(server.dir, 'brought');
  fs.mkdirSync(files);
  const put = (name, bytes) => { fs.writeFileSync(path.join(files, name), bytes); return path.join(files, name); };
  const licenceFile = put('scan-001.txt', licence);
  const reportFile = put('report-final.bin', report);
  const oldReportFile = put('report-old.txt', oldReport);
  const photoFile = put('holiday.jpg', Buffer.from('not a material'));

  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page);

  // --- Sign in: an unknown token is refused, a clerk token opens a session. ---
  await page.goto(`${server.url}/console`);
  assert.match(page.url(), /\/console\/login$/);
  await screenshot(page, 'login');
  await page.fill('#token', 'ot_not-a-token');
  const refused = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  assert.equal(refused[0].status(), 401);
  assert.match(await page.textContent('[role=alert]'), /令牌无效/);
  await screenshot(page, 'login-refused');
  await page.fill('#token', server.clerk);
  await Promise.all([page.waitForURL(`${server.url}/console`), page.click('button[type=submit]')]);
  const cookie = (await context.cookies()).find((c) => c.name === 'onetrip_console');
  assert.ok(cookie, 'session cookie set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/console');
  assert.ok(cookie.expires > Date.now() / 1000 + 7 * 3600, 'expires in about 8 hours');
  assert.ok(cookie.expires < Date.now() / 1000 + 9 * 3600);

  // --- Find the submission by holder id. ---
  await page.fill('#q', ENTERPRISE);
  await Promise.all([page.waitForURL(/q=/), page.click('form[role=search] button')]);
  assert.equal(await page.locator('#results tbody tr').count(), 1);
  await screenshot(page, 'search-by-holder');
  await Promise.all([page.waitForURL(`**/console/submissions/${id}`), page.click(`#results a`)]);
  assert.match(await page.textContent('h1'), new RegExp(id));
  assert.equal(await page.textContent('#materials tr[data-material="产品检验报告"] .digest'), sha256(report));
  await screenshot(page, 'submission-pre-approved');

  // --- A mismatching check: an old report in its slot, a stray photo, no licence. ---
  await page.setInputFiles('input[name=files]', [photoFile]);
  await page.setInputFiles('input[data-material="产品检验报告"]', oldReportFile);
  await Promise.all([page.waitForURL(/\/checks\/\d+$/), page.click('#window-check button[type=submit]')]);
  assert.equal(await page.getAttribute('#outcome', 'data-outcome'), 'mismatch');
  const row = (name) => page.locator(`#report tr[data-material="${name}"]`);
  assert.equal(await row('产品检验报告').getAttribute('class'), 'status-altered');
  assert.equal((await row('产品检验报告').locator('.expected').textContent()).trim(), sha256(report));
  assert.equal((await row('产品检验报告').locator('.actual').textContent()).trim(), sha256(oldReport));
  assert.equal(await row('营业执照副本').getAttribute('class'), 'status-missing');
  assert.match(await page.textContent('#unexpected'), /holiday\.jpg/);
  assert.equal(await page.locator('#receipt-link').count(), 0, 'no receipt after a mismatch');
  await screenshot(page, 'report-mismatch');

  // --- A matching check: both right files at once, under any names, with the progress bar. ---
  await page.goto(`${server.url}/console/submissions/${id}`);
  await page.setInputFiles('input[name=files]', [reportFile, licenceFile]);
  assert.match(await page.textContent('[data-drop] .chosen'), /report-final\.bin \(6\.0 MB\)/);
  await Promise.all([page.waitForURL(/\/checks\/\d+$/), page.click('#window-check button[type=submit]')]);
  assert.equal(await page.getAttribute('#outcome', 'data-outcome'), 'matched');
  assert.equal(await row('产品检验报告').getAttribute('class'), 'status-matched');
  assert.equal(await row('营业执照副本').getAttribute('class'), 'status-matched');
  await screenshot(page, 'report-matched');

  await Promise.all([page.waitForURL(/\/receipt$/), page.click('#receipt-link')]);
  assert.match(await page.textContent('#receipt-promise'), /10 个工作日/);
  const due = (await page.textContent('#receipt-due')).trim();
  assert.match(due, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(await page.textContent('#receipt-id'), id);
  assert.equal(await page.textContent('#receipt-holder'), '示例电缆有限公司');
  assert.equal(await page.textContent('#receipt-checked-by'), `${server.clerkName}（窗口人员）`);
  const receiptText = await page.textContent('#receipt-materials');
  assert.ok(receiptText.includes(sha256(report)) && receiptText.includes(sha256(licence)));
  await screenshot(page, 'receipt');
  await page.emulateMedia({ media: 'print' });
  await screenshot(page, 'receipt-print');
  assert.equal(await page.isVisible('header.site'), false, 'the print stylesheet hides the header');
  await page.emulateMedia({ media: 'screen' });

  // --- The home page lists the work in progress by due date. ---
  await page.goto(`${server.url}/console`);
  const dueRow = page.locator('#due-list tbody tr', { hasText: id });
  assert.equal(await dueRow.count(), 1);
  assert.equal((await dueRow.locator('td.due-date').textContent()).trim().slice(0, 10), due);
  await screenshot(page, 'console-due');

  // --- Not issuable until the department approves; then issue on the page. ---
  await page.goto(`${server.url}/console/submissions/${id}`);
  assert.equal(await page.locator('#blockers li[data-reason=item_pending]').count(), 2);
  assert.equal(await page.locator('#issue').count(), 0);
  await screenshot(page, 'submission-blocked');
  for (const item of ['wire-cable', 'fertiliser']) {
    r = await server.api('POST', scjg, `/submissions/${id}/items/${item}/decision`, { decision: 'approve', comment: '符合条件' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await page.reload();
  await Promise.all([page.waitForURL(/#certificate$/), page.click('#issue')]);
  const serial = (await page.textContent('#serial')).trim();
  assert.match(serial, /^1\.2\.156\./);
  r = await server.api('GET', server.admin, `/certificates/${serial}`);
  const certificate = r.body;
  assert.equal(certificate.status, 'valid');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-pdf')]);
  const pdfPath = path.join(server.dir, 'certificate.pdf');
  await download.saveAs(pdfPath);
  const pdf = fs.readFileSync(pdfPath);
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.equal(sha256(pdf), certificate.pdf_sha256);

  await page.selectOption('#method', 'courier');
  await page.fill('#carrier', 'EMS');
  await page.fill('#tracking_number', 'EA123456789CN');
  await page.fill('#address', '浙江省杭州市西湖区文三路1号');
  await Promise.all([page.waitForURL(/#certificate$/), page.click('#certificate form button[type=submit]')]);
  assert.match(await page.textContent('#delivery'), /EA123456789CN/);
  await screenshot(page, 'submission-issued');

  const tablet = await context.newPage();
  watch(tablet);
  await tablet.setViewportSize({ width: 768, height: 1024 });
  await tablet.goto(`${server.url}/console/submissions/${id}`);
  await screenshot(tablet, 'submission-tablet');
  await tablet.close();

  // --- Anyone verifies the PDF on /verify, without signing in. ---
  const visitor = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const vpage = await visitor.newPage();
  watch(vpage);
  await vpage.goto(`${server.url}/verify`);
  await screenshot(vpage, 'verify');
  await vpage.setInputFiles('#pdf', pdfPath);
  await Promise.all([vpage.waitForNavigation(), vpage.click('#verify-pdf button[type=submit]')]);
  assert.equal(await vpage.getAttribute('section.verdict', 'class'), 'verdict verdict-valid tone-green');
  assert.equal(await vpage.textContent('section.verdict h1'), '有效');
  assert.match(await vpage.textContent('main'), /示例电缆有限公司/);
  await screenshot(vpage, 'verdict-valid-pdf');

  await vpage.goto(`${server.url}/verify`);
  await vpage.setInputFiles('#pdf', { name: 'forged.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.7 forged') });
  await Promise.all([vpage.waitForNavigation(), vpage.click('#verify-pdf button[type=submit]')]);
  // A PDF with no QR code cannot be read: amber, never "not issued by us".
  assert.equal(await vpage.textContent('section.verdict h1'), '无法读取');
  assert.equal(await vpage.getAttribute('section.verdict', 'class'), 'verdict verdict-unusable_input tone-amber');

  await vpage.goto(`${server.url}/verify`);
  await vpage.fill('#token', certificate.verify_url);
  await Promise.all([vpage.waitForNavigation(), vpage.click('#verify-token button[type=submit]')]);
  assert.equal(await vpage.textContent('section.verdict h1'), '有效');

  // The verification code printed beside the QR code, typed as a person would.
  await vpage.goto(`${server.url}/verify`);
  await vpage.fill('#token', certificate.code.toLowerCase().replace(/-/g, ' '));
  await Promise.all([vpage.waitForNavigation(), vpage.click('#verify-token button[type=submit]')]);
  assert.equal(await vpage.textContent('section.verdict h1'), '有效');
  assert.match(await vpage.textContent('main'), new RegExp(certificate.code));
  await screenshot(vpage, 'verdict-valid-code');

  // --- Revoked over the admin API: the QR's page says so. ---
  r = await server.api('POST', server.admin, `/certificates/${serial}/revoke`, { reason: 'superseded', text: '已换发新证' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await vpage.goto(certificate.verify_url);
  assert.equal(await vpage.getAttribute('section.verdict', 'class'), 'verdict verdict-revoked tone-red');
  assert.equal(await vpage.textContent('section.verdict h1'), '已撤销');
  assert.match(await vpage.textContent('main'), /已换发新证/);
  assert.equal(await vpage.getAttribute('a[href="/verify"]', 'href'), '/verify');
  await screenshot(vpage, 'verdict-revoked');
  await visitor.close();

  // --- A service guide on a phone, opened from its QR code. ---
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const gpage = await phone.newPage();
  watch(gpage);
  await gpage.goto(`${server.url}/guide/talent-permit`);
  assert.equal(await gpage.textContent('h1'), '引进人才居住证办理');
  assert.equal(await gpage.textContent('#time-limit'), '3');
  assert.equal(await gpage.locator('#materials li').count(), 4);
  assert.match(await gpage.textContent('#materials'), /证件照/);
  assert.match(await gpage.textContent('#steps'), /人社审核[\s\S]*公安制证[\s\S]*发证/);
  const overflow = await gpage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the guide is ${overflow}px wider than the phone`);
  await screenshot(gpage, 'guide-phone');
  r = await fetch(`${server.url}/guide/talent-permit/qr.svg`);
  assert.equal(r.headers.get('content-type'), 'image/svg+xml');
  await phone.close();

  // --- Sign out ends the session. ---
  await page.goto(`${server.url}/console`);
  await Promise.all([page.waitForURL(/\/console\/login$/), page.click('header.site form button')]);
  await page.goto(`${server.url}/console/submissions/${id}`);
  assert.match(page.url(), /\/console\/login$/);

  // --- The clerk's token never left the sign-in form. ---
  assert.ok(seenHtml.length > 15, `checked ${seenHtml.length} pages`);
  for (const secret of [server.clerk, server.admin]) {
    assert.ok(!seenUrls.some((u) => u.includes(secret)), 'token in a URL');
    assert.ok(!seenHtml.some((html) => html.includes(secret)), 'token in a page');
    assert.ok(!server.stderr().includes(secret), 'token in the server log');
  }
  assert.ok(server.stderr().includes('console sign-in'), 'the log is being checked');
});
