//! The use-cases: one function per thing a user does (file a submission, check it at the
//! window, decide an item, issue, verify, rotate a key…). Each takes the caller as a typed
//! [`Actor`](crate::domain::actor::Actor) where it matters, the inputs as domain types and the
//! [`Services`] it needs; it authorizes inside and answers a [`ServiceError`], never HTTP.
//! The JSON API, the window console and the CLI are adapters over these functions.

mod error;

pub use error::{ErrorKind, ServiceError, submission_not_found};
