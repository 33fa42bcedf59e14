//! Statement plans: a tenant's xAPI Profiles, compiled once per change of
//! its record, checked against every batch at the gateway (see
//! docs/QUALITY.md). In reject mode a statement that breaks a template it
//! matches refuses its batch; in report mode the batch is stored and what the
//! plan found travels with it in the log, for the quality projection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xapi_profiles::{Applies, LoadedProfile, Profile, ProfileSet};

use crate::tenant::TenantId;
use crate::tenants::{Enforcement, Tenant, TenantProfile};

/// The profiles a principal's statements are checked against, and how.
#[derive(Clone, Debug)]
pub struct StatementPlan {
    /// Report or reject (a plan is never made for `off`).
    pub mode: Enforcement,
    /// The compiled profiles.
    pub profiles: Arc<ProfileSet>,
}

/// A template a statement matched but breaks, with the first rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenRule {
    /// The template's IRI.
    pub template: String,
    /// The rule: its location (and selector), or the StatementRef property.
    pub rule: String,
}

/// What the plan found about one statement of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCheck {
    /// The statement's place in its batch.
    pub index: u32,
    /// The templates it matched and follows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followed: Vec<String>,
    /// The templates it matched and breaks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<BrokenRule>,
    /// The pattern groups it belongs to (a profile with primary patterns
    /// that applies to it, and its registration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<PatternGroup>,
}

/// The statements of one registration (and subregistration) under one profile,
/// checked in timestamp order against the profile's primary patterns.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PatternGroup {
    /// The profile's IRI.
    pub profile: String,
    /// The registration.
    pub registration: String,
    /// The subregistration for this profile, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subregistration: Option<String>,
}

/// Why a batch breaks the plan (reject mode): the first failure, as the
/// client's 400 says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanRefusal {
    /// What to tell the client.
    pub message: String,
}

impl StatementPlan {
    /// Checks a batch: in reject mode the first statement that breaks a
    /// template refuses it; otherwise what each statement matched (only the
    /// statements that matched a template are listed).
    pub fn check(&self, statements: &[Value]) -> Result<Vec<PlanCheck>, PlanRefusal> {
        let verdicts = self.profiles.validate_batch(statements);
        let batch = statements.len() > 1;
        let mut checks = Vec::new();
        for ((index, verdict), statement) in verdicts.into_iter().enumerate().zip(statements) {
            if self.mode == Enforcement::Reject {
                if let Some(failure) = verdict.failures.first() {
                    let at = if batch { format!("statement [{index}]: ") } else { String::new() };
                    return Err(PlanRefusal {
                        message: format!(
                            "{at}does not follow the statement template {} of the tenant's profiles: the rule at {} fails: {}",
                            failure.template, failure.rule, failure.reason
                        ),
                    });
                }
            }
            let groups: Vec<PatternGroup> = self
                .profiles
                .groups(statement)
                .into_iter()
                .map(|key| PatternGroup {
                    profile: key.profile,
                    registration: key.registration,
                    subregistration: key.subregistration,
                })
                .collect();
            if verdict.matched.is_empty() && verdict.failures.is_empty() && groups.is_empty() {
                continue;
            }
            let broken = verdict
                .failures
                .into_iter()
                .map(|failure| BrokenRule { template: failure.template, rule: failure.rule })
                .collect();
            checks.push(PlanCheck { index: index as u32, followed: verdict.matched, broken, groups });
        }
        Ok(checks)
    }
}

/// What a compiled set was made from: each profile's id, load time and reach.
type Fingerprint = Vec<(String, i64, bool)>;

fn fingerprint(profiles: &[TenantProfile]) -> Fingerprint {
    profiles.iter().map(|p| (p.id.clone(), p.loaded_micros, p.applies_to_all)).collect()
}

/// Compiles tenants' profiles once per change and hands out plans.
#[derive(Default)]
pub struct PlanCompiler {
    compiled: Mutex<HashMap<TenantId, (Fingerprint, Arc<ProfileSet>)>>,
}

impl PlanCompiler {
    /// A tenant's compiled profiles, whatever the enforcement.
    pub fn profiles(&self, tenant: &Tenant) -> Arc<ProfileSet> {
        let wanted = fingerprint(&tenant.profiles);
        let mut compiled = self.compiled.lock().expect("plan lock");
        if let Some((known, profiles)) = compiled.get(&tenant.id) {
            if *known == wanted {
                return profiles.clone();
            }
        }
        let profiles = Arc::new(compile(&tenant.profiles));
        compiled.insert(tenant.id.clone(), (wanted, profiles.clone()));
        profiles
    }

    /// The plan of a tenant's statements sent with credential `key` (none
    /// when the tenant has no profiles or its enforcement is off).
    pub fn plan(&self, tenant: &Tenant, key: Option<&str>) -> Option<StatementPlan> {
        let mode = tenant.enforcement_for(key);
        if tenant.profiles.is_empty() || mode == Enforcement::Off {
            return None;
        }
        Some(StatementPlan { mode, profiles: self.profiles(tenant) })
    }
}

/// Compiles a tenant's profiles; one that no longer compiles (it was checked
/// when loaded) is left out with a warning.
pub fn compile(profiles: &[TenantProfile]) -> ProfileSet {
    let loaded = profiles
        .iter()
        .filter_map(|stored| match parse_profile(&stored.document) {
            Ok(profile) => {
                let applies = if stored.applies_to_all { Applies::All } else { Applies::Category };
                Some(LoadedProfile { profile, applies })
            }
            Err(error) => {
                tracing::warn!(profile = %stored.id, %error, "a loaded profile does not compile; it is not checked");
                None
            }
        })
        .collect();
    ProfileSet::new(loaded)
}

/// Reads a profile document's text.
pub fn parse_profile(document: &str) -> Result<Profile, String> {
    let value: Value = serde_json::from_str(document).map_err(|e| format!("the profile is not JSON: {e}"))?;
    Profile::parse(&value).map_err(|e| e.to_string())
}
