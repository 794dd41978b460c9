//! Prepaid mobile recharge: operators, telecom circles, the plan catalogue,
//! a number's operator and circle guessed from its series, and a recharge
//! request checked before any money moves.

use crate::BbpsError;
use crate::billers::is_mobile;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The embedded default operators, circles and plans.
pub const DEFAULT_RECHARGE_TOML: &str = include_str!("recharge.toml");
/// Digits of a number series (the prefix a series is allotted by).
pub const SERIES_DIGITS: usize = 4;
/// Most plans one operator may list: the catalogue is answered whole.
pub const MAX_PLANS_PER_OPERATOR: usize = 200;
/// Longest operator, circle or plan id.
pub const MAX_ID_LEN: usize = 16;

/// A telecom circle (licence area).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Circle {
    /// Its two-letter code (`KA`).
    pub code: String,
    /// Its name.
    pub name: String,
}

/// A number series allotted to an operator in a circle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// The first [`SERIES_DIGITS`] digits.
    pub prefix: String,
    /// The circle it was allotted in.
    pub circle: String,
}

/// A prepaid plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Its id (`JIO299`).
    pub id: String,
    /// What it costs, paise.
    pub price: u64,
    /// How many days it lasts.
    pub validity_days: u32,
    /// Its data allowance, as the operator words it.
    pub data: String,
    /// Calls and messages, as the operator words it.
    pub description: String,
    /// The circles it is sold in; empty: all.
    #[serde(default)]
    pub circles: Vec<String>,
}

impl Plan {
    /// Whether it is sold in `circle`.
    pub fn sold_in(&self, circle: &str) -> bool {
        self.circles.is_empty() || self.circles.iter().any(|c| c == circle)
    }
}

/// A prepaid operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operator {
    /// Its id (`JIO`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its collection address for UPI, at the aggregator.
    pub vpa: String,
    /// Its merchant category code.
    pub mcc: String,
    /// Its number series.
    pub series: Vec<Series>,
    /// Its plans.
    pub plans: Vec<Plan>,
}

/// A number's operator and circle, guessed from its series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    /// The operator's id.
    pub operator: String,
    /// The circle's code.
    pub circle: String,
}

/// A recharge that passed every check: number, operator, circle and plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RechargeOrder {
    /// The mobile number.
    pub mobile: String,
    /// The operator's id.
    pub operator: String,
    /// The circle's code.
    pub circle: String,
    /// The plan.
    pub plan: Plan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RechargeFile {
    circles: Vec<Circle>,
    operator: Vec<Operator>,
}

/// Operators, circles and plans.
#[derive(Debug, Clone)]
pub struct Recharges {
    circles: Vec<Circle>,
    operators: BTreeMap<String, Operator>,
}

fn short_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Recharges {
    /// The embedded defaults: Jio, Airtel, Vi and BSNL.
    pub fn default_operators() -> Recharges {
        Recharges::from_toml(DEFAULT_RECHARGE_TOML).expect("the embedded recharge.toml is valid")
    }

    /// Reads and checks a recharge file.
    pub fn from_toml(text: &str) -> Result<Recharges, BbpsError> {
        let file: RechargeFile =
            toml::from_str(text).map_err(|e| BbpsError::Config(e.message().to_owned()))?;
        let mut r = Recharges {
            circles: file.circles,
            operators: BTreeMap::new(),
        };
        for op in file.operator {
            r.check(&op)
                .map_err(|why| BbpsError::Config(format!("operator {:?}: {why}", op.id)))?;
            if r.operators.contains_key(&op.id) {
                return Err(BbpsError::Config(format!("operator {:?} repeated", op.id)));
            }
            r.operators.insert(op.id.clone(), op);
        }
        Ok(r)
    }

    fn check(&self, op: &Operator) -> Result<(), String> {
        if !short_id(&op.id) {
            return Err("id: 1 to 16 upper-case letters and digits".into());
        }
        if op.plans.is_empty() || op.plans.len() > MAX_PLANS_PER_OPERATOR {
            return Err("plans: one to 200".into());
        }
        for s in &op.series {
            let digits =
                s.prefix.len() == SERIES_DIGITS && s.prefix.bytes().all(|b| b.is_ascii_digit());
            if !digits || self.circle(&s.circle).is_none() {
                return Err(format!(
                    "series {:?}: four digits in a known circle",
                    s.prefix
                ));
            }
            if self.detect_series(&s.prefix).is_some() {
                return Err(format!("series {:?} belongs to two operators", s.prefix));
            }
        }
        for p in &op.plans {
            let circles_ok = p.circles.iter().all(|c| self.circle(c).is_some());
            if !short_id(&p.id) || p.price == 0 || p.validity_days == 0 || !circles_ok {
                return Err(format!("plan {:?}: id, price, validity or circles", p.id));
            }
        }
        Ok(())
    }

    fn detect_series(&self, prefix: &str) -> Option<Detected> {
        self.operators.values().find_map(|op| {
            op.series
                .iter()
                .find(|s| s.prefix == prefix)
                .map(|s| Detected {
                    operator: op.id.clone(),
                    circle: s.circle.clone(),
                })
        })
    }

    /// Every circle.
    pub fn circles(&self) -> &[Circle] {
        &self.circles
    }

    /// One circle.
    pub fn circle(&self, code: &str) -> Option<&Circle> {
        self.circles.iter().find(|c| c.code == code)
    }

    /// Every operator, by id.
    pub fn operators(&self) -> impl Iterator<Item = &Operator> {
        self.operators.values()
    }

    /// One operator.
    pub fn operator(&self, id: &str) -> Result<&Operator, BbpsError> {
        self.operators.get(id).ok_or(BbpsError::UnknownOperator)
    }

    /// The operator and circle of `mobile` by its series, where the series
    /// is known. A malformed number is an error; an unknown series is `None`.
    pub fn detect(&self, mobile: &str) -> Result<Option<Detected>, BbpsError> {
        if !is_mobile(mobile) {
            return Err(BbpsError::InvalidMobile);
        }
        Ok(self.detect_series(&mobile[..SERIES_DIGITS]))
    }

    /// The plans `operator` sells in `circle`.
    pub fn plans(&self, operator: &str, circle: &str) -> Result<Vec<&Plan>, BbpsError> {
        let op = self.operator(operator)?;
        self.circle(circle).ok_or(BbpsError::UnknownCircle)?;
        Ok(op.plans.iter().filter(|p| p.sold_in(circle)).collect())
    }

    /// Checks a recharge: the number, the operator (or the one its series
    /// says), the circle (likewise), and a plan that operator sells there.
    pub fn order(
        &self,
        mobile: &str,
        operator: Option<&str>,
        circle: Option<&str>,
        plan_id: &str,
    ) -> Result<RechargeOrder, BbpsError> {
        let detected = self.detect(mobile)?;
        let operator = operator
            .map(str::to_owned)
            .or_else(|| detected.as_ref().map(|d| d.operator.clone()))
            .ok_or(BbpsError::OperatorNotDetected)?;
        let circle = circle
            .map(str::to_owned)
            .or_else(|| detected.map(|d| d.circle))
            .ok_or(BbpsError::OperatorNotDetected)?;
        let plan = self
            .plans(&operator, &circle)?
            .into_iter()
            .find(|p| p.id == plan_id)
            .ok_or(BbpsError::UnknownPlan)?
            .clone();
        Ok(RechargeOrder {
            mobile: mobile.to_owned(),
            operator,
            circle,
            plan,
        })
    }
}

// Rupee amounts are written the Indian way, then paise: `299_00` is ₹299.00.
#[allow(clippy::inconsistent_digit_grouping)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_operators_in_twenty_two_circles() {
        let r = Recharges::default_operators();
        let ids: Vec<_> = r.operators().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["AIRTEL", "BSNL", "JIO", "VI"]);
        assert_eq!(r.circles().len(), 22);
    }

    #[test]
    fn the_series_names_operator_and_circle_where_it_is_known() {
        let r = Recharges::default_operators();
        let d = r.detect("7019123456").unwrap().unwrap();
        assert_eq!((d.operator.as_str(), d.circle.as_str()), ("JIO", "KA"));
        assert_eq!(r.detect("7777123456").unwrap(), None);
        assert_eq!(r.detect("5019123456"), Err(BbpsError::InvalidMobile));
        assert_eq!(r.detect("70191234"), Err(BbpsError::InvalidMobile));
    }

    #[test]
    fn an_order_fills_in_what_the_series_says_and_checks_the_plan() {
        let r = Recharges::default_operators();
        let o = r.order("7019123456", None, None, "JIO299").unwrap();
        assert_eq!(
            (o.operator.as_str(), o.circle.as_str(), o.plan.price),
            ("JIO", "KA", 299_00)
        );
        // A ported number: the person names the operator.
        let ported = r
            .order("7019123456", Some("AIRTEL"), None, "AIR349")
            .unwrap();
        assert_eq!(ported.circle, "KA");
        assert_eq!(
            r.order("7777123456", None, None, "JIO299"),
            Err(BbpsError::OperatorNotDetected)
        );
        assert_eq!(
            r.order("7019123456", None, None, "AIR349"),
            Err(BbpsError::UnknownPlan)
        );
        // Vi's 979 is not sold in Karnataka.
        assert_eq!(
            r.order("7019123456", Some("VI"), Some("KA"), "VI979"),
            Err(BbpsError::UnknownPlan)
        );
        assert!(r.order("9820123456", None, None, "VI979").is_ok());
        assert_eq!(
            r.order("7019123456", Some("JIO"), Some("ZZ"), "JIO299"),
            Err(BbpsError::UnknownCircle)
        );
        assert_eq!(
            r.order("7019123456", Some("AIRCEL"), None, "JIO299"),
            Err(BbpsError::UnknownOperator)
        );
    }
}
