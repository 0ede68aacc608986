//! The service catalogue (every version of every item, and each item's latest version) and
//! the working-day calendars an admin has set.

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionError;

use super::Trees;
use super::codec::{decode, decode_all, encode};
use crate::domain::ItemCode;
use crate::domain::calendar::YearCalendar;
use crate::domain::catalogue::{ServiceItem, ServiceSpec};
use crate::store::StoreError;

/// Versions of one item sort together: the code, a NUL, then the version big-endian.
pub(super) fn version_key(code: &str, version: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(code.len() + 5);
    key.extend_from_slice(code.as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
    key
}

pub(super) fn latest_of(bytes: Option<sled::IVec>) -> u32 {
    bytes
        .and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok())
        .map_or(0, u32::from_be_bytes)
}

impl Trees {
    /// The latest version of every item, by code.
    pub fn service_items(&self) -> Result<Vec<ServiceItem>, StoreError> {
        let mut items = Vec::new();
        for entry in self.service_latest.iter() {
            let (code, version) = entry?;
            let code = String::from_utf8_lossy(&code).into_owned();
            if let Some(item) = self.service_item(&code, Some(latest_of(Some(version))))? {
                items.push(item);
            }
        }
        Ok(items)
    }

    /// One version of an item (the latest when `version` is `None`).
    pub fn service_item(
        &self,
        code: &str,
        version: Option<u32>,
    ) -> Result<Option<ServiceItem>, StoreError> {
        let version = match version {
            Some(v) => v,
            None => latest_of(self.service_latest.get(code)?),
        };
        let key = version_key(code, version);
        self.services
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    /// Stores `spec` as the next version of `code` and returns it. With `only_if_new`, an
    /// item that exists is left as it is (seeding at start-up) and `None` is returned.
    pub async fn put_service_item(
        &self,
        code: &ItemCode,
        spec: &ServiceSpec,
        by: &str,
        at: DateTime<Utc>,
        only_if_new: bool,
    ) -> Result<Option<ServiceItem>, StoreError> {
        let trees = (&self.services, &self.service_latest);
        let transaction = || {
            trees.transaction(|(services, latest)| {
                let current = latest_of(latest.get(code.as_str())?);
                if only_if_new && current > 0 {
                    return Ok(None);
                }
                let item = ServiceItem {
                    code: code.clone(),
                    version: current + 1,
                    updated_at: at,
                    updated_by: by.to_owned(),
                    spec: spec.clone(),
                };
                let value = encode(&item)
                    .map_err(sled::transaction::ConflictableTransactionError::Abort)?;
                services.insert(version_key(code.as_str(), item.version), value)?;
                latest.insert(code.as_str(), &item.version.to_be_bytes())?;
                Ok(Some(item))
            })
        };
        self.exclusive(|| {
            transaction().map_err(|e: TransactionError<StoreError>| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })
        })
        .await
    }

    /// The calendars an admin has set, which take the place of the shipped ones.
    pub fn calendars(&self) -> Result<Vec<YearCalendar>, StoreError> {
        decode_all(&self.calendars)
    }

    pub async fn put_calendar(&self, calendar: &YearCalendar) -> Result<(), StoreError> {
        let value = encode(calendar)?;
        self.exclusive(|| {
            self.calendars
                .insert(calendar.year.to_be_bytes(), value)
                .map(|_| ())
                .map_err(StoreError::from)
        })
        .await
    }
}
