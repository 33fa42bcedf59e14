//! Statement Templates (structure §8): which statements a template matches
//! (its determining properties) and the rules a matching statement must
//! follow (communication §2.1, `follows_rule`).

use serde_json::Value;

use crate::path::ProfilePath;

/// A compiled Statement Template.
#[derive(Clone, Debug)]
pub struct Template {
    /// Its IRI.
    pub id: String,
    /// Whether the profile marks it deprecated.
    pub deprecated: bool,
    pub(crate) verb: Option<String>,
    pub(crate) object_activity_type: Option<String>,
    pub(crate) context_types: Vec<(ContextKind, Vec<String>)>,
    pub(crate) attachment_usage_types: Vec<String>,
    pub(crate) object_statement_ref: Vec<String>,
    pub(crate) context_statement_ref: Vec<String>,
    pub(crate) rules: Vec<Rule>,
}

/// A context activities list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContextKind {
    Parent,
    Grouping,
    Category,
    Other,
}

impl ContextKind {
    pub(crate) const ALL: [(ContextKind, &'static str, &'static str); 4] = [
        (ContextKind::Parent, "contextParentActivityType", "parent"),
        (ContextKind::Grouping, "contextGroupingActivityType", "grouping"),
        (ContextKind::Category, "contextCategoryActivityType", "category"),
        (ContextKind::Other, "contextOtherActivityType", "other"),
    ];

    fn key(self) -> &'static str {
        ContextKind::ALL.iter().find(|(kind, _, _)| *kind == self).map_or("other", |(_, _, key)| key)
    }
}

/// Whether a rule's location must, may or must not find values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// At least one matchable value, and no unmatchable one.
    Included,
    /// No matchable value.
    Excluded,
    /// Checked only when there are values.
    Recommended,
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) location: ProfilePath,
    pub(crate) selector: Option<ProfilePath>,
    pub(crate) presence: Option<Presence>,
    pub(crate) any: Option<Vec<Value>>,
    pub(crate) all: Option<Vec<Value>>,
    pub(crate) none: Option<Vec<Value>>,
}

/// Why a statement does not follow a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleFailure {
    /// The template.
    pub template: String,
    /// The rule: its location (and selector), or the StatementRef property.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

/// A value a rule's location found, or one its selector found nothing in.
enum Found<'a> {
    Matchable(&'a Value),
    Unmatchable,
}

impl Rule {
    /// The rule as reported: its location, and its selector when it has one.
    pub fn name(&self) -> String {
        match &self.selector {
            Some(selector) => format!("{} (selector {})", self.location.source(), selector.source()),
            None => self.location.source().to_owned(),
        }
    }

    /// `follows_rule`: `Err` with what is wrong when the statement breaks it.
    pub fn check(&self, statement: &Value) -> Result<(), String> {
        let located = self.location.values(statement);
        let found: Vec<Found> = match &self.selector {
            None => located.into_iter().map(Found::Matchable).collect(),
            Some(selector) => located
                .into_iter()
                .flat_map(|value| {
                    let selected = selector.values(value);
                    if selected.is_empty() {
                        vec![Found::Unmatchable]
                    } else {
                        selected.into_iter().map(Found::Matchable).collect()
                    }
                })
                .collect(),
        };
        let unmatchable = found.iter().any(|f| matches!(f, Found::Unmatchable));
        let matchable: Vec<&Value> = found
            .iter()
            .filter_map(|f| match f {
                Found::Matchable(value) => Some(*value),
                Found::Unmatchable => None,
            })
            .collect();
        let mut strict = true;
        match self.presence {
            Some(Presence::Included) if found.is_empty() => return Err("is required but missing".to_owned()),
            Some(Presence::Included) if unmatchable => {
                return Err("is required but the selector finds nothing in a value".to_owned())
            }
            Some(Presence::Excluded) if !matchable.is_empty() => return Err("must be absent".to_owned()),
            Some(Presence::Recommended) => strict = false,
            _ => {}
        }
        let checked = strict || !found.is_empty();
        if let (Some(any), true) = (&self.any, checked) {
            if !matchable.iter().any(|value| contains(any, value)) {
                return Err(format!("must include one of {}", list(any)));
            }
        }
        if let (Some(all), true) = (&self.all, checked) {
            if unmatchable {
                return Err("the selector finds nothing in a value".to_owned());
            }
            if let Some(other) = matchable.iter().find(|value| !contains(all, value)) {
                return Err(format!("holds {other}, not one of {}", list(all)));
            }
        }
        if let (Some(none), true) = (&self.none, checked) {
            if let Some(banned) = matchable.iter().find(|value| contains(none, value)) {
                return Err(format!("must not hold {banned}"));
            }
        }
        Ok(())
    }
}

/// Whether `values` holds `value` (numbers compared as numbers).
fn contains(values: &[Value], value: &Value) -> bool {
    values.iter().any(|candidate| same(candidate, value))
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn list(values: &[Value]) -> String {
    let shown: Vec<String> = values.iter().take(5).map(Value::to_string).collect();
    let more = if values.len() > 5 { ", …" } else { "" };
    format!("[{}{more}]", shown.join(", "))
}

/// The activities of a context activities list (an object is a list of one).
fn context_activities(statement: &Value, kind: ContextKind) -> Vec<&Value> {
    match xapi::at_path(statement, &["context", "contextActivities", kind.key()]) {
        Some(Value::Array(activities)) => activities.iter().collect(),
        Some(activity @ Value::Object(_)) => vec![activity],
        _ => Vec::new(),
    }
}

/// The activity types of a context activities list.
fn context_types(statement: &Value, kind: ContextKind) -> Vec<&str> {
    context_activities(statement, kind)
        .into_iter()
        .filter_map(|activity| xapi::str_at(activity, &["definition", "type"]))
        .collect()
}

/// The ids of a statement's category activities.
pub(crate) fn category_ids(statement: &Value) -> Vec<&str> {
    context_activities(statement, ContextKind::Category)
        .into_iter()
        .filter_map(|activity| activity.get("id").and_then(Value::as_str))
        .collect()
}

/// The determining properties of a statement most templates compare (its
/// verb and object activity type), read once for all of them.
pub struct Determining<'s> {
    statement: &'s Value,
    verb: Option<&'s str>,
    object_activity_type: Option<&'s str>,
}

impl<'s> Determining<'s> {
    /// Reads them from `statement`.
    pub fn of(statement: &'s Value) -> Self {
        Self {
            statement,
            verb: xapi::str_at(statement, &["verb", "id"]),
            object_activity_type: xapi::str_at(statement, &["object", "definition", "type"]),
        }
    }
}

impl Template {
    /// Whether it has no determining property (it then matches every
    /// statement the profile applies to).
    pub fn is_general(&self) -> bool {
        self.verb.is_none()
            && self.object_activity_type.is_none()
            && self.context_types.is_empty()
            && self.attachment_usage_types.is_empty()
    }

    /// `matches_determining_properties`: the statement has the verb, object
    /// activity type, and (a superset of) the context activity types and
    /// attachment usage types the template names.
    pub fn matches(&self, statement: &Value) -> bool {
        self.matches_determining(&Determining::of(statement))
    }

    /// [`Template::matches`] against a statement's determining properties
    /// read once for every template of a profile set.
    pub fn matches_determining(&self, determining: &Determining<'_>) -> bool {
        if let Some(verb) = &self.verb {
            if determining.verb != Some(verb.as_str()) {
                return false;
            }
        }
        if let Some(kind) = &self.object_activity_type {
            if determining.object_activity_type != Some(kind.as_str()) {
                return false;
            }
        }
        let statement = determining.statement;
        for (context, wanted) in &self.context_types {
            let present = context_types(statement, *context);
            if !wanted.iter().all(|kind| present.contains(&kind.as_str())) {
                return false;
            }
        }
        if !self.attachment_usage_types.is_empty() {
            let present: Vec<&str> = statement
                .get("attachments")
                .and_then(Value::as_array)
                .map(|attachments| attachments.iter().filter_map(|a| a.get("usageType")?.as_str()).collect())
                .unwrap_or_default();
            if !self.attachment_usage_types.iter().all(|kind| present.contains(&kind.as_str())) {
                return false;
            }
        }
        true
    }

    /// `follows_rules`: the StatementRef requirements and every rule.
    /// `referenced` gives the templates a referenced statement matched when
    /// that statement is available (else the reference is not checked
    /// further, as the specification says).
    pub fn check(
        &self,
        statement: &Value,
        referenced: &dyn Fn(&str) -> Option<Vec<String>>,
    ) -> Result<(), RuleFailure> {
        let fail = |rule: String, reason: String| RuleFailure { template: self.id.clone(), rule, reason };
        let refs = [
            ("objectStatementRefTemplate", "/object", &self.object_statement_ref),
            ("contextStatementRefTemplate", "/context/statement", &self.context_statement_ref),
        ];
        for (property, pointer, wanted) in refs {
            if wanted.is_empty() {
                continue;
            }
            let target = statement.pointer(pointer);
            let is_ref = target.and_then(|t| t.get("objectType")).and_then(Value::as_str) == Some("StatementRef");
            let Some(id) = target.filter(|_| is_ref).and_then(|t| t.get("id")).and_then(Value::as_str) else {
                return Err(fail(property.to_owned(), format!("{pointer} must be a StatementRef")));
            };
            if let Some(matched) = referenced(id) {
                if !matched.iter().any(|template| wanted.contains(template)) {
                    return Err(fail(
                        property.to_owned(),
                        format!("the statement {id} it refers to matches none of {}", wanted.join(", ")),
                    ));
                }
            }
        }
        for rule in &self.rules {
            rule.check(statement).map_err(|reason| fail(rule.name(), reason))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(location: &str, selector: Option<&str>, presence: Option<Presence>) -> Rule {
        Rule {
            location: ProfilePath::compile(location, "location").unwrap(),
            selector: selector.map(|s| ProfilePath::compile(s, "selector").unwrap()),
            presence,
            any: None,
            all: None,
            none: None,
        }
    }

    fn statement() -> Value {
        json!({
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "result": {"completion": true, "score": {"scaled": 0.5}},
            "context": {"contextActivities": {"grouping": [{"id": "g1"}, {"id": "g2", "definition": {"type": "t"}}]}},
        })
    }

    #[test]
    fn presence_alone() {
        let s = statement();
        assert!(rule("$.result.completion", None, Some(Presence::Included)).check(&s).is_ok());
        assert!(rule("$.result.success", None, Some(Presence::Included)).check(&s).is_err());
        assert!(rule("$.result.success", None, Some(Presence::Excluded)).check(&s).is_ok());
        assert!(rule("$.result.completion", None, Some(Presence::Excluded)).check(&s).is_err());
        assert!(rule("$.result.success", None, Some(Presence::Recommended)).check(&s).is_ok());
        // A selector that finds nothing in one value: unmatchable, so not "included".
        let typed = "$.context.contextActivities.grouping[*]";
        assert!(rule(typed, Some("$.definition.type"), Some(Presence::Included)).check(&s).is_err());
        assert!(rule(typed, Some("$.id"), Some(Presence::Included)).check(&s).is_ok());
        // Excluded looks at matchable values only.
        assert!(rule(typed, Some("$.nothing"), Some(Presence::Excluded)).check(&s).is_ok());
    }

    #[test]
    fn any_all_none_with_each_presence() {
        let s = statement();
        let with = |presence, any: Option<Value>, all: Option<Value>, none: Option<Value>, location: &str| {
            let mut r = rule(location, None, presence);
            let list = |v: Option<Value>| v.map(|v| v.as_array().unwrap().clone());
            (r.any, r.all, r.none) = (list(any), list(all), list(none));
            r.check(&s).is_ok()
        };
        let ids = "$.context.contextActivities.grouping[*].id";
        for presence in [None, Some(Presence::Included), Some(Presence::Recommended)] {
            assert!(with(presence, Some(json!(["g2", "x"])), None, None, ids), "{presence:?} any hit");
            assert!(!with(presence, Some(json!(["x"])), None, None, ids), "{presence:?} any miss");
            assert!(with(presence, None, Some(json!(["g1", "g2"])), None, ids), "{presence:?} all within");
            assert!(!with(presence, None, Some(json!(["g1"])), None, ids), "{presence:?} all outside");
            assert!(with(presence, None, None, Some(json!(["x"])), ids), "{presence:?} none clear");
            assert!(!with(presence, None, None, Some(json!(["g1"])), ids), "{presence:?} none hit");
        }
        // Nothing found: strict any fails, all and none pass; recommended skips all three.
        let missing = "$.context.contextActivities.parent[*].id";
        assert!(!with(None, Some(json!(["g1"])), None, None, missing));
        assert!(with(None, None, Some(json!(["g1"])), None, missing));
        assert!(with(None, None, None, Some(json!(["g1"])), missing));
        assert!(with(Some(Presence::Recommended), Some(json!(["g1"])), None, None, missing));
        assert!(!with(Some(Presence::Included), None, Some(json!(["g1"])), None, missing));
        // Excluded with values present fails before any list is looked at.
        assert!(!with(Some(Presence::Excluded), None, None, Some(json!(["x"])), ids));
        // Type-sensitive, numbers by value.
        assert!(with(None, Some(json!([true])), None, None, "$.result.completion"));
        assert!(!with(None, Some(json!(["true"])), None, None, "$.result.completion"));
        assert!(with(None, None, Some(json!([0.50])), None, "$.result.score.scaled"));
        // Several locations joined by |: the union of their values.
        assert!(with(None, None, Some(json!([true, 0.5])), None, "$.result.completion | $.result.score.scaled"));
        assert!(!with(None, None, Some(json!([true])), None, "$.result.completion | $.result.score.scaled"));
    }
}
