//! Message type indicator (ISO 8583:1987 clause 4.2): four decimal digits for
//! version, class, function and origin. paytap sends it as four ASCII digits.

use crate::Error;
use std::fmt;

/// A message type indicator such as `0100`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

impl Mti {
    /// 0100 authorization request.
    pub const AUTHORIZATION_REQUEST: Mti = Mti(*b"0100");
    /// 0110 authorization request response.
    pub const AUTHORIZATION_RESPONSE: Mti = Mti(*b"0110");
    /// 0120 authorization advice (e.g. a stand-in decision taken on the issuer's behalf).
    pub const AUTHORIZATION_ADVICE: Mti = Mti(*b"0120");
    /// 0130 authorization advice response.
    pub const AUTHORIZATION_ADVICE_RESPONSE: Mti = Mti(*b"0130");
    /// 0200 financial transaction request.
    pub const FINANCIAL_REQUEST: Mti = Mti(*b"0200");
    /// 0210 financial transaction request response.
    pub const FINANCIAL_RESPONSE: Mti = Mti(*b"0210");
    /// 0220 financial transaction advice (capture of an authorization's hold).
    pub const FINANCIAL_ADVICE: Mti = Mti(*b"0220");
    /// 0230 financial transaction advice response.
    pub const FINANCIAL_ADVICE_RESPONSE: Mti = Mti(*b"0230");
    /// 0400 acquirer reversal request.
    pub const REVERSAL_REQUEST: Mti = Mti(*b"0400");
    /// 0410 acquirer reversal request response.
    pub const REVERSAL_RESPONSE: Mti = Mti(*b"0410");
    /// 0420 acquirer reversal advice.
    pub const REVERSAL_ADVICE: Mti = Mti(*b"0420");
    /// 0430 acquirer reversal advice response.
    pub const REVERSAL_ADVICE_RESPONSE: Mti = Mti(*b"0430");
    /// 0800 network management request (echo, sign-on, key change).
    pub const NETWORK_REQUEST: Mti = Mti(*b"0800");
    /// 0810 network management request response.
    pub const NETWORK_RESPONSE: Mti = Mti(*b"0810");

    /// Parse four ASCII digits.
    pub fn from_bytes(b: &[u8]) -> Result<Mti, Error> {
        match b {
            [a, b, c, d] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
                Ok(Mti([*a, *b, *c, *d]))
            }
            _ => Err(Error::InvalidMti),
        }
    }

    /// Parse a string such as `"0100"`.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(s: &str) -> Result<Mti, Error> {
        Mti::from_bytes(s.as_bytes())
    }

    /// The four ASCII digits.
    pub const fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }

    /// The MTI as a string slice.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an Mti is four ASCII digits by construction")
    }

    /// Message class digit (1 authorization, 2 financial, 4 reversal, 8 network ...).
    pub const fn class(&self) -> u8 {
        self.0[1] - b'0'
    }

    /// Message function digit (0 request, 1 request response, 2 advice, 3 advice response ...).
    pub const fn function(&self) -> u8 {
        self.0[2] - b'0'
    }

    /// Is this a request or an advice (even function digit), i.e. does it expect a response?
    pub const fn is_request(&self) -> bool {
        self.function().is_multiple_of(2)
    }

    /// The MTI of the response to this request or advice (0100 -> 0110, 0420 -> 0430),
    /// or `None` when this is already a response.
    pub const fn response(&self) -> Option<Mti> {
        if !self.is_request() {
            return None;
        }
        let mut r = self.0;
        r[2] += 1;
        Some(Mti(r))
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mti({})", self.as_str())
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mti {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mti, Error> {
        Mti::from_bytes(s.as_bytes())
    }
}
