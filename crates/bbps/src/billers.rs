//! The billers: who can be paid, under which category, at which UPI address
//! and merchant category code, and the customer parameters each identifies
//! an account by (validated here, before any biller is asked).

use crate::BbpsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The embedded default billers.
pub const DEFAULT_BILLERS_TOML: &str = include_str!("billers.toml");
/// Longest biller id (BBPS biller ids are short codes).
pub const MAX_BILLER_ID_LEN: usize = 32;
/// Most customer parameters one biller asks for (BBPS billers ask for up to
/// five).
pub const MAX_PARAMS: usize = 5;
/// Longest value of one customer parameter, whatever the biller says: a
/// bound on what a request may make us store and send.
pub const MAX_PARAM_LEN: usize = 40;
/// Digits of an Indian mobile number.
pub const MOBILE_DIGITS: usize = 10;
/// Most billers a catalogue may hold: every lookup is in memory.
pub const MAX_BILLERS: usize = 10_000;

/// What a biller bills for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Electricity.
    Electricity,
    /// Piped water.
    Water,
    /// Piped gas.
    Gas,
    /// Broadband and landline.
    Broadband,
    /// Direct-to-home television.
    Dth,
    /// A postpaid mobile plan.
    MobilePostpaid,
}

impl Category {
    /// Every category, in the order a person sees them.
    pub const ALL: [Category; 6] = [
        Category::Electricity,
        Category::Water,
        Category::Gas,
        Category::Broadband,
        Category::Dth,
        Category::MobilePostpaid,
    ];

    /// The word in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Electricity => "electricity",
            Category::Water => "water",
            Category::Gas => "gas",
            Category::Broadband => "broadband",
            Category::Dth => "dth",
            Category::MobilePostpaid => "mobile_postpaid",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = BbpsError;

    fn from_str(s: &str) -> Result<Category, BbpsError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(BbpsError::UnknownCategory)
    }
}

/// What characters a customer parameter may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Decimal digits only.
    Digits,
    /// ASCII letters and digits.
    Alphanumeric,
    /// An Indian mobile number: ten digits, the first 6 to 9.
    Mobile,
}

/// One customer parameter a biller asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Its name in requests (`account_id`).
    pub name: String,
    /// What a person reads (`Account ID`).
    pub label: String,
    /// Which characters.
    pub kind: ParamKind,
    /// Shortest value.
    pub min: usize,
    /// Longest value.
    pub max: usize,
}

impl ParamSpec {
    /// Whether `value` is one this parameter accepts.
    pub fn accepts(&self, value: &str) -> bool {
        let len_ok = (self.min..=self.max).contains(&value.len());
        len_ok
            && match self.kind {
                ParamKind::Digits => value.bytes().all(|b| b.is_ascii_digit()),
                ParamKind::Alphanumeric => value.bytes().all(|b| b.is_ascii_alphanumeric()),
                ParamKind::Mobile => is_mobile(value),
            }
    }
}

/// Whether `s` is an Indian mobile number: ten digits, the first 6 to 9.
pub fn is_mobile(s: &str) -> bool {
    s.len() == MOBILE_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && matches!(s.as_bytes()[0], b'6'..=b'9')
}

/// One biller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Biller {
    /// Its id (`BESCOM`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it bills for.
    pub category: Category,
    /// Its collection address for UPI, at the aggregator (`bescom@payu`).
    pub vpa: String,
    /// Its merchant category code, for UPI and cards.
    pub mcc: String,
    /// The least an emulated bill of this biller comes to, paise.
    pub amount_min: u64,
    /// The most an emulated bill of this biller comes to, paise.
    pub amount_max: u64,
    /// Days from the bill date to its due date.
    pub due_days: u32,
    /// The customer parameters, in the order a person fills them.
    pub params: Vec<ParamSpec>,
}

/// Customer parameters that passed their biller's rules: by name, every
/// parameter the biller asks for and no other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomerParams(BTreeMap<String, String>);

impl CustomerParams {
    /// The parameters by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// One value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// One line that names the account the same way every time
    /// (`name=value` joined by `&`, by name): the key of a biller's account.
    pub fn canonical(&self) -> String {
        self.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

impl Biller {
    /// Checks `given` against this biller's parameters: each is present and
    /// valid, and none is unknown. The error names the first wrong one.
    pub fn validate(&self, given: &BTreeMap<String, String>) -> Result<CustomerParams, BbpsError> {
        if let Some(name) = given
            .keys()
            .find(|k| !self.params.iter().any(|p| &p.name == *k))
        {
            return Err(BbpsError::UnknownParam(truncate(name)));
        }
        for spec in &self.params {
            let value = given
                .get(&spec.name)
                .ok_or_else(|| BbpsError::MissingParam(spec.name.clone()))?;
            if value.len() > MAX_PARAM_LEN || !spec.accepts(value) {
                return Err(BbpsError::InvalidParam {
                    name: spec.name.clone(),
                    rule: spec.rule(),
                });
            }
        }
        Ok(CustomerParams(given.clone()))
    }

    fn check(&self) -> Result<(), &'static str> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_BILLER_ID_LEN
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !id_ok {
            return Err("id: 1 to 32 upper-case letters and digits");
        }
        let vpa_ok = self
            .vpa
            .split_once('@')
            .is_some_and(|(h, p)| !h.is_empty() && !p.is_empty() && !p.contains('@'));
        if !vpa_ok {
            return Err("vpa: handle@psp");
        }
        if self.mcc.len() != 4 || !self.mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err("mcc: four digits");
        }
        if self.amount_min == 0 || self.amount_min > self.amount_max {
            return Err("amounts: 0 < amount_min <= amount_max");
        }
        if self.params.is_empty() || self.params.len() > MAX_PARAMS {
            return Err("params: one to five");
        }
        let lengths_ok = self
            .params
            .iter()
            .all(|p| p.min >= 1 && p.min <= p.max && p.max <= MAX_PARAM_LEN);
        if !lengths_ok {
            return Err("params: 1 <= min <= max <= 40");
        }
        Ok(())
    }
}

impl ParamSpec {
    /// The rule in words, for an error a person reads.
    pub fn rule(&self) -> String {
        match self.kind {
            ParamKind::Mobile => "a 10-digit mobile number starting 6 to 9".to_owned(),
            ParamKind::Digits if self.min == self.max => format!("{} digits", self.min),
            ParamKind::Digits => format!("{} to {} digits", self.min, self.max),
            ParamKind::Alphanumeric => {
                format!("{} to {} letters and digits", self.min, self.max)
            }
        }
    }
}

/// A parameter name as echoed in an error: at most [`MAX_PARAM_LEN`]
/// characters of it.
fn truncate(s: &str) -> String {
    s.chars().take(MAX_PARAM_LEN).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BillersFile {
    biller: Vec<Biller>,
}

/// The billers, by id.
#[derive(Debug, Clone)]
pub struct Catalogue {
    billers: BTreeMap<String, Biller>,
}

impl Catalogue {
    /// The embedded default billers.
    pub fn default_billers() -> Catalogue {
        Catalogue::from_toml(DEFAULT_BILLERS_TOML).expect("the embedded billers.toml is valid")
    }

    /// Reads and checks a billers file: ids unique, addresses unique, every
    /// biller's fields within their rules.
    pub fn from_toml(text: &str) -> Result<Catalogue, BbpsError> {
        let file: BillersFile =
            toml::from_str(text).map_err(|e| BbpsError::Config(e.message().to_owned()))?;
        if file.biller.len() > MAX_BILLERS {
            return Err(BbpsError::Config("more than 10,000 billers".into()));
        }
        let mut billers = BTreeMap::new();
        for b in file.biller {
            b.check()
                .map_err(|why| BbpsError::Config(format!("biller {:?}: {why}", b.id)))?;
            if billers.values().any(|o: &Biller| o.vpa == b.vpa) {
                return Err(BbpsError::Config(format!(
                    "biller {:?}: vpa repeated",
                    b.id
                )));
            }
            if let Some(old) = billers.insert(b.id.clone(), b) {
                return Err(BbpsError::Config(format!("biller {:?} repeated", old.id)));
            }
        }
        Ok(Catalogue { billers })
    }

    /// One biller.
    pub fn get(&self, id: &str) -> Result<&Biller, BbpsError> {
        self.billers.get(id).ok_or(BbpsError::UnknownBiller)
    }

    /// Every biller, by id.
    pub fn all(&self) -> impl Iterator<Item = &Biller> {
        self.billers.values()
    }

    /// The billers of one category, by id.
    pub fn in_category(&self, category: Category) -> impl Iterator<Item = &Biller> {
        self.all().filter(move |b| b.category == category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_defaults_cover_every_category() {
        let c = Catalogue::default_billers();
        for cat in Category::ALL {
            assert!(c.in_category(cat).next().is_some(), "{cat:?}");
            assert_eq!(cat.as_str().parse::<Category>().unwrap(), cat);
        }
    }

    #[test]
    fn customer_parameters_are_checked_one_by_one() {
        let c = Catalogue::default_billers();
        let msedcl = c.get("MSEDCL").unwrap();
        let good = params(&[
            ("consumer_number", "170012345678"),
            ("billing_unit", "4637"),
        ]);
        let p = msedcl.validate(&good).unwrap();
        assert_eq!(
            p.canonical(),
            "billing_unit=4637&consumer_number=170012345678"
        );

        let short = params(&[("consumer_number", "1700"), ("billing_unit", "4637")]);
        assert_eq!(
            msedcl.validate(&short),
            Err(BbpsError::InvalidParam {
                name: "consumer_number".into(),
                rule: "12 digits".into()
            })
        );
        let missing = params(&[("consumer_number", "170012345678")]);
        assert_eq!(
            msedcl.validate(&missing),
            Err(BbpsError::MissingParam("billing_unit".into()))
        );
        let extra = params(&[
            ("consumer_number", "170012345678"),
            ("billing_unit", "4637"),
            ("pin", "1234"),
        ]);
        assert_eq!(
            msedcl.validate(&extra),
            Err(BbpsError::UnknownParam("pin".into()))
        );

        let postpaid = c.get("AIRTELPOST").unwrap();
        assert!(
            postpaid
                .validate(&params(&[("mobile", "9876543210")]))
                .is_ok()
        );
        assert!(
            postpaid
                .validate(&params(&[("mobile", "1876543210")]))
                .is_err()
        );
        let act = c.get("ACTFIBER").unwrap();
        assert!(act.validate(&params(&[("user_name", "asha2024")])).is_ok());
        assert!(
            act.validate(&params(&[("user_name", "asha 2024")]))
                .is_err()
        );
    }

    #[test]
    fn an_unknown_biller_is_an_error_not_a_default() {
        assert_eq!(
            Catalogue::default_billers().get("NOPE").err(),
            Some(BbpsError::UnknownBiller)
        );
    }

    #[test]
    fn bad_files_are_refused() {
        let one = |extra: &str| {
            format!(
                "[[biller]]\nid = \"X1\"\nname = \"X\"\ncategory = \"water\"\nvpa = \"x@payu\"\n\
                 mcc = \"4900\"\namount_min = 1\namount_max = 2\ndue_days = 1\n{extra}"
            )
        };
        let ok =
            one("params = [{ name = \"n\", label = \"N\", kind = \"digits\", min = 1, max = 2 }]");
        assert!(Catalogue::from_toml(&ok).is_ok());
        assert!(
            Catalogue::from_toml(&format!("{ok}\n{ok}")).is_err(),
            "a repeated biller"
        );
        assert!(Catalogue::from_toml(&one("params = []")).is_err());
        let long =
            one("params = [{ name = \"n\", label = \"N\", kind = \"digits\", min = 1, max = 99 }]");
        assert!(Catalogue::from_toml(&long).is_err());
        assert!(Catalogue::from_toml(&ok.replace("water", "petrol")).is_err());
        assert!(Catalogue::from_toml(&format!("{ok}\nsurprise = 1")).is_err());
    }
}
