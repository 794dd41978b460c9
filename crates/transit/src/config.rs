//! The operators' configuration: the six default operators
//! (`operators.toml`, embedded) or a file that replaces them. Master keys
//! are never in this file.

use paytap_purse::card::MAX_BALANCE_CEILING;
use paytap_purse::records::SERIAL_LEN;
use paytap_types::Currency;
use serde::{Deserialize, Serialize};

/// The embedded default configuration.
pub const DEFAULT_OPERATORS_TOML: &str = include_str!("operators.toml");
/// The operators' file in a data directory.
pub const OPERATORS_FILE: &str = "operators.toml";
/// Digits of a card number (the 10-byte BCD application serial).
pub const CARD_NUMBER_DIGITS: usize = 2 * SERIAL_LEN;
/// Digits of a city code (two BCD bytes).
pub const CITY_CODE_DIGITS: usize = 4;
/// Longest transfer window: a day.
pub const MAX_TRANSFER_WINDOW_SECS: u32 = 86_400;
/// Most stations one operator's metro may list.
pub const MAX_STATIONS: usize = 1_000;
/// Most fare bands one operator's metro may list.
pub const MAX_FARE_BANDS: usize = 64;
/// Longest id of an operator.
pub const MAX_ID_LEN: usize = 32;
/// Highest card fee an operator may charge, minor units (100 yuan): a fee
/// above it is a typo in the configuration, not a price.
pub const MAX_CARD_FEE: u32 = 10_000;

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or not this schema.
    #[error("transit configuration is not valid TOML: {0}")]
    Toml(String),
    /// One operator's entry is wrong.
    #[error("operator {0:?}: {1}")]
    Operator(String, &'static str),
    /// Two operators' card ranges overlap.
    #[error("card ranges of {0:?} and {1:?} overlap")]
    Overlap(String, String),
    /// Two operators have a station of the same code: a gate's terminal id
    /// is made of its station code, and a T-Union card carries its entry
    /// gate's terminal id to another city, so codes are unique across all
    /// operators (else two cities' records would be taken for the same).
    #[error("station code {0} is used by both {1:?} and {2:?}")]
    StationTwice(u16, String, String),
}

/// Bus fares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bus {
    /// One ride, minor units.
    pub flat_fare: u32,
}

/// One metro fare band: trips up to `up_to_m` metres cost `fare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FareBand {
    /// Longest trip of this band, metres.
    pub up_to_m: u32,
    /// Fare, minor units.
    pub fare: u32,
}

/// A metro station on the operator's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Station {
    /// Station code (what a gate is configured with).
    pub code: u16,
    /// Display name.
    pub name: String,
    /// Position along the line, metres.
    pub position_m: u32,
}

/// Metro fares by distance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metro {
    /// Bands, by increasing distance and non-decreasing fare.
    pub bands: Vec<FareBand>,
    /// Beyond the last band, every started `beyond_every_m` metres ...
    pub beyond_every_m: u32,
    /// ... add this, minor units.
    pub beyond_step: u32,
    /// The stations.
    pub stations: Vec<Station>,
}

/// Transfer discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// A ride starting at most this long after the previous one ended ...
    pub window_secs: u32,
    /// ... costs this much less, minor units (never below zero).
    pub discount: u32,
}

/// One transit operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Short id, lowercase ASCII letters.
    pub id: String,
    /// Display name.
    pub name: String,
    /// City code, four digits (file 0x15 bytes 28–29, BCD).
    pub city_code: String,
    /// Settlement currency.
    pub currency: Currency,
    /// First card number of the range, 20 digits.
    pub card_first: String,
    /// Last card number of the range, 20 digits.
    pub card_last: String,
    /// Least balance a card needs to enter, minor units.
    pub min_entry_balance: u32,
    /// Most a card may hold, minor units.
    pub max_balance: u32,
    /// What issuing a card costs, minor units, paid with a bank card
    /// before the card is personalised; not stored value, never loaded
    /// onto the card (0: free).
    #[serde(default)]
    pub card_fee: u32,
    /// Bus fares.
    pub bus: Bus,
    /// Metro fares.
    pub metro: Metro,
    /// Transfer discount.
    pub transfer: Transfer,
    /// A member of T-Union (JT/T 978): its gates accept the member cards
    /// of the other members (under the national purchase key) and the
    /// cards it issues carry the national keys. Absent: not a member.
    #[serde(default)]
    pub tunion: bool,
}

/// All operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitConfig {
    /// The operators.
    #[serde(rename = "operator")]
    pub operators: Vec<Operator>,
}

/// A card number as its 10 BCD bytes, `None` unless exactly 20 digits.
pub fn serial_from_digits(digits: &str) -> Option<[u8; SERIAL_LEN]> {
    let b = digits.as_bytes();
    if b.len() != CARD_NUMBER_DIGITS || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = [0u8; SERIAL_LEN];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    Some(out)
}

/// A BCD serial as digits (non-BCD nibbles shown as hex).
pub fn serial_digits(serial: &[u8; SERIAL_LEN]) -> String {
    serial.iter().map(|b| format!("{b:02x}")).collect()
}

impl Operator {
    /// Whether this card number (BCD serial) is in the operator's range.
    pub fn owns_card(&self, serial: &[u8; SERIAL_LEN]) -> bool {
        let bcd = serial.iter().all(|b| b >> 4 <= 9 && b & 0x0F <= 9);
        if !bcd {
            return false;
        }
        match (
            serial_from_digits(&self.card_first),
            serial_from_digits(&self.card_last),
        ) {
            (Some(first), Some(last)) => (first..=last).contains(serial),
            _ => false,
        }
    }

    /// The station with this code.
    pub fn station(&self, code: u16) -> Option<&Station> {
        self.metro.stations.iter().find(|s| s.code == code)
    }

    /// Everything consistent; otherwise what is wrong.
    pub fn check(&self) -> Result<(), &'static str> {
        let id_ok = (1..=MAX_ID_LEN).contains(&self.id.len())
            && self.id.bytes().all(|b| b.is_ascii_lowercase());
        if !id_ok {
            return Err("id must be 1 to 32 lowercase ASCII letters");
        }
        let city_ok = self.city_code.len() == CITY_CODE_DIGITS
            && self.city_code.bytes().all(|b| b.is_ascii_digit());
        if !city_ok {
            return Err("city_code must be 4 digits");
        }
        self.check_range()?;
        self.check_balances()?;
        self.metro.check()?;
        if self.transfer.window_secs > MAX_TRANSFER_WINDOW_SECS {
            return Err("transfer window longer than a day");
        }
        Ok(())
    }

    fn check_range(&self) -> Result<(), &'static str> {
        match (
            serial_from_digits(&self.card_first),
            serial_from_digits(&self.card_last),
        ) {
            (Some(first), Some(last)) if first <= last => Ok(()),
            (Some(_), Some(_)) => Err("card_first is above card_last"),
            _ => Err("card_first and card_last must be 20 digits"),
        }
    }

    fn check_balances(&self) -> Result<(), &'static str> {
        if self.max_balance == 0 || self.max_balance > MAX_BALANCE_CEILING {
            return Err("max_balance must be positive and within the purse's ceiling");
        }
        if self.min_entry_balance > self.max_balance {
            return Err("min_entry_balance is above max_balance");
        }
        if self.card_fee > MAX_CARD_FEE {
            return Err("card_fee is above 100 yuan");
        }
        Ok(())
    }
}

impl Metro {
    fn check(&self) -> Result<(), &'static str> {
        if self.bands.is_empty() || self.bands.len() > MAX_FARE_BANDS {
            return Err("metro needs 1 to 64 fare bands");
        }
        let ordered = self
            .bands
            .windows(2)
            .all(|w| w[0].up_to_m < w[1].up_to_m && w[0].fare <= w[1].fare);
        if !ordered {
            return Err("fare bands must grow in distance and not fall in fare");
        }
        if self.beyond_every_m == 0 {
            return Err("beyond_every_m must be positive");
        }
        if self.stations.is_empty() || self.stations.len() > MAX_STATIONS {
            return Err("metro needs 1 to 1000 stations");
        }
        let mut codes: Vec<u16> = self.stations.iter().map(|s| s.code).collect();
        codes.sort_unstable();
        if codes.windows(2).any(|w| w[0] == w[1]) {
            return Err("station code used twice");
        }
        Ok(())
    }
}

impl TransitConfig {
    /// The six default operators.
    pub fn default_operators() -> TransitConfig {
        // The embedded file is validated by a test; an empty configuration
        // rather than a panic if it were ever broken.
        TransitConfig::from_toml(DEFAULT_OPERATORS_TOML).unwrap_or(TransitConfig {
            operators: Vec::new(),
        })
    }

    /// Parses and validates a configuration file's content.
    pub fn from_toml(text: &str) -> Result<TransitConfig, ConfigError> {
        let c: TransitConfig =
            toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// The operators of a data directory: its [`OPERATORS_FILE`] if it has
    /// one (replacing the defaults, as `banks.toml` does the banks), else
    /// the six defaults.
    pub fn for_data_dir(dir: &std::path::Path) -> Result<TransitConfig, ConfigError> {
        let path = dir.join(OPERATORS_FILE);
        if path.exists() {
            TransitConfig::load(&path)
        } else {
            Ok(TransitConfig::default_operators())
        }
    }

    /// Reads and validates a configuration file (same format as the
    /// embedded `operators.toml`), replacing the default operators.
    pub fn load(path: &std::path::Path) -> Result<TransitConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Toml(format!("{}: {e}", path.display())))?;
        TransitConfig::from_toml(&text)
    }

    /// Each operator consistent, ids unique, card ranges disjoint.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, op) in self.operators.iter().enumerate() {
            op.check()
                .map_err(|w| ConfigError::Operator(op.id.clone(), w))?;
            for other in &self.operators[..i] {
                if other.id == op.id {
                    return Err(ConfigError::Operator(op.id.clone(), "id used twice"));
                }
                if ranges_overlap(op, other) {
                    return Err(ConfigError::Overlap(other.id.clone(), op.id.clone()));
                }
                if let Some(code) = shared_station(op, other) {
                    return Err(ConfigError::StationTwice(
                        code,
                        other.id.clone(),
                        op.id.clone(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The operator with this id.
    pub fn operator(&self, id: &str) -> Option<&Operator> {
        self.operators.iter().find(|o| o.id == id)
    }

    /// The operator whose range holds this card.
    pub fn operator_of_card(&self, serial: &[u8; SERIAL_LEN]) -> Option<&Operator> {
        self.operators.iter().find(|o| o.owns_card(serial))
    }

    /// The T-Union members.
    pub fn members(&self) -> impl Iterator<Item = &Operator> {
        self.operators.iter().filter(|o| o.tunion)
    }

    /// Whether a gate of `acceptor` takes this card: its own, or a member
    /// card of another member when `acceptor` is a member too.
    pub fn accepts(&self, acceptor: &Operator, serial: &[u8; SERIAL_LEN]) -> Acceptance {
        match self.operator_of_card(serial) {
            Some(o) if o.id == acceptor.id => Acceptance::Own,
            Some(o) if o.tunion && acceptor.tunion => Acceptance::Tunion(o.id.clone()),
            Some(o) => Acceptance::Refused(Some(o.id.clone())),
            None => Acceptance::Refused(None),
        }
    }
}

/// What a gate of one operator makes of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// The operator's own card: debited under its own key.
    Own,
    /// A member card of this other member (named): debited under the
    /// T-Union key, cleared by the accepting operator.
    Tunion(String),
    /// Not accepted: a card of this operator (named) that is not a
    /// member, or that the gate's operator, not a member, does not take;
    /// `None` for a card of no operator.
    Refused(Option<String>),
}

fn ranges_overlap(a: &Operator, b: &Operator) -> bool {
    // Digit strings of equal length order as their numbers do.
    a.card_first <= b.card_last && b.card_first <= a.card_last
}

/// A station code both operators use, if any.
fn shared_station(a: &Operator, b: &Operator) -> Option<u16> {
    a.metro
        .stations
        .iter()
        .map(|s| s.code)
        .find(|code| b.station(*code).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_without_operators_toml_has_the_six_and_a_file_replaces_them() {
        let dir = std::env::temp_dir().join(format!("paytap-operators-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(OPERATORS_FILE);
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            TransitConfig::for_data_dir(&dir).unwrap().operators.len(),
            6
        );
        // Only the first operator of the defaults: the others are gone.
        let second = DEFAULT_OPERATORS_TOML
            .match_indices("[[operator]]")
            .nth(1)
            .unwrap()
            .0;
        std::fs::write(&path, &DEFAULT_OPERATORS_TOML[..second]).unwrap();
        let c = TransitConfig::for_data_dir(&dir).unwrap();
        assert_eq!(c.operators.len(), 1);
        assert!(c.operator("beijing").is_some() && c.operator("shanghai").is_none());
        std::fs::write(&path, "[[operator]]\nid = 7\n").unwrap();
        let e = TransitConfig::for_data_dir(&dir).unwrap_err().to_string();
        assert!(!e.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn six_default_operators_validate() {
        let c = TransitConfig::from_toml(DEFAULT_OPERATORS_TOML).unwrap();
        let ids: Vec<&str> = c.operators.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "beijing",
                "shanghai",
                "shenzhen",
                "guangzhou",
                "wuhan",
                "lingnan"
            ]
        );
        assert!(c.operators.iter().all(|o| o.currency == Currency::CNY));
        let members: Vec<&str> = c.members().map(|o| o.id.as_str()).collect();
        assert_eq!(
            members,
            ["beijing", "shanghai", "shenzhen", "guangzhou", "wuhan"]
        );
    }

    #[test]
    fn members_accept_each_others_cards_and_a_non_member_only_its_own() {
        let c = TransitConfig::default_operators();
        let card = |id: &str| serial_from_digits(&c.operator(id).unwrap().card_first).unwrap();
        let op = |id: &str| c.operator(id).unwrap();
        let refused = |id: &str| Acceptance::Refused(Some(id.to_owned()));
        // (gate's operator, card's operator, acceptance)
        let table = [
            ("shanghai", "shanghai", Acceptance::Own),
            ("shanghai", "beijing", Acceptance::Tunion("beijing".into())),
            ("wuhan", "shenzhen", Acceptance::Tunion("shenzhen".into())),
            ("shanghai", "lingnan", refused("lingnan")),
            ("lingnan", "beijing", refused("beijing")),
            ("lingnan", "lingnan", Acceptance::Own),
        ];
        for (gate, issuer, expect) in table {
            assert_eq!(
                c.accepts(op(gate), &card(issuer)),
                expect,
                "{gate} {issuer}"
            );
        }
        let none = serial_from_digits("99990000000000000000").unwrap();
        assert_eq!(c.accepts(op("beijing"), &none), Acceptance::Refused(None));
    }

    #[test]
    fn card_numbers_find_their_operator() {
        let c = TransitConfig::default_operators();
        let bj = serial_from_digits("10003104990000001234").unwrap();
        assert_eq!(c.operator_of_card(&bj).unwrap().id, "beijing");
        let none = serial_from_digits("99990000000000000000").unwrap();
        assert!(c.operator_of_card(&none).is_none());
        let mut not_bcd = bj;
        not_bcd[9] = 0x3A;
        assert!(c.operator_of_card(&not_bcd).is_none());
        assert_eq!(serial_digits(&bj), "10003104990000001234");
    }

    #[test]
    fn serial_digits_need_twenty_digits() {
        assert!(serial_from_digits("1234").is_none());
        assert!(serial_from_digits("1000310499000000123x").is_none());
    }

    fn with(edit: impl Fn(&mut Operator)) -> Result<TransitConfig, ConfigError> {
        let mut c = TransitConfig::default_operators();
        edit(&mut c.operators[0]);
        c.validate().map(|_| c)
    }

    type Edit = fn(&mut Operator);

    #[test]
    fn bad_operators_are_refused_with_a_reason() {
        let cases: [(&str, Edit); 9] = [
            ("id", |o| o.id = "Bei Jing".into()),
            ("city", |o| o.city_code = "10".into()),
            ("range", |o| o.card_last = "1".into()),
            ("order", |o| o.card_first = "10009999999999999999".into()),
            ("max", |o| o.max_balance = 0),
            ("min", |o| o.min_entry_balance = o.max_balance + 1),
            ("fee", |o| o.card_fee = MAX_CARD_FEE + 1),
            ("bands", |o| o.metro.bands.reverse()),
            ("window", |o| {
                o.transfer.window_secs = MAX_TRANSFER_WINDOW_SECS + 1
            }),
        ];
        for (what, edit) in cases {
            assert!(
                matches!(with(edit), Err(ConfigError::Operator(..))),
                "{what}"
            );
        }
    }

    #[test]
    fn a_station_code_of_two_operators_is_refused() {
        let mut c = TransitConfig::default_operators();
        let code = c.operators[0].metro.stations[0].code;
        c.operators[1].metro.stations[0].code = code;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::StationTwice(got, ..)) if got == code
        ));
    }

    #[test]
    fn overlapping_ranges_and_twice_used_ids_are_refused() {
        let mut c = TransitConfig::default_operators();
        c.operators[1].card_first = c.operators[0].card_last.clone();
        assert!(matches!(c.validate(), Err(ConfigError::Overlap(..))));
        let mut c = TransitConfig::default_operators();
        c.operators[1].id = "beijing".into();
        assert!(matches!(c.validate(), Err(ConfigError::Operator(..))));
    }

    #[test]
    fn not_toml_is_refused() {
        assert!(matches!(
            TransitConfig::from_toml("operator = 3"),
            Err(ConfigError::Toml(_))
        ));
    }
}
