//! Creating a draft from what the applicant declares.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Item, Material, Status, Submission};
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
    pub items: Vec<(ItemCode, DepartmentCode, String)>,
    pub materials: Vec<MaterialName>,
    pub fields: BTreeMap<String, String>,
    pub amends: Option<Identifier>,
}

const MAX_MATERIALS: usize = 100;

impl Submission {
    /// Builds a draft from a declaration checked against its certificate template.
    pub fn create(
        id: SubmissionId,
        new: NewSubmission,
        template: &Template,
        now: DateTime<Utc>,
    ) -> Result<Self, Refusal> {
        let invalid = |field: String, code, message: &str| Refusal::Invalid {
            code,
            field,
            message: message.to_owned(),
        };
        if new.holder.holder_type() != template.holder {
            return Err(invalid(
                "holder.type".into(),
                "wrong_holder_type",
                "该证照的持证主体类型不符 / this certificate kind is for another type of holder",
            ));
        }
        if new.items.is_empty() || new.items.len() > template.max_items {
            return Err(invalid(
                "items".into(),
                "invalid_items",
                &format!(
                    "事项应有1至{max}项 / a {kind} submission has 1 to {max} items",
                    max = template.max_items,
                    kind = template.kind
                ),
            ));
        }
        if new.materials.is_empty() || new.materials.len() > MAX_MATERIALS {
            return Err(invalid(
                "materials".into(),
                "invalid_materials",
                "材料应有1至100项 / a submission declares 1 to 100 materials",
            ));
        }
        for (i, (code, _, _)) in new.items.iter().enumerate() {
            if new.items[..i].iter().any(|(c, _, _)| c == code) {
                return Err(invalid(
                    format!("items[{i}].code"),
                    "duplicate_item",
                    "事项代码重复 / an item code appears twice",
                ));
            }
        }
        for (i, name) in new.materials.iter().enumerate() {
            if new.materials[..i].contains(name) {
                return Err(invalid(
                    format!("materials[{i}].name"),
                    "duplicate_material",
                    "材料名称重复 / a material name appears twice",
                ));
            }
        }
        let fields = template.normalize_fields(&new.fields)?;
        Ok(Self {
            id,
            holder: new.holder,
            kind: new.kind,
            items: new
                .items
                .into_iter()
                .map(|(code, department, name)| Item {
                    code,
                    department,
                    name,
                    decision: None,
                })
                .collect(),
            materials: new
                .materials
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
        })
    }
}
