//! API key secrets: how they are made and the digest under which they are stored.

use sha2::{Digest, Sha256};

/// Every generated key starts with this, so a leaked key is recognisable in a scan.
pub const PREFIX: &str = "cdk_";

/// Random bytes in a generated key: 256 bits from the OS CSPRNG.
const SECRET_BYTES: usize = 32;

/// The SHA-256 digest of an API key: the only form in which a key is stored.
///
/// A plain digest is enough: generated keys carry 256 bits of entropy, so there is
/// nothing for a slow hash to protect, and a lookup by digest cannot leak by timing how
/// much of a key matched.
pub type KeyHash = [u8; 32];

pub fn hash(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// A new key: the prefix and 64 lowercase hex digits.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)?;
    let mut key = String::with_capacity(PREFIX.len() + 2 * SECRET_BYTES);
    key.push_str(PREFIX);
    for b in bytes {
        key.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        key.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_prefixed_long_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.starts_with(PREFIX));
        assert_eq!(a.len(), PREFIX.len() + 64);
        assert!(a[PREFIX.len()..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_ne!(hash(&a), hash(&b));
    }
}
