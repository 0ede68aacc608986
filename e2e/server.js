// Starts the real `target/debug/onetrip` on port 0 against a temporary store, and talks to
// its JSON API the way tests/api/helpers.rs does.
'use strict';

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'target', 'debug', 'onetrip');
const ENTERPRISE = '91350100M000100Y43';

/** Runs the CLI against the test's config and returns its standard output, trimmed. */
function cli(config, args) {
  return execFileSync(BIN, ['--config', config, ...args], { encoding: 'utf8' }).trim();
}

async function start() {
  if (!fs.existsSync(BIN)) {
    throw new Error(`${BIN} is missing: run \`cargo build\` first`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onetrip-e2e-'));
  const config = path.join(dir, 'onetrip.toml');
  fs.writeFileSync(
    config,
    `listen = "127.0.0.1:0"\ndata = ${JSON.stringify(path.join(dir, 'data'))}\n`,
  );
  // Tokens made on the stopped store with the CLI; the rest later over the admin API.
  const adminName = '赵磊';
  const clerkName = '王芳 · 3 号窗口';
  const admin = cli(config, ['token', 'create', '--role', 'admin', '--name', adminName]);
  const clerk = cli(config, ['token', 'create', '--role', 'clerk', '--name', clerkName]);

  // Verbose request tracing, so the log check below would see a token that leaked into a URL.
  const child = spawn(BIN, ['--config', config, 'serve'], {
    env: { ...process.env, RUST_LOG: 'info,tower_http=debug', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  const url = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line.trim());
      if (m) resolve(m[1]); else reject(new Error(`first line was ${JSON.stringify(line)}`));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
  });

  async function api(method, token, route, body, headers = {}) {
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
    if (body instanceof Buffer) init.body = body;
    else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
    const response = await fetch(`${url}/api/v1${route}`, init);
    const text = await response.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: response.status, body: json };
  }

  async function token(role, binding = {}) {
    const r = await api('POST', admin, '/tokens', { role, ...binding });
    if (r.status !== 201) throw new Error(`token ${role}: ${JSON.stringify(r.body)}`);
    return r.body.token;
  }

  async function stop() {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return { url, dir, admin, adminName, clerk, clerkName, api, token, stop, stderr: () => stderr };
}

function licenceSubmission(holder) {
  return {
    holder: { type: 'enterprise', id: holder, name: '示例电缆有限公司' },
    kind: 'production-licence',
    items: [
      { code: 'wire-cable', department: 'SCJG', name: '电线电缆' },
      { code: 'fertiliser', department: 'SCJG', name: '化肥' },
    ],
    materials: [{ name: '营业执照副本' }, { name: '产品检验报告' }],
    fields: {
      address: '浙江省杭州市西湖区文三路1号',
      production_address: '浙江省杭州市余杭区良渚街道2号',
      legal_representative: '李四',
    },
  };
}

/** Debian's Chromium (or `CHROMIUM`), headless, as the browser tests drive it. */
function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

module.exports = { start, launchBrowser, licenceSubmission, ENTERPRISE };
