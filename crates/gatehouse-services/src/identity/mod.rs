//! Accounts' credentials: password hashing, token signing keys, access tokens,
//! the in-memory session registry that makes revocation immediate, and logging
//! in ([`login`]).

pub mod api_keys;
pub mod keys;
pub mod login;
pub mod mfa;
pub mod password_change;
pub mod passwords;
pub mod roles;
pub mod second_factor;
pub mod sessions;
pub mod throttle;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

pub use keys::{KeyRing, MasterKey};
pub use passwords::{PasswordHasher, PasswordParams};
pub use sessions::SessionRegistry;
pub use throttle::LoginThrottle;
pub use tokens::TokenIssuer;

/// Everything login and token checks need, shared by all requests.
pub struct Identity {
    pub passwords: PasswordHasher,
    pub keys: Arc<KeyRing>,
    pub tokens: TokenIssuer,
    pub sessions: SessionRegistry,
    pub roles: roles::RoleCatalogs,
    pub api_keys: api_keys::ApiKeyCache,
    pub mfa_challenges: mfa::Challenges,
    /// Names the service in authenticator apps.
    pub mfa_issuer: String,
    pub throttle: LoginThrottle,
    pub throttle_per_account: throttle::ThrottlePolicy,
    pub throttle_per_source: throttle::ThrottlePolicy,
    pub refresh_token_ttl: Duration,
}
