//! Bearer JWT authentication (HS256): who is calling and in which role.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// The roles a caller can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Places and pays for orders; sees only their own.
    Buyer,
    /// Sells products; sees only orders of their products.
    Seller,
    /// Operates the platform.
    Ops,
    /// The payment provider's callbacks.
    PaymentProvider,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
}

/// Signs and verifies tokens with the configured secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Keys for an HS256 secret.
    pub fn new(secret: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A bearer token for `subject` in `role`, valid for `ttl_secs` from `now_secs`.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        now_secs: i64,
        ttl_secs: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            iat: now_secs,
            exp: now_secs.saturating_add(ttl_secs),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    fn verify(&self, token: &str) -> Option<Principal> {
        let validation = Validation::new(Algorithm::HS256);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        Some(Principal {
            subject: data.claims.sub,
            role: data.claims.role,
        })
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject: a buyer id, a seller id, an operator or a provider name.
    pub subject: String,
    /// The token's role.
    pub role: Role,
}

impl Principal {
    /// The caller if it has `role`, else 403.
    pub fn require(&self, role: Role) -> Result<&Self, Problem> {
        if self.role == role {
            Ok(self)
        } else {
            Err(Problem::forbidden(format!(
                "this operation needs the {role:?} role"
            )))
        }
    }

    /// How the caller is recorded as the actor in event metadata.
    pub fn actor(&self) -> String {
        let role = match self.role {
            Role::Buyer => "buyer",
            Role::Seller => "seller",
            Role::Ops => "ops",
            Role::PaymentProvider => "payment-provider",
        };
        format!("{role}:{}", self.subject)
    }
}

impl FromRequest for Principal {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let principal = req
            .app_data::<web::Data<TokenKeys>>()
            .zip(
                req.headers()
                    .get(actix_web::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer ")),
            )
            .and_then(|(keys, token)| keys.verify(token.trim()));
        ready(principal.ok_or_else(Problem::unauthorized))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let keys = TokenKeys::new("s1");
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue("42", Role::Buyer, now, 60).unwrap();
        assert_eq!(
            keys.verify(&token),
            Some(Principal {
                subject: "42".into(),
                role: Role::Buyer
            })
        );
        assert_eq!(TokenKeys::new("s2").verify(&token), None);
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = TokenKeys::new("s1");
        let long_ago = chrono::Utc::now().timestamp() - 3_600;
        let token = keys.issue("42", Role::Buyer, long_ago, 60).unwrap();
        assert_eq!(keys.verify(&token), None);
    }
}
