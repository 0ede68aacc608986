//! The OpenAPI 3.1 document of the API (`GET /api/v1/openapi.json`) and its readable page
//! (`GET /api/docs`, Swagger UI built into the binary: it works offline).
//!
//! The document is not written by hand: the API's routes are registered through utoipa-axum
//! (`routes!`), which takes each path, method, parameter, body and response from the
//! handler's `#[utoipa::path]` and the schemas from the wire types' own serde attributes, so
//! a route cannot be served without being documented. Every operation answers errors in the
//! one shape of [`ErrorResponse`] (its `default` response); routes that need a caller name
//! the `bearer` scheme.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi as Document, Ref, RefOr, Schema};

use crate::routes::error::ErrorResponse;

/// The document's parts that no handler states: what the API is, its tags and the error
/// shape.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "onetrip",
        description = "最多跑一次：网上申报与预审、窗口核对、多部门并联审批、一企一证的签名证照与公开核验。\n\nOne trip at most: filing and pre-review online, the window's check of the files brought in by SHA-256, departments deciding in parallel, one signed certificate per enterprise, and verification anyone can do.\n\nCallers sign in with `Authorization: Bearer <token>` (tokens are created by an admin). Every error is `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?, \"request_id\"}}`, its message in Chinese and English."
    ),
    components(schemas(ErrorResponse)),
    tags(
        (name = "submissions", description = "申报、材料、预审、窗口核对、部门审批 / filing, materials, pre-review, the window check, departments' decisions"),
        (name = "certificates", description = "签发与证照的生命周期 / issuance and a certificate's life"),
        (name = "verification", description = "公开核验 / public verification"),
        (name = "catalogue", description = "事项目录与工作日历 / the service catalogue and the working-day calendar"),
        (name = "batches", description = "批量签发与存量证照迁移 / batch issuance and migration"),
        (name = "administration", description = "令牌与签名密钥 / tokens and signing keys"),
        (name = "service", description = "服务自身 / the service itself")
    )
)]
pub struct ApiDoc;

/// Adds what no handler states: the bearer scheme, the error shape as the `default` answer
/// of each operation that does not describe its errors otherwise, and flattened types opened
/// ([`open_flattened`]).
fn add_conventions(openapi: &mut Document) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("an API token: `Authorization: Bearer <token>`"))
                .build(),
        ),
    );
    let error = ResponseBuilder::new()
        .description("错误 / an error, in the one shape")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorResponse"))))
                .build(),
        )
        .build();
    open_flattened(components);
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
}

/// A type flattened into another (`#[serde(flatten)]`, an `allOf`) that refuses unknown
/// fields on its own (`deny_unknown_fields`: a catalogue item's spec) would refuse the fields
/// the other adds, so inside an `allOf` it is inlined without that refusal.
fn open_flattened(components: &mut Components) {
    let closed: BTreeMap<String, Schema> = components
        .schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(Schema::Object(object))
                if matches!(
                    object.additional_properties.as_deref(),
                    Some(AdditionalProperties::FreeForm(false))
                ) =>
            {
                let mut open = object.clone();
                open.additional_properties = None;
                Some((name.clone(), Schema::Object(open)))
            }
            _ => None,
        })
        .collect();
    for schema in components.schemas.values_mut() {
        let RefOr::T(Schema::AllOf(all_of)) = schema else {
            continue;
        };
        for item in &mut all_of.items {
            if let RefOr::Ref(reference) = item
                && let Some(open) = reference
                    .ref_location
                    .strip_prefix("#/components/schemas/")
                    .and_then(|name| closed.get(name))
            {
                *item = RefOr::T(open.clone());
            }
        }
    }
}

/// The document of the routes [`super::api_routes`] serves, with [`add_conventions`].
pub fn document() -> Document {
    let mut document = super::api_routes(super::limits::verify_upload_places()).into_openapi();
    add_conventions(&mut document);
    document
}

/// The document as served, written once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document().to_pretty_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document cannot be written");
        String::new()
    })
});

/// 接口文档 / The OpenAPI 3.1 document of every API route.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json"))
)]
pub async fn serve() -> Response {
    (
        [
            (CONTENT_TYPE, "application/json"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The readable page of the document. Swagger UI styles itself with a stylesheet and inline
/// styles, so its policy allows them; scripts still come only from `/static/`.
pub async fn page() -> Response {
    (
        [
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:; connect-src 'self'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
            (REFERRER_POLICY, "no-referrer"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (CACHE_CONTROL, "no-cache"),
        ],
        Html(include_str!("../../static/api-docs/index.html")),
    )
        .into_response()
}
