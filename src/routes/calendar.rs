//! The working-day calendar of a year: public to read, set by an admin.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::json::{AppJson, AppPath};
use crate::domain::ParseError;
use crate::domain::actor::Actor;
use crate::domain::calendar::YearCalendar;
use crate::routes::state::AppState;
use crate::service::{ServiceError, calendar};

pub fn router() -> Router<AppState> {
    Router::new().route("/calendar/{year}", get(read).put(put))
}

fn year(raw: &str) -> Result<i32, ServiceError> {
    raw.parse::<i32>()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| {
            ServiceError::invalid(
                "year",
                ParseError::new(
                    "invalid_year",
                    "年份应为2000至2100 / a year from 2000 to 2100",
                ),
            )
        })
}

async fn read(
    State(state): State<AppState>,
    AppPath(raw): AppPath<String>,
) -> Result<Json<YearCalendar>, ServiceError> {
    Ok(Json(calendar::year(&state, year(&raw)?)?))
}

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
