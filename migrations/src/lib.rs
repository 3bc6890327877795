//! latchkey-migration: the database schema of Latchkey, as an ordered list of sea-orm migrations.
//!
//! It owns the tables, keys and indexes, for SQLite and PostgreSQL alike. It must never know the
//! rules (that is `latchkey-core`) nor how rows are read and written (that is `latchkey-store`).
//! A migration that has been released is never edited: a change is a new file appended to
//! [`Migrator::migrations`].

use sea_orm_migration::prelude::*;

mod m20250101_000001_initial_schema;
mod m20261127_000001_setup_tokens;
mod m20261203_000001_token_family_revocations;
mod m20261207_000001_partial_access_token_indexes;

/// Applies Latchkey's migrations in order. `latchkey-store` runs it (under a lock on PostgreSQL).
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_initial_schema::Migration),
            Box::new(m20261127_000001_setup_tokens::Migration),
            Box::new(m20261203_000001_token_family_revocations::Migration),
            Box::new(m20261207_000001_partial_access_token_indexes::Migration),
        ]
    }
}
