//! The deletion plan: every column that references a profile, and what a purge
//! does to its rows. The purge, the scheduled cleanup and the integrity audit
//! all read this one description, and [`gaps`] compares it with the live
//! schema's foreign keys so that a new reference nobody planned for fails a test
//! instead of a purge in production.

use std::fmt;

/// The table every entry of the plan points at.
pub const PROFILES: &str = "profiles";

/// Order statuses that block deleting their owner.
pub const ACTIVE_ORDER_STATUSES: [&str; 5] =
    ["ACTIVE", "ASSIGNED", "PENDING", "CONFIRMED", "IN_PROGRESS"];

/// One column of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Column {
    pub table: &'static str,
    pub column: &'static str,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.table, self.column)
    }
}

/// What a purge does to the rows whose `column` holds the purged profile's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The foreign key's `ON DELETE CASCADE` removes the rows with the profile.
    Cascade,
    /// Cascades like [`Action::Cascade`], but while any of the user's rows has
    /// a status in `active` the deletion is refused (ACTIVE_ORDERS_EXIST).
    BlockIfActive {
        status_column: &'static str,
        active: &'static [&'static str],
    },
    /// The service deletes the rows before it deletes the profile.
    Delete,
    /// The service sets the column to NULL and keeps the row.
    Nullify,
    /// The service deletes the row unless one of `shared_through` still points
    /// at it once the profile's own cascades have run; a row that is kept has
    /// the column set to NULL instead.
    DeleteIfUnshared { shared_through: &'static [Column] },
}

/// What the foreign key behind an entry must say, so the database and the plan
/// agree: cascades are the database's job, everything else the service's, and
/// there the key stays NO ACTION so a forgotten step fails loudly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    Cascade,
    NoAction,
}

impl OnDelete {
    /// Parses `information_schema.referential_constraints.delete_rule`;
    /// RESTRICT counts as NO ACTION (both refuse the delete).
    pub fn from_rule(rule: &str) -> Option<OnDelete> {
        match rule {
            "CASCADE" => Some(OnDelete::Cascade),
            "NO ACTION" | "RESTRICT" => Some(OnDelete::NoAction),
            _ => None,
        }
    }
}

impl Action {
    pub fn expected_on_delete(&self) -> OnDelete {
        match self {
            Action::Cascade | Action::BlockIfActive { .. } => OnDelete::Cascade,
            Action::Delete | Action::Nullify | Action::DeleteIfUnshared { .. } => {
                OnDelete::NoAction
            }
        }
    }

    /// Whether the service writes NULL into the column (so it must be nullable).
    pub fn may_nullify(&self) -> bool {
        matches!(self, Action::Nullify | Action::DeleteIfUnshared { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub reference: Column,
    pub action: Action,
}

const fn entry(table: &'static str, column: &'static str, action: Action) -> Entry {
    Entry {
        reference: Column { table, column },
        action,
    }
}

const ACTIVE_ORDERS: Action = Action::BlockIfActive {
    status_column: "status",
    active: &ACTIVE_ORDER_STATUSES,
};

/// The plan for this schema.
pub const PLAN: &[Entry] = &[
    entry("accounts", "user_id", Action::Cascade),
    entry("sessions", "user_id", Action::Cascade),
    entry("user_addresses", "user_id", Action::Cascade),
    entry("catering_requests", "user_id", ACTIVE_ORDERS),
    entry("on_demand_orders", "user_id", ACTIVE_ORDERS),
    // A dispatch names its driver and its customer; it means nothing without
    // either, so it goes with whichever of them is purged.
    entry("dispatches", "driver_id", Action::Delete),
    entry("dispatches", "user_id", Action::Delete),
    // The file is the business's record (menus, invoices): kept, unattributed.
    entry("file_uploads", "user_id", Action::Nullify),
    // An address the user created is personal data unless others rely on it.
    entry(
        "addresses",
        "created_by",
        Action::DeleteIfUnshared {
            shared_through: &[
                Column {
                    table: "user_addresses",
                    column: "address_id",
                },
                Column {
                    table: "catering_requests",
                    column: "pickup_address_id",
                },
                Column {
                    table: "catering_requests",
                    column: "delivery_address_id",
                },
                Column {
                    table: "on_demand_orders",
                    column: "pickup_address_id",
                },
                Column {
                    table: "on_demand_orders",
                    column: "delivery_address_id",
                },
            ],
        },
    ),
    // An application stands on its own (it may predate the profile and carries
    // the applicant's own contact fields): it is unlinked, not deleted. This is
    // the reference the source app forgot, which made its purges fail.
    entry("job_applications", "profile_id", Action::Nullify),
];

/// A foreign key as the live schema reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub table: String,
    pub column: String,
    pub referenced_table: String,
    pub delete_rule: String,
    pub nullable: bool,
}

impl ForeignKey {
    fn is(&self, column: &Column) -> bool {
        self.table == column.table && self.column == column.column
    }
}

/// A disagreement between the plan and the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// A foreign key to `profiles` the plan does not cover.
    Unplanned { table: String, column: String },
    /// A plan entry with no foreign key to `profiles` behind it.
    NoSuchReference(Column),
    /// The key's ON DELETE rule is not the one the entry's action relies on.
    WrongDeleteRule {
        reference: Column,
        expected: OnDelete,
        actual: String,
    },
    /// The entry writes NULL into a NOT NULL column.
    NotNullable(Column),
    /// A foreign key to a delete-if-unshared table that is not counted as a
    /// sharer: deleting the "unshared" row would fail or orphan it.
    UnlistedSharer {
        table: &'static str,
        sharer_table: String,
        sharer_column: String,
    },
    /// A listed sharer with no foreign key to the delete-if-unshared table.
    NoSuchSharer { table: &'static str, sharer: Column },
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gap::Unplanned { table, column } => write!(
                f,
                "{table}.{column} references profiles but the deletion plan has no entry for it"
            ),
            Gap::NoSuchReference(c) => write!(
                f,
                "the deletion plan names {c}, which is not a foreign key to profiles"
            ),
            Gap::WrongDeleteRule {
                reference,
                expected,
                actual,
            } => write!(
                f,
                "{reference} is ON DELETE {actual} but its plan action needs {expected:?}"
            ),
            Gap::NotNullable(c) => write!(f, "the plan sets {c} to NULL but it is NOT NULL"),
            Gap::UnlistedSharer {
                table,
                sharer_table,
                sharer_column,
            } => write!(
                f,
                "{sharer_table}.{sharer_column} references {table} but is not one of the plan's sharers for it"
            ),
            Gap::NoSuchSharer { table, sharer } => write!(
                f,
                "the plan counts {sharer} as sharing {table}, but it is not a foreign key to {table}"
            ),
        }
    }
}

/// Every disagreement between `plan` and the schema's `foreign_keys` (all of
/// them, not only those to `profiles`). Empty means the plan covers the schema.
pub fn gaps(plan: &[Entry], foreign_keys: &[ForeignKey]) -> Vec<Gap> {
    let to_profiles: Vec<&ForeignKey> = foreign_keys
        .iter()
        .filter(|fk| fk.referenced_table == PROFILES)
        .collect();
    let mut found = Vec::new();

    for fk in &to_profiles {
        if !plan.iter().any(|e| fk.is(&e.reference)) {
            found.push(Gap::Unplanned {
                table: fk.table.clone(),
                column: fk.column.clone(),
            });
        }
    }

    for entry in plan {
        let Some(fk) = to_profiles.iter().find(|fk| fk.is(&entry.reference)) else {
            found.push(Gap::NoSuchReference(entry.reference));
            continue;
        };
        let expected = entry.action.expected_on_delete();
        if OnDelete::from_rule(&fk.delete_rule) != Some(expected) {
            found.push(Gap::WrongDeleteRule {
                reference: entry.reference,
                expected,
                actual: fk.delete_rule.clone(),
            });
        }
        if entry.action.may_nullify() && !fk.nullable {
            found.push(Gap::NotNullable(entry.reference));
        }
        if let Action::DeleteIfUnshared { shared_through } = entry.action {
            found.extend(sharer_gaps(
                entry.reference.table,
                shared_through,
                foreign_keys,
            ));
        }
    }
    found
}

fn sharer_gaps(table: &'static str, sharers: &[Column], foreign_keys: &[ForeignKey]) -> Vec<Gap> {
    let to_table: Vec<&ForeignKey> = foreign_keys
        .iter()
        .filter(|fk| fk.referenced_table == table)
        .collect();
    let unlisted = to_table
        .iter()
        .filter(|fk| !sharers.iter().any(|s| fk.is(s)))
        .map(|fk| Gap::UnlistedSharer {
            table,
            sharer_table: fk.table.clone(),
            sharer_column: fk.column.clone(),
        });
    let missing = sharers
        .iter()
        .filter(|s| !to_table.iter().any(|fk| fk.is(s)))
        .map(|s| Gap::NoSuchSharer { table, sharer: *s });
    unlisted.chain(missing).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(table: &str, column: &str, to: &str, rule: &str, nullable: bool) -> ForeignKey {
        ForeignKey {
            table: table.into(),
            column: column.into(),
            referenced_table: to.into(),
            delete_rule: rule.into(),
            nullable,
        }
    }

    const SHARED: &[Column] = &[Column {
        table: "links",
        column: "place_id",
    }];
    const SMALL_PLAN: &[Entry] = &[
        entry("sessions", "user_id", Action::Cascade),
        entry(
            "places",
            "created_by",
            Action::DeleteIfUnshared {
                shared_through: SHARED,
            },
        ),
    ];

    fn matching_schema() -> Vec<ForeignKey> {
        vec![
            fk("sessions", "user_id", "profiles", "CASCADE", false),
            fk("places", "created_by", "profiles", "NO ACTION", true),
            fk("links", "place_id", "places", "CASCADE", false),
        ]
    }

    #[test]
    fn a_plan_that_matches_the_schema_has_no_gaps() {
        assert_eq!(gaps(SMALL_PLAN, &matching_schema()), vec![]);
    }

    #[test]
    fn an_unplanned_reference_to_profiles_is_a_gap() {
        let mut schema = matching_schema();
        schema.push(fk("invoices", "owner_id", "profiles", "NO ACTION", true));
        assert_eq!(
            gaps(SMALL_PLAN, &schema),
            vec![Gap::Unplanned {
                table: "invoices".into(),
                column: "owner_id".into()
            }]
        );
    }

    #[test]
    fn a_plan_entry_without_a_foreign_key_is_a_gap() {
        let schema: Vec<_> = matching_schema().into_iter().skip(1).collect();
        assert_eq!(
            gaps(SMALL_PLAN, &schema),
            vec![Gap::NoSuchReference(Column {
                table: "sessions",
                column: "user_id"
            })]
        );
    }

    #[test]
    fn a_delete_rule_that_contradicts_the_action_is_a_gap() {
        let mut schema = matching_schema();
        schema[0].delete_rule = "NO ACTION".into();
        schema[1].delete_rule = "SET NULL".into();
        let found = gaps(SMALL_PLAN, &schema);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(
            &found[0],
            Gap::WrongDeleteRule { expected: OnDelete::Cascade, actual, .. } if actual == "NO ACTION"
        ));
        assert!(matches!(
            &found[1],
            Gap::WrongDeleteRule { expected: OnDelete::NoAction, actual, .. } if actual == "SET NULL"
        ));
    }

    #[test]
    fn nullifying_a_not_null_column_is_a_gap() {
        let mut schema = matching_schema();
        schema[1].nullable = false;
        assert_eq!(
            gaps(SMALL_PLAN, &schema),
            vec![Gap::NotNullable(Column {
                table: "places",
                column: "created_by"
            })]
        );
    }

    #[test]
    fn sharers_must_be_exactly_the_foreign_keys_to_the_shared_table() {
        let mut schema = matching_schema();
        schema[2].column = "other_place_id".into();
        assert_eq!(
            gaps(SMALL_PLAN, &schema),
            vec![
                Gap::UnlistedSharer {
                    table: "places",
                    sharer_table: "links".into(),
                    sharer_column: "other_place_id".into(),
                },
                Gap::NoSuchSharer {
                    table: "places",
                    sharer: SHARED[0]
                },
            ]
        );
    }

    #[test]
    fn gaps_explain_themselves() {
        let gap = Gap::Unplanned {
            table: "invoices".into(),
            column: "owner_id".into(),
        };
        assert_eq!(
            gap.to_string(),
            "invoices.owner_id references profiles but the deletion plan has no entry for it"
        );
    }
}
