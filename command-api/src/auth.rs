//! Bearer JWT authentication (HS256): who is calling and in which role.

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};

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
    /// The payment provider, as the actor of its callbacks. It holds no bearer token (its
    /// callbacks are signed: `payments::signature`), so no route accepts this role and
    /// `orders token` does not offer it.
    #[value(skip)]
    PaymentProvider,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    iat: i64,
    exp: i64,
}

/// Seconds a token is still accepted after its `exp` (jsonwebtoken's default leeway, kept).
const EXPIRY_LEEWAY_SECS: i64 = 60;
/// Verified tokens kept at most; when full, the cache starts again empty.
const VERIFIED_TOKENS_MAX: usize = 4_096;

/// Signs and verifies tokens with the configured secret.
///
/// A client sends the same token with every request until it expires, so the tokens verified
/// lately are kept by their text with their principal and expiry: verifying one again (base64,
/// the HMAC, two JSON documents) cost more than the rest of a request's authentication. A kept
/// token is still refused once it expires; a token whose text differs by a byte is verified.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    verified: Arc<Mutex<HashMap<Box<str>, Verified>>>,
}

/// A token that verified: who it names, and until when (`exp`).
#[derive(Clone)]
struct Verified {
    principal: Principal,
    expires_at: i64,
}

impl Verified {
    fn valid_at(&self, now_secs: i64) -> bool {
        self.expires_at.saturating_add(EXPIRY_LEEWAY_SECS) >= now_secs
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Keys for an HS256 secret.
    pub fn new(secret: &str) -> Self {
        // the signature and the claims' shape are jsonwebtoken's to check; the expiry is
        // checked here, against the same clock for kept and new tokens
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            verified: Arc::default(),
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
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// The caller `token` names, when it is signed with this secret and not expired at
    /// `now_secs`.
    fn verify_at(&self, token: &str, now_secs: i64) -> Option<Principal> {
        let kept = self.kept().get(token).cloned();
        let verified = match kept {
            Some(verified) => verified,
            None => {
                let claims =
                    jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
                        .ok()?
                        .claims;
                let verified = Verified {
                    principal: Principal {
                        subject: claims.sub,
                        role: claims.role,
                    },
                    expires_at: claims.exp,
                };
                let mut kept = self.kept();
                if kept.len() >= VERIFIED_TOKENS_MAX {
                    kept.clear();
                }
                kept.insert(token.into(), verified.clone());
                verified
            }
        };
        verified.valid_at(now_secs).then_some(verified.principal)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Verified>> {
        // a panic while the map was held leaves it whole (every change is one call)
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Whether the caller may see an order of `buyer_id` sold by `seller_id`: its buyer and
    /// seller, and operators.
    pub fn may_see(&self, buyer_id: &str, seller_id: &str) -> bool {
        match self.role {
            Role::Ops => true,
            Role::Buyer => self.subject == buyer_id,
            Role::Seller => self.subject == seller_id,
            Role::PaymentProvider => false,
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

    #[test]
    fn a_kept_token_is_refused_once_it_expires() {
        let keys = TokenKeys::new("s1");
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue("42", Role::Buyer, now, 60).unwrap();
        let buyer = Some(Principal {
            subject: "42".into(),
            role: Role::Buyer,
        });
        assert_eq!(keys.verify_at(&token, now), buyer);
        assert_eq!(keys.verify_at(&token, now + 60 + EXPIRY_LEEWAY_SECS), buyer);
        assert_eq!(keys.verify_at(&token, now + 61 + EXPIRY_LEEWAY_SECS), None);
    }

    #[test]
    fn a_token_changed_after_a_kept_one_is_verified() {
        let keys = TokenKeys::new("s1");
        let now = chrono::Utc::now().timestamp();
        let token = keys.issue("42", Role::Buyer, now, 60).unwrap();
        assert!(keys.verify(&token).is_some());
        let forged = keys.issue("43", Role::Ops, now, 60).unwrap();
        let (claims_of_forged, _) = forged.rsplit_once('.').unwrap();
        let (_, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(
            keys.verify(&format!("{claims_of_forged}.{signature}")),
            None
        );
        let mut truncated = token.clone();
        truncated.pop();
        assert_eq!(keys.verify(&truncated), None);
    }

    #[test]
    fn the_kept_tokens_are_bounded() {
        let keys = TokenKeys::new("s1");
        let now = chrono::Utc::now().timestamp();
        for i in 0..=VERIFIED_TOKENS_MAX {
            let token = keys.issue(&i.to_string(), Role::Buyer, now, 60).unwrap();
            assert!(keys.verify(&token).is_some());
        }
        assert!(keys.kept().len() <= VERIFIED_TOKENS_MAX);
    }
}
