//! One-time setup tokens: the link `latchkey serve` logs on a database without an administrator,
//! with which the first person creates the admin account in the browser.
//!
//! Only the token's SHA-256 is stored (like every other secret), with its expiry; `used_at` makes
//! it single use: the store consumes it with one conditional UPDATE, so of two concurrent uses
//! exactly one wins.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SetupTokens {
    Table,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

// See the initial migration: async-trait and the elided lifetime of `&SchemaManager`.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SetupTokens::Table)
                    .col(ColumnDef::new(SetupTokens::TokenHash).text().not_null().primary_key())
                    .col(ColumnDef::new(SetupTokens::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SetupTokens::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SetupTokens::UsedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SetupTokens::Table).to_owned()).await
    }
}
