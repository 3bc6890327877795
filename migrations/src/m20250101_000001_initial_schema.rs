//! The initial schema: accounts and roles, clients, sessions, grants (codes, refresh and access
//! tokens, consents), signing keys, the audit log and the login throttle.
//!
//! Portable choices, so one set of entities works on SQLite and PostgreSQL:
//! - timestamps are `timestamp with time zone` (text in SQLite) and always written in UTC;
//! - lists (redirect URIs, scopes, grant types) are JSON arrays (`jsonb` / text);
//! - case-insensitive uniqueness of emails uses a lowercase `email_key` column with a plain unique
//!   index, because expression indexes and `citext` do not port between the two;
//! - children of an account or a client carry `ON DELETE CASCADE`, so deleting the parent is one
//!   statement and can never leave a token behind.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Username,
    Email,
    EmailKey,
    EmailVerified,
    PasswordHash,
    DisplayName,
    DisplayNameKey,
    Disabled,
    PasswordChangeRequired,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Description,
    Builtin,
}

#[derive(DeriveIden)]
enum AccountRoles {
    Table,
    AccountId,
    RoleId,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    ClientId,
    SecretHash,
    Name,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    Public,
    FirstParty,
    TokenEndpointAuthMethod,
    AccessTokenLifetime,
    RefreshTokenLifetime,
    IdTokenLifetime,
    IdTokenSignedResponseAlg,
    FromConfig,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    SecretHash,
    AccountId,
    CreatedAt,
    LastSeenAt,
    AuthTime,
    ExpiresAt,
    RememberMe,
    UserAgent,
    ClientIp,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    AccountId,
    SessionId,
    RedirectUri,
    Scopes,
    Nonce,
    CodeChallenge,
    CodeChallengeMethod,
    FamilyId,
    AuthTime,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    FamilyId,
    ParentHash,
    ClientId,
    AccountId,
    SessionId,
    Scopes,
    AuthTime,
    CreatedAt,
    ExpiresAt,
    FamilyExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AccessTokens {
    Table,
    Jti,
    ClientId,
    AccountId,
    FamilyId,
    Scopes,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    AccountId,
    ClientId,
    Scopes,
    GrantedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    EncryptedPrivateKey,
    PublicJwk,
    State,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    EventType,
    AccountId,
    ActorId,
    ClientId,
    Ip,
    UserAgent,
    Outcome,
    Detail,
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Key,
    Failures,
    LastFailureAt,
    LockedUntil,
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}
fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}
fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}
fn uuid_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().null().to_owned()
}
fn boolean(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().to_owned()
}
fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}
fn ts_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}
fn json(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).json_binary().not_null().to_owned()
}
fn seconds_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

/// A foreign key whose rows go with their parent.
fn cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .on_update(ForeignKeyAction::Cascade)
        .to_owned()
}

fn index(name: &str, table: impl IntoIden, col: impl IntoIden) -> IndexCreateStatement {
    Index::create().name(name).table(table).col(col).to_owned()
}

fn unique(name: &str, table: impl IntoIden, col: impl IntoIden) -> IndexCreateStatement {
    Index::create().name(name).table(table).col(col).unique().to_owned()
}

// The trait declares `&SchemaManager` with an elided lifetime; spelling it `<'_>` makes async-trait
// bind it differently and the impl no longer matches, so the 2018-idioms lint is silenced here.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(uuid(Accounts::Id).primary_key())
                    .col(text(Accounts::Username))
                    .col(text(Accounts::Email))
                    .col(text(Accounts::EmailKey))
                    .col(boolean(Accounts::EmailVerified))
                    .col(text_null(Accounts::PasswordHash))
                    .col(text_null(Accounts::DisplayName))
                    // Lowercased display name, so the admin search is a plain LIKE on both databases.
                    .col(text_null(Accounts::DisplayNameKey))
                    .col(boolean(Accounts::Disabled))
                    .col(boolean(Accounts::PasswordChangeRequired))
                    .col(ts(Accounts::CreatedAt))
                    .col(ts(Accounts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The store maps a violation of these indexes to Conflict("username") / Conflict("email") by name.
        manager.create_index(unique("ux_accounts_username", Accounts::Table, Accounts::Username)).await?;
        manager.create_index(unique("ux_accounts_email_key", Accounts::Table, Accounts::EmailKey)).await?;

        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(uuid(Roles::Id).primary_key())
                    .col(text(Roles::Name))
                    .col(text_null(Roles::Description))
                    .col(boolean(Roles::Builtin))
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_roles_name", Roles::Table, Roles::Name)).await?;

        manager
            .create_table(
                Table::create()
                    .table(AccountRoles::Table)
                    .col(uuid(AccountRoles::AccountId))
                    .col(uuid(AccountRoles::RoleId))
                    .primary_key(Index::create().col(AccountRoles::AccountId).col(AccountRoles::RoleId))
                    .foreign_key(&mut cascade(
                        "fk_account_roles_account",
                        (AccountRoles::Table, AccountRoles::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_account_roles_role",
                        (AccountRoles::Table, AccountRoles::RoleId),
                        (Roles::Table, Roles::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_account_roles_role", AccountRoles::Table, AccountRoles::RoleId)).await?;

        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(text(Clients::ClientId).primary_key())
                    .col(text_null(Clients::SecretHash))
                    .col(text(Clients::Name))
                    .col(json(Clients::RedirectUris))
                    .col(json(Clients::PostLogoutRedirectUris))
                    .col(json(Clients::GrantTypes))
                    .col(json(Clients::Scopes))
                    .col(boolean(Clients::Public))
                    .col(boolean(Clients::FirstParty))
                    .col(text(Clients::TokenEndpointAuthMethod))
                    .col(seconds_null(Clients::AccessTokenLifetime))
                    .col(seconds_null(Clients::RefreshTokenLifetime))
                    .col(seconds_null(Clients::IdTokenLifetime))
                    .col(text(Clients::IdTokenSignedResponseAlg))
                    .col(boolean(Clients::FromConfig))
                    .col(ts(Clients::CreatedAt))
                    .col(ts(Clients::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(text(Sessions::SecretHash))
                    .col(uuid(Sessions::AccountId))
                    .col(ts(Sessions::CreatedAt))
                    .col(ts(Sessions::LastSeenAt))
                    .col(ts(Sessions::AuthTime))
                    .col(ts(Sessions::ExpiresAt))
                    .col(boolean(Sessions::RememberMe))
                    .col(text_null(Sessions::UserAgent))
                    .col(text_null(Sessions::ClientIp))
                    .foreign_key(&mut cascade(
                        "fk_sessions_account",
                        (Sessions::Table, Sessions::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(unique("ux_sessions_secret_hash", Sessions::Table, Sessions::SecretHash)).await?;
        manager.create_index(index("ix_sessions_account", Sessions::Table, Sessions::AccountId)).await?;
        manager.create_index(index("ix_sessions_expires_at", Sessions::Table, Sessions::ExpiresAt)).await?;
        manager.create_index(index("ix_sessions_last_seen_at", Sessions::Table, Sessions::LastSeenAt)).await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(text(AuthorizationCodes::CodeHash).primary_key())
                    .col(text(AuthorizationCodes::ClientId))
                    .col(uuid(AuthorizationCodes::AccountId))
                    .col(uuid_null(AuthorizationCodes::SessionId))
                    .col(text(AuthorizationCodes::RedirectUri))
                    .col(json(AuthorizationCodes::Scopes))
                    .col(text_null(AuthorizationCodes::Nonce))
                    .col(text_null(AuthorizationCodes::CodeChallenge))
                    .col(text_null(AuthorizationCodes::CodeChallengeMethod))
                    .col(uuid(AuthorizationCodes::FamilyId))
                    .col(ts(AuthorizationCodes::AuthTime))
                    .col(ts(AuthorizationCodes::CreatedAt))
                    .col(ts(AuthorizationCodes::ExpiresAt))
                    .col(ts_null(AuthorizationCodes::ConsumedAt))
                    .foreign_key(&mut cascade(
                        "fk_authorization_codes_client",
                        (AuthorizationCodes::Table, AuthorizationCodes::ClientId),
                        (Clients::Table, Clients::ClientId),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_authorization_codes_account",
                        (AuthorizationCodes::Table, AuthorizationCodes::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // PostgreSQL does not index foreign keys by itself; cascades and purges would scan without these.
        manager
            .create_index(index(
                "ix_authorization_codes_client",
                AuthorizationCodes::Table,
                AuthorizationCodes::ClientId,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_authorization_codes_account",
                AuthorizationCodes::Table,
                AuthorizationCodes::AccountId,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_authorization_codes_expires_at",
                AuthorizationCodes::Table,
                AuthorizationCodes::ExpiresAt,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(text(RefreshTokens::TokenHash).primary_key())
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(text_null(RefreshTokens::ParentHash))
                    .col(text(RefreshTokens::ClientId))
                    .col(uuid(RefreshTokens::AccountId))
                    .col(uuid_null(RefreshTokens::SessionId))
                    .col(json(RefreshTokens::Scopes))
                    .col(ts(RefreshTokens::AuthTime))
                    .col(ts(RefreshTokens::CreatedAt))
                    .col(ts(RefreshTokens::ExpiresAt))
                    .col(ts(RefreshTokens::FamilyExpiresAt))
                    .col(ts_null(RefreshTokens::UsedAt))
                    .col(ts_null(RefreshTokens::RevokedAt))
                    .foreign_key(&mut cascade(
                        "fk_refresh_tokens_client",
                        (RefreshTokens::Table, RefreshTokens::ClientId),
                        (Clients::Table, Clients::ClientId),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_refresh_tokens_account",
                        (RefreshTokens::Table, RefreshTokens::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_refresh_tokens_family", RefreshTokens::Table, RefreshTokens::FamilyId)).await?;
        manager.create_index(index("ix_refresh_tokens_client", RefreshTokens::Table, RefreshTokens::ClientId)).await?;
        manager
            .create_index(index("ix_refresh_tokens_account", RefreshTokens::Table, RefreshTokens::AccountId))
            .await?;
        manager
            .create_index(index("ix_refresh_tokens_expires_at", RefreshTokens::Table, RefreshTokens::ExpiresAt))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessTokens::Table)
                    .col(text(AccessTokens::Jti).primary_key())
                    .col(text(AccessTokens::ClientId))
                    .col(uuid_null(AccessTokens::AccountId))
                    .col(uuid_null(AccessTokens::FamilyId))
                    .col(json(AccessTokens::Scopes))
                    .col(ts(AccessTokens::CreatedAt))
                    .col(ts(AccessTokens::ExpiresAt))
                    .col(ts_null(AccessTokens::RevokedAt))
                    .foreign_key(&mut cascade(
                        "fk_access_tokens_client",
                        (AccessTokens::Table, AccessTokens::ClientId),
                        (Clients::Table, Clients::ClientId),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_access_tokens_account",
                        (AccessTokens::Table, AccessTokens::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_access_tokens_family", AccessTokens::Table, AccessTokens::FamilyId)).await?;
        manager.create_index(index("ix_access_tokens_client", AccessTokens::Table, AccessTokens::ClientId)).await?;
        manager.create_index(index("ix_access_tokens_account", AccessTokens::Table, AccessTokens::AccountId)).await?;
        manager
            .create_index(index("ix_access_tokens_expires_at", AccessTokens::Table, AccessTokens::ExpiresAt))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(uuid(Consents::AccountId))
                    .col(text(Consents::ClientId))
                    .col(json(Consents::Scopes))
                    .col(ts(Consents::GrantedAt))
                    .primary_key(Index::create().col(Consents::AccountId).col(Consents::ClientId))
                    .foreign_key(&mut cascade(
                        "fk_consents_account",
                        (Consents::Table, Consents::AccountId),
                        (Accounts::Table, Accounts::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_consents_client",
                        (Consents::Table, Consents::ClientId),
                        (Clients::Table, Clients::ClientId),
                    ))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_consents_client", Consents::Table, Consents::ClientId)).await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(text(SigningKeys::Kid).primary_key())
                    .col(text(SigningKeys::Algorithm))
                    .col(ColumnDef::new(SigningKeys::EncryptedPrivateKey).blob().not_null())
                    .col(json(SigningKeys::PublicJwk))
                    // 'next' | 'active' | 'retired'
                    .col(text(SigningKeys::State))
                    .col(ts(SigningKeys::CreatedAt))
                    .col(ts_null(SigningKeys::ActivatedAt))
                    .col(ts_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::Id).primary_key())
                    .col(ts(AuditEvents::At))
                    .col(text(AuditEvents::EventType))
                    // No foreign keys: the log must outlive the accounts and clients it mentions.
                    .col(uuid_null(AuditEvents::AccountId))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(text_null(AuditEvents::ClientId))
                    .col(text_null(AuditEvents::Ip))
                    .col(text_null(AuditEvents::UserAgent))
                    .col(text(AuditEvents::Outcome))
                    .col(json(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        manager.create_index(index("ix_audit_events_at", AuditEvents::Table, AuditEvents::At)).await?;
        manager.create_index(index("ix_audit_events_event_type", AuditEvents::Table, AuditEvents::EventType)).await?;
        manager.create_index(index("ix_audit_events_account", AuditEvents::Table, AuditEvents::AccountId)).await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .col(text(LoginThrottle::Key).primary_key())
                    .col(ColumnDef::new(LoginThrottle::Failures).integer().not_null())
                    .col(ts(LoginThrottle::LastFailureAt))
                    .col(ts_null(LoginThrottle::LockedUntil))
                    .to_owned(),
            )
            .await?;

        // The built-in administrator role: the admin console and `latchkey admin` grant it; it cannot be deleted.
        let seed = Query::insert()
            .into_table(Roles::Table)
            .columns([Roles::Id, Roles::Name, Roles::Description, Roles::Builtin])
            .values([
                Expr::value(sea_orm::prelude::Uuid::now_v7()),
                Expr::value("admin"),
                Expr::value("Administers accounts, clients and keys"),
                Expr::value(true),
            ])
            .map_err(|e| DbErr::Migration(format!("seeding the admin role: {e}")))?
            .to_owned();
        manager.exec_stmt(seed).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children first, so foreign keys never block a drop.
        for table in [
            LoginThrottle::Table.into_iden(),
            AuditEvents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Consents::Table.into_iden(),
            AccessTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Sessions::Table.into_iden(),
            Clients::Table.into_iden(),
            AccountRoles::Table.into_iden(),
            Roles::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
