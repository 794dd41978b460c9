//! [`text_enum!`](crate::text_enum): one definition of a status's text, for
//! the database column and the API alike.

use thiserror::Error;

/// A stored or received text that names no value of a [`text_enum!`]
/// enum: a row written by something else, or a typo in a request. It is
/// answered as an error, never guessed at.
///
/// [`text_enum!`]: crate::text_enum
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} {text:?}")]
pub struct UnknownText {
    /// The enum's name (`CardStatus`, `DeviceStatus`, ...).
    pub what: &'static str,
    /// The text as given.
    pub text: String,
}

/// Declares a status-like enum whose values are stored and shown as text.
///
/// Each variant is written once with its text (`Active = "active"`), and
/// the macro derives from that single table:
/// * `ALL`, every value in declaration order;
/// * `as_str`, the text written to the database and into API answers;
/// * `FromStr`, the inverse, failing with [`UnknownText`] on anything else;
/// * `Display`, the same text.
///
/// So the database column and the API keep one spelling, and a status is
/// compared as a value, never as a string. Attributes (derives, serde's
/// `rename_all`, docs) pass through; a serde rename must spell the texts
/// the same way (each user tests that the two agree).
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and shown in APIs.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::UnknownText;

            fn from_str(s: &str) -> ::core::result::Result<$name, $crate::UnknownText> {
                match s {
                    $($text => ::core::result::Result::Ok($name::$variant),)+
                    _ => ::core::result::Result::Err($crate::UnknownText {
                        what: stringify!($name),
                        text: s.to_owned(),
                    }),
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// A test status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Light {
            /// Go.
            Green = "green",
            /// Stop.
            Red = "red",
        }
    }

    #[test]
    fn text_round_trips_and_unknown_text_is_an_error() {
        for &l in Light::ALL {
            assert_eq!(l.as_str().parse::<Light>(), Ok(l));
            assert_eq!(l.to_string(), l.as_str());
        }
        assert_eq!(Light::ALL, &[Light::Green, Light::Red]);
        let err = "Green".parse::<Light>().unwrap_err();
        assert_eq!(err.to_string(), "unknown Light \"Green\"");
        assert_eq!("".parse::<Light>().unwrap_err().what, "Light");
    }
}
