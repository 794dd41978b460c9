//! The words of the UPI page, in each language.

use super::Lang;

/// The UPI page's words.
pub struct UpiStrings {
    pub nav: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub ids_title: &'static str,
    pub no_ids: &'static str,
    pub col_id: &'static str,
    pub col_account: &'static str,
    pub collects_title: &'static str,
    pub no_collects: &'static str,
    /// Why a request is approved on the phone and not here.
    pub approve_on_phone: &'static str,
    /// `{}`: when it expires.
    pub expires: &'static str,
    pub payments_title: &'static str,
    pub no_payments: &'static str,
    pub col_date: &'static str,
    pub col_to: &'static str,
    pub col_amount: &'static str,
    pub col_status: &'static str,
    pub col_reference: &'static str,
    pub status_success: &'static str,
    pub status_failed: &'static str,
    pub status_pending: &'static str,
    pub status_deemed: &'static str,
    /// `{}`: the UPI error code.
    pub code: &'static str,
    pub collect_kind: &'static str,
    pub unavailable: &'static str,
}

impl Lang {
    /// The UPI page's words.
    pub fn upi(self) -> &'static UpiStrings {
        match self {
            Lang::En => &UPI_EN,
            Lang::Zh => &UPI_ZH,
            Lang::Hi => &UPI_HI,
        }
    }
}

const UPI_EN: UpiStrings = UpiStrings {
    nav: "UPI",
    title: "UPI",
    intro: "Your UPI IDs, the payments you made with them and the requests shops sent you. You pay and approve in the paytap app on your bound phone.",
    ids_title: "Your UPI IDs",
    no_ids: "No UPI ID yet. Bind your phone to your bank in the paytap app to make one.",
    col_id: "UPI ID",
    col_account: "Bank account",
    collects_title: "Requests waiting for you",
    no_collects: "No requests waiting.",
    approve_on_phone: "Approve or decline in the paytap app on your bound phone: your UPI PIN is only ever typed there.",
    expires: "expires {}",
    payments_title: "UPI payments",
    no_payments: "No UPI payments yet.",
    col_date: "Date",
    col_to: "To",
    col_amount: "Amount",
    col_status: "Status",
    col_reference: "Reference (RRN)",
    status_success: "Paid",
    status_failed: "Not paid",
    status_pending: "In progress",
    status_deemed: "Awaiting the bank's confirmation",
    code: "UPI code {}",
    collect_kind: "requested by the shop",
    unavailable: "UPI is not available right now. Try again in a moment.",
};

const UPI_ZH: UpiStrings = UpiStrings {
    nav: "UPI",
    title: "UPI",
    intro: "您的 UPI ID、用它们完成的付款，以及商户发来的收款请求。付款和确认请在已绑定手机上的 paytap 应用中进行。",
    ids_title: "您的 UPI ID",
    no_ids: "还没有 UPI ID。请在 paytap 应用中将手机与银行绑定后创建。",
    col_id: "UPI ID",
    col_account: "银行账户",
    collects_title: "等待您处理的收款请求",
    no_collects: "没有等待处理的请求。",
    approve_on_phone: "请在已绑定手机上的 paytap 应用中同意或拒绝：UPI 密码只在那里输入。",
    expires: "{} 过期",
    payments_title: "UPI 付款",
    no_payments: "还没有 UPI 付款。",
    col_date: "日期",
    col_to: "收款方",
    col_amount: "金额",
    col_status: "状态",
    col_reference: "参考号 (RRN)",
    status_success: "已付款",
    status_failed: "未付款",
    status_pending: "处理中",
    status_deemed: "等待银行确认",
    code: "UPI 代码 {}",
    collect_kind: "商户发起的收款",
    unavailable: "UPI 暂时不可用，请稍后再试。",
};

const UPI_HI: UpiStrings = UpiStrings {
    nav: "UPI",
    title: "UPI",
    intro: "आपकी UPI ID, उनसे किए गए भुगतान और दुकानों से आए भुगतान अनुरोध। भुगतान और मंज़ूरी आप अपने बाउंड फ़ोन पर paytap ऐप में करते हैं।",
    ids_title: "आपकी UPI ID",
    no_ids: "अभी कोई UPI ID नहीं है। बनाने के लिए paytap ऐप में अपने फ़ोन को अपने बैंक से जोड़ें।",
    col_id: "UPI ID",
    col_account: "बैंक खाता",
    collects_title: "आपकी मंज़ूरी के लिए अनुरोध",
    no_collects: "कोई अनुरोध बाकी नहीं है।",
    approve_on_phone: "अपने बाउंड फ़ोन पर paytap ऐप में स्वीकार या अस्वीकार करें: आपका UPI PIN केवल वहीं डाला जाता है।",
    expires: "{} को समाप्त",
    payments_title: "UPI भुगतान",
    no_payments: "अभी कोई UPI भुगतान नहीं हुआ है।",
    col_date: "तारीख़",
    col_to: "किसे",
    col_amount: "राशि",
    col_status: "स्थिति",
    col_reference: "संदर्भ संख्या (RRN)",
    status_success: "भुगतान हो गया",
    status_failed: "भुगतान नहीं हुआ",
    status_pending: "प्रोसेस हो रहा है",
    status_deemed: "बैंक की पुष्टि की प्रतीक्षा है",
    code: "UPI कोड {}",
    collect_kind: "दुकान द्वारा अनुरोधित",
    unavailable: "UPI अभी उपलब्ध नहीं है। थोड़ी देर बाद फिर से प्रयास करें।",
};
