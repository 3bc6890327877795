//! Registered OAuth clients.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use latchkey_core::StoreError;
use latchkey_core::error::StoreResult;
use latchkey_core::model::{Client, ClientId, GrantType, TokenEndpointAuthMethod};
use latchkey_core::secret::TokenHash;
use latchkey_core::store::ClientStore;
use sea_orm::QueryOrder as _;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _};

use crate::accounts::changed;
use crate::entity::client;
use crate::error::DbResultExt as _;
use crate::{SeaStore, by_primary_key, from_json_strings, to_json_strings, truncate};

/// How long a client record read for authentication may be reused without asking the database.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);
/// At most this many clients are remembered; when full the memory is dropped and refilled.
const CLIENT_CACHE_ENTRIES: usize = 1024;

/// Client records recently read by [`ClientStore::find_client`], for [`SeaStore::cached_client`], so that the token and
/// introspection endpoints, which authenticate a client on every request, do not query for it
/// every time.
///
/// Staleness bound: every client write through this store (this process: the admin console and
/// API, the configuration sync at start-up) empties the cache at once, and a read that raced with
/// such a write is not kept (the generation check). A change made by another process (another
/// node, the `latchkey clients` CLI) reaches this one within [`CLIENT_CACHE_TTL`]: until then a
/// deleted client, or a secret replaced elsewhere, still authenticates here. A newly created client
/// or a new secret works at once: misses are never remembered, and the server re-reads the record
/// before refusing a client on the strength of a cached one.
#[derive(Debug, Default)]
pub(crate) struct ClientCache {
    entries: Mutex<HashMap<String, (Instant, Client)>>,
    generation: AtomicU64,
}

impl ClientCache {
    fn get(&self, id: &str) -> Option<Client> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(id).filter(|(at, _)| at.elapsed() < CLIENT_CACHE_TTL).map(|(_, c)| c.clone())
    }

    fn put(&self, generation: u64, client: &Client) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CLIENT_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(client.id.0.clone(), (Instant::now(), client.clone()));
    }

    fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

fn to_model(c: Client) -> client::Model {
    client::Model {
        client_id: c.id.0,
        secret_hash: c.secret_hash.map(|h| h.as_str().to_owned()),
        name: c.name,
        redirect_uris: to_json_strings(&c.redirect_uris),
        post_logout_redirect_uris: to_json_strings(&c.post_logout_redirect_uris),
        grant_types: to_json_strings(&c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>()),
        scopes: to_json_strings(&c.scopes),
        public: c.public,
        first_party: c.first_party,
        token_endpoint_auth_method: c.token_endpoint_auth_method.as_str().to_owned(),
        access_token_lifetime: c.access_token_lifetime,
        refresh_token_lifetime: c.refresh_token_lifetime,
        id_token_lifetime: c.id_token_lifetime,
        id_token_signed_response_alg: c.id_token_signed_response_alg,
        from_config: c.from_config,
        created_at: truncate(c.created_at),
        updated_at: truncate(c.updated_at),
    }
}

fn from_model(m: client::Model) -> StoreResult<Client> {
    let grant_types = from_json_strings(m.grant_types, "clients.grant_types")?
        .iter()
        .map(|g| GrantType::parse(g).ok_or_else(|| StoreError::Internal(format!("unknown grant type {g:?}"))))
        .collect::<StoreResult<Vec<_>>>()?;
    let auth_method = TokenEndpointAuthMethod::parse(&m.token_endpoint_auth_method).ok_or_else(|| {
        StoreError::Internal(format!("unknown token_endpoint_auth_method {:?}", m.token_endpoint_auth_method))
    })?;
    Ok(Client {
        id: ClientId(m.client_id),
        secret_hash: m.secret_hash.map(TokenHash::from_stored),
        name: m.name,
        redirect_uris: from_json_strings(m.redirect_uris, "clients.redirect_uris")?,
        post_logout_redirect_uris: from_json_strings(m.post_logout_redirect_uris, "clients.post_logout_redirect_uris")?,
        grant_types,
        scopes: from_json_strings(m.scopes, "clients.scopes")?,
        public: m.public,
        first_party: m.first_party,
        token_endpoint_auth_method: auth_method,
        access_token_lifetime: m.access_token_lifetime,
        refresh_token_lifetime: m.refresh_token_lifetime,
        id_token_lifetime: m.id_token_lifetime,
        id_token_signed_response_alg: m.id_token_signed_response_alg,
        from_config: m.from_config,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// Every column an update may change: all but the key and `created_at`.
const UPDATABLE: [client::Column; 15] = [
    client::Column::SecretHash,
    client::Column::Name,
    client::Column::RedirectUris,
    client::Column::PostLogoutRedirectUris,
    client::Column::GrantTypes,
    client::Column::Scopes,
    client::Column::Public,
    client::Column::FirstParty,
    client::Column::TokenEndpointAuthMethod,
    client::Column::AccessTokenLifetime,
    client::Column::RefreshTokenLifetime,
    client::Column::IdTokenLifetime,
    client::Column::IdTokenSignedResponseAlg,
    client::Column::FromConfig,
    client::Column::UpdatedAt,
];

impl SeaStore {
    /// The client record [`ClientStore::find_client`] read less than [`CLIENT_CACHE_TTL`] ago, if
    /// any, without asking the database; see [`ClientCache`] for how stale that can be. For client
    /// authentication only: pages that show or edit a client read it fresh.
    pub fn cached_client(&self, id: &ClientId) -> Option<Client> {
        self.clients.get(&id.0)
    }

    async fn read_client(&self, id: &str) -> StoreResult<Client> {
        let found = by_primary_key(client::Entity::find_by_id(id.to_owned()), self.db()).await.store()?;
        found.map(from_model).ok_or_else(|| StoreError::NotFound("client".to_owned()))?
    }
}

#[async_trait]
impl ClientStore for SeaStore {
    async fn insert_client(&self, c: Client) -> StoreResult<Client> {
        let model = to_model(c);
        let active: client::ActiveModel = model.clone().into();
        client::Entity::insert(active).exec_without_returning(self.writer()).await.store()?;
        self.clients.clear();
        from_model(model)
    }

    async fn upsert_client(&self, c: Client) -> StoreResult<Client> {
        let id = c.id.0.clone();
        let active: client::ActiveModel = to_model(c).into();
        client::Entity::insert(active)
            .on_conflict(OnConflict::column(client::Column::ClientId).update_columns(UPDATABLE).to_owned())
            .exec_without_returning(self.writer())
            .await
            .store()?;
        self.clients.clear();
        // Read back: on an update the stored `created_at` is the original one, not the caller's.
        self.read_client(&id).await
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        let generation = self.clients.generation.load(Ordering::Acquire);
        let found = by_primary_key(client::Entity::find_by_id(id.0.clone()), self.db())
            .await
            .store()?
            .map(from_model)
            .transpose()?;
        if let Some(client) = &found {
            self.clients.put(generation, client);
        }
        Ok(found)
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows = client::Entity::find().order_by_asc(client::Column::ClientId).all(self.db()).await.store()?;
        rows.into_iter().map(from_model).collect()
    }

    async fn update_client(&self, c: Client) -> StoreResult<Client> {
        let id = c.id.0.clone();
        // From<Model> marks every field Unchanged, which an UPDATE skips: reset_all marks them Set.
        let mut active = client::ActiveModel::from(to_model(c)).reset_all();
        active.client_id = sea_orm::ActiveValue::NotSet;
        active.created_at = sea_orm::ActiveValue::NotSet;
        let res = client::Entity::update_many()
            .set(active)
            .filter(client::Column::ClientId.eq(id.as_str()))
            .exec(self.writer())
            .await
            .store()?;
        self.clients.clear();
        changed(res.rows_affected, "client")?;
        self.read_client(&id).await
    }

    async fn update_client_secret(&self, id: &ClientId, secret_hash: TokenHash, now: DateTime<Utc>) -> StoreResult<()> {
        let update = client::ActiveModel {
            secret_hash: Set(Some(secret_hash.as_str().to_owned())),
            updated_at: Set(truncate(now)),
            ..Default::default()
        };
        let res = client::Entity::update_many()
            .set(update)
            .filter(client::Column::ClientId.eq(id.0.as_str()))
            .exec(self.writer())
            .await
            .store()?;
        self.clients.clear();
        changed(res.rows_affected, "client")
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        // Codes, tokens and consents of the client go with it: ON DELETE CASCADE in the schema.
        let res = client::Entity::delete_by_id(id.0.clone()).exec(self.writer()).await.store()?;
        self.clients.clear();
        Ok(res.rows_affected > 0)
    }
}
