//! Creating a draft from what the applicant declares.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Item, Material, Status, StepState, Submission};
use crate::domain::catalogue::ServiceItem;
use crate::domain::holder::Holder;
use crate::domain::identifier::Identifier;
use crate::domain::refusal::Refusal;
use crate::domain::template::Template;
use crate::domain::{DepartmentCode, ItemCode, MaterialName, SubmissionId};

/// What an applicant declares when creating a submission, already parsed field by field.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub holder: Holder,
    pub kind: String,
    pub items: Vec<FiledItem>,
    /// The materials declared; `None` takes the catalogue's list for the items.
    pub materials: Option<Vec<MaterialName>>,
    pub fields: BTreeMap<String, String>,
    pub amends: Option<Identifier>,
    /// Renew (延续) the certificate `amends` names.
    pub renew: bool,
}

/// An item as filed: its catalogue code, and the department and name if the filer gave them
/// (they are the catalogue's, and must agree with it when given).
#[derive(Debug, Clone)]
pub struct FiledItem {
    pub code: ItemCode,
    pub department: Option<DepartmentCode>,
    pub name: Option<String>,
}

const MAX_MATERIALS: usize = 100;
/// Items of one certificate-free submission.
const MAX_DECISION_ITEMS: usize = 10;

impl Submission {
    /// Builds a draft from a declaration checked against its certificate template and the
    /// catalogue versions of its items (`services[i]` is item `i`'s).
    pub fn create(
        id: SubmissionId,
        new: NewSubmission,
        template: Option<&Template>,
        services: &[ServiceItem],
        now: DateTime<Utc>,
    ) -> Result<Self, Refusal> {
        let invalid = |field: String, code, message: &str| Refusal::Invalid {
            code,
            field,
            message: message.to_owned(),
        };
        let max_items = template.map_or(MAX_DECISION_ITEMS, |t| t.max_items);
        if let Some(template) = template
            && new.holder.holder_type() != template.holder
        {
            return Err(invalid(
                "holder.type".into(),
                "wrong_holder_type",
                "该证照的持证主体类型不符 / this certificate kind is for another type of holder",
            ));
        }
        if new.items.is_empty() || new.items.len() > max_items {
            return Err(invalid(
                "items".into(),
                "invalid_items",
                &format!(
                    "事项应有1至{max_items}项 / a {kind} submission has 1 to {max_items} items",
                    kind = new.kind
                ),
            ));
        }
        if new.renew && new.amends.is_none() {
            return Err(invalid(
                "renew".into(),
                "renewal_without_certificate",
                "延续须指明所延续的证照（amends） / a renewal names the certificate it renews in `amends`",
            ));
        }
        for (i, item) in new.items.iter().enumerate() {
            if new.items[..i].iter().any(|other| other.code == item.code) {
                return Err(invalid(
                    format!("items[{i}].code"),
                    "duplicate_item",
                    "事项代码重复 / an item code appears twice",
                ));
            }
        }
        let items = resolve_items(&new.items, services, template)?;
        let materials = match new.materials {
            Some(materials) => materials,
            None => catalogue_materials(services)?,
        };
        if materials.is_empty() || materials.len() > MAX_MATERIALS {
            return Err(invalid(
                "materials".into(),
                "invalid_materials",
                "材料应有1至100项 / a submission declares 1 to 100 materials",
            ));
        }
        if let Some(photo) = template.and_then(|t| t.photo_material.as_deref())
            && !materials.iter().any(|m| m.as_str() == photo)
        {
            return Err(invalid(
                "materials".into(),
                "photo_required",
                &format!(
                    "该证照印有持证人照片，须申报材料“{photo}” / this certificate prints the holder's photo: declare the material {photo}"
                ),
            ));
        }
        for (i, name) in materials.iter().enumerate() {
            if materials[..i].contains(name) {
                return Err(invalid(
                    format!("materials[{i}].name"),
                    "duplicate_material",
                    "材料名称重复 / a material name appears twice",
                ));
            }
        }
        let fields = match template {
            Some(template) => template.normalize_fields(&new.fields)?,
            None if new.fields.is_empty() => BTreeMap::new(),
            None => {
                return Err(invalid(
                    "fields".into(),
                    "unknown_field",
                    "该类办件没有证照字段 / a decision-only submission has no fields",
                ));
            }
        };
        Ok(Self {
            id,
            holder: new.holder,
            kind: new.kind,
            promised_working_days: services
                .iter()
                .map(|s| s.spec.time_limit_working_days)
                .max(),
            items,
            materials: materials
                .into_iter()
                .map(|name| Material {
                    name,
                    upload: None,
                    returned_reason: None,
                })
                .collect(),
            fields,
            status: Status::Draft,
            created_at: now,
            updated_at: now,
            event_count: 0,
            certificate: None,
            amends: new.amends,
            renews: new.renew,
            accepted_at: None,
            due_date: None,
        })
    }
}

/// The items as the catalogue defines them: department, name, approval chain and version.
/// What is printed is what the catalogue names: a filed name that differs is refused, never
/// printed. An item of another certificate kind, or filed under another department, is
/// refused too.
fn resolve_items(
    filed: &[FiledItem],
    services: &[ServiceItem],
    template: Option<&Template>,
) -> Result<Vec<Item>, Refusal> {
    let kind = template.map(|t| t.kind.as_str());
    let invalid = |field: String, code, message: String| Refusal::Invalid {
        code,
        field,
        message,
    };
    filed
        .iter()
        .zip(services)
        .enumerate()
        .map(|(i, (item, service))| {
            let spec = &service.spec;
            if spec.kind.as_deref() != kind {
                let kind = kind.unwrap_or(super::DECISION_ONLY);
                return Err(invalid(
                    format!("items[{i}].code"),
                    "item_of_another_kind",
                    format!(
                        "事项 {} 不属于 {kind} / item {} is not part of a {kind} submission",
                        item.code, item.code
                    ),
                ));
            }
            let department = DepartmentCode::parse(&spec.department)
                .map_err(|e| invalid(format!("items[{i}].code"), e.code, e.message.into()))?;
            if item.department.as_ref().is_some_and(|d| d != &department) {
                return Err(invalid(
                    format!("items[{i}].department"),
                    "department_mismatch",
                    format!(
                        "事项 {} 由 {department} 办理 / item {} is handled by {department}",
                        item.code, item.code
                    ),
                ));
            }
            if let Some(name) = item.name.as_ref().filter(|name| **name != spec.name) {
                return Err(invalid(
                    format!("items[{i}].name"),
                    "item_name_mismatch",
                    format!(
                        "事项 {code} 在服务目录中的名称是“{catalogue}”，而非“{name}”；名称可省略 / item {code} is named “{catalogue}” in the service catalogue, not “{name}”; the name may be left out",
                        code = item.code,
                        catalogue = spec.name,
                    ),
                ));
            }
            let steps = spec
                .steps
                .iter()
                .map(|step| {
                    Ok(StepState {
                        name: step.name.clone(),
                        department: DepartmentCode::parse(&step.department).map_err(|e| {
                            invalid(format!("items[{i}].code"), e.code, e.message.into())
                        })?,
                        decision: None,
                        comment: None,
                        decided_by: None,
                        decided_at: None,
                    })
                })
                .collect::<Result<Vec<_>, Refusal>>()?;
            Ok(Item {
                code: item.code.clone(),
                department,
                name: spec.name.clone(),
                decision: None,
                service_version: Some(service.version),
                steps,
                legacy_name: None,
            })
        })
        .collect()
}

/// Every material the items' catalogue entries require, once each, in their order.
fn catalogue_materials(services: &[ServiceItem]) -> Result<Vec<MaterialName>, Refusal> {
    let mut names: Vec<MaterialName> = Vec::new();
    for service in services {
        for material in &service.spec.materials {
            let name = MaterialName::parse(&material.name).map_err(|e| Refusal::Invalid {
                code: e.code,
                field: "materials".into(),
                message: e.message.into(),
            })?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}
