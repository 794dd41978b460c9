//! ISO 4217 minor-unit exponents, needed to turn an EMVCo amount string into minor
//! units. Currencies not listed use exponent 2.

/// Number of decimal places of the ISO 4217 numeric currency `numeric`.
pub fn exponent(numeric: u16) -> u8 {
    match numeric {
        // exponent 0
        108 | 152 | 174 | 262 | 324 | 352 | 392 | 410 | 548 | 600 | 646 | 704 | 800 | 950 | 952
        | 953 | 990 => 0,
        // exponent 3
        48 | 368 | 400 | 414 | 434 | 512 | 788 => 3,
        _ => 2,
    }
}

/// Parse a decimal amount string (`"23.72"`, `"999"`, `"0.5"`) into minor units of a
/// currency with `exp` decimals. Rejects signs, exponents, empty parts, more decimals
/// than the currency has, and overflow.
pub fn parse_decimal(s: &str, exp: u8) -> Result<u64, &'static str> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err("integer part must be digits");
    }
    let frac = frac.unwrap_or("");
    if s.contains('.') && frac.is_empty() {
        return Err("no digits after the decimal mark");
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err("fraction must be digits");
    }
    if frac.len() > usize::from(exp) {
        return Err("more decimals than the currency allows");
    }
    let mut v: u64 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or("amount overflows")?;
    }
    for _ in frac.len()..usize::from(exp) {
        v = v.checked_mul(10).ok_or("amount overflows")?;
    }
    Ok(v)
}

/// Format minor units as a decimal string with exactly `exp` decimals.
pub fn format_decimal(minor: u64, exp: u8) -> String {
    if exp == 0 {
        return minor.to_string();
    }
    let p = 10u64.pow(u32::from(exp));
    format!("{}.{:0w$}", minor / p, minor % p, w = usize::from(exp))
}

/// Format minor units in the shortest decimal form (`"23.7"`, `"10"`): no trailing
/// fraction zeros, no decimal mark for whole amounts. The result is never longer
/// than any other decimal text of the same value, so every amount that parsed fits
/// the 13-character limit again.
pub fn format_decimal_short(minor: u64, exp: u8) -> String {
    let mut s = format_decimal(minor, exp);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}
