//! The sea-orm entities: one module per table of the initial migration. Private to the crate;
//! only `latchkey_core::model` types leave it. Relations are not declared: every query here is
//! single-table, and the foreign keys live in the migration where they are enforced.

pub(crate) mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub username: String,
        pub email: String,
        pub email_key: String,
        pub email_verified: bool,
        pub password_hash: Option<String>,
        pub display_name: Option<String>,
        pub display_name_key: Option<String>,
        pub disabled: bool,
        pub password_change_required: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub description: Option<String>,
        pub builtin: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod account_role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub role_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod client {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "clients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        pub secret_hash: Option<String>,
        pub name: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub redirect_uris: Json,
        #[sea_orm(column_type = "JsonBinary")]
        pub post_logout_redirect_uris: Json,
        #[sea_orm(column_type = "JsonBinary")]
        pub grant_types: Json,
        #[sea_orm(column_type = "JsonBinary")]
        pub scopes: Json,
        pub public: bool,
        pub first_party: bool,
        pub token_endpoint_auth_method: String,
        pub access_token_lifetime: Option<i64>,
        pub refresh_token_lifetime: Option<i64>,
        pub id_token_lifetime: Option<i64>,
        pub id_token_signed_response_alg: String,
        pub from_config: bool,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub secret_hash: String,
        pub account_id: Uuid,
        pub created_at: DateTimeUtc,
        pub last_seen_at: DateTimeUtc,
        pub auth_time: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub remember_me: bool,
        pub user_agent: Option<String>,
        pub client_ip: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod authorization_code {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "authorization_codes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_hash: String,
        pub client_id: String,
        pub account_id: Uuid,
        pub session_id: Option<Uuid>,
        pub redirect_uri: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub scopes: Json,
        pub nonce: Option<String>,
        pub code_challenge: Option<String>,
        pub code_challenge_method: Option<String>,
        pub family_id: Uuid,
        pub auth_time: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub consumed_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token_hash: String,
        pub family_id: Uuid,
        pub parent_hash: Option<String>,
        pub client_id: String,
        pub account_id: Uuid,
        pub session_id: Option<Uuid>,
        #[sea_orm(column_type = "JsonBinary")]
        pub scopes: Json,
        pub auth_time: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub family_expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod access_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "access_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: String,
        pub client_id: String,
        pub account_id: Option<Uuid>,
        pub family_id: Option<Uuid>,
        #[sea_orm(column_type = "JsonBinary")]
        pub scopes: Json,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod consent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "consents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub client_id: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub scopes: Json,
        pub granted_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod signing_key {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub algorithm: String,
        #[sea_orm(column_type = "Blob")]
        pub encrypted_private_key: Vec<u8>,
        #[sea_orm(column_type = "JsonBinary")]
        pub public_jwk: Json,
        pub state: String,
        pub created_at: DateTimeUtc,
        pub activated_at: Option<DateTimeUtc>,
        pub retired_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub at: DateTimeUtc,
        pub event_type: String,
        pub account_id: Option<Uuid>,
        pub actor_id: Option<Uuid>,
        pub client_id: Option<String>,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
        pub outcome: String,
        #[sea_orm(column_type = "JsonBinary")]
        pub detail: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod login_throttle {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_throttle")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub failures: i32,
        pub last_failure_at: DateTimeUtc,
        pub locked_until: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
