use chrono::Utc;

use super::*;
use crate::domain::catalogue::{
    ChainStep, MaterialForm, RequiredMaterial, ServiceItem, ServiceSpec,
};
use crate::domain::template::Template;
use crate::domain::window_check::compare;

const TEMPLATE: &str = r#"
kind = "production-licence"
title = "工业产品生产许可证"
holder = "enterprise"
type_code = "11100000000013338W011"
validity_years = 5
holder_label = "企业名称"
holder_id_label = "统一社会信用代码"
items_label = "许可产品"
max_items = 19
[[fields]]
key = "address"
label = "住所"
required = true
"#;

/// A catalogue entry of `kind` (none: decided, not certified), with a chain of `steps`.
fn service(
    code: &str,
    name: &str,
    kind: Option<&str>,
    days: u32,
    steps: &[(&str, &str)],
) -> ServiceItem {
    ServiceItem {
        code: ItemCode::parse(code).unwrap(),
        version: 1,
        updated_at: Utc::now(),
        updated_by: "seed".into(),
        spec: ServiceSpec {
            name: name.into(),
            department: "SCJG".into(),
            position: None,
            kind: kind.map(str::to_owned),
            time_limit_working_days: days,
            materials: vec![RequiredMaterial {
                name: "营业执照".into(),
                form: MaterialForm::Copy,
                count: 1,
                notes: String::new(),
            }],
            steps: steps
                .iter()
                .map(|(n, d)| ChainStep {
                    name: (*n).into(),
                    department: (*d).into(),
                })
                .collect(),
            legal_basis: "依据".into(),
            fee: "不收费".into(),
            consultation_phone: "12345".into(),
            complaint_phone: "12345".into(),
            office_address: "市民中心".into(),
            office_hours: "工作日".into(),
            part_of: None,
        },
    }
}

fn filed(code: &str) -> FiledItem {
    FiledItem {
        code: ItemCode::parse(code).unwrap(),
        department: None,
        name: None,
    }
}

fn draft() -> Submission {
    let template = Template::parse(TEMPLATE).unwrap();
    let new = NewSubmission {
        holder: Holder::parse("enterprise", "91350100M000100Y43", "示例公司").unwrap(),
        kind: "production-licence".into(),
        items: vec![filed("wire-cable"), filed("pump")],
        materials: None,
        fields: [("address".to_string(), "杭州".to_string())].into(),
        amends: None,
        renew: false,
    };
    let catalogue = [
        service(
            "wire-cable",
            "电线电缆",
            Some("production-licence"),
            10,
            &[],
        ),
        service("pump", "泵", Some("production-licence"), 7, &[]),
    ];
    Submission::create(
        SubmissionId::generate(),
        new,
        Some(&template),
        &catalogue,
        Utc::now(),
    )
    .unwrap()
}

/// A union claim (decision only) accepted at the window, its item chained over three levels.
fn union_claim() -> Submission {
    let new = NewSubmission {
        holder: Holder::parse("person", "11010519491231002X", "张三").unwrap(),
        kind: DECISION_ONLY.into(),
        items: vec![filed("union-claim")],
        materials: None,
        fields: BTreeMap::new(),
        amends: None,
        renew: false,
    };
    let chain = [
        ("企业工会审核", "QYGH"),
        ("区总工会审核", "QZGH"),
        ("市总工会审批", "SZGH"),
    ];
    let catalogue = [service("union-claim", "职工互助保障理赔", None, 5, &chain)];
    let mut s =
        Submission::create(SubmissionId::generate(), new, None, &catalogue, Utc::now()).unwrap();
    s.status = Status::Accepted;
    s
}

#[test]
fn the_printed_item_name_is_the_catalogues() {
    let template = Template::parse(TEMPLATE).unwrap();
    let catalogue = [service(
        "cement",
        "水泥",
        Some("production-licence"),
        10,
        &[],
    )];
    let file = |name: Option<&str>| NewSubmission {
        holder: Holder::parse("enterprise", "91350100M000100Y43", "示例公司").unwrap(),
        kind: "production-licence".into(),
        items: vec![FiledItem {
            name: name.map(str::to_owned),
            ..filed("cement")
        }],
        materials: None,
        fields: [("address".to_string(), "杭州".to_string())].into(),
        amends: None,
        renew: false,
    };
    let create = |new| {
        Submission::create(
            SubmissionId::generate(),
            new,
            Some(&template),
            &catalogue,
            Utc::now(),
        )
    };
    for name in [None, Some("水泥")] {
        let submission = create(file(name)).unwrap();
        assert_eq!(submission.items[0].name, "水泥");
    }
    match create(file(Some("食品添加剂"))) {
        Err(Refusal::Invalid { code, field, .. }) => {
            assert_eq!(
                (code, field.as_str()),
                ("item_name_mismatch", "items[0].name")
            );
        }
        other => panic!("a name other than the catalogue's was not refused: {other:?}"),
    }
}

#[test]
fn items_and_materials_come_from_the_catalogue_with_the_largest_promise() {
    let s = draft();
    assert_eq!(s.items[1].name, "泵");
    assert_eq!(s.items[1].service_version, Some(1));
    assert_eq!(s.materials.len(), 1, "one material, required by both items");
    assert_eq!(s.promised_working_days, Some(10));
}

#[test]
fn a_chain_is_decided_in_order_each_step_by_its_department() {
    let mut s = union_claim();
    let code = ItemCode::parse("union-claim").unwrap();
    let dept = |d: &str| DepartmentCode::parse(d).unwrap();
    let before = s.clone();
    match s.decide(
        &code,
        Some(&dept("SZGH")),
        decision(DecisionOutcome::Approve),
    ) {
        Err(Refusal::Conflict { code, details, .. }) => {
            assert_eq!(code, "step_waiting");
            assert_eq!(details.unwrap()["waiting_step"], "企业工会审核");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s, before, "an out-of-order decision changes nothing");
    assert!(matches!(
        s.decide(
            &code,
            Some(&dept("GAJ")),
            decision(DecisionOutcome::Approve)
        ),
        Err(Refusal::Forbidden { .. })
    ));
    for d in ["QYGH", "QZGH"] {
        s.decide(&code, Some(&dept(d)), decision(DecisionOutcome::Approve))
            .unwrap();
        assert_eq!(s.status, Status::Accepted);
    }
    assert_eq!(s.items[0].waiting_department(), &dept("SZGH"));
    s.decide(&code, None, decision(DecisionOutcome::Approve))
        .unwrap();
    assert_eq!(s.status, Status::Decided);
    assert!(s.items[0].steps.iter().all(|st| st.decided_by.is_some()));
    assert!(matches!(
        s.issuance_blockers()[0],
        Blocker::NoCertificate { .. }
    ));
}

#[test]
fn a_rejection_at_any_step_ends_the_item() {
    let mut s = union_claim();
    let code = ItemCode::parse("union-claim").unwrap();
    let qygh = DepartmentCode::parse("QYGH").unwrap();
    s.decide(&code, Some(&qygh), decision(DecisionOutcome::Reject))
        .unwrap();
    assert_eq!(
        s.items[0].decision.as_ref().map(|d| d.decision),
        Some(DecisionOutcome::Reject)
    );
    assert_eq!(s.items[0].steps[1].decision, None);
    assert_eq!(s.status, Status::Decided);
}

fn file(content: &[u8]) -> StoredFile {
    StoredFile {
        sha256: Sha256Digest::of(content),
        size: content.len() as u64,
        file: "f".into(),
        uploaded_at: Utc::now(),
    }
}

fn name() -> MaterialName {
    MaterialName::parse("营业执照").unwrap()
}

fn decision(outcome: DecisionOutcome) -> Decision {
    Decision {
        decision: outcome,
        comment: String::new(),
        by: "approver:tok_x".into(),
        at: Utc::now(),
    }
}

/// A submission every department has approved, accepted at the window: ready to issue.
pub(crate) fn issuable() -> Submission {
    let mut s = pre_approved();
    let scjg = DepartmentCode::parse("SCJG").unwrap();
    for code in ["wire-cable", "pump"] {
        s.decide(
            &ItemCode::parse(code).unwrap(),
            Some(&scjg),
            decision(DecisionOutcome::Approve),
        )
        .unwrap();
    }
    s.status = Status::Accepted;
    s
}

fn pre_approved() -> Submission {
    let mut s = draft();
    s.record_upload(&name(), file(b"v1")).unwrap();
    s.submit().unwrap();
    s.approve_pre_review().unwrap();
    s
}

#[test]
fn submit_needs_every_material() {
    let mut s = draft();
    assert!(matches!(
        s.submit(),
        Err(Refusal::Invalid {
            code: "material_missing",
            ..
        })
    ));
    assert_eq!(s.status, Status::Draft);
}

#[test]
fn return_then_fix_then_approve_freezes_the_manifest() {
    let mut s = draft();
    s.record_upload(&name(), file(b"v1")).unwrap();
    s.submit().unwrap();
    let reasons = vec![ReturnReason {
        material: name(),
        reason: "模糊".into(),
    }];
    s.return_pre_review(reasons).unwrap();
    assert_eq!(s.status, Status::Returned);
    assert_eq!(s.materials[0].returned_reason.as_deref(), Some("模糊"));
    let (action, replaced) = s.record_upload(&name(), file(b"v2")).unwrap();
    assert_eq!(replaced.unwrap().sha256, Sha256Digest::of(b"v1"));
    assert!(matches!(
        action,
        Action::MaterialUploaded {
            replaced_sha256: Some(_),
            ..
        }
    ));
    assert_eq!(s.materials[0].returned_reason, None);
    s.submit().unwrap();
    s.approve_pre_review().unwrap();
    let before = s.clone();
    assert!(matches!(
        s.record_upload(&name(), file(b"v3")),
        Err(Refusal::Conflict {
            code: "manifest_frozen",
            ..
        })
    ));
    assert_eq!(s, before, "a refused upload changes nothing");
}

#[test]
fn a_return_must_name_declared_materials() {
    let mut s = draft();
    s.record_upload(&name(), file(b"v1")).unwrap();
    s.submit().unwrap();
    assert!(s.return_pre_review(vec![]).is_err());
    let bad = vec![ReturnReason {
        material: MaterialName::parse("身份证").unwrap(),
        reason: "x".into(),
    }];
    assert!(
        matches!(s.return_pre_review(bad), Err(Refusal::Invalid { field, .. }) if field == "reasons[0].material")
    );
    assert_eq!(s.status, Status::Submitted);
}

#[test]
fn only_a_full_match_accepts() {
    let mut s = pre_approved();
    let manifest = s.manifest();
    let wrong = compare(&manifest, &[], "clerk".into(), Utc::now());
    s.record_window_check(wrong, None).unwrap();
    assert_eq!(s.status, Status::PreApproved);
    let presented = [crate::domain::window_check::Presented {
        part: "usb".into(),
        filename: None,
        sha256: Sha256Digest::of(b"v1"),
    }];
    s.record_window_check(
        compare(&manifest, &presented, "clerk".into(), Utc::now()),
        None,
    )
    .unwrap();
    assert_eq!(s.status, Status::Accepted);
}

#[test]
fn departments_decide_their_own_items_once_and_issuance_waits_for_all() {
    let mut s = pre_approved();
    let scjg = DepartmentCode::parse("SCJG").unwrap();
    let gaj = DepartmentCode::parse("GAJ").unwrap();
    let wire = ItemCode::parse("wire-cable").unwrap();
    let pump = ItemCode::parse("pump").unwrap();
    assert!(matches!(
        s.decide(&wire, Some(&gaj), decision(DecisionOutcome::Approve)),
        Err(Refusal::Forbidden { .. })
    ));
    s.decide(&wire, Some(&scjg), decision(DecisionOutcome::Approve))
        .unwrap();
    assert!(
        s.decide(&wire, Some(&scjg), decision(DecisionOutcome::Reject))
            .is_err()
    );
    let blockers = s.issuance_blockers();
    assert_eq!(
        blockers.len(),
        2,
        "window check and the pump item: {blockers:?}"
    );
    assert!(matches!(blockers[0], Blocker::WindowCheck { .. }));
    assert!(matches!(&blockers[1], Blocker::ItemPending { item, .. } if item == &pump));

    s.decide(&pump, Some(&scjg), decision(DecisionOutcome::Reject))
        .unwrap();
    s.status = Status::Accepted;
    let blockers = s.issuance_blockers();
    assert_eq!(blockers.len(), 1);
    assert!(matches!(blockers[0], Blocker::ItemRejected { .. }));
    assert!(
        s.mark_issued("c".into(), Sha256Digest::of(b"p"), Sha256Digest::of(b"c"))
            .is_err()
    );
}

#[test]
fn issuance_happens_once() {
    let mut s = issuable();
    s.mark_issued("c".into(), Sha256Digest::of(b"p"), Sha256Digest::of(b"c"))
        .unwrap();
    assert_eq!(s.status, Status::Issued);
    assert!(
        s.mark_issued("d".into(), Sha256Digest::of(b"p"), Sha256Digest::of(b"c"))
            .is_err()
    );
}

#[test]
fn create_rejects_duplicates_and_wrong_holder_type() {
    let template = Template::parse(TEMPLATE).unwrap();
    let mut new = NewSubmission {
        holder: Holder::parse("person", "11010519491231002X", "张三").unwrap(),
        kind: "production-licence".into(),
        items: vec![filed("a")],
        materials: Some(vec![name()]),
        fields: [("address".to_string(), "杭州".to_string())].into(),
        amends: None,
        renew: false,
    };
    let field = |r: Result<Submission, Refusal>| match r {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(Submission::create(
            SubmissionId::generate(),
            new.clone(),
            Some(&template),
            &[service("a", "甲", Some("production-licence"), 5, &[])],
            Utc::now()
        )),
        "holder.type"
    );
    new.holder = Holder::parse("enterprise", "91350100M000100Y43", "公司").unwrap();
    new.materials = Some(vec![name(), name()]);
    assert_eq!(
        field(Submission::create(
            SubmissionId::generate(),
            new.clone(),
            Some(&template),
            &[service("a", "甲", Some("production-licence"), 5, &[])],
            Utc::now()
        )),
        "materials[1].name"
    );
}

#[test]
fn a_promise_is_overdue_after_its_due_date_until_the_work_is_finished() {
    use crate::domain::calendar::tests::{d, spring_festival_2026};
    let calendar = spring_festival_2026();
    let mut s = draft();
    s.status = Status::Accepted;
    s.accepted_at = Some("2026-02-13T02:00:00Z".parse().unwrap());
    s.due_date = Some(calendar.add_working_days(d("2026-02-13"), 2));
    assert_eq!(s.due_date, Some(d("2026-02-24")));
    let on_the_day = s.promise_state(&calendar, d("2026-02-24"), None);
    assert_eq!(
        on_the_day,
        PromiseState {
            working_days_elapsed: Some(2),
            working_days_left: Some(0),
            overdue: false
        }
    );
    let a_day_late = s.promise_state(&calendar, d("2026-02-25"), None);
    assert!(a_day_late.overdue);
    assert_eq!(a_day_late.working_days_left, None);
    s.status = Status::Issued;
    let finished = s.promise_state(&calendar, d("2026-03-30"), Some(d("2026-02-24")));
    assert!(!finished.overdue);
    assert_eq!(finished.working_days_elapsed, Some(2));
}
