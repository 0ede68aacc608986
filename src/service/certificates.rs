//! A certificate after issuance: reading it, its PDF and QR code, revoking it, and recording
//! how it leaves the office (courier, download, window) and how the parcel moves.

use chrono::Utc;

use super::changes::{update_certificate, update_status};
use super::{ServiceError, Services};
use crate::domain::actor::Actor;
use crate::domain::certificate::{
    Certificate, Delivery, DeliveryEvent, DeliveryMethod, RevocationReason,
};
use crate::domain::identifier::Identifier;
use crate::domain::text::quoted;
use crate::domain::{ParseError, Refusal, Role, check_label, check_reason};

/// The stored certificate `id`, or 404; for use-cases that authorize the caller themselves.
pub async fn stored(services: &Services, id: &str) -> Result<Certificate, ServiceError> {
    let found = match Identifier::parse(id) {
        Ok(id) => services.store.certificate(&id).await?,
        Err(_) => None,
    };
    found.ok_or_else(|| {
        let id = quoted(id);
        ServiceError::not_found(
            "certificate_not_found",
            format!("证照 {id} 不存在 / no certificate {id}"),
        )
    })
}

/// The certificate, if the actor may read it: its holder's applicant, a clerk or an admin.
pub async fn read(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Applicant, Role::Clerk, Role::Admin])?;
    let certificate = stored(services, id).await?;
    actor.may_read_certificate(certificate.content.holder.id())?;
    Ok(certificate)
}

/// The certificate and the very PDF that was issued.
pub async fn pdf(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<(Certificate, Vec<u8>), ServiceError> {
    let certificate = read(services, actor, id).await?;
    let id = &certificate.content.id;
    let pdf = services
        .store
        .certificate_pdf(id)
        .await?
        .ok_or_else(|| ServiceError::internal(format!("certificate {id} has no stored PDF")))?;
    Ok((certificate, pdf))
}

/// The QR code alone, as a PNG.
pub async fn qr_png(services: &Services, actor: &Actor, id: &str) -> Result<Vec<u8>, ServiceError> {
    let certificate = read(services, actor, id).await?;
    crate::render::qr_png(&certificate.verify_url).map_err(ServiceError::internal)
}

/// Revokes a certificate for good (admin); the event goes to its submission's history.
pub async fn revoke(
    services: &Services,
    actor: &Actor,
    id: &str,
    reason: RevocationReason,
    text: String,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Admin])?;
    let certificate = update_status(services, id, &actor.label(), |c| {
        c.revoke(reason, text.clone(), Utc::now())
    })
    .await?;
    services.status_lists.certificates_changed();
    tracing::warn!(certificate = %id, ?reason, by = %actor.label(), "certificate revoked");
    Ok(certificate)
}

/// How a certificate leaves the office, already checked field by field.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub method: DeliveryMethod,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub address: Option<String>,
}

impl NewDelivery {
    /// Checks each field as filed by a form or a JSON body: blank is absent, the carrier and
    /// the tracking number are short labels, the address free text.
    pub fn parse(
        method: DeliveryMethod,
        carrier: Option<String>,
        tracking_number: Option<String>,
        address: Option<String>,
    ) -> Result<Self, ServiceError> {
        Ok(Self {
            method,
            carrier: optional(carrier, "carrier", check_label)?,
            tracking_number: optional(tracking_number, "tracking_number", check_label)?,
            address: optional(address, "address", check_reason)?,
        })
    }
}

/// A value that is absent when blank, checked by `check` when present.
pub fn optional(
    value: Option<String>,
    field: &str,
    check: fn(&str) -> Result<String, ParseError>,
) -> Result<Option<String>, ServiceError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| check(&v).map_err(|e| ServiceError::invalid(field, e)))
        .transpose()
}

/// Records the delivery (a clerk or an admin): a courier needs the carrier, the tracking
/// number and the address.
pub async fn record_delivery(
    services: &Services,
    actor: &Actor,
    id: &str,
    delivery: NewDelivery,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    if delivery.method == DeliveryMethod::Courier {
        for (field, value) in [
            ("carrier", &delivery.carrier),
            ("tracking_number", &delivery.tracking_number),
            ("address", &delivery.address),
        ] {
            if value.is_none() {
                return Err(ServiceError::new(
                    super::ErrorKind::Invalid,
                    "field_required",
                    format!("邮寄须填写 {field} / courier delivery needs {field}"),
                )
                .with_field(field));
            }
        }
    }
    let label = actor.label();
    let certificate = update_certificate(services, id, |c| {
        let mut events = c.delivery.take().map(|d| d.events).unwrap_or_default();
        events.push(DeliveryEvent {
            at: Utc::now(),
            by: label.clone(),
            status: "recorded".into(),
            note: None,
        });
        c.delivery = Some(Delivery {
            method: delivery.method,
            carrier: delivery.carrier.clone(),
            tracking_number: delivery.tracking_number.clone(),
            address: delivery.address.clone(),
            events,
        });
        Ok(())
    })
    .await?;
    Ok(certificate)
}

/// Appends how the parcel moved (`picked_up`, `in_transit`, `delivered`, …).
pub async fn delivery_event(
    services: &Services,
    actor: &Actor,
    id: &str,
    status: String,
    note: Option<String>,
) -> Result<Certificate, ServiceError> {
    actor.require(&[Role::Clerk, Role::Admin])?;
    let label = actor.label();
    let certificate = update_certificate(services, id, |c| {
        let delivery = c.delivery.as_mut().ok_or_else(|| Refusal::Conflict {
            code: "no_delivery",
            message: "尚未登记送达方式 / record the delivery method first".into(),
            details: None,
        })?;
        delivery.events.push(DeliveryEvent {
            at: Utc::now(),
            by: label.clone(),
            status: status.clone(),
            note: note.clone(),
        });
        Ok(())
    })
    .await?;
    Ok(certificate)
}
