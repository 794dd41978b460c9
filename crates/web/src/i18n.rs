//! The site's words in English, Simplified Chinese and Hindi.
//!
//! Every string a page shows is a field of [`Strings`] (or of
//! [`FindStrings`], [`ReasonStrings`]), so a language that misses one does
//! not compile. Bank names in each language are in [`Banks`]. Strings with a `{}` take one argument
//! through [`fill`]; arguments are escaped by the templates, never here.
//! Dates are shown in the account region's civil time (China Standard Time
//! for `cn`, India Standard Time for `in`), ISO 8601 in the `datetime`
//! attribute.

use time::{OffsetDateTime, UtcOffset};

mod bands;
mod banks;
mod bills;
mod reasons;
mod transit;
mod upi;

pub use bands::{BandStrings, band_reason_text, band_strings};
pub use banks::{BankInfo, Banks};
pub use bills::{BillStrings, category_name, reminder_text, rupees, state_name};
pub use reasons::{Outcome, Paid, ReasonStrings, approved_note, outcome, reason_text};
pub use transit::{TransitStrings, transit_strings};
pub use upi::UpiStrings;

/// An interface language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Zh,
    /// Hindi, in Devanagari.
    Hi,
}

impl Lang {
    /// Every language, in the order the switch lists them.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Zh, Lang::Hi];

    /// `"en"`, `"zh"`, `"hi"` (the wallet's codes).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::Hi => "hi",
        }
    }

    /// The BCP 47 tag for the `lang` attribute.
    pub fn html_tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-Hans",
            Lang::Hi => "hi",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            "hi" => Some(Lang::Hi),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header (RFC 9110
    /// §12.5.4), by quality value; English when nothing matches.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1000u16;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = parse_q(v.trim()).unwrap_or(0);
                }
            }
            let lang = if tag == "zh" || tag.starts_with("zh-") {
                Lang::Zh
            } else if tag == "hi" || tag.starts_with("hi-") {
                Lang::Hi
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The other languages (for the switch), in [`Lang::ALL`]'s order.
    pub fn others(self) -> impl Iterator<Item = Lang> {
        Lang::ALL.into_iter().filter(move |l| *l != self)
    }

    /// The language's own name, as the switch shows it.
    pub fn endonym(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "中文",
            Lang::Hi => "हिन्दी",
        }
    }

    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
            Lang::Hi => &HI,
        }
    }
}

impl From<paytap_wallet::Language> for Lang {
    /// An account's language as the site speaks it.
    fn from(l: paytap_wallet::Language) -> Lang {
        match l {
            paytap_wallet::Language::En => Lang::En,
            paytap_wallet::Language::Zh => Lang::Zh,
            paytap_wallet::Language::Hi => Lang::Hi,
        }
    }
}

/// A quality value (`0`, `0.5`, `1.000`) in thousandths.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut f: u16 = 0;
    for i in 0..3 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u16::from(b - b'0'));
        f = f * 10 + d;
    }
    let q = whole + f;
    (q <= 1000).then_some(q)
}

/// Replaces the first `{}` in `template` with `arg`.
pub fn fill(template: &str, arg: &str) -> String {
    template.replacen("{}", arg, 1)
}

/// Every word the site shows.
pub struct Strings {
    pub site_name: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_devices: &'static str,
    pub nav_cards: &'static str,
    pub nav_payments: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub language_label: &'static str,
    /// Between the parts of a phrase (`", "`; full-width `"，"` in Chinese).
    pub list_sep: &'static str,
    pub footer_safety: &'static str,

    pub login_title: &'static str,
    pub login_intro: &'static str,
    pub login_field: &'static str,
    pub login_hint: &'static str,
    pub password_field: &'static str,
    pub sign_in: &'static str,
    pub login_wrong: &'static str,
    /// `{}` = minutes.
    pub login_locked: &'static str,
    pub login_expired: &'static str,
    pub login_signed_out: &'static str,
    pub login_unavailable: &'static str,

    pub devices_title: &'static str,
    pub devices_intro: &'static str,
    pub devices_none: &'static str,
    pub kind_phone: &'static str,
    pub kind_watch: &'static str,
    pub kind_band: &'static str,
    pub status_on: &'static str,
    pub status_off_lost: &'static str,
    pub status_off_stolen: &'static str,
    pub status_off_explained: &'static str,
    pub last_seen: &'static str,
    pub never_seen: &'static str,
    /// `{}` = place name.
    pub near_place: &'static str,
    pub cards_on_device: &'static str,
    pub no_cards_on_device: &'static str,
    pub band_no_cards: &'static str,
    pub turn_off: &'static str,
    pub turn_on: &'static str,
    pub remove_all_cards: &'static str,
    pub device_details: &'static str,

    /// `{}` = device name.
    pub turn_off_title: &'static str,
    pub turn_off_body: &'static str,
    pub turn_off_other_devices: &'static str,
    pub reason_legend: &'static str,
    pub reason_lost: &'static str,
    pub reason_stolen: &'static str,
    pub turn_off_confirm: &'static str,
    pub cancel: &'static str,
    /// `{}` = device name.
    pub remove_all_title: &'static str,
    pub remove_all_body: &'static str,
    pub remove_all_confirm: &'static str,

    /// `{}` = device name.
    pub notice_off: &'static str,
    /// `{}` = device name.
    pub notice_on: &'static str,
    /// `{}` = number of cards.
    pub notice_removed_all: &'static str,
    /// `{}` = last four digits.
    pub notice_card_removed: &'static str,
    /// `{}` = last four digits.
    pub notice_default: &'static str,
    pub notice_language: &'static str,

    pub cards_title: &'static str,
    pub cards_intro: &'static str,
    pub cards_none: &'static str,
    pub default_card: &'static str,
    pub make_default: &'static str,
    pub remove: &'static str,
    pub card_suspended: &'static str,
    /// `{}` = last four digits.
    pub card_ending: &'static str,
    /// `{}` = device name.
    pub on_device: &'static str,
    /// `{}` = last four digits.
    pub remove_card_title: &'static str,
    pub remove_card_body: &'static str,
    pub remove_card_confirm: &'static str,

    pub payments_title: &'static str,
    pub payments_intro: &'static str,
    pub payments_none: &'static str,
    /// The account's rewards points, `{}` the number.
    pub payments_points: &'static str,
    pub payments_live: &'static str,
    pub payments_refresh: &'static str,
    pub payments_older: &'static str,
    pub col_date: &'static str,
    pub col_merchant: &'static str,
    pub col_card: &'static str,
    pub col_device: &'static str,
    pub col_amount: &'static str,
    pub col_result: &'static str,
    pub approved: &'static str,
    /// `{}` = what an instant discount took off a payment, e.g. `¥10.00`.
    pub saved_note: &'static str,
    /// `{}` = the cashback a payment earned.
    pub earned_note: &'static str,
    pub declined: &'static str,
    /// `{}` = merchant name (screen-reader announcement).
    pub new_payment: &'static str,

    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub back_to_devices: &'static str,
    pub error_title: &'static str,
    pub error_body: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_body: &'static str,
    pub bad_request_title: &'static str,
    pub bad_request_body: &'static str,
}

pub static EN: Strings = Strings {
    site_name: "paytap",
    skip_to_content: "Skip to content",
    nav_label: "Main",
    nav_devices: "Devices",
    nav_cards: "Cards",
    nav_payments: "Payments",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    language_label: "Language",
    list_sep: ", ",
    footer_safety: "Never share your password or a one-time passcode with anyone. We will never ask you for them.",

    login_title: "Sign in to your wallet",
    login_intro: "See your cards and payments, and turn off payments on a lost phone or watch.",
    login_field: "E-mail or phone number",
    login_hint: "Phone numbers start with + and the country code, e.g. +86.",
    password_field: "Password",
    sign_in: "Sign in",
    login_wrong: "The e-mail, phone number or password is incorrect.",
    login_locked: "Too many incorrect attempts. For your security, please wait {} before trying again.",
    login_expired: "Your session has ended. Please sign in again.",
    login_signed_out: "You have signed out.",
    login_unavailable: "The service is unavailable right now. Please try again in a moment.",

    devices_title: "Your devices",
    devices_intro: "Lost your phone or watch? Turn off payments on it here. It takes effect at once, and you can turn payments back on when you find it.",
    devices_none: "No devices yet. Sign in to the wallet app on your phone, watch or band to add one.",
    kind_phone: "Phone",
    kind_watch: "Watch",
    kind_band: "Band",
    status_on: "Payments on",
    status_off_lost: "Payments off: reported lost",
    status_off_stolen: "Payments off: reported stolen",
    status_off_explained: "Every payment from this device is declined until you turn payments back on.",
    last_seen: "Last seen",
    never_seen: "Not seen yet",
    near_place: "near {}",
    cards_on_device: "Cards on this device",
    no_cards_on_device: "No cards on this device.",
    band_no_cards: "A band holds transit and QR passes, not bank cards.",
    turn_off: "Turn off payments on this device",
    turn_on: "Turn back on",
    remove_all_cards: "Remove all cards",
    device_details: "Details",

    turn_off_title: "Turn off payments on {}?",
    turn_off_body: "Every card on this device stops working at once: taps and in-app payments from it will be declined until you turn payments back on.",
    turn_off_other_devices: "Your cards on your other devices keep working.",
    reason_legend: "What happened to the device?",
    reason_lost: "I lost it",
    reason_stolen: "It was stolen",
    turn_off_confirm: "Yes, turn off payments",
    cancel: "Cancel",
    remove_all_title: "Remove all cards from {}?",
    remove_all_body: "The cards on this device are deleted from it and can never pay from it again. Your bank cards themselves are not affected, and you can add them again later.",
    remove_all_confirm: "Yes, remove all cards",

    notice_off: "Payments are turned off on {}.",
    notice_on: "Payments are on again for {}.",
    notice_removed_all: "Cards removed: {}.",
    notice_card_removed: "The card ending {} was removed.",
    notice_default: "The card ending {} is now your default card.",
    notice_language: "Language changed.",

    cards_title: "Your cards",
    cards_intro: "The bank cards you added to your devices. Only the last four digits of a card are ever shown.",
    cards_none: "No cards yet. Add a card in the wallet app on your phone or watch.",
    default_card: "Default",
    make_default: "Make default",
    remove: "Remove",
    card_suspended: "Paused",
    card_ending: "Card ending {}",
    on_device: "on {}",
    remove_card_title: "Remove the card ending {}?",
    remove_card_body: "The card is deleted from this device and can no longer pay from it. Your bank card itself is not affected.",
    remove_card_confirm: "Yes, remove the card",

    payments_title: "Payments",
    payments_intro: "Every payment made with your cards on your devices, newest first.",
    payments_none: "No payments yet.",
    payments_points: "Rewards points: {}",
    payments_live: "New payments appear here as they happen.",
    payments_refresh: "Refresh",
    payments_older: "Older payments",
    col_date: "Date",
    col_merchant: "Merchant",
    col_card: "Card",
    col_device: "Device",
    col_amount: "Amount",
    col_result: "Result",
    approved: "Approved",
    saved_note: "You saved {}",
    earned_note: "{} cashback",
    declined: "Declined",
    new_payment: "New payment at {}",

    not_found_title: "Page not found",
    not_found_body: "This page does not exist, or it is not part of your account.",
    back_to_devices: "Back to your devices",
    error_title: "Something went wrong",
    error_body: "We could not complete this. Please try again in a moment.",
    forbidden_title: "This form has expired",
    forbidden_body: "For your security, please go back, reload the page and try again.",
    bad_request_title: "We could not read this request",
    bad_request_body: "Please go back and try again.",
};

pub static ZH: Strings = Strings {
    site_name: "paytap",
    skip_to_content: "跳到主要内容",
    nav_label: "主导航",
    nav_devices: "设备",
    nav_cards: "银行卡",
    nav_payments: "交易记录",
    sign_out: "退出登录",
    signed_in_as: "当前账号",
    language_label: "语言",
    list_sep: "，",
    footer_safety: "请勿向任何人透露您的密码或验证码。我们绝不会向您索要。",

    login_title: "登录您的钱包",
    login_intro: "查看您的银行卡和交易记录，并可关闭丢失手机或手表的支付功能。",
    login_field: "邮箱或手机号",
    login_hint: "手机号请以 + 和国家代码开头，例如 +86。",
    password_field: "密码",
    sign_in: "登录",
    login_wrong: "邮箱、手机号或密码不正确。",
    login_locked: "尝试次数过多。为保护您的账户安全，请等待 {} 秒后再试。",
    login_expired: "您的登录已失效，请重新登录。",
    login_signed_out: "您已退出登录。",
    login_unavailable: "服务暂时不可用，请稍后再试。",

    devices_title: "我的设备",
    devices_intro: "手机或手表丢失了？可以在这里关闭它的支付功能，立即生效；找回后可以重新开启。",
    devices_none: "还没有设备。在手机、手表或手环上登录钱包应用即可添加。",
    kind_phone: "手机",
    kind_watch: "手表",
    kind_band: "手环",
    status_on: "支付已开启",
    status_off_lost: "支付已关闭：已报告丢失",
    status_off_stolen: "支付已关闭：已报告被盗",
    status_off_explained: "在您重新开启支付之前，此设备的每一笔支付都会被拒绝。",
    last_seen: "最后在线",
    never_seen: "尚未上线",
    near_place: "位于{}附近",
    cards_on_device: "此设备上的银行卡",
    no_cards_on_device: "此设备上没有银行卡。",
    band_no_cards: "手环可存放交通卡和二维码，不能存放银行卡。",
    turn_off: "关闭此设备的支付功能",
    turn_on: "重新开启支付",
    remove_all_cards: "移除全部银行卡",
    device_details: "详情",

    turn_off_title: "关闭「{}」的支付功能？",
    turn_off_body: "此设备上的所有银行卡将立即停用：在您重新开启支付之前，该设备的碰一碰支付和应用内支付都会被拒绝。",
    turn_off_other_devices: "您其他设备上的银行卡不受影响。",
    reason_legend: "设备发生了什么？",
    reason_lost: "设备丢失",
    reason_stolen: "设备被盗",
    turn_off_confirm: "确认关闭支付",
    cancel: "取消",
    remove_all_title: "移除「{}」上的全部银行卡？",
    remove_all_body: "这些银行卡将从此设备上删除，之后无法再用此设备支付。您的银行卡本身不受影响，以后可以重新添加。",
    remove_all_confirm: "确认移除全部银行卡",

    notice_off: "已关闭「{}」的支付功能。",
    notice_on: "已重新开启「{}」的支付功能。",
    notice_removed_all: "已移除银行卡：{} 张。",
    notice_card_removed: "尾号 {} 的银行卡已移除。",
    notice_default: "尾号 {} 的银行卡已设为默认卡。",
    notice_language: "语言已更改。",

    cards_title: "我的银行卡",
    cards_intro: "您添加到各设备上的银行卡。我们只显示卡号的后四位。",
    cards_none: "还没有银行卡。请在手机或手表上的钱包应用中添加。",
    default_card: "默认",
    make_default: "设为默认",
    remove: "移除",
    card_suspended: "已暂停",
    card_ending: "尾号 {} 的银行卡",
    on_device: "位于「{}」",
    remove_card_title: "移除尾号 {} 的银行卡？",
    remove_card_body: "该银行卡将从此设备上删除，无法再用此设备支付。您的银行卡本身不受影响。",
    remove_card_confirm: "确认移除银行卡",

    payments_title: "交易记录",
    payments_intro: "您在各设备上用银行卡完成的每一笔支付，最新的在前。",
    payments_none: "暂无交易记录。",
    payments_points: "奖励积分：{}",
    payments_live: "新的交易会实时显示在这里。",
    payments_refresh: "刷新",
    payments_older: "更早的交易",
    col_date: "时间",
    col_merchant: "商户",
    col_card: "银行卡",
    col_device: "设备",
    col_amount: "金额",
    col_result: "结果",
    approved: "成功",
    saved_note: "已优惠 {}",
    earned_note: "返现 {}",
    declined: "已拒绝",
    new_payment: "新交易：{}",

    not_found_title: "页面不存在",
    not_found_body: "此页面不存在，或不属于您的账户。",
    back_to_devices: "返回我的设备",
    error_title: "出错了",
    error_body: "暂时无法完成此操作，请稍后再试。",
    forbidden_title: "表单已过期",
    forbidden_body: "为保护您的账户安全，请返回并刷新页面后重试。",
    bad_request_title: "无法处理此请求",
    bad_request_body: "请返回后重试。",
};

pub static HI: Strings = Strings {
    site_name: "paytap",
    skip_to_content: "मुख्य सामग्री पर जाएँ",
    nav_label: "मुख्य",
    nav_devices: "डिवाइस",
    nav_cards: "कार्ड",
    nav_payments: "भुगतान",
    sign_out: "साइन आउट करें",
    signed_in_as: "साइन इन खाता",
    language_label: "भाषा",
    list_sep: ", ",
    footer_safety: "अपना पासवर्ड या OTP कभी किसी को न बताएँ। हम आपसे ये कभी नहीं माँगेंगे।",

    login_title: "अपने वॉलेट में साइन इन करें",
    login_intro: "अपने कार्ड और भुगतान देखें, और खोए हुए फ़ोन या घड़ी पर भुगतान बंद करें।",
    login_field: "ई-मेल या मोबाइल नंबर",
    login_hint: "मोबाइल नंबर + और देश कोड से शुरू करें, जैसे +91।",
    password_field: "पासवर्ड",
    sign_in: "साइन इन करें",
    login_wrong: "ई-मेल, मोबाइल नंबर या पासवर्ड गलत है।",
    login_locked: "बहुत अधिक गलत प्रयास हुए। आपकी सुरक्षा के लिए, कृपया {} सेकंड बाद फिर से प्रयास करें।",
    login_expired: "आपका सत्र समाप्त हो गया है। कृपया फिर से साइन इन करें।",
    login_signed_out: "आप साइन आउट हो गए हैं।",
    login_unavailable: "सेवा अभी उपलब्ध नहीं है। कृपया थोड़ी देर बाद फिर से प्रयास करें।",

    devices_title: "आपके डिवाइस",
    devices_intro: "फ़ोन या घड़ी खो गई? यहाँ उस पर भुगतान बंद करें। यह तुरंत लागू होता है, और डिवाइस मिलने पर आप भुगतान फिर से चालू कर सकते हैं।",
    devices_none: "अभी कोई डिवाइस नहीं है। जोड़ने के लिए अपने फ़ोन, घड़ी या बैंड पर वॉलेट ऐप में साइन इन करें।",
    kind_phone: "फ़ोन",
    kind_watch: "घड़ी",
    kind_band: "बैंड",
    status_on: "भुगतान चालू",
    status_off_lost: "भुगतान बंद: खोने की सूचना दी गई",
    status_off_stolen: "भुगतान बंद: चोरी की सूचना दी गई",
    status_off_explained: "जब तक आप भुगतान फिर से चालू नहीं करते, इस डिवाइस से हर भुगतान अस्वीकार होगा।",
    last_seen: "आख़िरी बार देखा गया",
    never_seen: "अभी तक नहीं देखा गया",
    near_place: "{} के पास",
    cards_on_device: "इस डिवाइस पर कार्ड",
    no_cards_on_device: "इस डिवाइस पर कोई कार्ड नहीं है।",
    band_no_cards: "बैंड में ट्रांज़िट और QR पास रहते हैं, बैंक कार्ड नहीं।",
    turn_off: "इस डिवाइस पर भुगतान बंद करें",
    turn_on: "फिर से चालू करें",
    remove_all_cards: "सभी कार्ड हटाएँ",
    device_details: "विवरण",

    turn_off_title: "{} पर भुगतान बंद करें?",
    turn_off_body: "इस डिवाइस का हर कार्ड तुरंत काम करना बंद कर देगा: जब तक आप भुगतान फिर से चालू नहीं करते, इससे टैप और ऐप में किए गए भुगतान अस्वीकार होंगे।",
    turn_off_other_devices: "आपके दूसरे डिवाइस पर आपके कार्ड काम करते रहेंगे।",
    reason_legend: "डिवाइस के साथ क्या हुआ?",
    reason_lost: "मैंने इसे खो दिया",
    reason_stolen: "यह चोरी हो गया",
    turn_off_confirm: "हाँ, भुगतान बंद करें",
    cancel: "रद्द करें",
    remove_all_title: "{} से सभी कार्ड हटाएँ?",
    remove_all_body: "इस डिवाइस के कार्ड इससे मिटा दिए जाएँगे और फिर कभी इससे भुगतान नहीं कर पाएँगे। आपके बैंक कार्ड पर कोई असर नहीं पड़ता, और आप उन्हें बाद में फिर से जोड़ सकते हैं।",
    remove_all_confirm: "हाँ, सभी कार्ड हटाएँ",

    notice_off: "{} पर भुगतान बंद कर दिए गए हैं।",
    notice_on: "{} पर भुगतान फिर से चालू हैं।",
    notice_removed_all: "हटाए गए कार्ड: {}।",
    notice_card_removed: "{} पर ख़त्म होने वाला कार्ड हटा दिया गया।",
    notice_default: "{} पर ख़त्म होने वाला कार्ड अब आपका डिफ़ॉल्ट कार्ड है।",
    notice_language: "भाषा बदल दी गई।",

    cards_title: "आपके कार्ड",
    cards_intro: "आपने अपने डिवाइस में जो बैंक कार्ड जोड़े हैं। कार्ड के केवल आख़िरी चार अंक ही दिखाए जाते हैं।",
    cards_none: "अभी कोई कार्ड नहीं है। अपने फ़ोन या घड़ी पर वॉलेट ऐप में कार्ड जोड़ें।",
    default_card: "डिफ़ॉल्ट",
    make_default: "डिफ़ॉल्ट बनाएँ",
    remove: "हटाएँ",
    card_suspended: "रुका हुआ",
    card_ending: "{} पर ख़त्म होने वाला कार्ड",
    on_device: "{} पर",
    remove_card_title: "{} पर ख़त्म होने वाला कार्ड हटाएँ?",
    remove_card_body: "कार्ड इस डिवाइस से मिटा दिया जाएगा और अब इससे भुगतान नहीं कर पाएगा। आपके बैंक कार्ड पर कोई असर नहीं पड़ता।",
    remove_card_confirm: "हाँ, कार्ड हटाएँ",

    payments_title: "भुगतान",
    payments_intro: "आपके डिवाइस पर आपके कार्ड से किया गया हर भुगतान, सबसे नया पहले।",
    payments_none: "अभी कोई भुगतान नहीं हुआ है।",
    payments_points: "रिवॉर्ड पॉइंट: {}",
    payments_live: "नए भुगतान होते ही यहाँ दिखाई देते हैं।",
    payments_refresh: "रीफ़्रेश करें",
    payments_older: "पुराने भुगतान",
    col_date: "तारीख़",
    col_merchant: "व्यापारी",
    col_card: "कार्ड",
    col_device: "डिवाइस",
    col_amount: "राशि",
    col_result: "परिणाम",
    approved: "स्वीकृत",
    saved_note: "आपने {} बचाए",
    earned_note: "{} कैशबैक",
    declined: "अस्वीकृत",
    new_payment: "{} पर नया भुगतान",

    not_found_title: "पेज नहीं मिला",
    not_found_body: "यह पेज मौजूद नहीं है, या यह आपके खाते का हिस्सा नहीं है।",
    back_to_devices: "अपने डिवाइस पर वापस जाएँ",
    error_title: "कुछ गड़बड़ हो गई",
    error_body: "हम इसे पूरा नहीं कर सके। कृपया थोड़ी देर बाद फिर से प्रयास करें।",
    forbidden_title: "इस फ़ॉर्म की समय-सीमा समाप्त हो गई है",
    forbidden_body: "आपकी सुरक्षा के लिए, कृपया वापस जाएँ, पेज को फिर से लोड करें और फिर से प्रयास करें।",
    bad_request_title: "हम यह अनुरोध नहीं पढ़ सके",
    bad_request_body: "कृपया वापस जाएँ और फिर से प्रयास करें।",
};

/// The civil-time offset of a wallet region.
pub fn region_offset(region: &str) -> UtcOffset {
    let (h, m) = match region {
        "cn" => (8, 0),
        "in" => (5, 30),
        _ => (0, 0),
    };
    UtcOffset::from_hms(h, m, 0).unwrap_or(UtcOffset::UTC)
}

/// A time as the page shows it, and as the `datetime` attribute holds it.
pub struct ShownTime {
    pub text: String,
    pub iso: String,
}

/// Formats Unix milliseconds in the region's time zone, in `lang`'s style.
pub fn show_time(millis: i64, region: &str, lang: Lang) -> ShownTime {
    let offset = region_offset(region);
    let t = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    let zone = match offset.whole_minutes() {
        0 => "UTC".to_string(),
        m if m % 60 == 0 => format!("UTC{:+}", m / 60),
        m => format!("UTC{:+}:{:02}", m / 60, (m % 60).abs()),
    };
    let text = match lang {
        Lang::En => format!(
            "{} {} {}, {:02}:{:02} {}",
            t.day(),
            MONTHS_EN
                .get(usize::from(u8::from(t.month())).saturating_sub(1))
                .unwrap_or(&""),
            t.year(),
            t.hour(),
            t.minute(),
            zone
        ),
        Lang::Zh => format!(
            "{}年{}月{}日 {:02}:{:02}（{}）",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            zone
        ),
        Lang::Hi => format!(
            "{} {} {}, {:02}:{:02} {}",
            t.day(),
            MONTHS_HI
                .get(usize::from(u8::from(t.month())).saturating_sub(1))
                .unwrap_or(&""),
            t.year(),
            t.hour(),
            t.minute(),
            zone
        ),
    };
    let iso = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    ShownTime { text, iso }
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const MONTHS_HI: [&str; 12] = [
    "जनवरी",
    "फ़रवरी",
    "मार्च",
    "अप्रैल",
    "मई",
    "जून",
    "जुलाई",
    "अगस्त",
    "सितंबर",
    "अक्टूबर",
    "नवंबर",
    "दिसंबर",
];

/// The words of "find my device" on the device page.
pub struct FindStrings {
    pub title: &'static str,
    /// `{}`: the device's name.
    pub map_title: &'static str,
    pub no_place: &'static str,
    /// `{}`: metres.
    pub within: &'static str,
    pub located: &'static str,
    pub history: &'static str,
    pub source_heartbeat: &'static str,
    pub source_sync: &'static str,
    pub source_payment: &'static str,
    pub source_command: &'static str,
    pub locate_now: &'static str,
    pub play_sound: &'static str,
    pub erase: &'static str,
    /// A "verify_payment" command in the list (asked by the wallet).
    pub verify_payment: &'static str,
    pub actions_note: &'static str,
    /// `{}`: the device's name.
    pub erase_title: &'static str,
    pub erase_body: &'static str,
    pub erase_confirm: &'static str,
    pub commands: &'static str,
    pub no_commands: &'static str,
    pub state_queued: &'static str,
    pub state_delivered: &'static str,
    pub state_acknowledged: &'static str,
    pub state_failed: &'static str,
    /// `{}`: the place.
    pub answered_from: &'static str,
    /// `{}`: the device's name.
    pub notice_locate: &'static str,
    pub notice_sound: &'static str,
    pub notice_erase: &'static str,
}

impl Lang {
    /// The words of "find my device".
    pub fn find(self) -> &'static FindStrings {
        match self {
            Lang::En => &FIND_EN,
            Lang::Zh => &FIND_ZH,
            Lang::Hi => &FIND_HI,
        }
    }
}

const FIND_EN: FindStrings = FindStrings {
    title: "Find my device",
    map_title: "Map of where {} has been",
    no_place: "No place reported yet. The device sends its place when it syncs, pays or answers “Locate now”.",
    within: "within {} m",
    located: "Located",
    history: "Recent places",
    source_heartbeat: "check-in",
    source_sync: "sync",
    source_payment: "payment",
    source_command: "Locate now",
    locate_now: "Locate now",
    play_sound: "Play a sound",
    erase: "Erase",
    verify_payment: "Verify a payment",
    actions_note: "A device that is offline gets these when it next connects.",
    erase_title: "Erase {}?",
    erase_body: "Every card on the device is removed now, and the device wipes its secure element the next time it connects. This cannot be undone.",
    erase_confirm: "Yes, erase",
    commands: "Commands",
    no_commands: "No commands sent yet.",
    state_queued: "Waiting for the device",
    state_delivered: "Sent to the device",
    state_acknowledged: "Done",
    state_failed: "Failed",
    answered_from: "answered from {}",
    notice_locate: "Asked {} to report where it is.",
    notice_sound: "Asked {} to play a sound.",
    notice_erase: "The cards on {} are removed; it wipes itself when it next connects.",
};

const FIND_ZH: FindStrings = FindStrings {
    title: "查找设备",
    map_title: "「{}」的位置地图",
    no_place: "尚无位置信息。设备在同步、支付或响应「立即定位」时会报告位置。",
    within: "误差 {} 米以内",
    located: "定位时间",
    history: "最近的位置",
    source_heartbeat: "在线报告",
    source_sync: "同步",
    source_payment: "支付",
    source_command: "立即定位",
    locate_now: "立即定位",
    play_sound: "播放声音",
    erase: "抹除",
    verify_payment: "验证付款",
    actions_note: "设备离线时，会在下次连接时收到这些指令。",
    erase_title: "抹除「{}」？",
    erase_body: "设备上的所有卡片将立即移除，设备下次连接时会清除安全芯片中的数据。此操作无法撤销。",
    erase_confirm: "确认抹除",
    commands: "指令",
    no_commands: "尚未发送指令。",
    state_queued: "等待设备上线",
    state_delivered: "已送达设备",
    state_acknowledged: "已完成",
    state_failed: "失败",
    answered_from: "回复位置：{}",
    notice_locate: "已请求「{}」报告位置。",
    notice_sound: "已请求「{}」播放声音。",
    notice_erase: "「{}」上的卡片已移除，设备下次连接时会自行抹除。",
};

const FIND_HI: FindStrings = FindStrings {
    title: "मेरा डिवाइस ढूँढें",
    map_title: "{} कहाँ-कहाँ रहा, उसका नक्शा",
    no_place: "अभी तक कोई स्थान नहीं मिला। डिवाइस सिंक करने, भुगतान करने या “अभी ढूँढें” का जवाब देने पर अपना स्थान भेजता है।",
    within: "{} मीटर के भीतर",
    located: "स्थान मिला",
    history: "हाल के स्थान",
    source_heartbeat: "चेक-इन",
    source_sync: "सिंक",
    source_payment: "भुगतान",
    source_command: "अभी ढूँढें",
    locate_now: "अभी ढूँढें",
    play_sound: "आवाज़ बजाएँ",
    erase: "मिटाएँ",
    verify_payment: "भुगतान सत्यापित करें",
    actions_note: "जो डिवाइस ऑफ़लाइन है, उसे ये अगली बार कनेक्ट होने पर मिलेंगे।",
    erase_title: "{} को मिटाएँ?",
    erase_body: "डिवाइस के सभी कार्ड अभी हटा दिए जाएँगे, और अगली बार कनेक्ट होने पर डिवाइस अपना सिक्योर एलिमेंट मिटा देगा। इसे वापस नहीं किया जा सकता।",
    erase_confirm: "हाँ, मिटाएँ",
    commands: "निर्देश",
    no_commands: "अभी तक कोई निर्देश नहीं भेजा गया।",
    state_queued: "डिवाइस की प्रतीक्षा है",
    state_delivered: "डिवाइस को भेजा गया",
    state_acknowledged: "पूरा हुआ",
    state_failed: "विफल",
    answered_from: "{} से जवाब मिला",
    notice_locate: "{} से उसका स्थान बताने को कहा गया।",
    notice_sound: "{} से आवाज़ बजाने को कहा गया।",
    notice_erase: "{} के कार्ड हटा दिए गए; अगली बार कनेक्ट होने पर यह ख़ुद को मिटा देगा।",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("en-GB,zh;q=0.5"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("fr, zh-Hans;q=0.7, en;q=0.3"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("zh;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept_language("de"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("zh;q=abc"), Lang::En);
    }

    #[test]
    fn times_are_shown_in_the_region_zone() {
        // 2026-11-23T09:41:00Z
        let at = 1_795_426_860_000;
        let cn = show_time(at, "cn", Lang::En);
        assert_eq!(cn.text, "23 Nov 2026, 17:41 UTC+8");
        assert_eq!(cn.iso, "2026-11-23T17:41:00+08:00");
        assert_eq!(
            show_time(at, "in", Lang::En).text,
            "23 Nov 2026, 15:11 UTC+5:30"
        );
        assert_eq!(
            show_time(at, "cn", Lang::Zh).text,
            "2026年11月23日 17:41（UTC+8）"
        );
        assert_eq!(show_time(at, "xx", Lang::En).text, "23 Nov 2026, 09:41 UTC");
    }

    #[test]
    fn fill_replaces_one_placeholder() {
        assert_eq!(
            fill(EN.notice_off, "Li's phone"),
            "Payments are turned off on Li's phone."
        );
        assert_eq!(fill("{} {}", "a"), "a {}");
    }

    #[test]
    fn the_devices_notices_read_well_in_both_languages() {
        assert_eq!(
            fill(EN.notice_on, "Li's phone"),
            "Payments are on again for Li's phone."
        );
        assert_eq!(
            fill(ZH.notice_off, "李的手机"),
            "已关闭「李的手机」的支付功能。"
        );
        assert_eq!(
            fill(ZH.notice_on, "李的手机"),
            "已重新开启「李的手机」的支付功能。"
        );
    }

    /// The English and Hindi tables of each word struct, as source text.
    const TABLES: [(&str, &str, &str); 6] = [
        (
            include_str!("i18n.rs"),
            "pub static EN: Strings",
            "pub static HI: Strings",
        ),
        (
            include_str!("i18n.rs"),
            "const FIND_EN: FindStrings",
            "const FIND_HI: FindStrings",
        ),
        (
            include_str!("i18n/bills.rs"),
            "const EN: BillStrings",
            "const HI: BillStrings",
        ),
        (
            include_str!("i18n/upi.rs"),
            "const UPI_EN: UpiStrings",
            "const UPI_HI: UpiStrings",
        ),
        (
            include_str!("i18n/bands.rs"),
            "const EN: BandStrings",
            "const HI: BandStrings",
        ),
        (
            include_str!("i18n/reasons.rs"),
            "static REASONS_EN: ReasonStrings",
            "static REASONS_HI: ReasonStrings",
        ),
    ];

    /// The `field: "words",` entries of the table that starts at `head`.
    fn entries<'a>(source: &'a str, head: &str) -> Vec<(&'a str, &'a str)> {
        let start = source.find(head).unwrap_or_else(|| panic!("{head}"));
        let body = &source[start..];
        let end = body.find("\n};").unwrap_or_else(|| panic!("end of {head}"));
        body[..end]
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (name, value) = l.trim().split_once(": ")?;
                let value = value
                    .strip_suffix(',')?
                    .strip_prefix('"')?
                    .strip_suffix('"')?;
                Some((name, value))
            })
            .collect()
    }

    fn devanagari(s: &str) -> bool {
        s.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c))
    }

    #[test]
    fn no_hindi_word_is_empty_or_left_in_english() {
        for (source, en_head, hi_head) in TABLES {
            let en = entries(source, en_head);
            let hi = entries(source, hi_head);
            assert!(!hi.is_empty(), "{hi_head}");
            assert_eq!(
                en.iter().map(|e| e.0).collect::<Vec<_>>(),
                hi.iter().map(|e| e.0).collect::<Vec<_>>(),
                "{hi_head}: every field, in the English table's order"
            );
            for ((name, en_words), (_, hi_words)) in en.iter().zip(&hi) {
                assert!(!hi_words.trim().is_empty(), "{hi_head}.{name} is empty");
                let loanword = ["paytap", "UPI", "UPI ID", ", "].contains(hi_words);
                assert!(
                    devanagari(hi_words) || loanword,
                    "{hi_head}.{name} is not in Hindi: {hi_words:?}"
                );
                assert_eq!(
                    en_words.matches("{}").count(),
                    hi_words.matches("{}").count(),
                    "{hi_head}.{name}: the placeholder"
                );
            }
        }
    }

    #[test]
    fn hindi_is_chosen_and_shown() {
        assert_eq!(Lang::parse("hi"), Some(Lang::Hi));
        assert_eq!(Lang::Hi.code(), "hi");
        assert_eq!(Lang::Hi.html_tag(), "hi");
        assert_eq!(Lang::Hi.endonym(), "हिन्दी");
        assert_eq!(Lang::from(paytap_wallet::Language::Hi), Lang::Hi);
        assert_eq!(
            Lang::from_accept_language("hi-IN,hi;q=0.9,en;q=0.8"),
            Lang::Hi
        );
        assert_eq!(Lang::from_accept_language("en-IN,hi;q=0.9"), Lang::En);
        assert_eq!(Lang::Hi.others().collect::<Vec<_>>(), [Lang::En, Lang::Zh]);
        assert_eq!(Lang::En.others().collect::<Vec<_>>(), [Lang::Zh, Lang::Hi]);
        // 2026-11-23T09:41:00Z
        assert_eq!(
            show_time(1_795_426_860_000, "in", Lang::Hi).text,
            "23 नवंबर 2026, 15:11 UTC+5:30"
        );
        assert_eq!(
            fill(HI.notice_off, "Redmi 13"),
            "Redmi 13 पर भुगतान बंद कर दिए गए हैं।"
        );
    }

    #[test]
    fn quality_values_parse_strictly() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.123"), Some(123));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("2"), None);
    }
}
