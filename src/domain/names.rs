use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

use serde::{Deserialize, Serialize};

use super::ParseError;
use super::text::check_text;

const MATERIAL_NAME_MAX_CHARS: usize = 100;

/// The name of a declared material, e.g. `营业执照副本`. It appears in URLs
/// (`…/materials/{name}`), so it may not hold a slash, a backslash or be a dot path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct MaterialName(String);

impl MaterialName {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        check_text(input, MATERIAL_NAME_MAX_CHARS, "a material name")
            .map_err(|e| ParseError::new("invalid_material_name", e.message))?;
        if input != input.trim() {
            return Err(ParseError::new(
                "invalid_material_name",
                "材料名称首尾不能有空格 / a material name may not start or end with a space",
            ));
        }
        if input.contains(['/', '\\']) || input == "." || input == ".." {
            return Err(ParseError::new(
                "invalid_material_name",
                "材料名称不能含有斜杠或为路径 / a material name may not hold a slash or be a path",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MaterialName {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<MaterialName> for String {
    fn from(value: MaterialName) -> Self {
        value.0
    }
}

impl fmt::Display for MaterialName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A department code such as `SCJG` (市场监管), `RSJ` or `GAJ`: 2–16 capitals or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct DepartmentCode(String);

impl DepartmentCode {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let valid = (2..=16).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid {
            return Err(ParseError::new(
                "invalid_department",
                "部门代码应为2至16位大写字母或数字 / a department code is 2-16 capitals or digits",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DepartmentCode {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DepartmentCode> for String {
    fn from(value: DepartmentCode) -> Self {
        value.0
    }
}

impl fmt::Display for DepartmentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item code such as `wire-cable`: 1–64 characters, words of lowercase ASCII letters and
/// digits joined by single hyphens (no hyphen first, last or doubled), so that a code reads
/// as a name in a URL (`/guide/wire-cable`) and `-` or `--x` is never one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct ItemCode(String);

impl ItemCode {
    /// A code given now (a catalogue edit, a seed, a submission, a batch line).
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let valid = (1..=64).contains(&input.len())
            && input.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !valid {
            return Err(ParseError::new(
                "invalid_item_code",
                "事项代码应为小写字母或数字，可用单个连字符连接，不以连字符开头或结尾 / an item code is lowercase letters and digits, joined by single inner hyphens",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// A code read back from the store: the rule before hyphens were restricted (any of
    /// lowercase letters, digits and hyphens), so that an item stored then still loads.
    fn stored(input: String) -> Result<Self, ParseError> {
        let valid = (1..=64).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(ParseError::new(
                "invalid_item_code",
                "事项代码应为小写字母、数字或连字符 / an item code is lowercase letters, digits or hyphens",
            ));
        }
        Ok(Self(input))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ItemCode {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::stored(value)
    }
}

impl From<ItemCode> for String {
    fn from(value: ItemCode) -> Self {
        value.0
    }
}

impl fmt::Display for ItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who a token speaks for; see the role table in API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Applicant,
    Reviewer,
    Clerk,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Applicant,
        Role::Reviewer,
        Role::Approver,
        Role::Clerk,
        Role::Admin,
    ];

    /// The role's name on a page: 申请人, 预审人员, 窗口人员, 审批部门, 管理员.
    pub fn chinese(self) -> &'static str {
        match self {
            Role::Applicant => "申请人",
            Role::Reviewer => "预审人员",
            Role::Clerk => "窗口人员",
            Role::Approver => "审批部门",
            Role::Admin => "管理员",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Applicant => "applicant",
            Role::Reviewer => "reviewer",
            Role::Clerk => "clerk",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "applicant" => Ok(Role::Applicant),
            "reviewer" => Ok(Role::Reviewer),
            "clerk" => Ok(Role::Clerk),
            "approver" => Ok(Role::Approver),
            "admin" => Ok(Role::Admin),
            _ => Err(ParseError::new(
                "invalid_role",
                "角色应为 applicant、reviewer、clerk、approver 或 admin / unknown role",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_names_accept_chinese_and_reject_paths_and_controls() {
        assert!(MaterialName::parse("营业执照副本").is_ok());
        assert!(MaterialName::parse("法人身份证 (正反面).pdf").is_ok());
        for bad in [
            "",
            "  ",
            "../etc/passwd",
            "a/b",
            "a\\b",
            "..",
            "a\0b",
            "a\nb",
            " x",
        ] {
            assert!(MaterialName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MaterialName::parse(&"材".repeat(100)).is_ok());
        assert!(MaterialName::parse(&"材".repeat(101)).is_err());
    }

    #[test]
    fn department_and_item_codes() {
        assert!(DepartmentCode::parse("SCJG").is_ok());
        assert!(DepartmentCode::parse("scjg").is_err());
        assert!(DepartmentCode::parse("S").is_err());
        assert!(ItemCode::parse("wire-cable").is_ok());
        assert!(ItemCode::parse("a").is_ok());
        assert!(ItemCode::parse("extra-19").is_ok());
        assert!(ItemCode::parse(&"a".repeat(64)).is_ok());
        for bad in [
            "",
            "Wire",
            "-",
            "--",
            "-wire",
            "wire-",
            "wire--cable",
            "wire_cable",
            "wire cable",
            "电线",
            &"a".repeat(65),
        ] {
            assert!(ItemCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_item_code_stored_under_the_old_rule_still_loads() {
        let stored: ItemCode = serde_json::from_str("\"-\"").unwrap();
        assert_eq!(stored.as_str(), "-");
        assert!(serde_json::from_str::<ItemCode>("\"Wire\"").is_err());
    }

    #[test]
    fn roles_round_trip_and_reject_unknown() {
        for role in ["applicant", "reviewer", "clerk", "approver", "admin"] {
            assert_eq!(role.parse::<Role>().unwrap().as_str(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
