//! Who a submission and its certificate belong to: an enterprise or a person.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::{HOLDER_NAME_MAX_CHARS, printed_text};
use super::{IdNumber, ParseError, Uscc};

/// A holder as the API shows it: `{"type": "enterprise"|"person", "id": …, "name": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Holder {
    Enterprise { id: Uscc, name: String },
    Person { id: IdNumber, name: String },
}

/// Which kind of holder a certificate template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HolderType {
    Enterprise,
    Person,
}

/// A holder part that was refused, with the field (`type`, `id` or `name`) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderError {
    pub field: &'static str,
    pub error: ParseError,
}

impl Holder {
    pub fn parse(kind: &str, id: &str, name: &str) -> Result<Self, HolderError> {
        let at = |field| move |error| HolderError { field, error };
        let name = printed_text(name, HOLDER_NAME_MAX_CHARS, "a holder name")
            .map_err(|e| ParseError::new("invalid_holder_name", e.message))
            .map_err(at("name"))?;
        match kind {
            "enterprise" => Ok(Holder::Enterprise {
                id: Uscc::parse(id).map_err(at("id"))?,
                name,
            }),
            "person" => Ok(Holder::Person {
                id: IdNumber::parse(id).map_err(at("id"))?,
                name,
            }),
            _ => Err(at("type")(ParseError::new(
                "invalid_holder_type",
                "持证主体类型应为 enterprise 或 person / holder type is enterprise or person",
            ))),
        }
    }

    /// Parses the id a token is bound to, which may be either kind; returns it normalised.
    pub fn normalise_id(id: &str) -> Result<String, ParseError> {
        match Uscc::parse(id) {
            Ok(uscc) => Ok(uscc.to_string()),
            Err(uscc_error) => IdNumber::parse(id)
                .map(|n| n.to_string())
                .map_err(|_| uscc_error),
        }
    }

    pub fn holder_type(&self) -> HolderType {
        match self {
            Holder::Enterprise { .. } => HolderType::Enterprise,
            Holder::Person { .. } => HolderType::Person,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Holder::Enterprise { id, .. } => id.as_str(),
            Holder::Person { id, .. } => id.as_str(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Holder::Enterprise { name, .. } | Holder::Person { name, .. } => name,
        }
    }

    /// What public pages, verdicts and the token show: an enterprise's code is public (it is
    /// on its business licence); a person's birth date is not. The certificate itself, the
    /// holder's own document, prints the whole number (as an ID card does).
    pub fn public_id(&self) -> String {
        match self {
            Holder::Enterprise { id, .. } => id.to_string(),
            Holder::Person { id, .. } => id.masked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_names_the_failing_field() {
        let e = Holder::parse("enterprise", "91350100M000100Y43", " 示例电缆有限公司 ").unwrap();
        assert_eq!(e.name(), "示例电缆有限公司");
        assert_eq!(e.public_id(), "91350100M000100Y43");
        let p = Holder::parse("person", "11010519491231002X", "张三").unwrap();
        assert_eq!(p.public_id(), "110105********002X");
        assert_eq!(p.holder_type(), HolderType::Person);

        assert_eq!(
            Holder::parse("enterprise", "91350100M000100Y44", "x")
                .unwrap_err()
                .field,
            "id"
        );
        assert_eq!(
            Holder::parse("person", "91350100M000100Y43", "x")
                .unwrap_err()
                .field,
            "id"
        );
        assert_eq!(Holder::parse("robot", "x", "x").unwrap_err().field, "type");
        assert_eq!(
            Holder::parse("person", "11010519491231002X", "")
                .unwrap_err()
                .field,
            "name"
        );
    }

    #[test]
    fn normalises_either_kind_of_id() {
        assert_eq!(
            Holder::normalise_id("91350100m000100y43").unwrap(),
            "91350100M000100Y43"
        );
        assert_eq!(
            Holder::normalise_id("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert!(Holder::normalise_id("123").is_err());
    }
}
