//! The headers that let a receiver trust a delivery (SPEC 10.3): Standard Webhooks'
//! `webhook-*` trio and the hosted platform's `x-vambe-*` pair.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The signature headers of one attempt, as name and value.
pub fn headers(
    secret: &str,
    event_id: &str,
    body: &str,
    now_ms: i64,
) -> [(&'static str, String); 5] {
    let seconds = now_ms.div_euclid(1000).to_string();
    let millis = now_ms.to_string();
    let standard = mac(&standard_key(secret), &[event_id, ".", &seconds, ".", body]);
    let vambe = mac(secret.as_bytes(), &[&millis, ".", body]);
    [
        ("webhook-id", event_id.to_owned()),
        ("webhook-timestamp", seconds),
        (
            "webhook-signature",
            format!("v1,{}", BASE64.encode(standard)),
        ),
        ("x-vambe-timestamp", millis),
        ("x-vambe-signature", hex::encode(vambe)),
    ]
}

/// Standard Webhooks' key: the bytes after `whsec_`, base64-decoded, for a secret in
/// that form (checked when it was set), else the secret's own bytes.
fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn mac(key: &[u8], parts: &[&str]) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC key"));
    for part in parts {
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification.
    #[test]
    fn signs_the_standard_webhooks_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let h = headers(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            body,
            1_614_265_330_000,
        );
        assert_eq!(h[1].1, "1614265330");
        assert_eq!(h[2].1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_vambe_pair_is_hex_hmac_of_milliseconds_and_body() {
        let h = headers("plain-secret", "e", "{}", 1_700_000_000_123);
        assert_eq!(h[3].1, "1700000000123");
        assert_eq!(
            h[4].1,
            hex::encode(mac(b"plain-secret", &["1700000000123.{}"]))
        );
        assert_eq!(h[4].1.len(), 64);
        // Without the prefix, the standard key is the secret's bytes too.
        assert_eq!(standard_key("plain-secret"), b"plain-secret");
    }
}
