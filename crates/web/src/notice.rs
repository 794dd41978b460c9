//! One-shot notices after a redirect ("Payments turned off on ..."): a
//! short-lived cookie names what happened, and the next page says it once
//! in the reader's language.

use axum::http::HeaderValue;

use crate::app::Req;
use crate::i18n::{self, Lang};
use crate::pages::DeviceCards;
use crate::session::{FLASH_COOKIE, cookie, set_cookie};

/// The cookie that leaves a notice for the next page.
pub(crate) fn flash(kind: &str, arg: &str, secure: bool) -> HeaderValue {
    let arg: String = arg
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    set_cookie(FLASH_COOKIE, &format!("{kind}.{arg}"), 60, secure)
}

/// The notice of the request's flash cookie (and the cookie that clears it).
pub(crate) fn take_notice(
    req: &Req,
    lang: Lang,
    devices: &[DeviceCards],
) -> (Option<String>, Vec<HeaderValue>) {
    let Some(raw) = cookie(&req.headers, FLASH_COOKIE) else {
        return (None, Vec::new());
    };
    let clear = vec![set_cookie(FLASH_COOKIE, "", 0, req.secure)];
    let s = lang.strings();
    let (kind, arg) = raw.split_once('.').unwrap_or((raw, ""));
    let device_name = || {
        devices
            .iter()
            .find(|d| d.device.id == arg)
            .map(|d| d.device.name.as_str())
    };
    let four = arg.len() == 4 && arg.bytes().all(|b| b.is_ascii_digit());
    let text = match kind {
        "off" => device_name().map(|n| i18n::fill(s.notice_off, n)),
        "on" => device_name().map(|n| i18n::fill(s.notice_on, n)),
        "rmall" if arg.parse::<u32>().is_ok() => Some(i18n::fill(s.notice_removed_all, arg)),
        "rmcard" if four => Some(i18n::fill(s.notice_card_removed, arg)),
        "default" if four => Some(i18n::fill(s.notice_default, arg)),
        "lang" => Some(s.notice_language.to_string()),
        "locate" => device_name().map(|n| i18n::fill(lang.find().notice_locate, n)),
        "sound" => device_name().map(|n| i18n::fill(lang.find().notice_sound, n)),
        "erase" => device_name().map(|n| i18n::fill(lang.find().notice_erase, n)),
        _ => None,
    };
    (text, clear)
}
