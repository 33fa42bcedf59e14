//! Tenants, credentials, scopes, the directory requests are authenticated against, and their administration.

pub mod admin;
pub mod auth;
pub mod directory;
pub mod forwarders;
pub mod tenant;
pub mod tenants;
