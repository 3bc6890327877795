//! Authorization codes, refresh and access tokens, consents.
//!
//! Consumption is one conditional `UPDATE .. WHERE consumed_at IS NULL`: the database decides who
//! wins, so exactly one caller sees `Consumed::Now` however many processes race, on SQLite (writers
//! serialise on the database lock) and PostgreSQL (the row lock, re-checking the condition) alike.
//!
//! Revoking a family writes its `token_family_revocations` row before it updates any token, each
//! statement committing on its own; the grants insert their tokens before they read that row. That
//! ordering, not a lock, is what keeps a revocation from missing tokens still being issued (see
//! `latchkey_core::grants::refresh_token::insert_family_tokens`), across any number of nodes.
//! Revoking everything of an account (`revoke_tokens_of`) writes that row for each of the
//! account's families first, so the same ordering covers a refresh racing a password change.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latchkey_core::error::StoreResult;
use latchkey_core::model::{
    AccessTokenRecord, AccountId, AuthorizationCode, ClientId, Consent, RefreshToken, SessionId, TokenFamilyId,
};
use latchkey_core::secret::TokenHash;
use latchkey_core::store::{Consumed, GrantStore};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use uuid::Uuid;

use crate::entity::{access_token, authorization_code, consent, refresh_token};
use crate::error::DbResultExt as _;
use crate::{SeaStore, by_primary_key, from_json_strings, to_json_strings, truncate, truncate_opt};

/// `token_family_revocations`: one row per revoked family (migration m20261203_000001).
pub(crate) mod family_revocation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "token_family_revocations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub family_id: Uuid,
        pub revoked_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

fn code_from(m: authorization_code::Model) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: TokenHash::from_stored(m.code_hash),
        client_id: ClientId(m.client_id),
        account_id: AccountId(m.account_id),
        session_id: m.session_id.map(SessionId),
        redirect_uri: m.redirect_uri,
        scopes: from_json_strings(m.scopes, "authorization_codes.scopes")?,
        nonce: m.nonce,
        code_challenge: m.code_challenge,
        code_challenge_method: m.code_challenge_method,
        family_id: TokenFamilyId(m.family_id),
        auth_time: m.auth_time,
        created_at: m.created_at,
        expires_at: m.expires_at,
        consumed_at: m.consumed_at,
    })
}

pub(crate) fn refresh_from(m: refresh_token::Model) -> StoreResult<RefreshToken> {
    Ok(RefreshToken {
        token_hash: TokenHash::from_stored(m.token_hash),
        family_id: TokenFamilyId(m.family_id),
        parent_hash: m.parent_hash.map(TokenHash::from_stored),
        client_id: ClientId(m.client_id),
        account_id: AccountId(m.account_id),
        session_id: m.session_id.map(SessionId),
        scopes: from_json_strings(m.scopes, "refresh_tokens.scopes")?,
        auth_time: m.auth_time,
        created_at: m.created_at,
        expires_at: m.expires_at,
        family_expires_at: m.family_expires_at,
        used_at: m.used_at,
        revoked_at: m.revoked_at,
    })
}

pub(crate) fn access_from(m: access_token::Model) -> StoreResult<AccessTokenRecord> {
    Ok(AccessTokenRecord {
        jti: m.jti,
        client_id: ClientId(m.client_id),
        account_id: m.account_id.map(AccountId),
        family_id: m.family_id.map(TokenFamilyId),
        scopes: from_json_strings(m.scopes, "access_tokens.scopes")?,
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
    })
}

fn consent_from(m: consent::Model) -> StoreResult<Consent> {
    Ok(Consent {
        account_id: AccountId(m.account_id),
        client_id: ClientId(m.client_id),
        scopes: from_json_strings(m.scopes, "consents.scopes")?,
        granted_at: m.granted_at,
    })
}

/// Turns "rows changed by the conditional update" and "the row now" into the outcome.
fn consumed<T>(won: bool, row: Option<T>) -> Consumed<T> {
    match (won, row) {
        (true, Some(row)) => Consumed::Now(row),
        (false, Some(row)) => Consumed::Already(row),
        // Won, then purged before the read: nobody can use it any more, which is what Missing means.
        (_, None) => Consumed::Missing,
    }
}

#[async_trait]
impl GrantStore for SeaStore {
    async fn insert_code(&self, c: AuthorizationCode) -> StoreResult<()> {
        let row = authorization_code::ActiveModel {
            code_hash: Set(c.code_hash.as_str().to_owned()),
            client_id: Set(c.client_id.0),
            account_id: Set(c.account_id.0),
            session_id: Set(c.session_id.map(|s| s.0)),
            redirect_uri: Set(c.redirect_uri),
            scopes: Set(to_json_strings(&c.scopes)),
            nonce: Set(c.nonce),
            code_challenge: Set(c.code_challenge),
            code_challenge_method: Set(c.code_challenge_method),
            family_id: Set(c.family_id.0),
            auth_time: Set(truncate(c.auth_time)),
            created_at: Set(truncate(c.created_at)),
            expires_at: Set(truncate(c.expires_at)),
            consumed_at: Set(truncate_opt(c.consumed_at)),
        };
        authorization_code::Entity::insert(row).exec_without_returning(self.writer()).await.store()?;
        Ok(())
    }

    async fn consume_code(
        &self,
        code_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Consumed<AuthorizationCode>> {
        let res = authorization_code::Entity::update_many()
            .col_expr(authorization_code::Column::ConsumedAt, Expr::value(truncate(now)))
            .filter(authorization_code::Column::CodeHash.eq(code_hash.as_str()))
            .filter(authorization_code::Column::ConsumedAt.is_null())
            .exec(self.writer())
            .await
            .store()?;
        let row = by_primary_key(authorization_code::Entity::find_by_id(code_hash.as_str().to_owned()), self.writer())
            .await
            .store()?;
        Ok(consumed(res.rows_affected > 0, row.map(code_from).transpose()?))
    }

    async fn insert_refresh_token(&self, t: RefreshToken) -> StoreResult<()> {
        let row = refresh_token::ActiveModel {
            token_hash: Set(t.token_hash.as_str().to_owned()),
            family_id: Set(t.family_id.0),
            parent_hash: Set(t.parent_hash.map(|h| h.as_str().to_owned())),
            client_id: Set(t.client_id.0),
            account_id: Set(t.account_id.0),
            session_id: Set(t.session_id.map(|s| s.0)),
            scopes: Set(to_json_strings(&t.scopes)),
            auth_time: Set(truncate(t.auth_time)),
            created_at: Set(truncate(t.created_at)),
            expires_at: Set(truncate(t.expires_at)),
            family_expires_at: Set(truncate(t.family_expires_at)),
            used_at: Set(truncate_opt(t.used_at)),
            revoked_at: Set(truncate_opt(t.revoked_at)),
        };
        refresh_token::Entity::insert(row).exec_without_returning(self.writer()).await.store()?;
        Ok(())
    }

    async fn find_refresh_token(&self, token_hash: &TokenHash) -> StoreResult<Option<RefreshToken>> {
        let row = by_primary_key(refresh_token::Entity::find_by_id(token_hash.as_str().to_owned()), self.db())
            .await
            .store()?;
        row.map(refresh_from).transpose()
    }

    async fn consume_refresh_token(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Consumed<RefreshToken>> {
        let res = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(truncate(now)))
            .filter(refresh_token::Column::TokenHash.eq(token_hash.as_str()))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(self.writer())
            .await
            .store()?;
        let row = by_primary_key(refresh_token::Entity::find_by_id(token_hash.as_str().to_owned()), self.writer())
            .await
            .store()?;
        Ok(consumed(res.rows_affected > 0, row.map(refresh_from).transpose()?))
    }

    async fn insert_access_token(&self, r: AccessTokenRecord) -> StoreResult<()> {
        let row = access_token::ActiveModel {
            jti: Set(r.jti),
            client_id: Set(r.client_id.0),
            account_id: Set(r.account_id.map(|a| a.0)),
            family_id: Set(r.family_id.map(|f| f.0)),
            scopes: Set(to_json_strings(&r.scopes)),
            created_at: Set(truncate(r.created_at)),
            expires_at: Set(truncate(r.expires_at)),
            revoked_at: Set(truncate_opt(r.revoked_at)),
        };
        // Written with the rows of concurrent requests, in one statement ([`crate::batch`]).
        self.access_tokens.insert(row).await
    }

    async fn find_access_token(&self, jti: &str) -> StoreResult<Option<AccessTokenRecord>> {
        by_primary_key(access_token::Entity::find_by_id(jti.to_owned()), self.db())
            .await
            .store()?
            .map(access_from)
            .transpose()
    }

    async fn revoke_access_token(&self, jti: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let res = access_token::Entity::update_many()
            .col_expr(access_token::Column::RevokedAt, Expr::value(truncate(now)))
            .filter(access_token::Column::Jti.eq(jti))
            .filter(access_token::Column::RevokedAt.is_null())
            .exec(self.writer())
            .await
            .store()?;
        Ok(res.rows_affected > 0)
    }

    async fn revoke_token_family(&self, family: TokenFamilyId, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = truncate(now);
        // First the record, committed on its own, then the rows: a grant that inserts a token of
        // this family after our UPDATEs took their snapshot reads the record after its insert.
        // A family revoked before keeps its first time (DO NOTHING inserts no row: not an error).
        let marker = family_revocation::ActiveModel { family_id: Set(family.0), revoked_at: Set(now) };
        let recorded = family_revocation::Entity::insert(marker)
            .on_conflict(OnConflict::column(family_revocation::Column::FamilyId).do_nothing().to_owned())
            .exec_without_returning(self.writer())
            .await;
        match recorded {
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(e) => return Err(crate::error::map_db_err(e)),
        }
        let refresh = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::FamilyId.eq(family.0))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(self.writer())
            .await
            .store()?;
        let access = access_token::Entity::update_many()
            .col_expr(access_token::Column::RevokedAt, Expr::value(now))
            .filter(access_token::Column::FamilyId.eq(family.0))
            .filter(access_token::Column::RevokedAt.is_null())
            .exec(self.writer())
            .await
            .store()?;
        Ok(refresh.rows_affected + access.rows_affected)
    }

    async fn find_family_revocation(&self, family: TokenFamilyId) -> StoreResult<Option<DateTime<Utc>>> {
        let row = by_primary_key(family_revocation::Entity::find_by_id(family.0), self.db()).await.store()?;
        Ok(row.map(|r| r.revoked_at))
    }

    async fn revoke_tokens_of(
        &self,
        account: AccountId,
        client: Option<&ClientId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let now = truncate(now);
        // First a revocation record for every family this account (and client) has a code or a
        // refresh token in, committed on its own, then the rows: the order of
        // `revoke_token_family`, for the same reason. A grant that has consumed a code or refresh
        // token of one of these families, but not yet stored the tokens it yields, reads the
        // record after storing them (`insert_family_tokens`) and revokes them; had it stored them
        // before the record was committed, the UPDATEs below see them. Without the records, a
        // refresh racing a password change or a disabled account handed out a live pair.
        // Codes and refresh tokens cover every family that can still yield tokens: each family
        // starts with a code, and goes on only through its refresh tokens.
        let mut families: Vec<Uuid> = Vec::new();
        let mut codes = authorization_code::Entity::find()
            .select_only()
            .column(authorization_code::Column::FamilyId)
            .distinct()
            .filter(authorization_code::Column::AccountId.eq(account.0));
        let mut chains = refresh_token::Entity::find()
            .select_only()
            .column(refresh_token::Column::FamilyId)
            .distinct()
            .filter(refresh_token::Column::AccountId.eq(account.0));
        if let Some(client) = client {
            codes = codes.filter(authorization_code::Column::ClientId.eq(client.0.as_str()));
            chains = chains.filter(refresh_token::Column::ClientId.eq(client.0.as_str()));
        }
        families.extend(codes.into_tuple::<Uuid>().all(self.writer()).await.store()?);
        families.extend(chains.into_tuple::<Uuid>().all(self.writer()).await.store()?);
        families.sort_unstable();
        families.dedup();
        // In batches, under both databases' limits on bound parameters.
        for batch in families.chunks(500) {
            let markers =
                batch.iter().map(|f| family_revocation::ActiveModel { family_id: Set(*f), revoked_at: Set(now) });
            let recorded = family_revocation::Entity::insert_many(markers)
                .on_conflict(OnConflict::column(family_revocation::Column::FamilyId).do_nothing().to_owned())
                .exec_without_returning(self.writer())
                .await;
            match recorded {
                Ok(_) | Err(DbErr::RecordNotInserted) => {}
                Err(e) => return Err(crate::error::map_db_err(e)),
            }
        }
        let mut refresh = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
            .filter(refresh_token::Column::AccountId.eq(account.0))
            .filter(refresh_token::Column::RevokedAt.is_null());
        let mut access = access_token::Entity::update_many()
            .col_expr(access_token::Column::RevokedAt, Expr::value(now))
            .filter(access_token::Column::AccountId.eq(account.0))
            .filter(access_token::Column::RevokedAt.is_null());
        if let Some(client) = client {
            refresh = refresh.filter(refresh_token::Column::ClientId.eq(client.0.as_str()));
            access = access.filter(access_token::Column::ClientId.eq(client.0.as_str()));
        }
        let refresh = refresh.exec(self.writer()).await.store()?;
        let access = access.exec(self.writer()).await.store()?;
        Ok(refresh.rows_affected + access.rows_affected)
    }

    async fn find_consent(&self, account: AccountId, client: &ClientId) -> StoreResult<Option<Consent>> {
        let row = consent::Entity::find_by_id((account.0, client.0.clone())).one(self.db()).await.store()?;
        row.map(consent_from).transpose()
    }

    async fn upsert_consent(&self, c: Consent) -> StoreResult<()> {
        let row = consent::ActiveModel {
            account_id: Set(c.account_id.0),
            client_id: Set(c.client_id.0),
            scopes: Set(to_json_strings(&c.scopes)),
            granted_at: Set(truncate(c.granted_at)),
        };
        consent::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([consent::Column::AccountId, consent::Column::ClientId])
                    .update_columns([consent::Column::Scopes, consent::Column::GrantedAt])
                    .to_owned(),
            )
            .exec_without_returning(self.writer())
            .await
            .store()?;
        Ok(())
    }

    async fn delete_consent(&self, account: AccountId, client: &ClientId) -> StoreResult<bool> {
        let res = consent::Entity::delete_by_id((account.0, client.0.clone())).exec(self.writer()).await.store()?;
        Ok(res.rows_affected > 0)
    }

    async fn list_consents_of(&self, account: AccountId) -> StoreResult<Vec<Consent>> {
        let rows = consent::Entity::find()
            .filter(consent::Column::AccountId.eq(account.0))
            .order_by_asc(consent::Column::ClientId)
            .all(self.db())
            .await
            .store()?;
        rows.into_iter().map(consent_from).collect()
    }

    async fn purge_expired_grants(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = truncate(before);
        let codes = authorization_code::Entity::delete_many()
            .filter(authorization_code::Column::ExpiresAt.lt(before))
            .exec(self.writer())
            .await
            .store()?;
        let refresh = refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ExpiresAt.lt(before))
            .exec(self.writer())
            .await
            .store()?;
        let access = access_token::Entity::delete_many()
            .filter(access_token::Column::ExpiresAt.lt(before))
            .exec(self.writer())
            .await
            .store()?;
        // A family's record only has to outlive the requests in flight when it was written (seconds);
        // the server purges with a cutoff a day back.
        family_revocation::Entity::delete_many()
            .filter(family_revocation::Column::RevokedAt.lt(before))
            .exec(self.writer())
            .await
            .store()?;
        Ok(codes.rows_affected + refresh.rows_affected + access.rows_affected)
    }
}
