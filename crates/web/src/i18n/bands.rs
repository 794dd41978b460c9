//! The words of the band account pages.

use super::Lang;

/// Every string the band pages show.
pub struct BandStrings {
    pub nav_bands: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub band: &'static str,
    pub limit: &'static str,
    pub balance: &'static str,
    pub not_uploaded: &'static str,
    pub status: &'static str,
    pub on: &'static str,
    pub off: &'static str,
    pub reason_turned_off: &'static str,
    pub reason_double_spend: &'static str,
    pub payments: &'static str,
    pub no_payments: &'static str,
    pub col_time: &'static str,
    pub col_merchant: &'static str,
    pub col_amount: &'static str,
    pub col_result: &'static str,
    pub paid: &'static str,
    pub paid_by_reserve: &'static str,
    pub refused: &'static str,
    pub copied_code: &'static str,
    pub turn_off: &'static str,
    pub turn_off_title: &'static str,
    pub turn_off_body: &'static str,
    pub turn_off_confirm: &'static str,
    pub cancel: &'static str,
    /// The payments page's "card" column for a band's offline payment.
    pub history_channel: &'static str,
    pub history_double_spend: &'static str,
    pub why_same_code_elsewhere: &'static str,
    pub why_over_limit: &'static str,
    pub why_revoked: &'static str,
    pub why_uncovered: &'static str,
    pub why_other: &'static str,
}

const EN: BandStrings = BandStrings {
    nav_bands: "Band",
    title: "Band offline account",
    intro: "Your band pays offline with QR codes from its own account, up to its limit; shops' registers upload the payments later.",
    empty: "No band account yet. Open one from your band.",
    band: "Band {}",
    limit: "Offline limit",
    balance: "Balance held",
    not_uploaded: "Spent offline, not yet uploaded",
    status: "Status",
    on: "On",
    off: "Off",
    reason_turned_off: "turned off by you",
    reason_double_spend: "a copied code was caught",
    payments: "QR payments",
    no_payments: "No payment uploaded yet.",
    col_time: "Code made",
    col_merchant: "Shop",
    col_amount: "Amount",
    col_result: "Result",
    paid: "Paid",
    paid_by_reserve: "Paid by paytap's reserve",
    refused: "Refused",
    copied_code: "copied code",
    turn_off: "Turn off the band",
    turn_off_title: "Turn off band {}?",
    turn_off_body: "Its offline credential is revoked at once: registers refuse its codes once they download the list, and it gets no new certificate. The money held stays in the account.",
    turn_off_confirm: "Yes, turn off the band",
    cancel: "Cancel",
    history_channel: "Band · offline QR",
    history_double_spend: "Double spend",
    why_same_code_elsewhere: "The same code was already paid at another shop: the band was turned off.",
    why_over_limit: "Spent over the band's offline limit across shops: the band was turned off.",
    why_revoked: "The code was made after the band was turned off.",
    why_uncovered: "The band account did not have enough money for it.",
    why_other: "The shop's upload was refused.",
};

const ZH: BandStrings = BandStrings {
    nav_bands: "手环",
    title: "手环离线账户",
    intro: "手环用自己的账户离线出示二维码付款，金额不超过其限额；商户收银机稍后上传这些付款。",
    empty: "还没有手环账户。请在手环上开通。",
    band: "手环 {}",
    limit: "离线限额",
    balance: "账户余额",
    not_uploaded: "已离线消费、尚未上传",
    status: "状态",
    on: "已开启",
    off: "已关闭",
    reason_turned_off: "由您关闭",
    reason_double_spend: "发现被复制的付款码",
    payments: "二维码付款",
    no_payments: "尚无已上传的付款。",
    col_time: "付款码生成时间",
    col_merchant: "商户",
    col_amount: "金额",
    col_result: "结果",
    paid: "已付款",
    paid_by_reserve: "由 paytap 风险准备金支付",
    refused: "已拒绝",
    copied_code: "复制的付款码",
    turn_off: "关闭手环",
    turn_off_title: "关闭手环 {}？",
    turn_off_body: "其离线凭证将立即吊销：收银机下载吊销名单后将拒绝其付款码，手环也不会再获得新证书。账户中的资金保持不变。",
    turn_off_confirm: "确认关闭手环",
    cancel: "取消",
    history_channel: "手环 · 离线二维码",
    history_double_spend: "重复付款",
    why_same_code_elsewhere: "同一付款码已在另一商户付款：手环已被关闭。",
    why_over_limit: "在多个商户的消费超过了手环离线限额：手环已被关闭。",
    why_revoked: "付款码生成于手环关闭之后。",
    why_uncovered: "手环账户余额不足以支付。",
    why_other: "商户上传的付款被拒绝。",
};

/// The band pages' strings in `lang`.
pub fn band_strings(lang: Lang) -> &'static BandStrings {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// Why a band payment was refused or counted as a double spend, by the
/// band account's reason code, in a sentence.
pub fn band_reason_text(lang: Lang, reason: &str) -> &'static str {
    let b = band_strings(lang);
    match reason {
        "same_code_elsewhere" => b.why_same_code_elsewhere,
        "over_limit" => b.why_over_limit,
        "revoked" => b.why_revoked,
        "uncovered" => b.why_uncovered,
        _ => b.why_other,
    }
}
