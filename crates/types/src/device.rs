//! Device form factors and what each can hold.

use serde::{Deserialize, Serialize};

/// Phone, watch or band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A phone: card tokens and QR.
    Phone,
    /// A watch: card tokens and QR.
    Watch,
    /// A fitness band: transit and QR, no payment card tokens (its secure
    /// element has no room for them and it has no screen for verification).
    Band,
}

/// Each kind, its wire name and its capabilities. A table over the closed
/// set of kinds; `as_str`, `parse` and `capabilities` read it.
const KINDS: [(DeviceKind, &str, Capabilities); 3] = [
    (
        DeviceKind::Phone,
        "phone",
        Capabilities {
            card_tokens: true,
            transit: false,
            qr: true,
        },
    ),
    (
        DeviceKind::Watch,
        "watch",
        Capabilities {
            card_tokens: true,
            transit: false,
            qr: true,
        },
    ),
    (
        DeviceKind::Band,
        "band",
        Capabilities {
            card_tokens: false,
            transit: true,
            qr: true,
        },
    ),
];

impl DeviceKind {
    fn row(self) -> &'static (DeviceKind, &'static str, Capabilities) {
        // The table lists the variants in declaration order (checked by a test).
        &KINDS[self as usize]
    }

    /// `"phone"`, `"watch"` or `"band"`.
    pub fn as_str(self) -> &'static str {
        self.row().1
    }

    /// The kind named `s` (lowercase, as [`DeviceKind::as_str`] prints it).
    pub fn parse(s: &str) -> Option<DeviceKind> {
        KINDS.iter().find(|r| r.1 == s).map(|r| r.0)
    }

    /// What credentials this kind of device can hold.
    pub fn capabilities(self) -> Capabilities {
        self.row().2
    }

    /// Can this form factor hold payment card tokens? (A band does transit
    /// and QR only.)
    pub fn holds_card_tokens(self) -> bool {
        self.capabilities().card_tokens
    }
}

/// Credential types a device can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Payment card tokens in the secure element (EMV contactless).
    pub card_tokens: bool,
    /// Transit cards.
    pub transit: bool,
    /// Presenting payment QR codes.
    pub qr: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expect: Option<(DeviceKind, bool, bool, bool)>) {
        let got = DeviceKind::parse(name).map(|k| {
            let c = k.capabilities();
            assert_eq!(k.as_str(), name);
            assert_eq!(k.holds_card_tokens(), c.card_tokens);
            (k, c.card_tokens, c.transit, c.qr)
        });
        assert_eq!(got, expect, "{name:?}");
    }

    #[test]
    fn kinds_and_capabilities() {
        // name, (kind, card tokens, transit, qr)
        check("phone", Some((DeviceKind::Phone, true, false, true)));
        check("watch", Some((DeviceKind::Watch, true, false, true)));
        check("band", Some((DeviceKind::Band, false, true, true)));
        check("Phone", None);
        check("tablet", None);
        check("", None);
    }

    #[test]
    fn table_rows_follow_the_variants_and_serde_uses_the_wire_name() {
        for (i, row) in KINDS.iter().enumerate() {
            assert_eq!(row.0 as usize, i);
            let json = serde_json::to_string(&row.0).unwrap();
            assert_eq!(json, format!("\"{}\"", row.1));
            assert_eq!(serde_json::from_str::<DeviceKind>(&json).unwrap(), row.0);
        }
    }
}
