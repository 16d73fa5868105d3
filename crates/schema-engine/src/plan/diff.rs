//! The differ: two schemas in, the ordered steps between them out.
//!
//! Objects are matched by name (tables, columns, triggers), by signature
//! (functions) or by PostgreSQL's text of their definition (constraints,
//! indexes), so a constraint that only changed its name is renamed rather
//! than dropped and rebuilt.

use std::collections::BTreeSet;

use super::{Action, Hazard, Step, ddl};
use crate::catalog::{Column, Constraint, ConstraintKind, Function, Index, Schema, Table, Trigger};

/// The steps that turn `current` into `desired`, in an order PostgreSQL
/// accepts: what depends on an object goes before it, what an object
/// needs comes before it.
pub fn diff(current: &Schema, desired: &Schema) -> Vec<Step> {
    let mut plan = Phases::default();
    let dropped_keys = dropped_keys(current, desired);
    let dropped_functions = plan.change_functions(current, desired);
    for (name, table) in &current.tables {
        match desired.tables.get(name) {
            Some(wanted) => {
                plan.change_table(table, wanted, &dropped_keys);
                plan.change_triggers(table, wanted, &dropped_functions);
            }
            None => plan.drop_table(table, current, desired),
        }
    }
    for (name, table) in &desired.tables {
        if !current.tables.contains_key(name) {
            plan.create_table(table);
        }
    }
    plan.into_steps()
}

/// The steps, grouped by when they must run. Triggers are dropped first and
/// created last: they execute a function and may name columns. Functions
/// are dropped before the tables and columns a SQL-standard body depends on,
/// and created once the tables and columns they read exist, before the
/// constraints, indexes and triggers that may use them.
#[derive(Default)]
struct Phases {
    drop_triggers: Vec<Step>,
    drop_foreign_keys: Vec<Step>,
    drop_constraints: Vec<Step>,
    drop_functions: Vec<Step>,
    drop_tables: Vec<Step>,
    drop_columns: Vec<Step>,
    renames: Vec<Step>,
    create_tables: Vec<Step>,
    add_columns: Vec<Step>,
    alter_columns: Vec<Step>,
    create_functions: Vec<Step>,
    add_constraints: Vec<Step>,
    create_indexes: Vec<Step>,
    add_foreign_keys: Vec<Step>,
    create_triggers: Vec<Step>,
    comments: Vec<Step>,
}

impl Phases {
    fn into_steps(self) -> Vec<Step> {
        [
            self.drop_triggers,
            self.drop_foreign_keys,
            self.drop_constraints,
            self.drop_functions,
            self.drop_tables,
            self.drop_columns,
            self.renames,
            self.create_tables,
            self.add_columns,
            self.alter_columns,
            self.create_functions,
            self.add_constraints,
            self.create_indexes,
            self.add_foreign_keys,
            self.create_triggers,
            self.comments,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn drop_table(&mut self, table: &Table, current: &Schema, desired: &Schema) {
        // A foreign key between two dropped tables would stop the first drop.
        for fk in table.foreign_keys() {
            let target = fk.references.as_ref().map(|r| r.table.as_str());
            if target.is_some_and(|t| {
                t != table.name && current.tables.contains_key(t) && !desired.tables.contains_key(t)
            }) {
                self.drop_foreign_keys.push(drop_constraint(table, fk));
            }
        }
        // Explicitly, so the plan shows them and their functions can go
        // before the table does.
        for trigger in &table.triggers {
            self.drop_trigger(table, trigger);
        }
        self.drop_tables.push(
            Step::new(Action::DropTable, &table.name, ddl::drop_table(table)).hazard(
                Hazard::DropTable,
                Some(format!("SELECT count(*) AS count FROM {}", table.ident)),
            ),
        );
    }

    fn create_table(&mut self, table: &Table) {
        self.create_tables.push(Step::new(
            Action::CreateTable,
            &table.name,
            ddl::create_table(table),
        ));
        for index in &table.indexes {
            self.create_indexes.push(create_index(table, index, None));
        }
        for fk in table.foreign_keys() {
            self.add_foreign_keys.push(add_constraint(table, fk, None));
        }
        for trigger in &table.triggers {
            self.create_trigger(table, trigger);
        }
        if table.comment.is_some() {
            self.comments.push(comment_on_table(table));
        }
        for column in &table.columns {
            if column.comment.is_some() {
                self.comments.push(comment_on_column(table, column));
            }
        }
    }

    fn change_table(&mut self, current: &Table, desired: &Table, dropped_keys: &DroppedKeys) {
        for column in &current.columns {
            if desired.column(&column.name).is_none() {
                self.drop_columns.push(
                    Step::new(
                        Action::DropColumn,
                        &current.name,
                        ddl::drop_column(current, column),
                    )
                    .column(&column.name)
                    .hazard(Hazard::DropColumn, Some(count_values(current, column))),
                );
            }
        }
        for column in &desired.columns {
            match current.column(&column.name) {
                Some(old) => self.change_column(current, old, column),
                None => self.add_column(desired, column),
            }
        }

        let constraints = match_objects(
            &current.constraints,
            &desired.constraints,
            |k| &k.name,
            |k| (k.kind, k.definition.clone()),
        );
        for old in constraints.dropped {
            self.drop_constraint(current, old);
        }
        for new in constraints.added {
            self.add_constraint(current, new);
        }
        for (old, new) in constraints.same.into_iter().chain(constraints.renamed) {
            if rebuild_foreign_key(old, dropped_keys) {
                // Its referenced key is dropped and made again: so is it.
                self.drop_foreign_keys.push(drop_constraint(current, old));
                self.add_foreign_keys
                    .push(add_constraint(current, new, None));
            } else if old.name != new.name {
                self.renames.push(
                    Step::new(
                        Action::RenameConstraint,
                        &current.name,
                        ddl::rename_constraint(current, old, new),
                    )
                    .object(&new.name),
                );
            }
        }

        let indexes = match_objects(
            &current.indexes,
            &desired.indexes,
            |i| &i.name,
            Index::shape,
        );
        for old in indexes.dropped {
            self.drop_constraints.push(
                Step::new(Action::DropIndex, &current.name, ddl::drop_index(old)).object(&old.name),
            );
        }
        for (old, new) in indexes.renamed {
            self.renames.push(
                Step::new(
                    Action::RenameIndex,
                    &current.name,
                    ddl::rename_index(old, new),
                )
                .object(&new.name),
            );
        }
        for new in indexes.added {
            self.create_indexes
                .push(create_index(desired, new, Some(current)));
        }

        if current.comment != desired.comment {
            self.comments.push(comment_on_table(desired));
        }
    }

    /// Plans every function's change; returns the signatures of those
    /// dropped, for good or to be made again, whose triggers go with them.
    fn change_functions<'a>(&mut self, current: &'a Schema, desired: &Schema) -> BTreeSet<&'a str> {
        let mut dropped = BTreeSet::new();
        for (signature, old) in &current.functions {
            let new = desired.functions.get(signature);
            if new.is_none_or(|new| !old.replaceable_by(new)) {
                self.drop_functions.push(Step::function(
                    Action::DropFunction,
                    signature,
                    ddl::drop_function(old),
                ));
                dropped.insert(signature.as_str());
            }
            match new {
                Some(new) if dropped.contains(signature.as_str()) => self.create_function(new),
                Some(new) => {
                    if old.definition != new.definition {
                        self.create_functions.push(Step::function(
                            Action::ReplaceFunction,
                            signature,
                            ddl::create_function(new),
                        ));
                    }
                    if old.comment != new.comment {
                        self.comments.push(comment_on_function(new));
                    }
                }
                None => {}
            }
        }
        for (signature, new) in &desired.functions {
            if !current.functions.contains_key(signature) {
                self.create_function(new);
            }
        }
        dropped
    }

    fn create_function(&mut self, function: &Function) {
        self.create_functions.push(Step::function(
            Action::CreateFunction,
            &function.signature,
            ddl::create_function(function),
        ));
        if function.comment.is_some() {
            self.comments.push(comment_on_function(function));
        }
    }

    /// Triggers match by name; one whose definition changed, or whose
    /// function is dropped, is dropped and made again.
    fn change_triggers(
        &mut self,
        current: &Table,
        desired: &Table,
        dropped_functions: &BTreeSet<&str>,
    ) {
        for old in &current.triggers {
            let new = desired.triggers.iter().find(|t| t.name == old.name);
            match new {
                Some(new)
                    if new.definition == old.definition
                        && !dropped_functions.contains(old.function.as_str()) =>
                {
                    if new.comment != old.comment {
                        self.comments.push(comment_on_trigger(desired, new));
                    }
                }
                _ => {
                    self.drop_trigger(current, old);
                    if let Some(new) = new {
                        self.create_trigger(desired, new);
                    }
                }
            }
        }
        for new in &desired.triggers {
            if !current.triggers.iter().any(|t| t.name == new.name) {
                self.create_trigger(desired, new);
            }
        }
    }

    fn drop_trigger(&mut self, table: &Table, trigger: &Trigger) {
        self.drop_triggers.push(
            Step::new(
                Action::DropTrigger,
                &table.name,
                ddl::drop_trigger(table, trigger),
            )
            .object(&trigger.name),
        );
    }

    fn create_trigger(&mut self, table: &Table, trigger: &Trigger) {
        self.create_triggers.push(
            Step::new(
                Action::CreateTrigger,
                &table.name,
                ddl::create_trigger(trigger),
            )
            .object(&trigger.name),
        );
        if trigger.comment.is_some() {
            self.comments.push(comment_on_trigger(table, trigger));
        }
    }

    fn add_column(&mut self, table: &Table, column: &Column) {
        let mut step = Step::new(
            Action::AddColumn,
            &table.name,
            ddl::add_column(table, column),
        )
        .column(&column.name);
        if column.not_null && column.default.is_none() {
            step = step.hazard(
                Hazard::NotNullWithoutDefault,
                Some(format!("SELECT count(*) AS count FROM {}", table.ident)),
            );
        }
        self.add_columns.push(step);
        if column.comment.is_some() {
            self.comments.push(comment_on_column(table, column));
        }
    }

    fn change_column(&mut self, table: &Table, old: &Column, new: &Column) {
        let alter = |action, sql| Step::new(action, &table.name, sql).column(&new.name);
        if old.sql_type != new.sql_type {
            // The old default may not cast to the new type: drop it first.
            if old.default.is_some() {
                self.alter_columns
                    .push(alter(Action::DropDefault, ddl::drop_default(table, new)));
            }
            let mut step = alter(Action::AlterColumnType, ddl::alter_type(table, new));
            if !lossless(old, new) {
                step = step.hazard(
                    Hazard::LossyType {
                        from: old.sql_type.clone(),
                        to: new.sql_type.clone(),
                    },
                    Some(count_values(table, old)),
                );
            }
            self.alter_columns.push(step);
            if let Some(default) = &new.default {
                self.alter_columns.push(alter(
                    Action::SetDefault,
                    ddl::set_default(table, new, default),
                ));
            }
        } else if old.default != new.default {
            self.alter_columns.push(match &new.default {
                Some(default) => alter(Action::SetDefault, ddl::set_default(table, new, default)),
                None => alter(Action::DropDefault, ddl::drop_default(table, new)),
            });
        }
        if old.not_null != new.not_null {
            self.alter_columns.push(if new.not_null {
                alter(Action::SetNotNull, ddl::set_not_null(table, new)).hazard(
                    Hazard::NullsInColumn,
                    Some(format!(
                        "SELECT count(*) AS count FROM {} WHERE {} IS NULL",
                        table.ident, old.ident
                    )),
                )
            } else {
                alter(Action::DropNotNull, ddl::drop_not_null(table, new))
            });
        }
        if old.comment != new.comment {
            self.comments.push(comment_on_column(table, new));
        }
    }

    fn drop_constraint(&mut self, table: &Table, constraint: &Constraint) {
        let step = drop_constraint(table, constraint);
        if constraint.kind == ConstraintKind::ForeignKey {
            self.drop_foreign_keys.push(step);
        } else {
            self.drop_constraints.push(step);
        }
    }

    fn add_constraint(&mut self, current: &Table, constraint: &Constraint) {
        let step = add_constraint(current, constraint, Some(current));
        if constraint.kind == ConstraintKind::ForeignKey {
            self.add_foreign_keys.push(step);
        } else {
            self.add_constraints.push(step);
        }
    }
}

fn drop_constraint(table: &Table, constraint: &Constraint) -> Step {
    Step::new(
        Action::DropConstraint,
        &table.name,
        ddl::drop_constraint(table, constraint),
    )
    .object(&constraint.name)
}

/// `existing` is the table as it is now, when it exists: its rows may
/// violate a new unique key.
fn add_constraint(table: &Table, constraint: &Constraint, existing: Option<&Table>) -> Step {
    let step = Step::new(
        Action::AddConstraint,
        &table.name,
        ddl::add_constraint(table, constraint),
    )
    .object(&constraint.name);
    match constraint.kind {
        ConstraintKind::PrimaryKey | ConstraintKind::Unique => {
            unique_hazard(step, existing, &constraint.columns)
        }
        ConstraintKind::Check | ConstraintKind::ForeignKey => step,
    }
}

fn create_index(table: &Table, index: &Index, existing: Option<&Table>) -> Step {
    let step =
        Step::new(Action::CreateIndex, &table.name, ddl::create_index(index)).object(&index.name);
    if index.unique && !index.plain_columns.is_empty() {
        unique_hazard(step, existing, &index.plain_columns)
    } else {
        step
    }
}

/// Marks a new unique key on an existing table, counting the rows that
/// share a key when every key column exists already.
fn unique_hazard(step: Step, existing: Option<&Table>, columns: &[String]) -> Step {
    let Some(table) = existing else {
        return step;
    };
    let idents: Option<Vec<&str>> = columns
        .iter()
        .map(|name| table.column(name).map(|c| c.ident.as_str()))
        .collect();
    let count_sql = idents.map(|idents| {
        let not_null: Vec<String> = idents.iter().map(|c| format!("{c} IS NOT NULL")).collect();
        format!(
            "SELECT coalesce(sum(n), 0)::int8 AS count FROM (SELECT count(*) AS n FROM {} \
             WHERE {} GROUP BY {} HAVING count(*) > 1) AS duplicates",
            table.ident,
            not_null.join(" AND "),
            idents.join(", ")
        )
    });
    step.hazard(
        Hazard::Duplicates {
            columns: columns.to_vec(),
        },
        count_sql,
    )
}

fn comment_on_table(table: &Table) -> Step {
    Step::new(
        Action::Comment,
        &table.name,
        ddl::comment_on_table(table, table.comment.as_deref()),
    )
}

fn comment_on_column(table: &Table, column: &Column) -> Step {
    Step::new(
        Action::Comment,
        &table.name,
        ddl::comment_on_column(table, column, column.comment.as_deref()),
    )
    .column(&column.name)
}

fn comment_on_function(function: &Function) -> Step {
    Step::function(
        Action::Comment,
        &function.signature,
        ddl::comment_on_function(function),
    )
}

fn comment_on_trigger(table: &Table, trigger: &Trigger) -> Step {
    Step::new(
        Action::Comment,
        &table.name,
        ddl::comment_on_trigger(table, trigger),
    )
    .object(&trigger.name)
}

fn count_values(table: &Table, column: &Column) -> String {
    format!(
        "SELECT count(*) AS count FROM {} WHERE {} IS NOT NULL",
        table.ident, column.ident
    )
}

/// A table and the set of its columns that a unique key covers.
type DroppedKeys = BTreeSet<(String, BTreeSet<String>)>;

/// The primary keys, unique constraints and unique indexes of kept tables
/// that the plan drops (to make again, or for good).
fn dropped_keys(current: &Schema, desired: &Schema) -> DroppedKeys {
    let mut keys = DroppedKeys::new();
    for (name, table) in &current.tables {
        let Some(wanted) = desired.tables.get(name) else {
            continue;
        };
        let constraints = match_objects(
            &table.constraints,
            &wanted.constraints,
            |k| &k.name,
            |k| (k.kind, k.definition.clone()),
        );
        for k in constraints.dropped {
            if matches!(k.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique) {
                keys.insert((name.clone(), k.columns.iter().cloned().collect()));
            }
        }
        let indexes = match_objects(&table.indexes, &wanted.indexes, |i| &i.name, Index::shape);
        for i in indexes.dropped {
            if i.unique {
                keys.insert((name.clone(), i.plain_columns.iter().cloned().collect()));
            }
        }
    }
    keys
}

fn rebuild_foreign_key(fk: &Constraint, dropped_keys: &DroppedKeys) -> bool {
    fk.references.as_ref().is_some_and(|r| {
        dropped_keys.contains(&(r.table.clone(), r.columns.iter().cloned().collect()))
    })
}

/// How the objects of one table pair up between two schemas.
struct Matching<'a, T> {
    /// Same name, same definition.
    same: Vec<(&'a T, &'a T)>,
    /// Same definition under another name.
    renamed: Vec<(&'a T, &'a T)>,
    dropped: Vec<&'a T>,
    added: Vec<&'a T>,
}

fn match_objects<'a, T, K: PartialEq>(
    current: &'a [T],
    desired: &'a [T],
    name: impl Fn(&T) -> &str,
    key: impl Fn(&T) -> K,
) -> Matching<'a, T> {
    let mut matching = Matching {
        same: Vec::new(),
        renamed: Vec::new(),
        dropped: Vec::new(),
        added: Vec::new(),
    };
    let mut unmatched: Vec<&T> = desired.iter().collect();
    let mut leftover = Vec::new();
    for old in current {
        let found = unmatched
            .iter()
            .position(|new| name(new) == name(old) && key(new) == key(old));
        match found {
            Some(i) => matching.same.push((old, unmatched.remove(i))),
            None => leftover.push(old),
        }
    }
    for old in leftover {
        match unmatched.iter().position(|new| key(new) == key(old)) {
            Some(i) => matching.renamed.push((old, unmatched.remove(i))),
            None => matching.dropped.push(old),
        }
    }
    matching.added = unmatched;
    matching
}

/// Whether every value of `from`'s type fits `to`'s unchanged. Anything
/// not known to be safe counts as lossy.
fn lossless(from: &Column, to: &Column) -> bool {
    let (a, b) = (from.type_name.as_str(), to.type_name.as_str());
    // Every value has a text form, and unlimited varchar is text.
    if b == "text" || (b == "varchar" && to.type_mod == -1) {
        return true;
    }
    if a == b {
        // -1 means unlimited (no length or precision).
        return match a {
            "varchar" | "bpchar" | "timestamp" | "timestamptz" | "time" | "timetz" | "interval" => {
                to.type_mod == -1 || (from.type_mod != -1 && to.type_mod >= from.type_mod)
            }
            "numeric" => numeric_fits(from.type_mod, to.type_mod),
            _ => false,
        };
    }
    matches!(
        (a, b),
        ("int2", "int4" | "int8" | "numeric" | "float4" | "float8")
            | ("int4", "int8" | "numeric" | "float8")
            | ("int8", "numeric")
            | ("float4", "float8")
    ) && (b != "numeric" || to.type_mod == -1 || {
        // The widest integer, bigint, has 19 digits.
        let (precision, scale) = numeric_digits(to.type_mod);
        precision - scale >= 19
    })
}

/// (precision, scale) of a numeric type modifier.
fn numeric_digits(type_mod: i32) -> (i32, i32) {
    let packed = type_mod - 4;
    ((packed >> 16) & 0xffff, packed & 0xffff)
}

fn numeric_fits(from: i32, to: i32) -> bool {
    if to == -1 {
        return true;
    }
    if from == -1 {
        return false;
    }
    let (p1, s1) = numeric_digits(from);
    let (p2, s2) = numeric_digits(to);
    s2 >= s1 && p2 - s2 >= p1 - s1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(type_name: &str, type_mod: i32) -> Column {
        Column {
            name: "c".into(),
            ident: "c".into(),
            sql_type: type_name.into(),
            type_name: type_name.into(),
            type_mod,
            not_null: false,
            default: None,
            comment: None,
        }
    }

    #[test]
    fn widening_is_lossless_and_narrowing_is_not() {
        let varchar = |n: i32| column("varchar", n + 4);
        assert!(lossless(&column("int4", -1), &column("int8", -1)));
        assert!(!lossless(&column("int8", -1), &column("int4", -1)));
        assert!(lossless(&column("jsonb", -1), &column("text", -1)));
        assert!(!lossless(&column("text", -1), &column("int4", -1)));
        assert!(lossless(&varchar(10), &varchar(20)));
        assert!(!lossless(&varchar(20), &varchar(10)));
        assert!(lossless(&varchar(20), &column("varchar", -1)));
        // numeric(5,2) -> numeric(7,2) fits; -> numeric(5,3) does not.
        let numeric = |p: i32, s: i32| column("numeric", ((p << 16) | s) + 4);
        assert!(lossless(&numeric(5, 2), &numeric(7, 2)));
        assert!(!lossless(&numeric(5, 2), &numeric(5, 3)));
        assert!(!lossless(&column("int8", -1), &numeric(10, 0)));
    }

    #[test]
    fn objects_pair_by_name_then_by_definition() {
        let objects = |pairs: &[(&'static str, &'static str)]| pairs.to_vec();
        let current = objects(&[("a", "x"), ("b", "y"), ("c", "z")]);
        let desired = objects(&[("a", "x"), ("b2", "y"), ("c", "w")]);
        let m = match_objects(&current, &desired, |o| o.0, |o| o.1);
        assert_eq!(m.same, vec![(&current[0], &desired[0])]);
        assert_eq!(m.renamed, vec![(&current[1], &desired[1])]);
        assert_eq!(m.dropped, vec![&current[2]]);
        assert_eq!(m.added, vec![&desired[2]]);
    }
}
