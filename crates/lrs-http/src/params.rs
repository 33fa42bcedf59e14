//! Query-string parameters shared by the resources.

use std::collections::HashMap;

use actix_web::HttpRequest;
use uuid::Uuid;

use crate::error::ApiError;

/// The query parameters of a request, each given at most once.
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Parses the query string; a parameter given twice is a 400.
    pub(crate) fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
            .map_err(|error| ApiError::BadRequest(format!("malformed query string: {error}")))?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if params.insert(name.clone(), value).is_some() {
                return Err(ApiError::BadRequest(format!("parameter {name} is given more than once")));
            }
        }
        Ok(Self(params))
    }

    /// Rejects any parameter not in `allowed`.
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|name| !allowed.contains(&name.as_str())) {
            Some(name) => Err(ApiError::BadRequest(format!("parameter {name} is not allowed here"))),
            None => Ok(()),
        }
    }

    /// An optional parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::BadRequest(format!("parameter {name} is required")))
    }

    /// An optional UUID parameter.
    pub(crate) fn uuid(&self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.get(name).map(|value| parse_uuid(name, value)).transpose()
    }

    /// An optional timestamp parameter, in microseconds since the epoch.
    pub(crate) fn timestamp(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name).map(|value| parse_time(name, value)).transpose()
    }

    /// The parameters as a map.
    pub(crate) fn into_map(self) -> HashMap<String, String> {
        self.0
    }
}

/// Parses a UUID parameter.
pub(crate) fn parse_uuid(name: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(value).map_err(|_| ApiError::BadRequest(format!("{name}: {value:?} is not a UUID")))
}

/// Parses a timestamp parameter into microseconds since the epoch.
pub(crate) fn parse_time(name: &str, value: &str) -> Result<u64, ApiError> {
    let time = xapi::parse_timestamp(value)
        .map_err(|error| ApiError::BadRequest(format!("{name}: {value:?} is not a timestamp ({})", error.message())))?;
    Ok(u64::try_from(time.timestamp_micros()).unwrap_or(0))
}

/// Checks that a parameter is an IRI (a scheme, then a colon).
pub(crate) fn check_iri(name: &str, value: &str) -> Result<String, ApiError> {
    let has_scheme = value.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && !rest.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_scheme {
        Ok(value.to_owned())
    } else {
        Err(ApiError::BadRequest(format!("{name}: {value:?} is not an IRI")))
    }
}

/// Parses the `agent` parameter into its IFI key.
pub(crate) fn agent_key(value: &str) -> Result<String, ApiError> {
    xapi::parse_agent_param(value).map(|key| key.as_str().to_owned()).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// Formats a time as an HTTP date (Last-Modified).
pub(crate) fn http_date(micros: u64) -> String {
    let time = chrono::DateTime::from_timestamp_micros(i64::try_from(micros).unwrap_or(0)).unwrap_or_default();
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
