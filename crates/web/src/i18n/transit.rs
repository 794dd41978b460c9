//! The words of the transit cards page.

use super::Lang;

/// Every string the transit page shows.
pub struct TransitStrings {
    pub nav: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    /// "{card name} ···· {last digits}".
    pub card: &'static str,
    pub on_device: &'static str,
    pub balance: &'static str,
    pub balance_note: &'static str,
    /// "On the device": the card's own balance as its device read it.
    pub device_balance: &'static str,
    /// "read {time}".
    pub read_at: &'static str,
    pub status: &'static str,
    pub active: &'static str,
    pub lost: &'static str,
    pub blocked: &'static str,
    pub moved: &'static str,
    pub lost_note: &'static str,
    pub move_to: &'static str,
    pub move_button: &'static str,
    /// "The balance moves to {card} at that device's next sync, …".
    pub move_ordered: &'static str,
    pub move_no_target: &'static str,
    pub another_card: &'static str,
    pub trips: &'static str,
    pub no_trips: &'static str,
    pub top_ups: &'static str,
    pub no_top_ups: &'static str,
    pub col_time: &'static str,
    pub col_gate: &'static str,
    pub col_trip: &'static str,
    pub col_amount: &'static str,
    pub col_balance: &'static str,
    pub col_state: &'static str,
    pub fare: &'static str,
    pub entry: &'static str,
    pub exit: &'static str,
    pub other: &'static str,
    /// "at a {} gate": a trip another T-Union member's gate took.
    pub in_other_city: &'static str,
    pub paid: &'static str,
    pub on_card: &'static str,
    pub refunded: &'static str,
}

const EN: TransitStrings = TransitStrings {
    nav: "Transit",
    title: "Transit cards",
    intro: "The city transit cards on your phones, watches and bands. Tap at the gate without unlocking; top up from the device.",
    empty: "No transit card yet. Issue one to a device from the device itself.",
    card: "{} ···· {}",
    on_device: "On {}",
    balance: "Balance",
    device_balance: "On the device",
    read_at: "read {}",
    balance_note: "Top-ups less the fares the gates have uploaded; a fare still in a gate shows later.",
    status: "Status",
    active: "Active",
    lost: "Blocked: the device was reported lost",
    blocked: "Blocked: the card was copied",
    moved: "The balance was moved to another card.",
    lost_note: "Gates refuse this card. Once every gate has uploaded its rides, the operator can move the balance to a card on another of your devices.",
    move_to: "Move the balance to",
    move_button: "Move the balance",
    move_ordered: "The balance moves to {} at that device's next sync, once every gate has uploaded its rides.",
    move_no_target: "To move the balance, first issue a card of the same city to another of your devices.",
    another_card: "another card",
    trips: "Trips",
    no_trips: "No trip cleared yet.",
    top_ups: "Top-ups",
    no_top_ups: "No top-up yet.",
    col_time: "Time",
    col_gate: "Gate",
    col_trip: "Trip",
    col_amount: "Amount",
    col_balance: "Balance after",
    col_state: "State",
    fare: "Fare",
    entry: "Metro entry",
    exit: "Metro exit",
    other: "Other",
    in_other_city: "at a {} gate",
    paid: "Paid, not yet on the card",
    on_card: "On the card",
    refunded: "Refunded",
};

const ZH: TransitStrings = TransitStrings {
    nav: "交通卡",
    title: "交通卡",
    intro: "您手机、手表和手环上的城市交通卡。过闸无需解锁；在设备上充值。",
    empty: "还没有交通卡。请在设备上开卡。",
    card: "{} ···· {}",
    on_device: "在 {} 上",
    balance: "余额",
    device_balance: "设备读取的余额",
    read_at: "读取于 {}",
    balance_note: "充值减去闸机已上传的车费；闸机尚未上传的车费稍后显示。",
    status: "状态",
    active: "正常",
    lost: "已停用：设备已挂失",
    blocked: "已停用：该卡被复制",
    moved: "余额已转到另一张卡。",
    lost_note: "闸机会拒绝这张卡。所有闸机上传行程后，运营方可将余额转到您另一台设备上的卡。",
    move_to: "将余额转到",
    move_button: "转移余额",
    move_ordered: "所有闸机上传行程后，余额将在该设备下次同步时转到 {}。",
    move_no_target: "如需转移余额，请先在您的另一台设备上开通同一城市的交通卡。",
    another_card: "另一张卡",
    trips: "行程",
    no_trips: "还没有已清算的行程。",
    top_ups: "充值",
    no_top_ups: "还没有充值。",
    col_time: "时间",
    col_gate: "闸机",
    col_trip: "行程",
    col_amount: "金额",
    col_balance: "交易后余额",
    col_state: "状态",
    fare: "车费",
    entry: "地铁进站",
    exit: "地铁出站",
    other: "其他",
    in_other_city: "在{}的闸机",
    paid: "已支付，尚未写入卡内",
    on_card: "已写入卡内",
    refunded: "已退款",
};

const HI: TransitStrings = TransitStrings {
    nav: "ट्रांज़िट",
    title: "ट्रांज़िट कार्ड",
    intro: "आपके फ़ोन, घड़ी और बैंड पर शहर के ट्रांज़िट कार्ड। गेट पर बिना अनलॉक किए टैप करें; डिवाइस से ही टॉप-अप करें।",
    empty: "अभी कोई ट्रांज़िट कार्ड नहीं है। डिवाइस से ही कार्ड जारी करें।",
    card: "{} ···· {}",
    on_device: "{} पर",
    balance: "शेष राशि",
    device_balance: "डिवाइस पर",
    read_at: "{} को पढ़ा गया",
    balance_note: "टॉप-अप में से वे किराए घटाकर जो गेट अपलोड कर चुके हैं; जो किराया अभी गेट में है वह बाद में दिखेगा।",
    status: "स्थिति",
    active: "सक्रिय",
    lost: "बंद: डिवाइस के खोने की सूचना दी गई",
    blocked: "बंद: कार्ड की नकल की गई",
    moved: "शेष राशि दूसरे कार्ड पर भेज दी गई।",
    lost_note: "गेट इस कार्ड को अस्वीकार करते हैं। सभी गेट अपनी यात्राएँ अपलोड कर दें, तो ऑपरेटर शेष राशि आपके किसी दूसरे डिवाइस के कार्ड पर भेज सकता है।",
    move_to: "शेष राशि यहाँ भेजें",
    move_button: "शेष राशि भेजें",
    move_ordered: "सभी गेट अपनी यात्राएँ अपलोड कर दें, तो शेष राशि उस डिवाइस के अगले सिंक पर {} पर पहुँच जाएगी।",
    move_no_target: "शेष राशि भेजने के लिए, पहले अपने किसी दूसरे डिवाइस पर उसी शहर का कार्ड जारी करें।",
    another_card: "दूसरा कार्ड",
    trips: "यात्राएँ",
    no_trips: "अभी तक कोई यात्रा क्लियर नहीं हुई।",
    top_ups: "टॉप-अप",
    no_top_ups: "अभी तक कोई टॉप-अप नहीं।",
    col_time: "समय",
    col_gate: "गेट",
    col_trip: "यात्रा",
    col_amount: "राशि",
    col_balance: "बाद में शेष",
    col_state: "स्थिति",
    fare: "किराया",
    entry: "मेट्रो प्रवेश",
    exit: "मेट्रो निकास",
    other: "अन्य",
    in_other_city: "{} के गेट पर",
    paid: "भुगतान हुआ, अभी कार्ड पर नहीं",
    on_card: "कार्ड पर",
    refunded: "धनवापसी हुई",
};

/// The transit page's strings in `lang`.
pub fn transit_strings(lang: Lang) -> &'static TransitStrings {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
        Lang::Hi => &HI,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_word() {
        for lang in [Lang::En, Lang::Zh, Lang::Hi] {
            let s = transit_strings(lang);
            for w in [
                s.nav, s.title, s.intro, s.empty, s.balance, s.lost, s.trips, s.paid,
            ] {
                assert!(!w.trim().is_empty(), "{lang:?}");
            }
            assert_eq!(s.card.matches("{}").count(), 2, "{lang:?}");
            assert_eq!(s.on_device.matches("{}").count(), 1, "{lang:?}");
            assert_eq!(s.move_ordered.matches("{}").count(), 1, "{lang:?}");
        }
    }
}
