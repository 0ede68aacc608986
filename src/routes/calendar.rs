//! The working-day calendar of a year: public to read, set by an admin.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bodies::year;
use super::json::{AppJson, AppPath};
use crate::domain::actor::Actor;
use crate::domain::calendar::YearCalendar;
use crate::routes::state::AppState;
use crate::service::{ServiceError, calendar};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, put))
}

/// 一年的节假日与调休工作日 / A year's holidays and make-up working days.
#[utoipa::path(
    get,
    path = "/calendar/{year}",
    tag = "catalogue",
    params(("year" = i32, Path, minimum = 2000, maximum = 2100, description = "年份 / the year")),
    responses((status = 200, description = "日历 / the calendar", body = YearCalendar))
)]
async fn read(
    State(state): State<AppState>,
    AppPath(raw): AppPath<String>,
) -> Result<Json<YearCalendar>, ServiceError> {
    Ok(Json(calendar::year(&state, year(&raw)?).await?))
}

/// 设置一年的日历 / Set a year's calendar (admin).
#[utoipa::path(
    put,
    path = "/calendar/{year}",
    tag = "catalogue",
    params(("year" = i32, Path, minimum = 2000, maximum = 2100, description = "年份 / the year")),
    request_body = YearCalendar,
    security(("bearer" = [])),
    responses((status = 200, description = "日历 / the calendar", body = YearCalendar))
)]
async fn put(
    State(state): State<AppState>,
    caller: Actor,
    AppPath(raw): AppPath<String>,
    AppJson(body): AppJson<YearCalendar>,
) -> Result<Json<YearCalendar>, ServiceError> {
    Ok(Json(
        calendar::set_year(&state, &caller, year(&raw)?, body).await?,
    ))
}
