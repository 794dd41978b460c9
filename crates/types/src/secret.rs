//! [`Secret`]: the one wrapper for a value that must never be printed.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A value that never prints and is wiped from memory when dropped.
///
/// `Debug` shows `Secret([REDACTED] <type>)`, never the value, and there is
/// no `Display`: a struct holding a key, a PIN, a password or a session
/// token derives `Debug` and stays safe to log. The value is opened only by
/// name, with [`Secret::expose`] (borrowed) or [`Secret::into_inner`]
/// (taken). Equality of byte-like secrets runs in constant time.
///
/// Wrapping costs nothing at run time: it is the value itself, with no
/// allocation and no indirection.
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself, for the one place that has to use it (a cipher,
    /// the wire, a hash).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// The value itself, for changing it in place (it is still wiped when
    /// the wrapper drops).
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Takes the value out. The wrapper is left with `T::default()`, which
    /// is what it wipes when it drops.
    pub fn into_inner(mut self) -> T
    where
        T: Default,
    {
        std::mem::take(&mut self.0)
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Secret<String> {
        Secret(value.to_owned())
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> Zeroize for Secret<T> {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize + Default> Default for Secret<T> {
    fn default() -> Secret<T> {
        Secret(T::default())
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Secret<T> {
        Secret(self.0.clone())
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED] {})", std::any::type_name::<T>())
    }
}

/// Constant time in the contents for equal lengths (byte arrays, byte
/// vectors, strings): comparing a presented secret to a stored one tells
/// nothing of where they differ.
impl<T: Zeroize + AsRef<[u8]>> PartialEq for Secret<T> {
    fn eq(&self, other: &Secret<T>) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl<T: Zeroize + AsRef<[u8]>> Eq for Secret<T> {}

/// Writes the value itself: serializing is an explicit exposure, for the
/// one place a secret must cross (a request body to the service that needs
/// it, a login's answer to its owner). The wire format is the value's own.
impl<T: Zeroize + serde::Serialize> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Reads the value itself, as written by [`Secret`]'s `Serialize`.
impl<'de, T: Zeroize + serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new(String::from("hunter2-pin-1234"));
        let shown = format!("{s:?} {s:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("1234"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");

        let key = Secret::new([0xABu8; 16]);
        let shown = format!("{key:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
        assert_eq!(shown, "Secret([REDACTED] [u8; 16])");
    }

    #[test]
    fn a_struct_deriving_debug_stays_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            user: &'static str,
            password: Secret<String>,
        }
        let l = Login {
            user: "li",
            password: Secret::new("correct horse".into()),
        };
        let shown = format!("{l:?}");
        assert!(shown.contains("li"), "{shown}");
        assert!(!shown.contains("horse"), "{shown}");
    }

    #[test]
    fn expose_and_into_inner_return_the_value() {
        let mut s = Secret::new(vec![1u8, 2, 3]);
        assert_eq!(s.expose(), &[1, 2, 3]);
        s.expose_mut().push(4);
        assert_eq!(s.clone().into_inner(), vec![1, 2, 3, 4]);
        assert_eq!(Secret::from(7u32).expose(), &7);
    }

    #[test]
    fn equality_compares_the_contents() {
        assert_eq!(Secret::new([1u8; 16]), Secret::new([1u8; 16]));
        assert_ne!(Secret::new([1u8; 16]), Secret::new([2u8; 16]));
        assert_eq!(Secret::new(String::from("a")), Secret::new("a".into()));
        assert_ne!(Secret::new(String::from("a")), Secret::new("ab".into()));
    }

    #[test]
    fn zeroize_wipes_the_value() {
        let mut s = Secret::new([9u8; 8]);
        s.zeroize();
        assert_eq!(s.expose(), &[0u8; 8]);
    }

    #[test]
    fn the_wire_carries_the_value_itself() {
        #[derive(serde::Serialize, serde::Deserialize, Debug)]
        struct Login {
            user: String,
            password: Secret<String>,
        }
        let text = r#"{"user":"li","password":"correct horse"}"#;
        let l: Login = serde_json::from_str(text).unwrap();
        assert_eq!(l.password.expose(), "correct horse");
        assert!(!format!("{l:?}").contains("horse"));
        assert_eq!(serde_json::to_string(&l).unwrap(), text);
    }
}
