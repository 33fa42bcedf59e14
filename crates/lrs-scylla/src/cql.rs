//! The CQL text of every statement the store sends. Keyspace names are
//! validated by the settings and table names come from `Table::name()`, so
//! nothing here is user-controlled.

use std::ops::Bound;

use lrs_core::store::{Order, Table};

pub(crate) fn create_keyspace(keyspace: &str, replication_map: &str) -> String {
    format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication_map}")
}

pub(crate) fn create_table(keyspace: &str, table: Table) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {keyspace}.{} (p blob, c blob, v blob, PRIMARY KEY ((p), c)) \
         WITH CLUSTERING ORDER BY (c ASC)",
        table.name()
    )
}

/// Selects `c` too: the store checks it is the key asked for (kassandra,
/// for one, answers `c = ?` with the first row at or after `c`).
pub(crate) fn get(keyspace: &str, table: Table) -> String {
    format!("SELECT c, v FROM {keyspace}.{} WHERE p = ? AND c = ?", table.name())
}

pub(crate) fn insert(keyspace: &str, table: Table) -> String {
    format!("INSERT INTO {keyspace}.{} (p, c, v) VALUES (?, ?, ?)", table.name())
}

/// A lightweight transaction: answers `[applied]`, and the row it found when not applied.
pub(crate) fn insert_if_absent(keyspace: &str, table: Table) -> String {
    format!("INSERT INTO {keyspace}.{} (p, c, v) VALUES (?, ?, ?) IF NOT EXISTS", table.name())
}

pub(crate) fn delete(keyspace: &str, table: Table) -> String {
    format!("DELETE FROM {keyspace}.{} WHERE p = ? AND c = ?", table.name())
}

pub(crate) fn dump(keyspace: &str, table: Table) -> String {
    format!("SELECT p, c, v FROM {keyspace}.{}", table.name())
}

/// A partition slice: binds `p`, then each bounded side's clustering key,
/// then the limit. One text per (low kind, high kind, order): 18 per table.
pub(crate) fn scan<T>(keyspace: &str, table: Table, low: &Bound<T>, high: &Bound<T>, order: Order) -> String {
    let mut cql = format!("SELECT c, v FROM {keyspace}.{} WHERE p = ?", table.name());
    match low {
        Bound::Included(_) => cql.push_str(" AND c >= ?"),
        Bound::Excluded(_) => cql.push_str(" AND c > ?"),
        Bound::Unbounded => {}
    }
    match high {
        Bound::Included(_) => cql.push_str(" AND c <= ?"),
        Bound::Excluded(_) => cql.push_str(" AND c < ?"),
        Bound::Unbounded => {}
    }
    cql.push_str(match order {
        Order::Ascending => " ORDER BY c ASC LIMIT ?",
        Order::Descending => " ORDER BY c DESC LIMIT ?",
    });
    cql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_statements() {
        assert_eq!(
            create_keyspace("lrs", "{'class': 'SimpleStrategy', 'replication_factor': 1}"),
            "CREATE KEYSPACE IF NOT EXISTS lrs WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
        );
        assert_eq!(
            create_table("lrs", Table::ByStored),
            "CREATE TABLE IF NOT EXISTS lrs.statements_by_stored (p blob, c blob, v blob, PRIMARY KEY ((p), c)) \
             WITH CLUSTERING ORDER BY (c ASC)"
        );
    }

    #[test]
    fn row_statements_use_the_full_primary_key() {
        assert_eq!(get("ks", Table::Meta), "SELECT c, v FROM ks.meta WHERE p = ? AND c = ?");
        assert_eq!(insert("ks", Table::Meta), "INSERT INTO ks.meta (p, c, v) VALUES (?, ?, ?)");
        assert_eq!(delete("ks", Table::Meta), "DELETE FROM ks.meta WHERE p = ? AND c = ?");
        assert_eq!(
            insert_if_absent("ks", Table::Vault),
            "INSERT INTO ks.vault (p, c, v) VALUES (?, ?, ?) IF NOT EXISTS"
        );
        assert_eq!(dump("ks", Table::Agents), "SELECT p, c, v FROM ks.agents");
    }

    #[test]
    fn scan_statements_cover_every_bound_and_order() {
        let b = |kind: u8| match kind {
            0 => Bound::Unbounded,
            1 => Bound::Included(()),
            _ => Bound::Excluded(()),
        };
        let t = Table::ByVerb;
        assert_eq!(
            scan("ks", t, &b(0), &b(0), Order::Ascending),
            "SELECT c, v FROM ks.statements_by_verb WHERE p = ? ORDER BY c ASC LIMIT ?"
        );
        assert_eq!(
            scan("ks", t, &b(2), &b(1), Order::Descending),
            "SELECT c, v FROM ks.statements_by_verb WHERE p = ? AND c > ? AND c <= ? ORDER BY c DESC LIMIT ?"
        );
        assert_eq!(
            scan("ks", t, &b(1), &b(2), Order::Ascending),
            "SELECT c, v FROM ks.statements_by_verb WHERE p = ? AND c >= ? AND c < ? ORDER BY c ASC LIMIT ?"
        );
        let mut texts = std::collections::HashSet::new();
        for low in 0..3 {
            for high in 0..3 {
                for order in [Order::Ascending, Order::Descending] {
                    let text = scan("ks", t, &b(low), &b(high), order);
                    let markers = text.matches('?').count();
                    assert_eq!(markers, 2 + usize::from(low > 0) + usize::from(high > 0), "{text}");
                    texts.insert(text);
                }
            }
        }
        assert_eq!(texts.len(), 18);
    }
}
