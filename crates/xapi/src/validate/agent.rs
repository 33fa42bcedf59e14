//! Agents, Groups and their inverse functional identifiers.

use serde_json::{Map, Value};

use super::primitives::{check_irl, is_iri};
use super::{as_array, as_object, as_str, check_properties, err, index, join, object_type, required, VResult};

/// The four inverse functional identifier property names.
pub(crate) const IFIS: &[&str] = &["mbox", "mbox_sha1sum", "openid", "account"];

const AGENT_PROPERTIES: &[&str] = &["objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"];
const GROUP_PROPERTIES: &[&str] = &["objectType", "name", "member", "mbox", "mbox_sha1sum", "openid", "account"];

/// Validates an actor-like value: an Agent (objectType absent or "Agent") or a Group.
pub(crate) fn validate_actor(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Agent or Group")?;
    match object_type(map, path)? {
        None | Some("Agent") => validate_agent(v, path),
        Some("Group") => validate_group(v, path).map(|_| ()),
        Some(other) => err(join(path, "objectType"), format!("must be \"Agent\" or \"Group\", not {other:?}")),
    }
}

/// Validates an Agent.
pub(crate) fn validate_agent(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Agent")?;
    match object_type(map, path)? {
        None | Some("Agent") => {}
        Some(other) => return err(join(path, "objectType"), format!("must be \"Agent\", not {other:?}")),
    }
    check_properties(map, path, AGENT_PROPERTIES, "an Agent")?;
    check_name(map, path)?;
    let n = check_ifis(map, path)?;
    if n != 1 {
        return err(
            path,
            format!(
                "an Agent must have exactly one inverse functional identifier (mbox, mbox_sha1sum, openid or account), found {n}"
            ),
        );
    }
    Ok(())
}

/// Validates a Group (objectType "Group" required). Returns true when it is identified.
pub(crate) fn validate_group(v: &Value, path: &str) -> VResult<bool> {
    let map = as_object(v, path, "a Group")?;
    match object_type(map, path)? {
        Some("Group") => {}
        None => return err(join(path, "objectType"), "is required and must be \"Group\" for a Group"),
        Some(other) => return err(join(path, "objectType"), format!("must be \"Group\", not {other:?}")),
    }
    check_properties(map, path, GROUP_PROPERTIES, "a Group")?;
    check_name(map, path)?;
    let n = check_ifis(map, path)?;
    if n > 1 {
        return err(
            path,
            format!("an identified Group must have exactly one inverse functional identifier, found {n}"),
        );
    }
    match map.get("member") {
        Some(members) => {
            let mpath = join(path, "member");
            let arr = as_array(members, &mpath, "an array of Agents")?;
            for (i, m) in arr.iter().enumerate() {
                let p = index(&mpath, i);
                let mm = as_object(m, &p, "an Agent")?;
                if object_type(mm, &p)? == Some("Group") {
                    return err(join(&p, "objectType"), "a Group member must be an Agent, not a Group");
                }
                validate_agent(m, &p)?;
            }
        }
        None if n == 0 => {
            return err(
                join(path, "member"),
                "is required for an anonymous Group (a Group without an inverse functional identifier)",
            )
        }
        None => {}
    }
    Ok(n == 1)
}

/// Validates a statement authority: an Agent, or an anonymous Group of exactly two Agents (OAuth).
pub(crate) fn validate_authority(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Agent or Group")?;
    match object_type(map, path)? {
        Some("Group") => {
            let identified = validate_group(v, path)?;
            if identified {
                return err(
                    path,
                    "an authority Group must be an anonymous Group of exactly two Agents (OAuth consumer and user)",
                );
            }
            let count = map.get("member").and_then(Value::as_array).map_or(0, Vec::len);
            if count != 2 {
                return err(
                    join(path, "member"),
                    format!("an authority Group must have exactly two members, found {count}"),
                );
            }
            Ok(())
        }
        _ => validate_actor(v, path),
    }
}

fn check_name(map: &Map<String, Value>, path: &str) -> VResult {
    if let Some(name) = map.get("name") {
        as_str(name, &join(path, "name"))?;
    }
    Ok(())
}

/// Validates every IFI present and returns how many there are.
fn check_ifis(map: &Map<String, Value>, path: &str) -> VResult<usize> {
    let mut n = 0;
    if let Some(v) = map.get("mbox") {
        n += 1;
        check_mbox(v, &join(path, "mbox"))?;
    }
    if let Some(v) = map.get("mbox_sha1sum") {
        n += 1;
        let p = join(path, "mbox_sha1sum");
        let s = as_str(v, &p)?;
        if s.len() != 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return err(p, format!("must be a SHA-1 hash of a mailto IRI (40 hexadecimal digits), not {s:?}"));
        }
    }
    if let Some(v) = map.get("openid") {
        n += 1;
        let p = join(path, "openid");
        let s = as_str(v, &p)?;
        if !is_iri(s) || !s.is_ascii() {
            return err(p, format!("must be an absolute URI, not {s:?}"));
        }
    }
    if let Some(v) = map.get("account") {
        n += 1;
        check_account(v, &join(path, "account"))?;
    }
    Ok(n)
}

fn check_mbox(v: &Value, path: &str) -> VResult {
    let s = as_str(v, path)?;
    let Some(address) = s.strip_prefix("mailto:") else {
        return err(path, format!("must be a \"mailto:\" IRI, not {s:?}"));
    };
    let valid = match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && is_iri(s)
                && !address.contains(['/', '?', '#'])
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        err(path, format!("must be a \"mailto:\" IRI with an email address (e.g. \"mailto:a@example.com\"), not {s:?}"))
    }
}

fn check_account(v: &Value, path: &str) -> VResult {
    let map = as_object(v, path, "an Account")?;
    check_properties(map, path, &["homePage", "name"], "an Account")?;
    let home = required(map, path, "homePage")?;
    check_irl(home, &join(path, "homePage"))?;
    let name = required(map, path, "name")?;
    as_str(name, &join(path, "name"))?;
    Ok(())
}
