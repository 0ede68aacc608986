//! Who is acting: the typed caller every use-case takes, and the rules of who may do what to
//! a submission or a certificate (API.md, "Authentication").

use super::refusal::Refusal;
use super::submission::Submission;
use super::{DepartmentCode, Role, TokenId};

/// An authenticated caller: the API token it presented, its role and that role's binding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub token: TokenId,
    pub role: Role,
    /// An approver's department.
    pub department: Option<DepartmentCode>,
    /// An applicant's holder id (USCC or ID number).
    pub holder: Option<String>,
    /// Whom the token was given to, when it has a name: what pages and receipts show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Actor {
    /// The operator at the command line of a stopped store: whoever may read the store's
    /// files may do what an admin does.
    pub fn operator() -> Self {
        Self {
            token: TokenId("cli".into()),
            role: Role::Admin,
            department: None,
            holder: None,
            name: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// How the actor appears in audit events: `clerk:tok_1a2b3c4d5e6f`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.role, self.token)
    }

    /// How the actor appears to people: its name, else its label.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.label())
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), Refusal> {
        if allowed.contains(&self.role) {
            return Ok(());
        }
        Err(Refusal::Forbidden {
            message: format!(
                "角色 {} 无权执行此操作 / the {} role may not do this",
                self.role, self.role
            ),
        })
    }

    /// Whether this is the applicant of `holder_id`.
    pub fn is_holder(&self, holder_id: &str) -> bool {
        self.role == Role::Applicant && self.holder.as_deref() == Some(holder_id)
    }

    /// Owner, reviewer, clerk, approver and admin may read; another applicant may not.
    pub fn may_read(&self, submission: &Submission) -> Result<(), Refusal> {
        match self.role {
            Role::Applicant if !self.is_holder(submission.holder.id()) => Err(not_yours()),
            _ => Ok(()),
        }
    }

    /// The owner or a clerk (or admin) may upload and submit.
    pub fn may_edit(&self, submission: &Submission) -> Result<(), Refusal> {
        match self.role {
            Role::Clerk | Role::Admin => Ok(()),
            Role::Applicant if self.is_holder(submission.holder.id()) => Ok(()),
            Role::Applicant => Err(not_yours()),
            _ => self.require(&[Role::Applicant, Role::Clerk, Role::Admin]),
        }
    }

    /// The holder's applicant, a clerk or an admin may read a certificate; nobody else.
    pub fn may_read_certificate(&self, holder_id: &str) -> Result<(), Refusal> {
        self.require(&[Role::Applicant, Role::Clerk, Role::Admin])?;
        if self.role == Role::Applicant && !self.is_holder(holder_id) {
            return Err(Refusal::Forbidden {
                message: "该证照不属于您的主体 / this certificate belongs to another holder".into(),
            });
        }
        Ok(())
    }
}

fn not_yours() -> Refusal {
    Refusal::Forbidden {
        message: "该办件不属于您的主体 / this submission belongs to another holder".into(),
    }
}
