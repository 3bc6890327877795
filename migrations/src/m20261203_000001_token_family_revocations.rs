//! Revoked token families: a row per family whose tokens were revoked (a replayed authorization
//! code, a reused refresh token, a refresh token revoked at `/revoke`).
//!
//! The tokens themselves carry `revoked_at`, but a grant that consumed its code or refresh token
//! may still be about to insert the family's next tokens when the family is revoked; those rows do
//! not exist yet for the revocation to update. The revocation writes this row first, and the grant
//! reads it after inserting its tokens, so one of the two always sees the other (see
//! `latchkey_core::grants::refresh_token::insert_family_tokens`). Additive: a node of the previous
//! release ignores the table, and a family it revokes is still revoked row by row as before.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TokenFamilyRevocations {
    Table,
    FamilyId,
    RevokedAt,
}

// See the initial migration: async-trait and the elided lifetime of `&SchemaManager`.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TokenFamilyRevocations::Table)
                    .col(ColumnDef::new(TokenFamilyRevocations::FamilyId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(TokenFamilyRevocations::RevokedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TokenFamilyRevocations::Table).to_owned()).await
    }
}
