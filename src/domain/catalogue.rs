//! The service catalogue (事项目录): what each service item requires, how it is decided, how
//! long it may take in working days, and whom to call. Every change is a new version; a
//! submission records the version it was filed under.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::printed_text;
use super::{DepartmentCode, ItemCode, MaterialName, ParseError, check_item_name};

/// The longest promise the catalogue accepts: a year of working days.
pub const MAX_TIME_LIMIT_WORKING_DAYS: u32 = 250;
const MAX_MATERIALS: usize = 50;
const MAX_STEPS: usize = 10;
const TEXT_MAX_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialForm {
    Original,
    Copy,
    OriginalAndCopy,
    Electronic,
}

/// A material the item requires: its name (as the submission declares it), in what form, how
/// many, and any note for the applicant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredMaterial {
    pub name: String,
    pub form: MaterialForm,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub notes: String,
}

fn one() -> u32 {
    1
}

/// One step of an approval chain: decided by its department, after the step before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainStep {
    pub name: String,
    pub department: String,
}

/// A catalogue item as an admin writes it (or a seed file in `templates/services/` holds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    pub department: String,
    /// The item's place in the catalogue (the provincial list's order): a certificate lists
    /// its items in this order. Seed files number their items as they list them; an item
    /// without one comes after those that have one, by code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The certificate kind it contributes to; none for an item that ends in a decision only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// 承诺时限: counted in working days from the day after acceptance.
    pub time_limit_working_days: u32,
    #[serde(default)]
    pub materials: Vec<RequiredMaterial>,
    /// The approval chain, in order; empty when the department decides in one step.
    #[serde(default)]
    pub steps: Vec<ChainStep>,
    pub legal_basis: String,
    pub fee: String,
    pub consultation_phone: String,
    pub complaint_phone: String,
    pub office_address: String,
    pub office_hours: String,
    /// The service this item is a step of (`talent-review` of `talent-permit`): it is filed
    /// and decided like any item, but it is not a service of its own, so the guide index
    /// lists only the service it belongs to. Items stored before the field have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<String>,
}

/// One version of a catalogue item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceItem {
    pub code: ItemCode,
    pub version: u32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    #[serde(flatten)]
    pub spec: ServiceSpec,
}

impl ServiceSpec {
    /// Normalises the printed names and checks every value against its limit; the error
    /// names the field.
    pub fn check(mut self) -> Result<Self, (String, ParseError)> {
        let at = |field: &str| {
            let field = field.to_owned();
            move |e: ParseError| (field, e)
        };
        let text = |value: &str, field: &str, max: usize| {
            printed_text(value, max, "a catalogue text")
                .map_err(|e| (field.to_owned(), ParseError::new("invalid_text", e.message)))
        };
        self.name = check_item_name(&self.name).map_err(at("name"))?;
        DepartmentCode::parse(&self.department).map_err(at("department"))?;
        if !(1..=MAX_TIME_LIMIT_WORKING_DAYS).contains(&self.time_limit_working_days) {
            return Err((
                "time_limit_working_days".into(),
                ParseError::new(
                    "invalid_time_limit",
                    format!(
                        "承诺时限应为1至{MAX_TIME_LIMIT_WORKING_DAYS}个工作日 / 1 to {MAX_TIME_LIMIT_WORKING_DAYS} working days"
                    ),
                ),
            ));
        }
        if self.materials.len() > MAX_MATERIALS {
            return Err((
                "materials".into(),
                ParseError::new(
                    "too_many_materials",
                    format!("至多{MAX_MATERIALS}项材料 / at most {MAX_MATERIALS} materials"),
                ),
            ));
        }
        let mut names: Vec<String> = Vec::with_capacity(self.materials.len());
        for (i, m) in self.materials.iter_mut().enumerate() {
            m.name = MaterialName::parse(&m.name)
                .map_err(at(&format!("materials[{i}].name")))?
                .to_string();
            if names.contains(&m.name) {
                return Err((
                    format!("materials[{i}].name"),
                    ParseError::new(
                        "duplicate_material",
                        "材料名称重复 / a material appears twice",
                    ),
                ));
            }
            names.push(m.name.clone());
            if !(1..=99).contains(&m.count) {
                return Err((
                    format!("materials[{i}].count"),
                    ParseError::new("invalid_count", "份数应为1至99 / 1 to 99 copies"),
                ));
            }
            if !m.notes.is_empty() {
                m.notes = text(&m.notes, &format!("materials[{i}].notes"), TEXT_MAX_CHARS)?;
            }
        }
        if self.steps.len() > MAX_STEPS {
            return Err((
                "steps".into(),
                ParseError::new(
                    "too_many_steps",
                    format!("审批链至多{MAX_STEPS}步 / at most {MAX_STEPS} steps"),
                ),
            ));
        }
        for (i, step) in self.steps.iter_mut().enumerate() {
            step.name = check_item_name(&step.name).map_err(at(&format!("steps[{i}].name")))?;
            DepartmentCode::parse(&step.department)
                .map_err(at(&format!("steps[{i}].department")))?;
        }
        self.legal_basis = text(&self.legal_basis, "legal_basis", TEXT_MAX_CHARS)?;
        self.fee = text(&self.fee, "fee", 100)?;
        self.consultation_phone = text(&self.consultation_phone, "consultation_phone", 40)?;
        self.complaint_phone = text(&self.complaint_phone, "complaint_phone", 40)?;
        self.office_address = text(&self.office_address, "office_address", 100)?;
        self.office_hours = text(&self.office_hours, "office_hours", 100)?;
        if let Some(parent) = &self.part_of {
            ItemCode::parse(parent).map_err(at("part_of"))?;
        }
        Ok(self)
    }

    /// Whether an applicant applies for this item as a service of its own (the guide index
    /// lists it), rather than as a step of another.
    pub fn is_service(&self) -> bool {
        self.part_of.is_none()
    }

    /// The department that decides first: the chain's first step's, or the item's own.
    pub fn first_department(&self) -> &str {
        self.steps
            .first()
            .map_or(self.department.as_str(), |s| s.department.as_str())
    }
}

/// Checks `part_of` of the item `code` against the catalogue it joins (`items`: every item's
/// code and `part_of`, the item's own former version among them or not): a step belongs to
/// another item that is a service itself, and an item that has steps is not a step of a
/// third. The error names the field.
pub fn check_part_of<'a>(
    code: &str,
    spec: &ServiceSpec,
    items: impl IntoIterator<Item = (&'a str, Option<&'a str>)> + Clone,
) -> Result<(), (String, ParseError)> {
    let invalid = |message: String| {
        Err((
            "part_of".to_owned(),
            ParseError::new("invalid_part_of", message),
        ))
    };
    let Some(parent) = spec.part_of.as_deref() else {
        return Ok(());
    };
    if parent == code {
        return invalid("事项不能是自身的环节 / an item is not a step of itself".into());
    }
    match items.clone().into_iter().find(|(c, _)| *c == parent) {
        None => {
            return invalid(format!(
                "服务目录中没有事项 {parent} / no service item {parent} in the catalogue"
            ));
        }
        Some((_, Some(grandparent))) => {
            return invalid(format!(
                "{parent} 本身是 {grandparent} 的环节 / {parent} is itself a step of {grandparent}"
            ));
        }
        Some((_, None)) => {}
    }
    if let Some((step, _)) = items
        .into_iter()
        .find(|(c, p)| *c != code && *p == Some(code))
    {
        return invalid(format!(
            "{step} 是本事项的环节，本事项不能再是其他事项的环节 / {step} is a step of this item, which cannot be a step itself"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "引进人才居住证".into(),
            department: "RSJ".into(),
            position: None,
            kind: Some("talent-residence-permit".into()),
            time_limit_working_days: 3,
            materials: vec![RequiredMaterial {
                name: "身份证".into(),
                form: MaterialForm::OriginalAndCopy,
                count: 1,
                notes: String::new(),
            }],
            steps: vec![ChainStep {
                name: "人社审核".into(),
                department: "RSJ".into(),
            }],
            legal_basis: "《浙江省流动人口居住登记条例》".into(),
            fee: "不收费".into(),
            consultation_phone: "0571-12333".into(),
            complaint_phone: "12345".into(),
            office_address: "杭州市民中心".into(),
            office_hours: "工作日 9:00-17:00".into(),
            part_of: None,
        }
    }

    #[test]
    fn each_value_is_checked_and_the_error_names_its_field() {
        assert!(spec().check().is_ok());
        let field = |s: ServiceSpec| s.check().unwrap_err().0;
        let mut s = spec();
        s.time_limit_working_days = 0;
        assert_eq!(field(s), "time_limit_working_days");
        let mut s = spec();
        s.steps[0].department = "rsj!".into();
        assert_eq!(field(s), "steps[0].department");
        let mut s = spec();
        s.materials.push(s.materials[0].clone());
        assert_eq!(field(s), "materials[1].name");
        let mut s = spec();
        s.office_hours = "九".repeat(101);
        assert_eq!(field(s), "office_hours");
    }

    #[test]
    fn an_item_stored_before_part_of_existed_still_loads() {
        let item = ServiceItem {
            code: ItemCode::parse("talent-permit").unwrap(),
            version: 1,
            updated_at: Utc::now(),
            updated_by: "seed".into(),
            spec: spec(),
        };
        let stored = serde_json::to_value(&item).unwrap();
        assert!(stored.get("part_of").is_none(), "{stored}");
        let loaded: ServiceItem = serde_json::from_value(stored).unwrap();
        assert_eq!(loaded, item);
        assert!(loaded.spec.is_service());
    }

    #[test]
    fn a_step_belongs_to_a_service_of_the_catalogue() {
        let step = |parent: &str| ServiceSpec {
            part_of: Some(parent.into()),
            ..spec()
        };
        let catalogue = [
            ("talent-permit", None),
            ("talent-review", Some("talent-permit")),
            ("union-claim", None),
        ];
        assert!(spec().is_service());
        assert!(!step("talent-permit").is_service());
        assert!(check_part_of("permit-production", &step("talent-permit"), catalogue).is_ok());
        assert!(check_part_of("talent-permit", &spec(), catalogue).is_ok());
        let refused =
            |code: &str, spec: ServiceSpec| check_part_of(code, &spec, catalogue).unwrap_err().0;
        assert_eq!(
            refused("permit-production", step("perpetual-motion")),
            "part_of"
        );
        assert_eq!(
            refused("permit-production", step("talent-review")),
            "part_of"
        );
        assert_eq!(refused("union-claim", step("union-claim")), "part_of");
        assert_eq!(refused("talent-permit", step("union-claim")), "part_of");
        assert_eq!(step("-").check().unwrap_err().0, "part_of");
    }
}
