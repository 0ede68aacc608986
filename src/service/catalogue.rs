//! The service catalogue as the public reads it and an admin edits it, seeded on first start
//! from `templates/services/`.

use chrono::Utc;

use super::{ErrorKind, ServiceError, Services};
use crate::domain::actor::Actor;
use crate::domain::catalogue::{ServiceItem, ServiceSpec, check_part_of};
use crate::domain::text::quoted;
use crate::domain::{ItemCode, ParseError, Role};
use crate::store::Store;

/// Stores each seed item the catalogue does not hold yet (an item edited since keeps its
/// edits); returns how many were added.
pub async fn seed(
    store: &dyn Store,
    seeds: &[(ItemCode, ServiceSpec)],
) -> Result<usize, ServiceError> {
    let mut added = 0;
    for (code, spec) in seeds {
        // Read first: a start with every item in place writes (and flushes) nothing.
        if store.service_item(code.as_str(), None).await?.is_none()
            && store
                .put_service_item(code, spec, "seed", Utc::now(), true)
                .await?
                .is_some()
        {
            added += 1;
        }
    }
    Ok(added)
}

fn unknown(code: &str) -> ServiceError {
    let code = quoted(code);
    ServiceError::not_found(
        "unknown_service",
        format!("服务目录中没有事项 {code} / no service item {code} in the catalogue"),
    )
}

/// Every item's latest version (public).
pub async fn list(services: &Services) -> Result<Vec<ServiceItem>, ServiceError> {
    let mut items = services.store.service_items().await?;
    items.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
    Ok(items)
}

/// What an applicant applies for, for the guide index: every item that is a service of its
/// own, not a step of another (public).
pub async fn services_to_apply_for(services: &Services) -> Result<Vec<ServiceItem>, ServiceError> {
    let mut items = list(services).await?;
    items.retain(|i| i.spec.is_service());
    Ok(items)
}

/// The service `item` is a step of, if it is one (public).
pub async fn service_of(
    services: &Services,
    item: &ServiceItem,
) -> Result<Option<ServiceItem>, ServiceError> {
    match &item.spec.part_of {
        Some(parent) => Ok(services.store.service_item(parent, None).await?),
        None => Ok(None),
    }
}

/// One item, at `version` or its latest (public).
pub async fn get(
    services: &Services,
    code: &str,
    version: Option<u32>,
) -> Result<ServiceItem, ServiceError> {
    services
        .store
        .service_item(code, version)
        .await?
        .ok_or_else(|| unknown(code))
}

/// A new version of an item, or a new item (an admin). The certificate kind it names must
/// exist, and the service it is a step of (`part_of`); its values are checked like a seed
/// file's.
pub async fn put(
    services: &Services,
    actor: &Actor,
    code: &str,
    spec: ServiceSpec,
) -> Result<ServiceItem, ServiceError> {
    actor.require(&[Role::Admin])?;
    let code = ItemCode::parse(code).map_err(|e| ServiceError::invalid("code", e))?;
    let spec = spec
        .check()
        .map_err(|(field, e)| ServiceError::invalid(field, e))?;
    // The name is printed on certificates: refused now if the font cannot print it.
    super::issuance::check_printable_text(&services.fonts, "name", &spec.name)?;
    let items = services.store.service_items().await?;
    check_part_of(
        code.as_str(),
        &spec,
        items
            .iter()
            .map(|i| (i.code.as_str(), i.spec.part_of.as_deref())),
    )
    .map_err(|(field, e)| ServiceError::invalid(field, e))?;
    if let Some(kind) = &spec.kind
        && services.templates.get(kind).is_none()
    {
        return Err(ServiceError::invalid(
            "kind",
            ParseError::new(
                "unknown_kind",
                format!(
                    "未知证照类型 {kind} / unknown certificate kind",
                    kind = quoted(kind)
                ),
            ),
        ));
    }
    let item = services
        .store
        .put_service_item(&code, &spec, &actor.label(), Utc::now(), false)
        .await?
        .ok_or_else(|| ServiceError::new(ErrorKind::Internal, "internal", "nothing stored"))?;
    tracing::info!(service = %code, version = item.version, by = %actor.label(), "catalogue item changed");
    Ok(item)
}

/// Where an item's guide is: what its QR code opens.
pub fn guide_url(services: &Services, code: &ItemCode) -> String {
    format!("{}/guide/{code}", services.public_url)
}

/// The QR code of an item's guide, as SVG (the item must exist).
pub async fn guide_qr_svg(services: &Services, code: &str) -> Result<String, ServiceError> {
    let item = get(services, code, None).await?;
    crate::render::qr_svg(&guide_url(services, &item.code)).map_err(ServiceError::internal)
}

/// The QR code of an item's guide, as PNG (the item must exist).
pub async fn guide_qr_png(services: &Services, code: &str) -> Result<Vec<u8>, ServiceError> {
    let item = get(services, code, None).await?;
    crate::render::qr_png(&guide_url(services, &item.code)).map_err(ServiceError::internal)
}
