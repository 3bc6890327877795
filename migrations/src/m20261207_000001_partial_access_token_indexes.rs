//! `access_tokens.account_id` and `access_tokens.family_id` are indexed only where they are set.
//!
//! Both are null for every `client_credentials` token, the busiest write there is, and a full
//! index still takes an entry per row, nulls included: two more B-trees written by every insert,
//! for rows that no query looks up by those columns (a lookup by account or family is always
//! `= value`, which a `WHERE ... IS NOT NULL` index serves on SQLite and PostgreSQL alike). Each
//! index is dropped and created again under its own name, inside the migration's transaction, so
//! no query ever runs without one. Old and new nodes run the same queries, so this is safe during a
//! rolling upgrade; building the indexes reads the table once.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AccessTokens {
    Table,
    AccountId,
    FamilyId,
}

const INDEXES: [(&str, AccessTokens); 2] =
    [("ix_access_tokens_account", AccessTokens::AccountId), ("ix_access_tokens_family", AccessTokens::FamilyId)];

// See the initial migration: async-trait and the elided lifetime of `&SchemaManager`.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager.drop_index(Index::drop().name(name).table(AccessTokens::Table).to_owned()).await?;
            let only_set = Expr::col(column).is_not_null();
            manager
                .create_index(
                    Index::create().name(name).table(AccessTokens::Table).col(column).and_where(only_set).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager.drop_index(Index::drop().name(name).table(AccessTokens::Table).to_owned()).await?;
            manager.create_index(Index::create().name(name).table(AccessTokens::Table).col(column).to_owned()).await?;
        }
        Ok(())
    }
}
