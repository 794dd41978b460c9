//! # paytap-bbps
//!
//! Bill payments in the style of Bharat BillPay (BBPS) and prepaid mobile
//! recharge, sans-IO: no sockets, no database, no clock (every function that
//! depends on the day takes the instant).
//!
//! - [`billers`]: billers by category (electricity, water, gas, broadband,
//!   DTH, mobile postpaid) from `billers.toml`, each with its UPI collection
//!   address at the aggregator, its merchant category code and its customer
//!   parameters, checked by [`Biller::validate`].
//! - [`bill`]: a fetched bill (name, amount, due date, bill number), the
//!   emulated billers' monthly bill, due-date reminders.
//! - [`recharge`]: Jio, Airtel, Vi and BSNL from `recharge.toml`, the
//!   twenty-two telecom circles, plans, a number's operator and circle
//!   guessed from its series, a recharge checked whole.
//! - [`payment`]: the states of a payment and the one step each calls for:
//!   charge, then the biller's confirmation, or a refund when the biller is
//!   down or refuses. Money taken always ends confirmed or given back.
//!
//! The service that stores these states and talks to the rails and billers
//! is `paytap-bills`.
#![deny(missing_docs)]

pub mod bill;
pub mod billers;
pub mod payment;
pub mod recharge;

pub use bill::{Bill, Reminder, emulated_bill, india_date, reminder};
pub use billers::{Biller, Catalogue, Category, CustomerParams, ParamKind, ParamSpec};
pub use payment::{PayState, Step, StepOutcome};
pub use recharge::{Circle, Detected, Operator, Plan, RechargeOrder, Recharges};

/// Every biller's and operator's UPI collection address with its name:
/// the accounts the aggregator collects into.
pub fn collection_addresses(billers: &Catalogue, operators: &Recharges) -> Vec<(String, String)> {
    billers
        .all()
        .map(|b| (b.vpa.clone(), b.name.clone()))
        .chain(
            operators
                .operators()
                .map(|o| (o.vpa.clone(), o.name.clone())),
        )
        .collect()
}

/// Why a request or a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BbpsError {
    /// No biller has this id.
    #[error("unknown biller")]
    UnknownBiller,
    /// No such category.
    #[error("unknown category")]
    UnknownCategory,
    /// A customer parameter the biller does not ask for.
    #[error("the biller has no customer parameter {0:?}")]
    UnknownParam(String),
    /// A customer parameter the biller asks for is missing.
    #[error("customer parameter {0:?} is missing")]
    MissingParam(String),
    /// A customer parameter breaks its rule.
    #[error("customer parameter {name:?} must be {rule}")]
    InvalidParam {
        /// The parameter.
        name: String,
        /// Its rule in words.
        rule: String,
    },
    /// Not an Indian mobile number.
    #[error("not a mobile number: ten digits starting 6 to 9")]
    InvalidMobile,
    /// No operator has this id.
    #[error("unknown operator")]
    UnknownOperator,
    /// No circle has this code.
    #[error("unknown circle")]
    UnknownCircle,
    /// The operator sells no such plan in the circle.
    #[error("the operator sells no such plan in this circle")]
    UnknownPlan,
    /// The number's series is not known: the operator and circle must be
    /// given.
    #[error("the operator of this number is not known: choose the operator and circle")]
    OperatorNotDetected,
    /// A stored state this code did not write.
    #[error("unknown payment state")]
    UnknownState,
    /// A step's outcome that does not follow from the state (a bug).
    #[error("no such move from state {0}")]
    Transition(&'static str),
    /// A billers or recharge file that is not valid.
    #[error("configuration: {0}")]
    Config(String),
}
