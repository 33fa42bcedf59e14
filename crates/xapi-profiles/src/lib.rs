//! xAPI Profiles 1.0 as a statement plan: reads a profile document
//! ([`Profile::parse`]), checks a statement against the statement templates
//! of the profiles that apply to it ([`ProfileSet::validate`]) and a
//! registration's statements against the primary patterns
//! ([`ProfileSet::follow`]), as the specification's algorithms say
//! (communication §2.1 and §2.2). No I/O: the caller keeps the profiles and
//! the statements.

mod path;
mod pattern;
mod profile;
mod template;

use std::collections::BTreeSet;

use serde_json::Value;

pub use path::ProfilePath;
pub use pattern::{Pattern, PatternKind, Progress};
pub use profile::{Profile, PROFILE_CONTEXT};
pub use template::{Determining, Presence, Rule, RuleFailure, Template};

/// The subregistration extension of context (structure §9).
pub const SUBREGISTRATION: &str = "https://w3id.org/xapi/profiles/extensions/subregistration";

/// Why a profile document is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// The document is not a profile the validator can use; says what is wrong.
    #[error("{0}")]
    Invalid(String),
}

/// Which statements a profile's templates and patterns apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// Those that name one of its versions among their category context
    /// activities (the specification's rule).
    Category,
    /// Every statement of the tenant (a profile used as the tenant's plan).
    All,
}

/// A profile as a tenant uses it.
#[derive(Clone, Debug)]
pub struct LoadedProfile {
    /// The compiled document.
    pub profile: Profile,
    /// Which statements it applies to.
    pub applies: Applies,
}

/// A statement checked against the templates that apply to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The templates it matched and follows.
    pub matched: Vec<String>,
    /// The templates it matched but breaks, each with the first rule it breaks.
    pub failures: Vec<RuleFailure>,
}

impl Verdict {
    /// Whether it breaks no template that it matches.
    pub fn is_valid(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The statements of one pattern group: a profile, a registration and,
/// when the statement has one for that profile, a subregistration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The profile's IRI.
    pub profile: String,
    /// The registration.
    pub registration: String,
    /// The subregistration for this profile, if any.
    pub subregistration: Option<String>,
}

/// The profiles of a tenant.
#[derive(Clone, Debug, Default)]
pub struct ProfileSet {
    profiles: Vec<LoadedProfile>,
}

impl ProfileSet {
    /// A set of profiles.
    pub fn new(profiles: Vec<LoadedProfile>) -> Self {
        Self { profiles }
    }

    /// Whether it holds no profile.
    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// The profiles.
    pub fn profiles(&self) -> &[LoadedProfile] {
        &self.profiles
    }

    /// The profiles that apply to a statement.
    fn applying<'a>(&'a self, statement: &'a Value) -> impl Iterator<Item = &'a LoadedProfile> + 'a {
        // Read only when a profile applies by category.
        let by_category = self.profiles.iter().any(|loaded| matches!(loaded.applies, Applies::Category));
        let categories = if by_category { template::category_ids(statement) } else { Vec::new() };
        self.profiles.iter().filter(move |loaded| match loaded.applies {
            Applies::All => true,
            Applies::Category => loaded.profile.versions.iter().any(|v| categories.contains(&v.as_str())),
        })
    }

    /// `validates`: checks a statement against every template (of the
    /// profiles that apply to it) whose determining properties it has.
    /// `referenced` gives the templates a statement it refers to matched,
    /// when that statement is available.
    pub fn validate(&self, statement: &Value, referenced: &dyn Fn(&str) -> Option<Vec<String>>) -> Verdict {
        let mut verdict = Verdict::default();
        let determining = template::Determining::of(statement);
        for loaded in self.applying(statement) {
            for template in &loaded.profile.templates {
                if !template.matches_determining(&determining) {
                    continue;
                }
                match template.check(statement, referenced) {
                    Ok(()) => verdict.matched.push(template.id.clone()),
                    Err(failure) => verdict.failures.push(failure),
                }
            }
        }
        verdict
    }

    /// Checks the statements of a batch, in order; a statement may refer to
    /// an earlier one of the batch (it is then available).
    pub fn validate_batch(&self, statements: &[Value]) -> Vec<Verdict> {
        let mut verdicts: Vec<Verdict> = Vec::with_capacity(statements.len());
        for statement in statements {
            let earlier = |id: &str| {
                statements
                    .iter()
                    .zip(&verdicts)
                    .find(|(s, _)| s.get("id").and_then(Value::as_str) == Some(id))
                    .map(|(_, verdict)| verdict.matched.clone())
            };
            let verdict = self.validate(statement, &earlier);
            verdicts.push(verdict);
        }
        verdicts
    }

    /// The pattern groups a statement belongs to: one per applying profile
    /// with primary patterns, when the statement has a registration.
    pub fn groups(&self, statement: &Value) -> Vec<GroupKey> {
        let Some(registration) = xapi::str_at(statement, &["context", "registration"]) else {
            return Vec::new();
        };
        let subregistrations = xapi::at_path(statement, &["context", "extensions"])
            .and_then(|extensions| extensions.get(SUBREGISTRATION))
            .and_then(Value::as_array);
        self.applying(statement)
            .filter(|loaded| loaded.profile.patterns.values().any(|p| p.primary))
            .map(|loaded| {
                let subregistration = subregistrations.and_then(|entries| {
                    entries
                        .iter()
                        .find(|entry| entry.get("profile").and_then(Value::as_str) == Some(&loaded.profile.id))
                        .and_then(|entry| entry.get("subregistration")?.as_str().map(str::to_owned))
                });
                GroupKey { profile: loaded.profile.id.clone(), registration: registration.to_owned(), subregistration }
            })
            .collect()
    }

    /// How a group's statements (in timestamp order, each given by the
    /// templates it matched; one that matched none breaks every pattern)
    /// follow each primary pattern of the profile: the best progress, and
    /// the pattern that made it (`None` when the profile is unknown or has
    /// no primary pattern).
    pub fn follow(&self, profile: &str, statements: &[BTreeSet<String>]) -> Option<(String, Progress)> {
        let loaded = self.profiles.iter().find(|loaded| loaded.profile.id == profile)?;
        let patterns = &loaded.profile.patterns;
        let mut primary: Vec<&Pattern> = patterns.values().filter(|p| p.primary).collect();
        primary.sort_by(|a, b| a.id.cmp(&b.id));
        let first = primary.first()?;
        if statements.iter().any(BTreeSet::is_empty) {
            return Some((first.id.clone(), Progress::Broken));
        }
        let matcher = pattern::Matcher { patterns, statements };
        let rank = |progress: Progress| match progress {
            Progress::Complete => 0,
            Progress::InProgress => 1,
            Progress::Broken => 2,
        };
        primary
            .into_iter()
            .map(|pattern| (pattern.id.clone(), matcher.follow(&pattern.id)))
            .min_by_key(|(_, progress)| rank(*progress))
    }
}
