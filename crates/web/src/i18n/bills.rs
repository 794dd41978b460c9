//! The words of the bills pages (India accounts) in each language, and
//! rupee amounts written the Indian way (`₹1,23,456.50`: the last three
//! whole digits, then groups of two).

use paytap_bbps::{Category, PayState, Reminder};
use paytap_types::Money;

use super::Lang;

/// Every word the bills pages show.
pub struct BillStrings {
    pub nav_bills: &'static str,
    pub bills_title: &'static str,
    pub bills_intro: &'static str,
    pub india_only_title: &'static str,
    pub india_only_body: &'static str,
    pub reminders_title: &'static str,
    pub reminders_none: &'static str,
    /// `{}` = days.
    pub due_in: &'static str,
    pub due_today: &'static str,
    /// `{}` = days.
    pub overdue: &'static str,
    pub billers_title: &'static str,
    pub receipts_title: &'static str,
    pub receipts_none: &'static str,
    /// `{}` = biller name.
    pub fetch_title: &'static str,
    pub fetch_button: &'static str,
    /// `{}` = the rule a value must follow.
    pub param_rule: &'static str,
    pub bill_title: &'static str,
    pub customer_name: &'static str,
    pub bill_number: &'static str,
    pub bill_date: &'static str,
    pub due_date: &'static str,
    pub amount: &'static str,
    pub already_paid: &'static str,
    pub vpa_field: &'static str,
    pub vpa_hint: &'static str,
    pub pay_button: &'static str,
    pub receipt_title: &'static str,
    pub biller_ref: &'static str,
    pub rail_ref: &'static str,
    pub method_upi: &'static str,
    pub method_card: &'static str,
    pub paid_by: &'static str,
    pub state: &'static str,
    pub refund_reason: &'static str,
    /// `{}` = the rule broken, in the service's words.
    pub check_input: &'static str,
    pub biller_down: &'static str,
    pub already_paid_refusal: &'static str,
    pub no_vpa: &'static str,
    pub back_to_bills: &'static str,
    pub recharge_title: &'static str,
    pub recharge_intro: &'static str,
    pub mobile_field: &'static str,
    pub operator_field: &'static str,
    pub circle_field: &'static str,
    pub not_detected: &'static str,
    pub show_plans: &'static str,
    pub plans_legend: &'static str,
    /// `{}` = days.
    pub validity: &'static str,
    pub recharge_button: &'static str,
    pub recharged_number: &'static str,
    pub plan: &'static str,
}

const EN: BillStrings = BillStrings {
    nav_bills: "Bills",
    bills_title: "Bills",
    bills_intro: "Pay electricity, water, gas, broadband, DTH and postpaid mobile bills over UPI.",
    india_only_title: "Bills are for India accounts",
    india_only_body: "Bill payments and mobile recharge are paid in rupees from an India account. This account is not one.",
    reminders_title: "Due soon",
    reminders_none: "No unpaid bill is due in the next days.",
    due_in: "due in {} days",
    due_today: "due today",
    overdue: "{} days overdue",
    billers_title: "Billers",
    receipts_title: "Receipts",
    receipts_none: "No bill paid yet.",
    fetch_title: "Fetch your bill: {}",
    fetch_button: "Fetch bill",
    param_rule: "Allowed: {}",
    bill_title: "Your bill",
    customer_name: "Name",
    bill_number: "Bill number",
    bill_date: "Bill date",
    due_date: "Due date",
    amount: "Amount",
    already_paid: "This bill is paid.",
    vpa_field: "Pay from UPI ID",
    vpa_hint: "Your UPI ID, like name@paytap",
    pay_button: "Pay bill",
    receipt_title: "Receipt",
    biller_ref: "Biller reference",
    rail_ref: "UPI reference (RRN)",
    method_upi: "UPI",
    method_card: "Card",
    paid_by: "Paid by",
    state: "Status",
    refund_reason: "Refunded because",
    check_input: "Check what you entered: {}",
    biller_down: "The biller is not answering. Try again later; nothing was charged.",
    already_paid_refusal: "This bill is already paid or being paid.",
    no_vpa: "That UPI ID is not one of yours.",
    back_to_bills: "Back to bills",
    recharge_title: "Mobile recharge",
    recharge_intro: "Recharge a prepaid Jio, Airtel, Vi or BSNL number over UPI.",
    mobile_field: "Mobile number",
    operator_field: "Operator",
    circle_field: "Circle",
    not_detected: "The operator could not be told from this number: choose it and the circle.",
    show_plans: "Show plans",
    plans_legend: "Plans",
    validity: "{} days",
    recharge_button: "Recharge",
    recharged_number: "Mobile number",
    plan: "Plan",
};

const ZH: BillStrings = BillStrings {
    nav_bills: "账单",
    bills_title: "账单",
    bills_intro: "通过 UPI 缴纳电费、水费、燃气费、宽带费、卫星电视费和后付费手机账单。",
    india_only_title: "账单缴费仅限印度账户",
    india_only_body: "账单缴费和手机充值须由印度账户以卢比支付，此账户不是印度账户。",
    reminders_title: "即将到期",
    reminders_none: "近几天没有到期的未付账单。",
    due_in: "{} 天后到期",
    due_today: "今天到期",
    overdue: "已逾期 {} 天",
    billers_title: "收费机构",
    receipts_title: "收据",
    receipts_none: "还没有缴过账单。",
    fetch_title: "查询账单：{}",
    fetch_button: "查询账单",
    param_rule: "格式：{}",
    bill_title: "您的账单",
    customer_name: "户名",
    bill_number: "账单号",
    bill_date: "账单日期",
    due_date: "到期日",
    amount: "金额",
    already_paid: "此账单已缴清。",
    vpa_field: "付款 UPI ID",
    vpa_hint: "您的 UPI ID，例如 name@paytap",
    pay_button: "缴费",
    receipt_title: "收据",
    biller_ref: "收费机构参考号",
    rail_ref: "UPI 参考号（RRN）",
    method_upi: "UPI",
    method_card: "银行卡",
    paid_by: "支付方式",
    state: "状态",
    refund_reason: "退款原因",
    check_input: "请检查填写的内容：{}",
    biller_down: "收费机构暂无响应，请稍后再试；未扣款。",
    already_paid_refusal: "此账单已缴清或正在缴费。",
    no_vpa: "此 UPI ID 不属于您。",
    back_to_bills: "返回账单",
    recharge_title: "手机充值",
    recharge_intro: "通过 UPI 为 Jio、Airtel、Vi 或 BSNL 预付费号码充值。",
    mobile_field: "手机号码",
    operator_field: "运营商",
    circle_field: "电信区",
    not_detected: "无法从此号码识别运营商，请选择运营商和电信区。",
    show_plans: "查看套餐",
    plans_legend: "套餐",
    validity: "{} 天",
    recharge_button: "充值",
    recharged_number: "手机号码",
    plan: "套餐",
};

const HI: BillStrings = BillStrings {
    nav_bills: "बिल",
    bills_title: "बिल",
    bills_intro: "बिजली, पानी, गैस, ब्रॉडबैंड, DTH और पोस्टपेड मोबाइल के बिल UPI से भरें।",
    india_only_title: "बिल भुगतान भारत के खातों के लिए है",
    india_only_body: "बिल भुगतान और मोबाइल रिचार्ज भारत के खाते से रुपये में किए जाते हैं। यह खाता भारत का नहीं है।",
    reminders_title: "जल्द देय",
    reminders_none: "अगले कुछ दिनों में कोई बकाया बिल देय नहीं है।",
    due_in: "{} दिन में देय",
    due_today: "आज देय",
    overdue: "{} दिन से बकाया",
    billers_title: "बिलर",
    receipts_title: "रसीदें",
    receipts_none: "अभी तक कोई बिल नहीं भरा गया।",
    fetch_title: "अपना बिल देखें: {}",
    fetch_button: "बिल देखें",
    param_rule: "मान्य: {}",
    bill_title: "आपका बिल",
    customer_name: "नाम",
    bill_number: "बिल नंबर",
    bill_date: "बिल की तारीख़",
    due_date: "देय तिथि",
    amount: "राशि",
    already_paid: "इस बिल का भुगतान हो चुका है।",
    vpa_field: "इस UPI ID से भुगतान करें",
    vpa_hint: "आपकी UPI ID, जैसे name@paytap",
    pay_button: "बिल भरें",
    receipt_title: "रसीद",
    biller_ref: "बिलर संदर्भ संख्या",
    rail_ref: "UPI संदर्भ संख्या (RRN)",
    method_upi: "UPI",
    method_card: "कार्ड",
    paid_by: "भुगतान का तरीका",
    state: "स्थिति",
    refund_reason: "रिफ़ंड का कारण",
    check_input: "आपने जो भरा है उसे जाँचें: {}",
    biller_down: "बिलर जवाब नहीं दे रहा है। बाद में फिर से प्रयास करें; कोई राशि नहीं कटी।",
    already_paid_refusal: "इस बिल का भुगतान हो चुका है या हो रहा है।",
    no_vpa: "यह UPI ID आपकी नहीं है।",
    back_to_bills: "बिल पर वापस जाएँ",
    recharge_title: "मोबाइल रिचार्ज",
    recharge_intro: "Jio, Airtel, Vi या BSNL प्रीपेड नंबर का रिचार्ज UPI से करें।",
    mobile_field: "मोबाइल नंबर",
    operator_field: "ऑपरेटर",
    circle_field: "सर्कल",
    not_detected: "इस नंबर से ऑपरेटर का पता नहीं चल सका: ऑपरेटर और सर्कल चुनें।",
    show_plans: "प्लान देखें",
    plans_legend: "प्लान",
    validity: "{} दिन",
    recharge_button: "रिचार्ज करें",
    recharged_number: "मोबाइल नंबर",
    plan: "प्लान",
};

impl Lang {
    /// The bills pages' words.
    pub fn bills(self) -> &'static BillStrings {
        match self {
            Lang::En => &EN,
            Lang::Zh => &ZH,
            Lang::Hi => &HI,
        }
    }
}

/// A category's name.
pub fn category_name(lang: Lang, c: Category) -> &'static str {
    match (lang, c) {
        (Lang::En, Category::Electricity) => "Electricity",
        (Lang::En, Category::Water) => "Water",
        (Lang::En, Category::Gas) => "Piped gas",
        (Lang::En, Category::Broadband) => "Broadband",
        (Lang::En, Category::Dth) => "DTH",
        (Lang::En, Category::MobilePostpaid) => "Mobile postpaid",
        (Lang::Zh, Category::Electricity) => "电费",
        (Lang::Zh, Category::Water) => "水费",
        (Lang::Zh, Category::Gas) => "燃气费",
        (Lang::Zh, Category::Broadband) => "宽带",
        (Lang::Zh, Category::Dth) => "卫星电视",
        (Lang::Zh, Category::MobilePostpaid) => "后付费手机",
        (Lang::Hi, Category::Electricity) => "बिजली",
        (Lang::Hi, Category::Water) => "पानी",
        (Lang::Hi, Category::Gas) => "पाइप्ड गैस",
        (Lang::Hi, Category::Broadband) => "ब्रॉडबैंड",
        (Lang::Hi, Category::Dth) => "DTH",
        (Lang::Hi, Category::MobilePostpaid) => "पोस्टपेड मोबाइल",
    }
}

/// Where a payment stands, in words.
pub fn state_name(lang: Lang, s: PayState) -> &'static str {
    match (lang, s) {
        (Lang::En, PayState::Started) => "Processing",
        (Lang::En, PayState::Charging) => {
            "Waiting for you: approve the request in your UPI app with your UPI PIN"
        }
        (Lang::En, PayState::Paid) => "Paid, awaiting the biller",
        (Lang::En, PayState::Confirmed) => "Confirmed by the biller",
        (Lang::En, PayState::Refunding) => "Being refunded",
        (Lang::En, PayState::Refunded) => "Refunded",
        (Lang::En, PayState::Declined) => "Declined; nothing was taken",
        (Lang::Zh, PayState::Started) => "处理中",
        (Lang::Zh, PayState::Charging) => "等待您确认：请在 UPI 应用中输入 UPI PIN 批准收款请求",
        (Lang::Zh, PayState::Paid) => "已付款，等待收费机构确认",
        (Lang::Zh, PayState::Confirmed) => "收费机构已确认",
        (Lang::Zh, PayState::Refunding) => "退款中",
        (Lang::Zh, PayState::Refunded) => "已退款",
        (Lang::Zh, PayState::Declined) => "已拒绝，未扣款",
        (Lang::Hi, PayState::Started) => "प्रोसेस हो रहा है",
        (Lang::Hi, PayState::Charging) => {
            "आपकी मंज़ूरी की प्रतीक्षा है: अपने UPI ऐप में UPI PIN डालकर अनुरोध स्वीकार करें"
        }
        (Lang::Hi, PayState::Paid) => "भुगतान हो गया, बिलर की पुष्टि की प्रतीक्षा है",
        (Lang::Hi, PayState::Confirmed) => "बिलर ने पुष्टि की",
        (Lang::Hi, PayState::Refunding) => "रिफ़ंड हो रहा है",
        (Lang::Hi, PayState::Refunded) => "रिफ़ंड हो गया",
        (Lang::Hi, PayState::Declined) => "अस्वीकृत; कोई राशि नहीं कटी",
    }
}

/// A reminder in words.
pub fn reminder_text(lang: Lang, r: Reminder) -> String {
    let b = lang.bills();
    match r {
        Reminder::DueIn(0) => b.due_today.to_owned(),
        Reminder::DueIn(d) => super::fill(b.due_in, &d.to_string()),
        Reminder::Overdue(d) => super::fill(b.overdue, &d.to_string()),
    }
}

/// `₹1,23,456.50`: an INR amount with Indian digit grouping (the last
/// three whole digits, then pairs).
pub fn rupees(m: Money) -> String {
    let plain = m.decimal();
    let (sign, rest) = match plain.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = rest.split_once('.').unwrap_or((rest, ""));
    let mut groups: Vec<&str> = Vec::new();
    let (mut head, tail) = whole.split_at(whole.len().saturating_sub(3));
    while head.len() > 2 {
        let (h, pair) = head.split_at(head.len() - 2);
        groups.push(pair);
        head = h;
    }
    if !head.is_empty() {
        groups.push(head);
    }
    groups.reverse();
    groups.push(tail);
    let dot = if fraction.is_empty() { "" } else { "." };
    format!("{sign}₹{}{dot}{fraction}", groups.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_types::Currency;

    #[test]
    fn every_category_and_state_has_hindi_words() {
        let devanagari = |s: &str| s.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c));
        for c in Category::ALL {
            let words = category_name(Lang::Hi, c);
            assert!(devanagari(words) || words == "DTH", "{c:?}: {words:?}");
        }
        for s in PayState::ALL {
            assert!(devanagari(state_name(Lang::Hi, s)), "{s:?}");
        }
        assert_eq!(reminder_text(Lang::Hi, Reminder::DueIn(0)), "आज देय");
        assert_eq!(reminder_text(Lang::Hi, Reminder::DueIn(3)), "3 दिन में देय");
        assert_eq!(
            reminder_text(Lang::Hi, Reminder::Overdue(2)),
            "2 दिन से बकाया"
        );
    }

    #[test]
    fn rupees_are_grouped_the_indian_way() {
        for (paise, shown) in [
            (5, "₹0.05"),
            (99_900, "₹999.00"),
            (100_000, "₹1,000.00"),
            (12_345_650, "₹1,23,456.50"),
            (1_000_000_000, "₹1,00,00,000.00"),
            (-12_345_650, "-₹1,23,456.50"),
        ] {
            assert_eq!(rupees(Money::new(paise, Currency::INR)), shown);
        }
    }
}
