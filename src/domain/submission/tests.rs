use chrono::Utc;

use super::*;
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

fn draft() -> Submission {
    let template = Template::parse(TEMPLATE).unwrap();
    let new = NewSubmission {
        holder: Holder::parse("enterprise", "91350100M000100Y43", "示例公司").unwrap(),
        kind: "production-licence".into(),
        items: vec![
            (
                ItemCode::parse("wire-cable").unwrap(),
                DepartmentCode::parse("SCJG").unwrap(),
                "电线电缆".into(),
            ),
            (
                ItemCode::parse("pump").unwrap(),
                DepartmentCode::parse("SCJG").unwrap(),
                "泵".into(),
            ),
        ],
        materials: vec![MaterialName::parse("营业执照").unwrap()],
        fields: [("address".to_string(), "杭州".to_string())].into(),
        amends: None,
    };
    Submission::create(SubmissionId::generate(), new, &template, Utc::now()).unwrap()
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
    s.record_window_check(wrong).unwrap();
    assert_eq!(s.status, Status::PreApproved);
    let presented = [crate::domain::window_check::Presented {
        part: "usb".into(),
        filename: None,
        sha256: Sha256Digest::of(b"v1"),
    }];
    s.record_window_check(compare(&manifest, &presented, "clerk".into(), Utc::now()))
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
        s.decide(&wire, &gaj, decision(DecisionOutcome::Approve)),
        Err(Refusal::Forbidden { .. })
    ));
    s.decide(&wire, &scjg, decision(DecisionOutcome::Approve))
        .unwrap();
    assert!(
        s.decide(&wire, &scjg, decision(DecisionOutcome::Reject))
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

    s.decide(&pump, &scjg, decision(DecisionOutcome::Reject))
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
    let mut s = pre_approved();
    let scjg = DepartmentCode::parse("SCJG").unwrap();
    for code in ["wire-cable", "pump"] {
        s.decide(
            &ItemCode::parse(code).unwrap(),
            &scjg,
            decision(DecisionOutcome::Approve),
        )
        .unwrap();
    }
    s.status = Status::Accepted;
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
        items: vec![(
            ItemCode::parse("a").unwrap(),
            DepartmentCode::parse("SCJG").unwrap(),
            "甲".into(),
        )],
        materials: vec![name()],
        fields: [("address".to_string(), "杭州".to_string())].into(),
        amends: None,
    };
    let field = |r: Result<Submission, Refusal>| match r {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(Submission::create(
            SubmissionId::generate(),
            new.clone(),
            &template,
            Utc::now()
        )),
        "holder.type"
    );
    new.holder = Holder::parse("enterprise", "91350100M000100Y43", "公司").unwrap();
    new.materials.push(name());
    assert_eq!(
        field(Submission::create(
            SubmissionId::generate(),
            new.clone(),
            &template,
            Utc::now()
        )),
        "materials[1].name"
    );
}
