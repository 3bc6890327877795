//! latchkey-core: the rules of the identity provider.
//!
//! This crate owns the domain types (accounts, clients, sessions, grants, keys), the validation
//! rules and the small storage traits those rules need. It must never know about HTTP, SQL or
//! any other I/O: the server crate speaks HTTP, the store crate speaks SQL, and both meet here.

pub mod account;
pub mod authorize;
pub mod client;
pub mod clock;
pub mod error;
pub mod grants;
pub mod introspect;
pub mod jws;
pub mod keys;
pub mod model;
pub mod password;
pub mod scope;
pub mod secret;
pub mod session;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod userinfo;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::StoreError;
