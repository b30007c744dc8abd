//! Checkout tokens: a stateless HMAC (HS256 JWT) over the order id, the buyer and an expiry.
//! `POST /v1/checkout` issues one with a fresh order id; placing that order requires it.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Keeps checkout tokens and bearer tokens apart even though both derive from one secret.
const KEY_CONTEXT: &str = "orders/checkout-token/v1:";

#[derive(Debug, Serialize, Deserialize)]
struct CheckoutClaims {
    /// The buyer.
    sub: String,
    /// The pre-issued order id (decimal).
    oid: String,
    exp: i64,
}

/// Issues and verifies checkout tokens.
#[derive(Clone)]
pub struct CheckoutTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for CheckoutTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckoutTokens(<redacted>)")
    }
}

impl CheckoutTokens {
    /// Keys derived from the configured secret.
    pub fn new(secret: &str) -> Self {
        let key = format!("{KEY_CONTEXT}{secret}");
        Self {
            encoding: EncodingKey::from_secret(key.as_bytes()),
            decoding: DecodingKey::from_secret(key.as_bytes()),
        }
    }

    /// A token allowing `buyer` to place order `order_id` until `expires_at_secs`.
    pub fn issue(
        &self,
        order_id: u64,
        buyer: &str,
        expires_at_secs: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let claims = CheckoutClaims {
            sub: buyer.to_owned(),
            oid: order_id.to_string(),
            exp: expires_at_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Whether `token` is a valid, unexpired token for this buyer and order id.
    pub fn verify(&self, token: &str, order_id: u64, buyer: &str) -> bool {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        jsonwebtoken::decode::<CheckoutClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims.sub == buyer && data.claims.oid == order_id.to_string())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    #[test]
    fn a_token_is_valid_for_its_buyer_and_order_only() {
        let tokens = CheckoutTokens::new("s");
        let token = tokens.issue(42, "b-1", later()).unwrap();
        assert!(tokens.verify(&token, 42, "b-1"));
        assert!(!tokens.verify(&token, 43, "b-1"));
        assert!(!tokens.verify(&token, 42, "b-2"));
        assert!(!CheckoutTokens::new("other").verify(&token, 42, "b-1"));
    }

    #[test]
    fn an_expired_or_bearer_token_is_not_a_checkout_token() {
        let tokens = CheckoutTokens::new("s");
        let expired = tokens
            .issue(42, "b-1", chrono::Utc::now().timestamp() - 1)
            .unwrap();
        assert!(!tokens.verify(&expired, 42, "b-1"));
        let bearer = crate::auth::TokenKeys::new("s")
            .issue("b-1", crate::auth::Role::Buyer, 0, i64::MAX / 2)
            .unwrap();
        assert!(!tokens.verify(&bearer, 42, "b-1"));
    }
}
