//! `TestApp`: the real `onetrip` binary serving on port 0 against a tempdir store: sled in
//! the tempdir, or, with `STORE_UNDER_TEST=postgres`, a fresh PostgreSQL database of its
//! own on the server `TEST_POSTGRES_URL` names (default: 127.0.0.1:5432, user postgres).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_onetrip");
pub const ENTERPRISE: &str = "91350100M000100Y43";
pub const OTHER_ENTERPRISE: &str = "91110108558521630L";
pub const PERSON: &str = "11010519491231002X";

/// The `n`th test enterprise: a valid USCC of its own. 一企一证 allows one licence in force per
/// enterprise, so a test that issues several first-version licences gives each its own holder.
pub fn enterprise(n: u32) -> String {
    const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [usize; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let body = format!("91330100MA{:07}", n % 10_000_000);
    let sum: usize = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| ALPHABET.iter().position(|&a| a == b).unwrap() * w)
        .sum();
    format!("{body}{}", ALPHABET[(31 - sum % 31) % 31] as char)
}

/// The material a permit prints as the holder's photo.
pub const PHOTO: &str = "证件照";

/// A 600 × 800 portrait JPEG, as a phone hands it over; `shade` makes each one different.
pub fn portrait_jpeg(shade: u8) -> Vec<u8> {
    let image = image::RgbImage::from_fn(600, 800, |x, y| {
        image::Rgb([(x / 3) as u8, (y / 4) as u8, shade])
    });
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    bytes
}

pub struct TestApp {
    pub url: String,
    pub client: Client,
    pub admin: String,
    /// Shared by the nodes of one [`Nodes`].
    pub dir: Arc<tempfile::TempDir>,
    child: Child,
    pub launch: Launch,
    /// Where it listens when not where its config says (a node's own loopback address).
    listen: Option<String>,
    /// The test's own database when the records are in PostgreSQL, dropped after the last
    /// server on it.
    _database: Option<Arc<TestDatabase>>,
}

/// Which engine the tests put the records in (`STORE_UNDER_TEST`): `sled` unless it says
/// `postgres`.
pub fn on_postgres() -> bool {
    std::env::var("STORE_UNDER_TEST").is_ok_and(|s| s == "postgres")
}

/// A store engine a server can be started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sled,
    Postgres,
}

impl Engine {
    /// The engines to measure a benchmark on: sled, and PostgreSQL when a server answers at
    /// `TEST_POSTGRES_URL` (the default, 127.0.0.1:5432); the reason when it does not.
    #[allow(dead_code)]
    pub async fn available() -> (Vec<Engine>, Option<String>) {
        use sqlx::Connection;
        match sqlx::PgConnection::connect(&postgres_admin_url()).await {
            Ok(_) => (vec![Engine::Sled, Engine::Postgres], None),
            Err(e) => (vec![Engine::Sled], Some(e.to_string())),
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database created for one test on the PostgreSQL server of `TEST_POSTGRES_URL`, and
/// dropped (its connections closed) when the test is done with it.
pub struct TestDatabase {
    admin: String,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let name = format!(
            "onetrip_api_{:016x}",
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        );
        let mut connection = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("a PostgreSQL server for tests at {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .unwrap();
        let (server, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{server}/{name}");
        TestDatabase { admin, name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("dropping the test database: {e}");
        }
    }
}

/// How the server process is started: extra environment (applied after the defaults, so it
/// overrides them, e.g. `RUST_LOG`) and an optional file that receives its standard error
/// (appended to across restarts). The default inherits standard error, as before.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub env: Vec<(String, String)>,
    pub stderr: Option<PathBuf>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with("").await
    }

    /// Starts a server whose config file holds `extra` TOML lines.
    pub async fn spawn_with(extra: &str) -> TestApp {
        Self::spawn_launched(extra, Launch::default()).await
    }

    /// Starts a server on a copy of the store in `data` (a fixture written by an earlier
    /// version).
    pub async fn spawn_on_copy_of(data: &Path) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(data, &dir.path().join("data"));
        Self::spawn_on(None, dir, "", Launch::default())
    }

    /// Like `spawn_with`, with control over the server's environment and standard error.
    pub async fn spawn_launched(extra: &str, launch: Launch) -> TestApp {
        Self::spawn_in(tempfile::tempdir().unwrap(), extra, launch).await
    }

    /// Starts a server in `dir`, whose `data` directory may already exist (a mount, say). Its
    /// config sets no `templates_dir`, so it serves the templates built into the binary
    /// (`extra` may set one).
    pub async fn spawn_in(dir: tempfile::TempDir, extra: &str, launch: Launch) -> TestApp {
        let engine = match on_postgres() {
            true => Engine::Postgres,
            false => Engine::Sled,
        };
        Self::spawn_engine(engine, dir, extra, launch).await
    }

    /// Starts a server on `engine` (a database of its own on PostgreSQL).
    pub async fn spawn_engine(
        engine: Engine,
        dir: tempfile::TempDir,
        extra: &str,
        launch: Launch,
    ) -> TestApp {
        let database = match engine {
            Engine::Postgres => Some(TestDatabase::create().await),
            Engine::Sled => None,
        };
        Self::spawn_on(database, dir, extra, launch)
    }

    /// [`TestApp::spawn_sled_in`] a new directory.
    #[allow(dead_code)]
    pub async fn spawn_sled() -> TestApp {
        Self::spawn_sled_in(tempfile::tempdir().unwrap(), "", Launch::default()).await
    }

    /// Starts a server whose records are in sled whatever `STORE_UNDER_TEST` says: for what
    /// only the embedded store does (a backup of its directory, a full disk under it).
    #[allow(dead_code)]
    pub async fn spawn_sled_in(dir: tempfile::TempDir, extra: &str, launch: Launch) -> TestApp {
        Self::spawn_on(None, dir, extra, launch)
    }

    fn spawn_on(
        database: Option<TestDatabase>,
        dir: tempfile::TempDir,
        extra: &str,
        launch: Launch,
    ) -> TestApp {
        let config = dir.path().join("onetrip.toml");
        let store = database
            .as_ref()
            .map(|d| format!("store = {:?}\n", d.url))
            .unwrap_or_default();
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata = {:?}\n{store}{extra}\n",
                dir.path().join("data"),
            ),
        )
        .unwrap();
        let admin = cli(dir.path(), &["token", "create", "--role", "admin"]);
        let mut app = Self::started(dir, admin, launch);
        app._database = database.map(Arc::new);
        app
    }

    /// Starts the binary as someone who has just installed it would: in an empty directory,
    /// with no config file (the defaults, but a free port) and no templates beside it.
    #[allow(dead_code)]
    pub async fn spawn_bare() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let admin = Command::new(BIN)
            .current_dir(dir.path())
            .args(["token", "create", "--role", "admin"])
            .output()
            .unwrap();
        Self::started(dir, admin, Launch::default())
    }

    /// Serves the store of `dir`, whose admin token `admin` (a `token create`) printed.
    fn started(dir: tempfile::TempDir, admin: std::process::Output, launch: Launch) -> TestApp {
        assert!(
            admin.status.success(),
            "{}",
            String::from_utf8_lossy(&admin.stderr)
        );
        let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
        let (child, url) = start(dir.path(), &launch, None);
        TestApp {
            url,
            // Kept-alive connections are dropped by the client before the server closes them
            // (10 s without a request), as a well-configured client does: a test that blocks
            // its runtime for longer must not send on a connection the server has closed.
            client: Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap(),
            admin,
            dir: Arc::new(dir),
            child,
            launch,
            listen: None,
            _database: None,
        }
    }

    /// The server's process id; the benchmarks read its peak RSS.
    #[allow(dead_code)]
    /// The PostgreSQL database the service uses, if it uses one.
    pub fn database_url(&self) -> Option<&str> {
        self._database.as_ref().map(|d| d.url.as_str())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stops the server with SIGTERM, waits for it, and starts it again on the same store.
    pub fn restart(&mut self) {
        self.stop();
        self.restart_stopped();
    }

    pub fn restart_stopped(&mut self) {
        let (child, url) = start(self.dir.path(), &self.launch, self.listen.as_deref());
        self.child = child;
        self.url = url;
    }

    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "server exited with {exit}");
    }

    /// Kills the server with SIGKILL (no chance to flush or finish anything) and reaps it.
    #[allow(dead_code)]
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        let exit = self.child.wait().unwrap();
        assert!(!exit.success(), "a killed server exits unsuccessfully");
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url)
    }

    pub async fn token(&self, role: &str, binding: Value) -> String {
        let mut body = json!({"role": role});
        if let (Some(b), Some(o)) = (binding.as_object(), body.as_object_mut()) {
            o.extend(b.clone());
        }
        let r = self.post(&self.admin, "/tokens", &body).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The published key set.
    pub async fn jwks(&self) -> Value {
        self.public_json("/.well-known/jwks.json").await.1
    }

    /// Files a submission and returns its id.
    pub async fn create(&self, token: &str, body: &Value) -> String {
        let r = self.post(token, "/submissions", body).await;
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Response {
        self.client
            .post(self.api(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.client
            .get(self.api(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn upload(&self, token: &str, id: &str, name: &str, bytes: Vec<u8>) -> Response {
        self.client
            .put(self.api(&format!("/submissions/{id}/materials/{name}")))
            .bearer_auth(token)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server batch of `body` (JSON Lines) as `token`; answers its id.
pub async fn start_batch(app: &TestApp, token: &str, body: String) -> String {
    let r = app
        .client
        .post(app.api("/batches"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let started: Value = r.json().await.unwrap();
    started["id"].as_str().unwrap().to_owned()
}

/// Ed25519 verifications per second on one core for two seconds: the machine's own reference
/// beside every verification figure.
#[allow(dead_code)]
pub fn raw_verify_rate() -> f64 {
    use ed25519_dalek::{Signer, SigningKey, Verifier};
    let key = SigningKey::from_bytes(&[3; 32]);
    let message = [7u8; 400];
    let signature = key.sign(&message);
    let public = key.verifying_key();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            public.verify(&message, &signature).unwrap();
        }
        count += 100;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// A memory figure of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`) in MiB.
#[allow(dead_code)]
pub fn rss_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU time (user and system) process `pid` has used so far, in seconds (Linux's
/// `/proc/<pid>/stat`, in clock ticks of 1/100 s): the benchmarks' split of a figure between
/// the server and their own load generator on the same cores.
#[allow(dead_code)]
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The cores this machine lends the tests.
#[allow(dead_code)]
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Several `onetrip serve` processes, each on a loopback address of its own (127.0.0.2, .3,
/// …) with a data directory of its own, on one PostgreSQL database, with `materials_dir` and
/// `keys_dir` in one directory (what, across machines, would be a shared file system). They
/// share one public address, as nodes behind a load balancer do. Each node is a [`TestApp`] holding
/// the same admin token; the database and the directory go when the last node does.
#[allow(dead_code)]
pub struct Nodes {
    pub nodes: Vec<TestApp>,
}

#[allow(dead_code)]
impl Nodes {
    pub async fn spawn(count: usize) -> Nodes {
        Self::spawn_launched(count, "", Launch::default()).await
    }

    /// Nodes whose shared config file holds `extra` TOML lines too. Each node has a data
    /// and keys directory of its own; private keys are sealed in the database under the
    /// key-encryption key in `kek-1` ([`write_kek`]).
    pub async fn spawn_launched(count: usize, extra: &str, launch: Launch) -> Nodes {
        let database = Arc::new(TestDatabase::create().await);
        let dir = Arc::new(tempfile::tempdir().unwrap());
        write_kek(&dir.path().join("kek-1"));
        std::fs::write(
            dir.path().join("onetrip.toml"),
            format!(
                "data = {:?}\nstore = {:?}\nmaterials_dir = {:?}\nkey_encryption_key_file = {:?}\n\
                 public_url = \"https://zwfw.example.gov.cn\"\n{extra}\n",
                dir.path().join("data"),
                database.url,
                dir.path().join("shared/materials"),
                dir.path().join("kek-1"),
            ),
        )
        .unwrap();
        let admin = cli(dir.path(), &["token", "create", "--role", "admin"]);
        assert!(admin.status.success(), "{admin:?}");
        let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
        let nodes = (0..count)
            .map(|i| {
                let listen = format!("127.0.0.{}:0", i + 2);
                let mut launch = launch.clone();
                let data = dir.path().join(format!("node-{i}"));
                launch
                    .env
                    .insert(0, ("ONETRIP_DATA".into(), data.display().to_string()));
                let (child, url) = start(dir.path(), &launch, Some(&listen));
                TestApp {
                    url,
                    client: Client::builder()
                        .pool_idle_timeout(std::time::Duration::from_secs(5))
                        .build()
                        .unwrap(),
                    admin: admin.clone(),
                    dir: dir.clone(),
                    child,
                    launch,
                    listen: Some(listen),
                    _database: Some(database.clone()),
                }
            })
            .collect();
        Nodes { nodes }
    }
}

/// Writes a new key-encryption key to `path` as an operator would (`openssl rand -base64 32`,
/// mode 0600) and answers its 32 bytes.
pub fn write_kek(path: &Path) -> [u8; 32] {
    use base64::Engine;
    use rand_core::RngCore;
    use std::os::unix::fs::PermissionsExt;
    let mut key = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut key);
    std::fs::write(
        path,
        format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(key)
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    key
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs the CLI against the test's config (and a trust list of its own, never the user's);
/// the process's output is returned whole.
pub fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    cli_with(dir, &[], args)
}

/// [`cli`] with `env` set on top of the config.
pub fn cli_with(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["--config", dir.join("onetrip.toml").to_str().unwrap()])
        .args(args)
        .env("ONETRIP_TRUST", dir.join("trust.json"))
        .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
        .output()
        .unwrap()
}

/// The one active key of a JWK Set.
pub fn active_key(jwks: &Value) -> Value {
    let active: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "active")
        .collect();
    assert_eq!(active.len(), 1, "{jwks}");
    active[0].clone()
}

/// Starts `onetrip serve` in `dir` (never the repository, whose `templates/` must not be
/// needed), with `dir/onetrip.toml` if there is one and otherwise on a free port; on
/// `listen` when given.
fn start(dir: &Path, launch: &Launch, listen: Option<&str>) -> (Child, String) {
    let stderr = match &launch.stderr {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap(),
        ),
        None => Stdio::inherit(),
    };
    let config = dir.join("onetrip.toml");
    let mut args = if config.exists() {
        vec!["--config", config.to_str().unwrap(), "serve"]
    } else {
        vec!["serve", "--listen", "127.0.0.1:0"]
    };
    if let Some(listen) = listen {
        args.extend(["--listen", listen]);
    }
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was {line:?}"))
        .to_owned();
    (child, url)
}

/// The text of a PDF as a text extractor reads it (through each font's ToUnicode map).
pub fn pdf_text(pdf: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).unwrap()
}

impl TestApp {
    /// `GET path` (no prefix, no token) asking for JSON: a verdict page, the key set.
    pub async fn public_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// `GET path` (no prefix, no token) as a browser asks for it: the page's HTML.
    pub async fn public_page(&self, path: &str) -> String {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The verdict for a PDF handed to `POST /api/v1/verify` (no token: anyone may).
    pub async fn verify_pdf(&self, pdf: &[u8]) -> Value {
        self.client
            .post(self.api("/verify"))
            .header("Content-Type", "application/pdf")
            .body(pdf.to_vec())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The verdict for what a person typed into the `/verify` page's box.
    pub async fn verify_typed(&self, input: &str) -> Value {
        self.client
            .post(format!("{}/verify", self.url))
            .header("Accept", "application/json")
            .form(&[("token", input)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// Reads an error response and returns (status, code, field).
pub async fn error_of(response: Response) -> (StatusCode, String, Option<String>) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    (
        status,
        error["code"].as_str().unwrap().to_owned(),
        error["field"].as_str().map(str::to_owned),
    )
}

pub fn licence_submission(holder: &str) -> Value {
    json!({
        "holder": {"type": "enterprise", "id": holder, "name": "示例电缆有限公司"},
        "kind": "production-licence",
        "items": [
            {"code": "wire-cable", "department": "SCJG", "name": "电线电缆"},
            {"code": "fertiliser", "department": "SCJG", "name": "化肥"}
        ],
        "materials": [{"name": "营业执照副本"}, {"name": "产品检验报告"}],
        "fields": {
            "address": "浙江省杭州市西湖区文三路1号",
            "production_address": "浙江省杭州市余杭区良渚街道2号",
            "legal_representative": "李四"
        }
    })
}

/// A reviewer and a clerk, enough to carry a submission to `accepted`.
pub struct Staff {
    pub reviewer: String,
    pub clerk: String,
}

impl Staff {
    pub async fn new(app: &TestApp) -> Staff {
        Staff {
            reviewer: app.token("reviewer", json!({})).await,
            clerk: app.token("clerk", json!({})).await,
        }
    }
}

/// Files `body` as the clerk, uploads `content(id, i)` for each material, submits it and has
/// the reviewer approve it; returns the id and the digests of what was uploaded.
pub async fn pre_approved(
    app: &TestApp,
    staff: &Staff,
    body: &Value,
    content: impl Fn(&str, usize) -> Vec<u8>,
) -> (String, Vec<Value>) {
    let id = app.create(&staff.clerk, body).await;
    // The materials as declared, or as the catalogue required when the body named none.
    let filed: Value = app
        .get(&staff.clerk, &format!("/submissions/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let mut digests = Vec::new();
    for (i, m) in filed["materials"].as_array().unwrap().iter().enumerate() {
        let name = m["name"].as_str().unwrap();
        // A permit prints the holder's photo: its material is a real portrait.
        let bytes = match name {
            PHOTO => portrait_jpeg(i as u8),
            _ => content(&id, i),
        };
        let r = app.upload(&staff.clerk, &id, name, bytes).await;
        assert_eq!(r.status(), 200);
        let uploaded: Value = r.json().await.unwrap();
        digests.push(json!({"name": name, "sha256": uploaded["sha256"]}));
    }
    submit_and_pre_approve(app, staff, &id).await;
    (id, digests)
}

/// Submits submission `id` as the clerk and has the reviewer approve it.
pub async fn submit_and_pre_approve(app: &TestApp, staff: &Staff, id: &str) {
    let submit = format!("/submissions/{id}/submit");
    assert_eq!(
        app.post(&staff.clerk, &submit, &json!({})).await.status(),
        200
    );
    let review = format!("/submissions/{id}/pre-review");
    let r = app
        .post(&staff.reviewer, &review, &json!({"decision": "approve"}))
        .await;
    assert_eq!(r.status(), 200);
}

/// `pre_approved`, then a matching window check: the submission is `accepted`.
pub async fn accepted(app: &TestApp, staff: &Staff, body: &Value) -> String {
    let content = |id: &str, i: usize| format!("{id} material {i}").into_bytes();
    let (id, digests) = pre_approved(app, staff, body, content).await;
    let check = format!("/submissions/{id}/window-check");
    let r = app
        .post(&staff.clerk, &check, &json!({"digests": digests}))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["outcome"], "matched");
    id
}

pub async fn decide(
    app: &TestApp,
    token: &str,
    id: &str,
    item: &str,
    decision: &str,
) -> reqwest::Response {
    app.post(
        token,
        &format!("/submissions/{id}/items/{item}/decision"),
        &json!({"decision": decision, "comment": "符合条件"}),
    )
    .await
}

/// Carries a licence submission of `ENTERPRISE` all the way to an issued certificate; returns
/// its record.
pub async fn issued_licence(app: &TestApp, staff: &Staff, scjg: &str) -> Value {
    issued_licence_of(app, staff, scjg, ENTERPRISE).await
}

/// [`issued_licence`] for `holder` (一企一证: a second licence needs a holder of its own).
pub async fn issued_licence_of(app: &TestApp, staff: &Staff, scjg: &str, holder: &str) -> Value {
    let id = accepted(app, staff, &licence_submission(holder)).await;
    for item in ["wire-cable", "fertiliser"] {
        assert_eq!(decide(app, scjg, &id, item, "approve").await.status(), 200);
    }
    issue(app, &staff.clerk, &id).await
}

/// Issues the approved submission `id` as `clerk`; answers the certificate (201 asserted).
pub async fn issue(app: &TestApp, clerk: &str, id: &str) -> Value {
    let r = app
        .post(clerk, &format!("/submissions/{id}/issue"), &json!({}))
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// Line `i` of a migration file: an existing licence of enterprise `i` (a corpus name) with 1
/// to 19 product categories (in the paper licence's wording), a corpus address and its own
/// former number.
pub fn migration_line(i: usize) -> Value {
    let corpus = corpus();
    let pick = |key: &str, n: usize| {
        let list = corpus[key].as_array().unwrap();
        list[n % list.len()].as_str().unwrap().to_owned()
    };
    let categories = corpus["production_licence_categories"].as_array().unwrap();
    let items: Vec<Value> = categories
        .iter()
        .take(1 + i % categories.len())
        .enumerate()
        .map(|(j, c)| json!({"code": CATEGORY_CODES[j], "department": "SCJG", "name": c}))
        .collect();
    let address = pick("addresses", i);
    json!({"migrate": {
        "former_number": format!("XK13-001-{i:05}"),
        "holder": {"type": "enterprise", "id": enterprise(i as u32), "name": pick("enterprise_names", i)},
        "kind": "production-licence",
        "items": items,
        "fields": {"address": address, "production_address": address,
                   "legal_representative": "欧阳明远"},
        "issue_date": "2023-04-03",
        "expiry_date": "2028-04-02"
    }})
}

/// The corpus of inputs of real length and shape (`tests/fixtures/realistic-inputs.json`).
pub fn corpus() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/realistic-inputs.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the corpus {} is needed: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The catalogue codes of the 19 provincial product categories (`templates/services/`), in
/// the order of the corpus's `production_licence_categories`.
pub const CATEGORY_CODES: [&str; 19] = [
    "wire-cable",
    "hazardous-chemicals",
    "chemical-packaging",
    "fertiliser",
    "rebar",
    "cement",
    "banknote-detectors",
    "broadcast-equipment",
    "food-plastics",
    "paper-packaging",
    "dish-detergent",
    "grinding-wheels",
    "anti-counterfeiting",
    "railway-beams",
    "waterproofing",
    "copper-tubes",
    "motorcycle-helmets",
    "protective-equipment",
    "power-rectifiers",
];

/// A complete catalogue entry: `kind` none for an item that ends in a decision, `steps`
/// its approval chain as (name, department).
pub fn service_spec(
    name: &str,
    department: &str,
    kind: Option<&str>,
    days: u32,
    steps: &[(&str, &str)],
) -> Value {
    json!({
        "name": name, "department": department, "kind": kind,
        "time_limit_working_days": days,
        "materials": [{"name": "营业执照副本", "form": "copy", "count": 1, "notes": "加盖公章"}],
        "steps": steps.iter().map(|(n, d)| json!({"name": n, "department": d})).collect::<Vec<_>>(),
        "legal_basis": "《测试依据》", "fee": "不收费",
        "consultation_phone": "0571-12345", "complaint_phone": "12345",
        "office_address": "杭州市民中心", "office_hours": "工作日 9:00-17:00",
    })
}

/// Adds or replaces a catalogue item as the admin; returns the stored version.
pub async fn put_service(app: &TestApp, code: &str, spec: &Value) -> Value {
    let r = app
        .client
        .put(app.api(&format!("/services/{code}")))
        .bearer_auth(&app.admin)
        .json(spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "PUT /services/{code}");
    r.json().await.unwrap()
}

impl TestApp {
    /// `GET /api/v1{path}` with `token`, its body as JSON (whatever the status).
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        self.get(token, path).await.json().await.unwrap()
    }
}

/// Posts `body` as a batch and waits (up to 120 s) for it to finish; returns its progress.
pub async fn finished_batch(app: &TestApp, token: &str, body: String) -> Value {
    let id = start_batch(app, token, body).await;
    let begun = std::time::Instant::now();
    loop {
        let progress: Value = app.get_json(token, &format!("/batches/{id}")).await;
        if progress["state"] == "finished" {
            return progress;
        }
        assert!(
            begun.elapsed() < std::time::Duration::from_secs(120),
            "{progress}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Carries a permit submission through both departments to its certificate; returns its
/// record.
pub async fn issued_permit(app: &TestApp, staff: &Staff, body: &Value) -> Value {
    let id = accepted(app, staff, body).await;
    for (item, department) in [("talent-review", "RSJ"), ("permit-production", "GAJ")] {
        let approver = app
            .token("approver", json!({"department": department}))
            .await;
        assert_eq!(
            decide(app, &approver, &id, item, "approve").await.status(),
            200
        );
    }
    let r = app
        .post(
            &staff.clerk,
            &format!("/submissions/{id}/issue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The issued PDF of a certificate `record`, read with `token`.
pub async fn certificate_pdf(app: &TestApp, token: &str, record: &Value) -> Vec<u8> {
    let id = record["id"].as_str().unwrap();
    let r = app.get(token, &format!("/certificates/{id}/pdf")).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}
