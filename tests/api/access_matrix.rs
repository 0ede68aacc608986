//! Who may call what: every API route (and every public one) × every kind of caller, in one
//! table, against API.md's role table. "Allowed" is the exact success code on a fixture in the
//! right state; "denied" is 403 for a wrong role or scope and 401 without a valid token. A
//! denied call must change nothing. On failure the whole table is printed, wrong cells marked.

use std::fmt::Write as _;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// The columns: one caller each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    OtherApplicant,
    Reviewer,
    Clerk,
    ApproverSameDept,
    ApproverOtherDept,
    Admin,
    NoToken,
    Malformed,
    UnknownToken,
    RevokedToken,
}

use Who::*;

const COLUMNS: [Who; 11] = [
    Owner,
    OtherApplicant,
    Reviewer,
    Clerk,
    ApproverSameDept,
    ApproverOtherDept,
    Admin,
    NoToken,
    Malformed,
    UnknownToken,
    RevokedToken,
];
const HEADINGS: [&str; 11] = [
    "owner", "other", "review", "clerk", "appr=", "appr≠", "admin", "none", "malf", "unknwn",
    "revokd",
];
const EVERYONE: &[Who] = &COLUMNS;

/// What state a row's target must be in for an allowed call to succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fixture {
    Nothing,
    Draft,
    Complete,
    Submitted,
    PreApproved,
    Accepted,
    Issuable,
    Certificate,
    Delivered,
    Suspended,
    RetiredKey,
    ThrowawayToken,
    Batch,
}

struct Row {
    method: Method,
    /// As `src/routes` spells it; placeholders are filled from the fixture: `{id}` the
    /// submission, `{name}` a material, `{code}` an item, `{serial}` the certificate, `{token}`
    /// its QR token, `{verification_code}` its 核验码, `{kid}` a retired key, `{tid}` a token id, `{file}` a static asset.
    path: &'static str,
    allowed: &'static [Who],
    /// The exact status an allowed caller gets, when the state makes it predictable.
    success: Option<u16>,
    fixture: Fixture,
    /// Whether each allowed call needs its own fixture (the call moves it on).
    fresh: bool,
    body: Body,
}

#[derive(Clone, Copy)]
enum Body {
    None,
    Json(fn() -> Value),
    Bytes,
    /// The digests of the fixture's materials, as a window check sends them.
    Digests,
    /// `{"token": …}` with the fixture certificate's QR token.
    Token,
}

const MATERIALS: [&str; 2] = ["营业执照副本", "产品检验报告"];

fn material_bytes(id: &str, i: usize) -> Vec<u8> {
    format!("{id} material {i}").into_bytes()
}

fn row(
    method: Method,
    path: &'static str,
    allowed: &'static [Who],
    success: u16,
    fixture: Fixture,
    fresh: bool,
    body: Body,
) -> Row {
    Row {
        method,
        path,
        allowed,
        success: Some(success),
        fixture,
        fresh,
        body,
    }
}

/// API.md's role table, route by route.
#[rustfmt::skip]
fn table() -> Vec<Row> {
    use Body::Json as J;
    use Fixture::*;
    let (get, post, put) = (Method::GET, Method::POST, Method::PUT);
    let filers: &[Who] = &[Owner, Clerk, Admin];
    let readers: &[Who] = &[Owner, Reviewer, Clerk, ApproverSameDept, ApproverOtherDept, Admin];
    let cert_readers: &[Who] = &[Owner, Clerk, Admin];
    vec![
        row(post.clone(), "/api/v1/submissions", filers, 201, Nothing, false,
            J(|| licence_submission(ENTERPRISE))),
        row(get.clone(), "/api/v1/submissions/{id}", readers, 200, Draft, false, Body::None),
        row(put.clone(), "/api/v1/submissions/{id}/materials/{name}", filers, 200, Draft,
            false, Body::Bytes),
        row(post.clone(), "/api/v1/submissions/{id}/submit", filers, 200, Complete, true,
            J(|| json!({}))),
        row(post.clone(), "/api/v1/submissions/{id}/pre-review", &[Reviewer, Admin], 200,
            Submitted, true, J(|| json!({"decision": "approve"}))),
        row(post.clone(), "/api/v1/submissions/{id}/window-check", &[Clerk, Admin], 200,
            PreApproved, true, Body::Digests),
        row(post.clone(), "/api/v1/submissions/{id}/items/{code}/decision",
            &[ApproverSameDept, Admin], 200, Accepted, true,
            J(|| json!({"decision": "approve", "comment": "符合条件"}))),
        row(post.clone(), "/api/v1/submissions/{id}/issue", &[Clerk, Admin], 201, Issuable, true,
            J(|| json!({}))),
        row(get.clone(), "/api/v1/certificates/{serial}", cert_readers, 200, Certificate, false,
            Body::None),
        row(get.clone(), "/api/v1/certificates/{serial}/pdf", cert_readers, 200, Certificate,
            false, Body::None),
        row(get.clone(), "/api/v1/certificates/{serial}/qr.png", cert_readers, 200, Certificate,
            false, Body::None),
        row(post.clone(), "/api/v1/certificates/{serial}/revoke", &[Admin], 200, Certificate,
            true, J(|| json!({"reason": "holder_request"}))),
        row(post.clone(), "/api/v1/certificates/{serial}/suspend", &[ApproverSameDept, Admin],
            200, Certificate, true, J(|| json!({"reason": "监督抽查不合格，责令整改"}))),
        row(post.clone(), "/api/v1/certificates/{serial}/reinstate", &[ApproverSameDept, Admin],
            200, Suspended, true, J(|| json!({"reason": "整改完成，复查合格"}))),
        row(post.clone(), "/api/v1/certificates/{serial}/withdraw-items",
            &[ApproverSameDept, Admin], 201, Certificate, true,
            J(|| json!({"items": ["fertiliser"], "reason": "企业申请注销该产品类别"}))),
        row(post.clone(), "/api/v1/batches", &[Clerk, Admin], 202, Nothing, false,
            J(|| migration_line(1))),
        row(get.clone(), "/api/v1/batches/{batch}", &[Clerk, Admin], 200, Batch, false,
            Body::None),
        row(put.clone(), "/api/v1/certificates/{serial}/delivery", &[Clerk, Admin], 200,
            Certificate, false, J(|| json!({"method": "window"}))),
        row(post.clone(), "/api/v1/certificates/{serial}/delivery/events", &[Clerk, Admin], 200,
            Delivered, false, J(|| json!({"status": "picked_up"}))),
        row(post.clone(), "/api/v1/tokens", &[Admin], 201, Nothing, false,
            J(|| json!({"role": "reviewer"}))),
        // A clerk gives an applicant their token at the window.
        row(post.clone(), "/api/v1/tokens", &[Clerk, Admin], 201, Nothing, false,
            J(|| json!({"role": "applicant", "holder": PERSON, "name": "欧阳明远"}))),
        row(get.clone(), "/api/v1/tokens", &[Admin], 200, Nothing, false, Body::None),
        row(post.clone(), "/api/v1/tokens/{tid}/revoke", &[Admin], 200, ThrowawayToken, true,
            Body::None),
        row(get.clone(), "/api/v1/keys", &[Admin], 200, Nothing, false, Body::None),
        // A PostgreSQL store is backed up with pg_dump: the route answers 409 saying so.
        row(get.clone(), "/api/v1/backup", &[Admin], if on_postgres() { 409 } else { 200 },
            Nothing, false, Body::None),
        row(post.clone(), "/api/v1/keys/rotate", &[Admin], 201, Nothing, false, Body::None),
        row(post.clone(), "/api/v1/keys/{kid}/revoke", &[Admin], 200, RetiredKey, true,
            J(|| json!({"compromised_since": "2999-01-01T00:00:00Z"}))),
        row(post.clone(), "/api/v1/verify", EVERYONE, 200, Certificate, false, Body::Token),
        row(get.clone(), "/v/{token}", EVERYONE, 200, Certificate, false, Body::None),
        row(get.clone(), "/api/v1/submissions?overdue=true", &[Clerk, Admin], 200, Nothing, false,
            Body::None),
        row(get.clone(), "/api/v1/services", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/api/v1/services/{code}", EVERYONE, 200, Nothing, false, Body::None),
        row(put.clone(), "/api/v1/services/{code}", &[Admin], 200, Nothing, false,
            J(|| service_spec("电线电缆", "SCJG", Some("production-licence"), 10, &[]))),
        row(get.clone(), "/api/v1/calendar/{year}", EVERYONE, 200, Nothing, false, Body::None),
        row(put.clone(), "/api/v1/calendar/{year}", &[Admin], 200, Nothing, false,
            J(|| json!({"year": 2026, "source": "国务院办公厅关于2026年部分节假日安排的通知",
                        "confirmed": true, "holidays": []}))),
        row(get.clone(), "/guide", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/guide/{code}", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/guide/{code}/qr.svg", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/guide/{code}/qr.png", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/c/{verification_code}", EVERYONE, 200, Certificate, false,
            Body::None),
        // Redirects to `/verify`, which the client follows.
        row(get.clone(), "/", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/healthz", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/metrics", &[Admin], 200, Nothing, false, Body::None),
        row(get.clone(), "/.well-known/jwks.json", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/.well-known/status-list", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/api/v1/openapi.json", EVERYONE, 200, Nothing, false, Body::None),
        row(get.clone(), "/api/docs", EVERYONE, 200, Nothing, false, Body::None),
        Row {
            success: None,
            ..row(get, "/static/{file}", EVERYONE, 0, Nothing, false, Body::None)
        },
    ]
}

/// What a fixture made: the values its row's path and body need.
#[derive(Debug, Default, Clone)]
struct Target {
    id: String,
    serial: String,
    token: String,
    /// The certificate's verification code (核验码).
    verification_code: String,
    kid: String,
    tid: String,
    batch: String,
}

struct Matrix {
    app: TestApp,
    owner: String,
    other: String,
    reviewer: String,
    clerk: String,
    scjg: String,
    rsj: String,
    /// Made by the CLI for another data directory: well-formed, unknown to this server.
    unknown: String,
    /// An admin token of this server, revoked over the API.
    revoked: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn digests(id: &str) -> Value {
    let digests: Vec<Value> = MATERIALS
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"name": name, "sha256": sha256_hex(&material_bytes(id, i))}))
        .collect();
    json!({ "digests": digests })
}

async fn expect(r: reqwest::Response, status: u16, what: &str) -> Value {
    let got = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "fixture step {what}: {body}");
    body
}

impl Matrix {
    async fn new() -> Matrix {
        let app = TestApp::spawn().await;
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(
            elsewhere.path().join("onetrip.toml"),
            format!("data = {:?}\n", elsewhere.path().join("data")),
        )
        .unwrap();
        let out = cli(elsewhere.path(), &["token", "create", "--role", "admin"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let unknown = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(unknown.starts_with("ot_"), "{unknown}");
        let r = app
            .post(&app.admin, "/tokens", &json!({"role": "admin"}))
            .await;
        let made = expect(r, 201, "token to revoke").await;
        let revoked = made["token"].as_str().unwrap().to_owned();
        let path = format!("/tokens/{}/revoke", made["id"].as_str().unwrap());
        expect(
            app.post(&app.admin, &path, &json!({})).await,
            200,
            "revoke token",
        )
        .await;
        Matrix {
            owner: app.token("applicant", json!({"holder": ENTERPRISE})).await,
            other: app
                .token("applicant", json!({"holder": OTHER_ENTERPRISE}))
                .await,
            reviewer: app.token("reviewer", json!({})).await,
            clerk: app.token("clerk", json!({})).await,
            scjg: app.token("approver", json!({"department": "SCJG"})).await,
            rsj: app.token("approver", json!({"department": "RSJ"})).await,
            unknown,
            revoked,
            app,
        }
    }

    fn authorization(&self, who: Who) -> Option<String> {
        let bearer = |t: &str| Some(format!("Bearer {t}"));
        match who {
            Owner => bearer(&self.owner),
            OtherApplicant => bearer(&self.other),
            Reviewer => bearer(&self.reviewer),
            Clerk => bearer(&self.clerk),
            ApproverSameDept => bearer(&self.scjg),
            ApproverOtherDept => bearer(&self.rsj),
            Admin => bearer(&self.app.admin),
            NoToken => None,
            Malformed => Some("Basic b3Q6b3Q=".into()),
            UnknownToken => bearer(&self.unknown),
            RevokedToken => bearer(&self.revoked),
        }
    }

    /// Carries a new submission (or key, or token) to the state `fixture` names.
    async fn make(&self, fixture: Fixture) -> Target {
        use Fixture::*;
        let app = &self.app;
        let mut t = Target::default();
        match fixture {
            Nothing => return t,
            RetiredKey => {
                let keys = expect(app.get(&app.admin, "/keys").await, 200, "keys").await;
                t.kid = keys["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|k| k["status"] == "active")
                    .and_then(|k| k["kid"].as_str())
                    .unwrap()
                    .to_owned();
                let r = app.post(&app.admin, "/keys/rotate", &json!({})).await;
                expect(r, 201, "rotate").await;
                return t;
            }
            Batch => {
                let r = app.client.post(app.api("/batches")).bearer_auth(&app.admin);
                let r = r.body(migration_line(0).to_string()).send().await.unwrap();
                t.batch = expect(r, 202, "batch").await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let path = format!("/batches/{}", t.batch);
                while expect(app.get(&app.admin, &path).await, 200, "batch").await["state"]
                    == "running"
                {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                return t;
            }
            ThrowawayToken => {
                let r = app
                    .post(&app.admin, "/tokens", &json!({"role": "clerk"}))
                    .await;
                t.tid = expect(r, 201, "token").await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                return t;
            }
            _ => {}
        }
        let mut r = app
            .post(&self.clerk, "/submissions", &licence_submission(ENTERPRISE))
            .await;
        if r.status() == 409 {
            // 一企一证: the licence an earlier fixture or call issued gives way to this one.
            let refusal = expect(r, 409, "create while a licence holds").await;
            let serial = refusal["error"]["details"]["identifier"].as_str().unwrap();
            let path = format!("/certificates/{serial}/revoke");
            let body = json!({"reason": "holder_request"});
            expect(app.post(&app.admin, &path, &body).await, 200, "revoke").await;
            r = app
                .post(&self.clerk, "/submissions", &licence_submission(ENTERPRISE))
                .await;
        }
        t.id = expect(r, 201, "create").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = t.id.clone();
        let steps = [
            Complete,
            Submitted,
            PreApproved,
            Accepted,
            Issuable,
            Certificate,
        ];
        let depth = match fixture {
            Complete => 1,
            Submitted => 2,
            PreApproved => 3,
            Accepted => 4,
            Issuable => 5,
            Certificate | Delivered | Suspended => 6,
            _ => 0,
        };
        for step in &steps[..depth] {
            match step {
                Complete => {
                    for (i, name) in MATERIALS.iter().enumerate() {
                        expect(
                            app.upload(&self.clerk, &id, name, material_bytes(&id, i))
                                .await,
                            200,
                            "upload",
                        )
                        .await;
                    }
                }
                Submitted => {
                    expect(
                        app.post(
                            &self.clerk,
                            &format!("/submissions/{id}/submit"),
                            &json!({}),
                        )
                        .await,
                        200,
                        "submit",
                    )
                    .await;
                }
                PreApproved => {
                    let path = format!("/submissions/{id}/pre-review");
                    expect(
                        app.post(&self.reviewer, &path, &json!({"decision": "approve"}))
                            .await,
                        200,
                        "pre-review",
                    )
                    .await;
                }
                Accepted => {
                    let path = format!("/submissions/{id}/window-check");
                    let report = expect(
                        app.post(&self.clerk, &path, &digests(&id)).await,
                        200,
                        "window check",
                    )
                    .await;
                    assert_eq!(report["outcome"], "matched", "{report}");
                }
                Issuable => {
                    for item in ["wire-cable", "fertiliser"] {
                        expect(
                            decide(app, &self.scjg, &id, item, "approve").await,
                            200,
                            "decide",
                        )
                        .await;
                    }
                }
                _ => {
                    let cert = expect(
                        app.post(&self.clerk, &format!("/submissions/{id}/issue"), &json!({}))
                            .await,
                        201,
                        "issue",
                    )
                    .await;
                    t.serial = cert["id"].as_str().unwrap().to_owned();
                    t.token = cert["token"].as_str().unwrap().to_owned();
                    t.verification_code = cert["code"].as_str().unwrap().to_owned();
                }
            }
        }
        if fixture == Suspended {
            let path = format!("/certificates/{}/suspend", t.serial);
            let body = json!({"reason": "监督抽查不合格"});
            expect(app.post(&app.admin, &path, &body).await, 200, "suspend").await;
        }
        if fixture == Delivered {
            let path = format!("/certificates/{}/delivery", t.serial);
            let r = app
                .client
                .put(app.api(&path))
                .bearer_auth(&app.admin)
                .json(&json!({"method": "window"}));
            expect(r.send().await.unwrap(), 200, "delivery").await;
        }
        t
    }

    async fn call(&self, row: &Row, target: &Target, who: Who) -> (StatusCode, Value) {
        let path = row
            .path
            .replace("{id}", &target.id)
            .replace("{name}", MATERIALS[0])
            .replace("{code}", "wire-cable")
            .replace("{serial}", &target.serial)
            .replace("{token}", &target.token)
            .replace("{verification_code}", &target.verification_code)
            .replace("{kid}", &target.kid)
            .replace("{tid}", &target.tid)
            .replace("{batch}", &target.batch)
            .replace("{year}", "2026")
            .replace("{file}", "console.js");
        let mut request = self
            .app
            .client
            .request(row.method.clone(), format!("{}{path}", self.app.url));
        if let Some(value) = self.authorization(who) {
            request = request.header("Authorization", value);
        }
        request = match row.body {
            Body::None => request,
            Body::Json(body) => request.json(&body()),
            Body::Bytes => request.body(b"matrix upload".to_vec()),
            Body::Digests => request.json(&digests(&target.id)),
            Body::Token => request.json(&json!({"token": target.token})),
        };
        let r = request.send().await.unwrap();
        let status = r.status();
        let bytes = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Everything a denied call on `target` could have changed, as the admin sees it.
    async fn snapshot(&self, target: &Target) -> Value {
        let app = &self.app;
        let mut paths = vec!["/tokens".to_owned(), "/keys".to_owned()];
        if !target.id.is_empty() {
            paths.push(format!("/submissions/{}", target.id));
        }
        if !target.serial.is_empty() {
            paths.push(format!("/certificates/{}", target.serial));
        }
        let mut state = Vec::new();
        for path in paths {
            state.push(app.get_json(&app.admin, &path).await);
        }
        Value::Array(state)
    }
}

/// One cell's verdict: what came back, what API.md implies, and whether they agree.
struct Cell {
    got: u16,
    ok: bool,
}

fn judge(row: &Row, who: Who, status: StatusCode, body: &Value) -> Cell {
    let got = status.as_u16();
    let ok = if row.allowed.contains(&who) {
        match row.success {
            Some(code) => got == code,
            None => got != 401 && got != 403,
        }
    } else {
        let want = if matches!(who, NoToken | Malformed | UnknownToken | RevokedToken) {
            401
        } else {
            403
        };
        got == want && body["error"]["code"].is_string()
    };
    Cell { got, ok }
}

fn expected(row: &Row, who: Who) -> String {
    match (row.allowed.contains(&who), row.success) {
        (true, Some(code)) => code.to_string(),
        (true, None) => "ok".into(),
        (false, _) if matches!(who, NoToken | Malformed | UnknownToken | RevokedToken) => {
            "401".into()
        }
        (false, _) => "403".into(),
    }
}

/// Every `(METHOD, path)` the server serves outside the console, with `{…}` placeholders
/// blanked: the operations of its OpenAPI document (every API route is registered through it)
/// and the public pages `src/routes` registers with axum's `.route` (read from the source), so
/// a new route without a row fails.
async fn registered_routes(app: &TestApp) -> Vec<(String, String)> {
    let document: serde_json::Value = app
        .client
        .get(app.api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                found.push((method.to_uppercase(), blank(path)));
            }
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    for file in ["mod.rs", "guide.rs"] {
        let source = std::fs::read_to_string(dir.join(file)).unwrap();
        for chunk in source.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).unwrap();
            let code = chunk.split(";\n").next().unwrap();
            for method in ["get", "post", "put", "patch", "delete"] {
                let call = format!("{method}(");
                let calls = code.match_indices(&call).filter(|(i, _)| {
                    !code[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if calls.count() > 0 {
                    found.push((method.to_uppercase(), blank(path)));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// `path` with every `{…}` placeholder emptied: `/a/{id}` → `/a/{}`.
pub(crate) fn blank(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => inside = true,
            '}' => {
                inside = false;
                out.push_str("{}");
            }
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn every_route_answers_every_caller_as_api_md_says() {
    let rows = table();
    let mut covered: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                blank(r.path.split('?').next().unwrap_or(r.path)),
            )
        })
        .collect();
    covered.sort();
    let m = Matrix::new().await;
    let missing: Vec<_> = registered_routes(&m.app)
        .await
        .into_iter()
        .filter(|r| !covered.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes with no row in the access matrix: {missing:?}"
    );

    let mut text = format!("{:<58}", "route \\ caller");
    for heading in HEADINGS {
        write!(text, "{heading:>7}").unwrap();
    }
    let mut failures = Vec::new();
    for row in &rows {
        let mut cells = Vec::new();
        let denied: Vec<Who> = COLUMNS
            .into_iter()
            .filter(|w| !row.allowed.contains(w))
            .collect();
        let shared = m.make(row.fixture).await;
        let before = m.snapshot(&shared).await;
        for &who in &denied {
            let (status, body) = m.call(row, &shared, who).await;
            cells.push((who, judge(row, who, status, &body)));
        }
        if m.snapshot(&shared).await != before {
            failures.push(format!(
                "{} {}: a denied call changed state",
                row.method, row.path
            ));
        }
        for who in COLUMNS.into_iter().filter(|w| row.allowed.contains(w)) {
            let target = if row.fresh {
                m.make(row.fixture).await
            } else {
                shared.clone()
            };
            let (status, body) = m.call(row, &target, who).await;
            let cell = judge(row, who, status, &body);
            if !cell.ok {
                failures.push(format!(
                    "{} {} as {who:?}: {status} {body}",
                    row.method, row.path
                ));
            }
            cells.push((who, cell));
        }
        write!(text, "\n{:<58}", format!("{} {}", row.method, row.path)).unwrap();
        for who in COLUMNS {
            let (_, cell) = cells.iter().find(|(w, _)| *w == who).unwrap();
            if cell.ok {
                write!(text, "{:>8}", cell.got).unwrap();
            } else {
                write!(
                    text,
                    "{:>8}",
                    format!("{}≠{}", cell.got, expected(row, who))
                )
                .unwrap();
                if !row.allowed.contains(&who) {
                    failures.push(format!(
                        "{} {} as {who:?}: got {}",
                        row.method, row.path, cell.got
                    ));
                }
            }
        }
    }
    println!("{text}");
    assert!(
        failures.is_empty(),
        "access matrix (got≠want marks a wrong cell):\n{text}\n\n{}",
        failures.join("\n")
    );
}
