//! Signed payment callbacks (Stripe's scheme): the provider sends
//! `Orders-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with each
//! notification, keyed with the secret both sides share (`payment_callback_secret`).
//!
//! The platform checks the MAC over the exact bytes it received, in constant time, and only
//! within [`SIGNATURE_TOLERANCE_SECS`] of its own clock, so a captured notification cannot be
//! replayed later. The payment provider holds no bearer token: this header is its credential.
//! The simulator signs with [`CallbackKey::sign`] and the notify route checks with
//! [`CallbackKey::verify`], so both sides run the same code.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Orders-Signature";
/// How far a signature's timestamp may be from the receiver's clock, either way.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// `v1` signatures one header may carry (several while a secret is rotated); more is refused.
const SIGNATURES_PER_HEADER_MAX: usize = 8;
/// Length of a `v1` value: the hex of a SHA-256 MAC.
const SIGNATURE_HEX_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// Why a callback's signature was refused. Every case answers 401 and records nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Orders-Signature` header.
    #[error("the {SIGNATURE_HEADER} header is missing")]
    Missing,
    /// The header is not `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.
    #[error("the {SIGNATURE_HEADER} header is malformed: {0}")]
    Malformed(&'static str),
    /// The timestamp is outside the tolerance (`age_secs` is negative for the future).
    #[error(
        "the signature's timestamp is {age_secs} s from now, beyond {SIGNATURE_TOLERANCE_SECS} s"
    )]
    Stale {
        /// Receiver's clock minus the signed timestamp.
        age_secs: i64,
    },
    /// No `v1` value is the MAC of this body at this timestamp with the shared secret.
    #[error("no signature matches the body")]
    Mismatch,
}

/// The shared callback secret, keyed once (the key's HMAC state is cloned per message).
#[derive(Clone)]
pub struct CallbackKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackKey(<redacted>)")
    }
}

impl CallbackKey {
    /// The key for `secret`.
    pub fn new(secret: &str) -> Self {
        // HMAC takes a key of any length (a long one is hashed first): this cannot fail
        let mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        Self { mac }
    }

    fn mac_of(&self, timestamp_secs: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `Orders-Signature` value for `body` sent at `timestamp_secs`.
    pub fn sign(&self, timestamp_secs: i64, body: &[u8]) -> String {
        let tag = self.mac_of(timestamp_secs, body).finalize().into_bytes();
        format!("t={timestamp_secs},v1={}", hex::encode(tag))
    }

    /// Checks `header` (the `Orders-Signature` value, if any) against `body` at `now_secs`:
    /// well formed, within the tolerance, and one `v1` value the MAC (compared in constant
    /// time). Other schemes (`v0=…`) are ignored, as Stripe's receivers do.
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let parsed = parse(header)?;
        let age_secs = now_secs.saturating_sub(parsed.timestamp_secs);
        if age_secs.unsigned_abs() > SIGNATURE_TOLERANCE_SECS.unsigned_abs() {
            return Err(SignatureError::Stale { age_secs });
        }
        let mac = self.mac_of(parsed.timestamp_secs, body);
        let matches = parsed
            .signatures
            .iter()
            .any(|tag| mac.clone().verify_slice(tag).is_ok());
        if matches {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// A header's timestamp and its `v1` MACs.
struct Parsed {
    timestamp_secs: i64,
    signatures: Vec<Vec<u8>>,
}

fn parse(header: &str) -> Result<Parsed, SignatureError> {
    let mut timestamp_secs = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("an item is not key=value"))?;
        match key {
            "t" if timestamp_secs.is_some() => {
                return Err(SignatureError::Malformed("more than one t"));
            }
            "t" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                timestamp_secs = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|_| digits)
                        .ok_or(SignatureError::Malformed("t is not unix seconds"))?,
                );
            }
            "v1" if signatures.len() == SIGNATURES_PER_HEADER_MAX => {
                return Err(SignatureError::Malformed("too many v1 values"));
            }
            "v1" if value.len() != SIGNATURE_HEX_LEN => {
                return Err(SignatureError::Malformed("v1 is not 64 hex digits"));
            }
            "v1" => signatures
                .push(hex::decode(value).map_err(|_| SignatureError::Malformed("v1 is not hex"))?),
            _ => {}
        }
    }
    let timestamp_secs = timestamp_secs.ok_or(SignatureError::Malformed("no t"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1"));
    }
    Ok(Parsed {
        timestamp_secs,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"order_id":"42","txn_id":"T-1","amount_cents":1299}"#;

    fn key() -> CallbackKey {
        CallbackKey::new("whsec-test")
    }

    #[test]
    fn a_body_signed_with_the_shared_secret_verifies() {
        let header = key().sign(NOW, BODY);
        assert!(header.starts_with(&format!("t={NOW},v1=")), "{header}");
        assert_eq!(key().verify(Some(&header), BODY, NOW), Ok(()));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // openssl dgst -sha256 -hmac whsec-test over "1800000000.{body}", computed by hand
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"whsec-test").unwrap();
        mac.update(b"1800000000.");
        mac.update(BODY);
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(key().sign(NOW, BODY), format!("t=1800000000,v1={expected}"));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_a_mismatch() {
        let header = CallbackKey::new("someone-else").sign(NOW, BODY);
        assert_eq!(
            key().verify(Some(&header), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_body_changed_after_signing_is_a_mismatch() {
        let header = key().sign(NOW, BODY);
        let tampered = br#"{"order_id":"42","txn_id":"T-1","amount_cents":1}"#;
        assert_eq!(
            key().verify(Some(&header), tampered, NOW),
            Err(SignatureError::Mismatch)
        );
        let mut with_space = BODY.to_vec();
        with_space.push(b' ');
        assert_eq!(
            key().verify(Some(&header), &with_space, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_timestamp_changed_after_signing_is_a_mismatch() {
        let header = key().sign(NOW, BODY);
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert_eq!(
            key().verify(Some(&moved), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_older_than_the_tolerance_is_stale() {
        let header = key().sign(NOW - SIGNATURE_TOLERANCE_SECS, BODY);
        assert_eq!(key().verify(Some(&header), BODY, NOW), Ok(()));
        let header = key().sign(NOW - SIGNATURE_TOLERANCE_SECS - 1, BODY);
        assert_eq!(
            key().verify(Some(&header), BODY, NOW),
            Err(SignatureError::Stale {
                age_secs: SIGNATURE_TOLERANCE_SECS + 1
            })
        );
    }

    #[test]
    fn a_signature_from_beyond_the_tolerance_in_the_future_is_refused() {
        let header = key().sign(NOW + SIGNATURE_TOLERANCE_SECS, BODY);
        assert_eq!(key().verify(Some(&header), BODY, NOW), Ok(()));
        let header = key().sign(NOW + SIGNATURE_TOLERANCE_SECS + 1, BODY);
        assert_eq!(
            key().verify(Some(&header), BODY, NOW),
            Err(SignatureError::Stale {
                age_secs: -SIGNATURE_TOLERANCE_SECS - 1
            })
        );
    }

    #[test]
    fn a_missing_header_is_refused() {
        assert_eq!(key().verify(None, BODY, NOW), Err(SignatureError::Missing));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = key().sign(NOW, BODY);
        let v1 = good.split_once(",v1=").unwrap().1;
        for header in [
            String::new(),
            "garbage".to_owned(),
            format!("v1={v1}"),
            format!("t={NOW}"),
            format!("t=,v1={v1}"),
            format!("t=-{NOW},v1={v1}"),
            format!("t=+{NOW},v1={v1}"),
            format!("t={NOW}.5,v1={v1}"),
            format!("t=99999999999999999999,v1={v1}"),
            format!("t={NOW},t={NOW},v1={v1}"),
            format!("t={NOW},v1={}", &v1[..63]),
            format!("t={NOW},v1={}zz", &v1[..62]),
            format!("t={NOW},v1"),
        ] {
            assert!(
                matches!(
                    key().verify(Some(&header), BODY, NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{header:?}"
            );
        }
    }

    #[test]
    fn one_matching_v1_among_several_verifies_as_during_a_secret_rotation() {
        let old = CallbackKey::new("old-secret").sign(NOW, BODY);
        let new = key().sign(NOW, BODY);
        let old_v1 = old.split_once(",v1=").unwrap().1;
        let both = format!("{new},v1={old_v1},v0=ignored");
        assert_eq!(key().verify(Some(&both), BODY, NOW), Ok(()));
        assert_eq!(
            CallbackKey::new("old-secret").verify(Some(&both), BODY, NOW),
            Ok(())
        );
        let neither = format!("t={NOW},v1={old_v1},v1={old_v1}");
        assert_eq!(
            key().verify(Some(&neither), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_header_with_too_many_v1_values_is_refused() {
        let header = key().sign(NOW, BODY);
        let v1 = header.split_once(",v1=").unwrap().1;
        let many = format!(
            "{header}{}",
            format!(",v1={v1}").repeat(SIGNATURES_PER_HEADER_MAX)
        );
        assert_eq!(
            key().verify(Some(&many), BODY, NOW),
            Err(SignatureError::Malformed("too many v1 values"))
        );
    }
}
