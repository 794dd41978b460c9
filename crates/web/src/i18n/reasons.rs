//! Why a payment ended as it did, in a sentence a person understands, in
//! each site language: the token service's and the switch's own words
//! where they name the cause exactly, else the response code (ISO
//! 8583:1987 DE 39). A code 12 or 57 on a payment in another currency than
//! the card's bank pays in says so ("This card can't pay in USD").

use paytap_types::Currency;

use super::{Lang, fill};

/// What the history says about a payment's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    WalletSuspended,
    WalletRemoved,
    WalletInactive,
    EntryMethod,
    DataReused,
    CounterStale,
    NotVerified,
    TokenServiceDown,
    WrongCurrency,
    NotSupported,
    CallBank,
    Restricted,
    BankDeclined,
    BadAmount,
    UnknownCard,
    BadRequest,
    Lost,
    Stolen,
    NoMoney,
    Expired,
    WrongPin,
    NotPermitted,
    Fraud,
    OverLimit,
    TooMany,
    /// The risk checks asked the account holder to verify again.
    StepUp,
    PinTries,
    BankUnreachable,
    Duplicate,
    /// Approved by the network while the bank did not answer.
    StandIn,
    /// An approved payment reversed; its hold released.
    Reversed,
}

/// A payment as far as its reason goes.
pub struct Paid<'a> {
    pub response_code: &'a str,
    /// The network's words.
    pub reason: &'a str,
    pub currency: Currency,
    /// The currency the card's bank pays in, when the bank is known.
    pub card_currency: Option<Currency>,
}

/// The outcome a payment's code and words name; `None` when neither is
/// known (the page then shows the network's words).
pub fn outcome(p: &Paid<'_>) -> Option<Outcome> {
    by_words(&p.reason.trim().to_ascii_lowercase()).or_else(|| by_code(p))
}

/// The token service's and the switch's own words (crates/tsp `Refusal`,
/// crates/switch `auth_event` and `reversal_event`).
fn by_words(reason: &str) -> Option<Outcome> {
    Some(match reason {
        "card suspended in the wallet" => Outcome::WalletSuspended,
        "card removed from the wallet" => Outcome::WalletRemoved,
        "card not yet activated in the wallet" => Outcome::WalletInactive,
        "card not accepted with this entry method" => Outcome::EntryMethod,
        "payment data was already used" => Outcome::DataReused,
        "payment counter out of range" => Outcome::CounterStale,
        "payment data could not be verified" => Outcome::NotVerified,
        "token service unavailable" => Outcome::TokenServiceDown,
        "approved by the network on the bank's behalf" => Outcome::StandIn,
        "payment reversed, the hold is released" => Outcome::Reversed,
        _ => return None,
    })
}

fn by_code(p: &Paid<'_>) -> Option<Outcome> {
    let other_currency = p.card_currency.is_some_and(|c| c != p.currency);
    Some(match p.response_code {
        "12" | "57" if other_currency => Outcome::WrongCurrency,
        "12" => Outcome::NotSupported,
        "57" => Outcome::NotPermitted,
        "01" | "02" => Outcome::CallBank,
        "04" | "07" | "62" => Outcome::Restricted,
        "05" => Outcome::BankDeclined,
        "13" => Outcome::BadAmount,
        "14" | "15" | "92" => Outcome::UnknownCard,
        "30" => Outcome::BadRequest,
        "41" => Outcome::Lost,
        "43" => Outcome::Stolen,
        "51" => Outcome::NoMoney,
        "54" => Outcome::Expired,
        "55" => Outcome::WrongPin,
        "58" => Outcome::EntryMethod,
        "59" => Outcome::Fraud,
        "61" => Outcome::OverLimit,
        "63" => Outcome::NotVerified,
        "65" => Outcome::TooMany,
        "1A" => Outcome::StepUp,
        "75" => Outcome::PinTries,
        "91" | "96" => Outcome::BankUnreachable,
        "94" => Outcome::Duplicate,
        _ => return None,
    })
}

/// The sentence for each outcome in one language.
pub struct ReasonStrings {
    pub wallet_suspended: &'static str,
    pub wallet_removed: &'static str,
    pub wallet_inactive: &'static str,
    pub entry_method: &'static str,
    pub data_reused: &'static str,
    pub counter_stale: &'static str,
    pub not_verified: &'static str,
    pub token_service_down: &'static str,
    /// `{}` = the payment's currency code.
    pub wrong_currency: &'static str,
    pub not_supported: &'static str,
    pub call_bank: &'static str,
    pub restricted: &'static str,
    pub bank_declined: &'static str,
    pub bad_amount: &'static str,
    pub unknown_card: &'static str,
    pub bad_request: &'static str,
    pub lost: &'static str,
    pub stolen: &'static str,
    pub no_money: &'static str,
    pub expired: &'static str,
    pub wrong_pin: &'static str,
    pub not_permitted: &'static str,
    pub fraud: &'static str,
    pub over_limit: &'static str,
    pub too_many: &'static str,
    pub step_up: &'static str,
    pub pin_tries: &'static str,
    pub bank_unreachable: &'static str,
    pub duplicate: &'static str,
    pub stand_in: &'static str,
    pub reversed: &'static str,
}

impl ReasonStrings {
    fn of(&self, o: Outcome) -> &'static str {
        match o {
            Outcome::WalletSuspended => self.wallet_suspended,
            Outcome::WalletRemoved => self.wallet_removed,
            Outcome::WalletInactive => self.wallet_inactive,
            Outcome::EntryMethod => self.entry_method,
            Outcome::DataReused => self.data_reused,
            Outcome::CounterStale => self.counter_stale,
            Outcome::NotVerified => self.not_verified,
            Outcome::TokenServiceDown => self.token_service_down,
            Outcome::WrongCurrency => self.wrong_currency,
            Outcome::NotSupported => self.not_supported,
            Outcome::CallBank => self.call_bank,
            Outcome::Restricted => self.restricted,
            Outcome::BankDeclined => self.bank_declined,
            Outcome::BadAmount => self.bad_amount,
            Outcome::UnknownCard => self.unknown_card,
            Outcome::BadRequest => self.bad_request,
            Outcome::Lost => self.lost,
            Outcome::Stolen => self.stolen,
            Outcome::NoMoney => self.no_money,
            Outcome::Expired => self.expired,
            Outcome::WrongPin => self.wrong_pin,
            Outcome::NotPermitted => self.not_permitted,
            Outcome::Fraud => self.fraud,
            Outcome::OverLimit => self.over_limit,
            Outcome::TooMany => self.too_many,
            Outcome::StepUp => self.step_up,
            Outcome::PinTries => self.pin_tries,
            Outcome::BankUnreachable => self.bank_unreachable,
            Outcome::Duplicate => self.duplicate,
            Outcome::StandIn => self.stand_in,
            Outcome::Reversed => self.reversed,
        }
    }
}

impl Lang {
    /// The sentences of payment outcomes.
    pub fn reasons(self) -> &'static ReasonStrings {
        match self {
            Lang::En => &REASONS_EN,
            Lang::Zh => &REASONS_ZH,
            Lang::Hi => &REASONS_HI,
        }
    }
}

/// The sentence a page shows for a payment's outcome: the table's, or the
/// network's own words (first letter in upper case) when it has none.
pub fn reason_text(lang: Lang, p: &Paid<'_>) -> String {
    match outcome(p) {
        Some(o) => fill(lang.reasons().of(o), p.currency.code()),
        None => sentence_case(p.reason),
    }
}

/// A note for an approved payment, when its outcome has one (approved by
/// the network on the bank's behalf, reversed).
pub fn approved_note(lang: Lang, p: &Paid<'_>) -> Option<&'static str> {
    match by_words(&p.reason.trim().to_ascii_lowercase()) {
        Some(o @ (Outcome::StandIn | Outcome::Reversed)) => Some(lang.reasons().of(o)),
        _ => None,
    }
}

/// The first letter in upper case (`"card suspended"` -> `"Card suspended"`).
fn sentence_case(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

static REASONS_EN: ReasonStrings = ReasonStrings {
    wallet_suspended: "Card suspended in the wallet: payments are turned off on this device",
    wallet_removed: "This card was removed from the wallet",
    wallet_inactive: "This card is not ready in the wallet yet",
    entry_method: "This card can't pay this way at this terminal",
    data_reused: "The phone's payment data was already used; nothing was charged",
    counter_stale: "The phone's payment data is out of date; open the wallet to refresh it",
    not_verified: "The payment could not be verified; nothing was charged",
    token_service_down: "The card service could not be reached; nothing was charged",
    wrong_currency: "This card can't pay in {}",
    not_supported: "This card can't be used for this kind of payment",
    call_bank: "Please call your bank about this payment",
    restricted: "The bank has restricted this card",
    bank_declined: "The bank declined this payment",
    bad_amount: "The amount was not valid",
    unknown_card: "No bank knows this card number",
    bad_request: "The terminal sent an incomplete payment; nothing was charged",
    lost: "This card was reported lost",
    stolen: "This card was reported stolen",
    no_money: "Not enough money on this card",
    expired: "This card has expired",
    wrong_pin: "The PIN was wrong",
    not_permitted: "The bank does not allow this card to make this payment",
    fraud: "Declined as possible fraud; please call your bank",
    over_limit: "This payment is above the card's limit",
    too_many: "Too many payments in a short time; try again later",
    step_up: "Confirm it's you on your phone, then pay again",
    pin_tries: "Too many wrong PINs",
    bank_unreachable: "The bank could not be reached; nothing was charged",
    duplicate: "The same payment arrived twice; the repeat was declined",
    stand_in: "Approved by the network while the bank could not be reached",
    reversed: "Payment reversed; the money it held is released",
};

static REASONS_ZH: ReasonStrings = ReasonStrings {
    wallet_suspended: "此卡已在钱包中暂停使用（该设备的支付功能已关闭）",
    wallet_removed: "此卡已从钱包中移除",
    wallet_inactive: "此卡尚未在钱包中激活",
    entry_method: "此卡不能在该终端以这种方式支付",
    data_reused: "手机上的支付数据已被使用过，未扣款",
    counter_stale: "手机上的支付数据已过期，请打开钱包刷新",
    not_verified: "支付数据验证失败，未扣款",
    token_service_down: "暂时无法连接卡片服务，未扣款",
    wrong_currency: "此卡不能用 {} 支付",
    not_supported: "此卡不支持此类交易",
    call_bank: "请就此交易联系发卡银行",
    restricted: "此卡已被发卡银行限制使用",
    bank_declined: "发卡银行拒绝了此交易",
    bad_amount: "金额无效",
    unknown_card: "没有银行能识别此卡号",
    bad_request: "终端发送的交易信息不完整，未扣款",
    lost: "此卡已挂失",
    stolen: "此卡已被报告被盗",
    no_money: "此卡余额或可用额度不足",
    expired: "此卡已过期",
    wrong_pin: "密码错误",
    not_permitted: "发卡银行不允许此卡进行该交易",
    fraud: "疑似欺诈，交易已拒绝，请联系发卡银行",
    over_limit: "超出此卡的单笔或每日限额",
    too_many: "短时间内交易次数过多，请稍后再试",
    step_up: "请在手机上验证身份后再次支付",
    pin_tries: "密码错误次数过多",
    bank_unreachable: "无法连接发卡银行，未扣款",
    duplicate: "同一笔交易提交了两次，重复的一笔已拒绝",
    stand_in: "发卡银行暂时无法连接，由网络代为批准",
    reversed: "交易已撤销，冻结的金额已释放",
};

static REASONS_HI: ReasonStrings = ReasonStrings {
    wallet_suspended: "वॉलेट में कार्ड रोका गया है: इस डिवाइस पर भुगतान बंद हैं",
    wallet_removed: "यह कार्ड वॉलेट से हटा दिया गया है",
    wallet_inactive: "यह कार्ड अभी वॉलेट में तैयार नहीं है",
    entry_method: "इस टर्मिनल पर यह कार्ड इस तरह भुगतान नहीं कर सकता",
    data_reused: "फ़ोन का भुगतान डेटा पहले ही इस्तेमाल हो चुका था; कोई राशि नहीं कटी",
    counter_stale: "फ़ोन का भुगतान डेटा पुराना हो गया है; इसे रीफ़्रेश करने के लिए वॉलेट खोलें",
    not_verified: "भुगतान की पुष्टि नहीं हो सकी; कोई राशि नहीं कटी",
    token_service_down: "कार्ड सेवा से संपर्क नहीं हो सका; कोई राशि नहीं कटी",
    wrong_currency: "यह कार्ड {} में भुगतान नहीं कर सकता",
    not_supported: "यह कार्ड इस तरह के भुगतान के लिए इस्तेमाल नहीं हो सकता",
    call_bank: "इस भुगतान के बारे में कृपया अपने बैंक को कॉल करें",
    restricted: "बैंक ने इस कार्ड पर रोक लगाई है",
    bank_declined: "बैंक ने यह भुगतान अस्वीकार कर दिया",
    bad_amount: "राशि मान्य नहीं थी",
    unknown_card: "कोई भी बैंक इस कार्ड नंबर को नहीं पहचानता",
    bad_request: "टर्मिनल ने अधूरा भुगतान भेजा; कोई राशि नहीं कटी",
    lost: "इस कार्ड के खोने की सूचना दी गई है",
    stolen: "इस कार्ड के चोरी होने की सूचना दी गई है",
    no_money: "इस कार्ड में पर्याप्त राशि नहीं है",
    expired: "इस कार्ड की वैधता समाप्त हो गई है",
    wrong_pin: "PIN गलत था",
    not_permitted: "बैंक इस कार्ड से यह भुगतान करने की अनुमति नहीं देता",
    fraud: "संभावित धोखाधड़ी के कारण अस्वीकृत; कृपया अपने बैंक को कॉल करें",
    over_limit: "यह भुगतान कार्ड की सीमा से अधिक है",
    too_many: "कम समय में बहुत अधिक भुगतान; बाद में फिर से प्रयास करें",
    step_up: "अपने फ़ोन पर पुष्टि करें कि यह आप ही हैं, फिर दोबारा भुगतान करें",
    pin_tries: "बहुत बार गलत PIN डाला गया",
    bank_unreachable: "बैंक से संपर्क नहीं हो सका; कोई राशि नहीं कटी",
    duplicate: "एक ही भुगतान दो बार आया; दोहराया गया भुगतान अस्वीकार किया गया",
    stand_in: "बैंक से संपर्क न होने पर नेटवर्क ने स्वीकृत किया",
    reversed: "भुगतान वापस लिया गया; रोकी गई राशि जारी कर दी गई है",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn paid<'a>(code: &'a str, reason: &'a str, card: Option<Currency>) -> Paid<'a> {
        Paid {
            response_code: code,
            reason,
            currency: Currency::USD,
            card_currency: card,
        }
    }

    #[test]
    fn a_payment_in_another_currency_says_which() {
        let p = paid("12", "transaction not supported", Some(Currency::CNY));
        assert_eq!(reason_text(Lang::En, &p), "This card can't pay in USD");
        assert_eq!(reason_text(Lang::Zh, &p), "此卡不能用 USD 支付");
        let same = paid("12", "transaction not supported", Some(Currency::USD));
        assert_eq!(
            reason_text(Lang::En, &same),
            "This card can't be used for this kind of payment"
        );
        let unknown_bank = paid("12", "transaction not supported", None);
        assert_eq!(outcome(&unknown_bank), Some(Outcome::NotSupported));
    }

    #[test]
    fn the_services_words_come_before_the_code() {
        let p = paid("57", "card suspended in the wallet", None);
        assert_eq!(outcome(&p), Some(Outcome::WalletSuspended));
        let p = paid("05", "Approved by the network on the bank's behalf", None);
        assert_eq!(approved_note(Lang::En, &p), Some(REASONS_EN.stand_in));
    }

    #[test]
    fn risk_declines_and_step_ups_read_in_both_languages() {
        for (code, words, en, zh) in [
            (
                "65",
                "too many payments in a short time (risk: velocity)",
                REASONS_EN.too_many,
                "短时间内交易次数过多，请稍后再试",
            ),
            (
                "59",
                "declined as a suspected fraud (risk: impossible_travel)",
                REASONS_EN.fraud,
                REASONS_ZH.fraud,
            ),
            (
                "1A",
                "verify it's you, then pay again (risk: velocity)",
                "Confirm it's you on your phone, then pay again",
                "请在手机上验证身份后再次支付",
            ),
        ] {
            let p = paid(code, words, None);
            assert_eq!(reason_text(Lang::En, &p), en, "{code}");
            assert_eq!(reason_text(Lang::Zh, &p), zh, "{code}");
        }
    }

    #[test]
    fn unknown_codes_keep_the_networks_words() {
        let p = paid("Z9", "something new", None);
        assert_eq!(outcome(&p), None);
        assert_eq!(reason_text(Lang::En, &p), "Something new");
        assert_eq!(reason_text(Lang::Zh, &p), "Something new");
        assert_eq!(approved_note(Lang::En, &p), None);
    }
}
