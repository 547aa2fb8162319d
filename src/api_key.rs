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

/// The longest key accepted from a person or a fixture; far beyond any real key, and
/// well within the request header limit.
pub const MAX_KEY_BYTES: usize = 1024;

/// The longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Refuses a key that no request could ever present: an `x-api-key` header value is
/// visible ASCII, with spaces or tabs allowed only between the other characters (HTTP
/// strips them at the ends).
pub fn check_plain(key: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_graphic() || b == b' ' || b == b'\t';
    let trimmed = key.trim_matches([' ', '\t']);
    if key.is_empty()
        || key.len() > MAX_KEY_BYTES
        || trimmed.len() != key.len()
        || !key.bytes().all(allowed)
    {
        return Err(format!(
            "an API key must be 1 to {MAX_KEY_BYTES} characters that an HTTP header can \
             carry: visible ASCII, with spaces only between them (no leading or trailing \
             space, no control character, no non-ASCII letter)"
        ));
    }
    Ok(())
}

/// Refuses a key name that would break `keys list`'s one line per key.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(format!(
            "a key name must be 1 to {MAX_NAME_CHARS} characters, not all spaces, with no \
             control character (tab, newline…)"
        ));
    }
    Ok(())
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
        assert_eq!(check_plain(&a), Ok(()));
    }

    #[test]
    fn keys_a_header_cannot_carry_are_refused() {
        for good in ["demo-key-1", "a b", "!~{}", "x\ty"] {
            assert_eq!(check_plain(good), Ok(()), "{good:?}");
        }
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for bad in [
            "", " key", "key ", "\tkey", "clé", "key\n", "k\u{7f}", &long,
        ] {
            assert!(check_plain(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn key_names_with_control_characters_are_refused() {
        assert_eq!(check_name("ops — rotación 2"), Ok(()));
        for bad in ["", "  ", "a\tb", "a\nb", "a\u{1b}[31m"] {
            assert!(check_name(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
