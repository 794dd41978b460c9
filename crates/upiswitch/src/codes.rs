//! The error codes the switch puts in `Resp@errCode`.
//!
//! Where NPCI's public lists of UPI error codes name the case, the code is
//! theirs; the others are paytap's own two-letter codes, chosen not to collide
//! with any code those lists use. A bank's own code for a declined debit (wrong
//! PIN, insufficient funds, ...) is passed through to the payer's PSP unchanged.

/// The amount exceeds a limit (per transaction, per day, or a new binding's).
pub const LIMIT_EXCEEDED: &str = "Z8";
/// The remitter bank did not confirm the debit (no answer): reversed.
pub const DEBIT_TIMEOUT: &str = "U30";
/// The beneficiary bank refused the credit: the debit was reversed.
pub const CREDIT_FAILED: &str = "U31";
/// A collect request expired before the payer answered.
pub const COLLECT_EXPIRED: &str = "U69";
/// The payer declined a collect request.
pub const COLLECT_DECLINED: &str = "ZA";
/// The credit is not confirmed yet: deemed, until a status check resolves it.
pub const DEEMED: &str = "RB";
/// A transaction id already used for a different request (paytap).
pub const DUPLICATE_TXN_ID: &str = "DT";
/// A collect request from a person: only merchants may collect (paytap).
pub const P2P_COLLECT_REFUSED: &str = "PC";
/// A refund that does not match a successful original payment, or exceeds
/// what is left of it to refund (paytap).
pub const REFUND_REFUSED: &str = "RF";
/// A request the switch cannot route or that breaks a rule of its own (no
/// payer account, more than one payee, amounts that differ, a zero amount)
/// (paytap).
pub const BAD_REQUEST: &str = "BR";
/// A status check for a transaction the switch does not know (paytap).
pub const UNKNOWN_TXN: &str = "UT";
/// The payee address is unknown (NPCI: invalid virtual address).
pub const INVALID_ADDRESS: &str = "ZH";
