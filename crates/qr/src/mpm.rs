//! EMV QR Code Specification for Payment Systems, Merchant-Presented Mode (EMVCo
//! MPM v1.1): the `ID(2) LENGTH(2) VALUE` data objects, their validation rules
//! (clause 4: payload format indicator first, CRC last, mandatory objects,
//! lengths), the CRC of ID "63" and a builder.
//!
//! Lengths count characters, as the specification states; the CRC is computed over
//! the UTF-8 bytes of the payload up to and including `"6304"`.

use crate::QrError;
use crate::crc::crc16_ccitt_false;
use crate::currency;
use serde::{Deserialize, Serialize};

/// ID "01" point of initiation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointOfInitiation {
    /// "11": the same code for every transaction.
    Static,
    /// "12": a code per transaction (usually with an amount).
    Dynamic,
}

/// A sub-data object of a template: id 00..=99 and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubField {
    /// The sub-object's ID, 00..=99.
    pub id: u8,
    /// Its value.
    pub value: String,
}

/// A merchant account information object (IDs 02-51) or an unreserved template
/// (IDs 80-99). IDs 02-25 carry a primitive `value` (payment network merchant
/// identifiers); IDs 26-51 and 80-99 are templates with a globally unique
/// identifier in sub-ID "00" and further sub-objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantAccount {
    /// The data object's ID (02-51 or 80-99).
    pub id: u8,
    /// IDs 02-25: the payment network's merchant identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Templates: sub-ID "00", the globally unique identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    /// Templates: the sub-objects after "00", in payload order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SubField>,
}

/// ID "55" tip or convenience indicator with ID "56"/"57".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tip {
    /// "01": the mobile application prompts the consumer for a tip.
    Prompt,
    /// "02": fixed convenience fee (ID "56") in minor units of the transaction currency.
    FixedFee(u64),
    /// "03": percentage convenience fee (ID "57") in hundredths of a percent.
    PercentageFee(u16),
}

/// ID "62" additional data field template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdditionalData {
    /// ID "01": bill number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_number: Option<String>,
    /// ID "02": mobile number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_number: Option<String>,
    /// ID "03": store label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_label: Option<String>,
    /// ID "04": loyalty number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loyalty_number: Option<String>,
    /// ID "05": reference label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_label: Option<String>,
    /// ID "06": customer label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_label: Option<String>,
    /// ID "07": terminal label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_label: Option<String>,
    /// ID "08": purpose of transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// ID "09": any of `A` (address), `M` (mobile), `E` (email).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_data_request: Option<String>,
    /// IDs 10-99 (RFU and payment-system specific templates), kept verbatim.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<SubField>,
}

/// ID "64" merchant information, language template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantLanguage {
    /// Sub-ID "00": ISO 639 two-letter language code.
    pub preference: String,
    /// Sub-ID "01": merchant name in that language.
    pub name: String,
    /// Sub-ID "02": merchant city in that language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Sub-IDs 03-99 (RFU), kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<SubField>,
}

/// A merchant-presented QR payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mpm {
    /// ID "01"; absent means static.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_of_initiation: Option<PointOfInitiation>,
    /// IDs "02"-"51" (at least one).
    pub merchant_accounts: Vec<MerchantAccount>,
    /// ID "52" ISO 18245 merchant category code.
    pub mcc: String,
    /// ID "53" ISO 4217 numeric currency.
    pub currency: u16,
    /// ID "54" transaction amount in minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// IDs "55"-"57".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<Tip>,
    /// ID "58" ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// ID "59" merchant name (≤ 25 characters).
    pub merchant_name: String,
    /// ID "60" merchant city (≤ 15 characters).
    pub merchant_city: String,
    /// ID "61" postal code (≤ 10 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ID "62".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_data: Option<AdditionalData>,
    /// ID "64".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<MerchantLanguage>,
    /// IDs "65"-"79" (RFU for EMVCo), kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rfu: Vec<SubField>,
    /// IDs "80"-"99" unreserved templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreserved: Vec<MerchantAccount>,
}

/// Split a string of `ID LEN VALUE` objects. Lengths count characters.
pub fn parse_objects(s: &str) -> Result<Vec<(u8, &str)>, QrError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < s.len() {
        let rest = s.get(pos..).ok_or(QrError::Truncated { offset: pos })?;
        let id = two_digits(rest.get(0..2)).ok_or(QrError::InvalidId { offset: pos })?;
        let len = two_digits(rest.get(2..4)).ok_or(QrError::InvalidLength { offset: pos + 2 })?;
        let body = rest.get(4..).unwrap_or("");
        let end = if len == 0 {
            0
        } else {
            match body.char_indices().nth(usize::from(len) - 1) {
                Some((i, c)) => i + c.len_utf8(),
                None => return Err(QrError::Truncated { offset: pos + 4 }),
            }
        };
        let value = body
            .get(..end)
            .ok_or(QrError::Truncated { offset: pos + 4 })?;
        out.push((id, value));
        pos += 4 + end;
    }
    Ok(out)
}

fn two_digits(s: Option<&str>) -> Option<u8> {
    match s?.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}

fn check_len(id: u8, v: &str, max: usize) -> Result<(), QrError> {
    let n = v.chars().count();
    if n == 0 || n > max {
        return Err(QrError::BadLength { id, max, actual: n });
    }
    if v.chars().any(char::is_control) {
        return Err(QrError::Invalid {
            id,
            reason: "control characters are not allowed",
        });
    }
    Ok(())
}

fn digits_exact(id: u8, v: &str, n: usize) -> Result<(), QrError> {
    if v.len() != n || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QrError::Invalid {
            id,
            reason: "wrong number of digits",
        });
    }
    Ok(())
}

fn parse_subfields(id: u8, v: &str) -> Result<Vec<SubField>, QrError> {
    let objs = parse_objects(v).map_err(|e| QrError::InTemplate {
        id,
        source: Box::new(e),
    })?;
    let mut seen = 0u128;
    let mut out = Vec::with_capacity(objs.len());
    for (sub, val) in objs {
        if seen & (1u128 << sub) != 0 {
            return Err(QrError::DuplicateSubField { id, sub });
        }
        seen |= 1u128 << sub;
        check_len(id, val, 99)?;
        out.push(SubField {
            id: sub,
            value: val.to_owned(),
        });
    }
    Ok(out)
}

fn parse_template(id: u8, v: &str) -> Result<MerchantAccount, QrError> {
    let mut fields = parse_subfields(id, v)?;
    let guid_pos = fields
        .iter()
        .position(|f| f.id == 0)
        .ok_or(QrError::MissingSubField { id, sub: 0 })?;
    let guid = fields.remove(guid_pos).value;
    check_len(id, &guid, 32)?;
    Ok(MerchantAccount {
        id,
        value: None,
        guid: Some(guid),
        fields,
    })
}

/// Payload format indicator "01" first (ID 00) and a CRC (ID 63) last that
/// matches the payload up to and including "6304".
fn check_envelope(payload: &str, objs: &[(u8, &str)]) -> Result<(), QrError> {
    match objs.first() {
        Some((0, "01")) => {}
        Some((0, _)) => {
            return Err(QrError::Invalid {
                id: 0,
                reason: "payload format indicator must be \"01\"",
            });
        }
        _ => return Err(QrError::PayloadFormatNotFirst),
    }
    match objs.last() {
        Some((63, crc)) => {
            let stated = if crc.len() == 4 && crc.bytes().all(|b| b.is_ascii_hexdigit()) {
                u16::from_str_radix(crc, 16).map_err(|_| QrError::BadCrcFormat)?
            } else {
                return Err(QrError::BadCrcFormat);
            };
            let covered = payload
                .get(..payload.len() - 4)
                .ok_or(QrError::BadCrcFormat)?;
            let computed = crc16_ccitt_false(covered.as_bytes());
            if computed != stated {
                return Err(QrError::CrcMismatch { stated, computed });
            }
        }
        _ => return Err(QrError::CrcNotLast),
    }
    Ok(())
}

/// The tip or convenience fee (ID 55, with 56 or 57), in minor units of a
/// currency with `exp` decimals.
fn parse_tip(
    tip_s: Option<&str>,
    fee_fixed: Option<&str>,
    fee_pct: Option<&str>,
    exp: u8,
) -> Result<Option<Tip>, QrError> {
    Ok(match tip_s {
        None => None,
        Some("01") => Some(Tip::Prompt),
        Some("02") => Some(Tip::FixedFee(parse_amount(
            56,
            fee_fixed.ok_or(QrError::Missing(56))?,
            exp,
        )?)),
        Some("03") => Some(Tip::PercentageFee(parse_percentage(
            fee_pct.ok_or(QrError::Missing(57))?,
        )?)),
        Some(_) => {
            return Err(QrError::Invalid {
                id: 55,
                reason: "tip indicator must be 01, 02 or 03",
            });
        }
    })
}

impl Mpm {
    /// Parse and validate a payload, including its CRC.
    ///
    /// A match over the standard's cases (one arm per data object of EMV
    /// QRCPS-MPM §4), long because the standard has that many.
    pub fn parse(payload: &str) -> Result<Mpm, QrError> {
        let objs = parse_objects(payload)?;
        check_envelope(payload, &objs)?;

        // One arm per data object of EMV QRCPS-MPM §4 (IDs 00–99): a match
        // over the standard's cases, kept whole so it reads as the table.
        let mut seen = 0u128;
        let mut poi = None;
        let mut accounts = Vec::new();
        let (mut mcc, mut cur, mut amount_s, mut tip_s, mut fee_fixed, mut fee_pct) =
            (None, None, None, None, None, None);
        let (mut country, mut name, mut city, mut postal, mut add, mut lang) =
            (None, None, None, None, None, None);
        let mut rfu = Vec::new();
        let mut unreserved = Vec::new();
        let last = objs.len() - 1;
        for (i, &(id, v)) in objs.iter().enumerate() {
            if seen & (1u128 << id) != 0 {
                return Err(QrError::Duplicate(id));
            }
            seen |= 1u128 << id;
            match id {
                0 if i == 0 => {}
                0 => return Err(QrError::PayloadFormatNotFirst),
                63 if i == last => {}
                63 => return Err(QrError::CrcNotLast),
                1 => {
                    poi = Some(match v {
                        "11" => PointOfInitiation::Static,
                        "12" => PointOfInitiation::Dynamic,
                        _ => {
                            return Err(QrError::Invalid {
                                id,
                                reason: "point of initiation must be 11 or 12",
                            });
                        }
                    })
                }
                2..=25 => {
                    check_len(id, v, 99)?;
                    accounts.push(MerchantAccount {
                        id,
                        value: Some(v.to_owned()),
                        guid: None,
                        fields: Vec::new(),
                    });
                }
                26..=51 => accounts.push(parse_template(id, v)?),
                52 => {
                    digits_exact(id, v, 4)?;
                    mcc = Some(v.to_owned());
                }
                53 => {
                    digits_exact(id, v, 3)?;
                    cur = v.parse::<u16>().ok();
                }
                54 => {
                    check_len(id, v, 13)?;
                    amount_s = Some(v);
                }
                55 => tip_s = Some(v),
                56 => {
                    check_len(id, v, 13)?;
                    fee_fixed = Some(v);
                }
                57 => {
                    check_len(id, v, 5)?;
                    fee_pct = Some(v);
                }
                58 => {
                    if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(QrError::Invalid {
                            id,
                            reason: "country must be ISO 3166-1 alpha-2",
                        });
                    }
                    country = Some(v.to_owned());
                }
                59 => {
                    check_len(id, v, 25)?;
                    name = Some(v.to_owned());
                }
                60 => {
                    check_len(id, v, 15)?;
                    city = Some(v.to_owned());
                }
                61 => {
                    check_len(id, v, 10)?;
                    postal = Some(v.to_owned());
                }
                62 => add = Some(parse_additional(v)?),
                64 => lang = Some(parse_language(v)?),
                65..=79 => rfu.push(SubField {
                    id,
                    value: v.to_owned(),
                }),
                80..=99 => unreserved.push(parse_template(id, v)?),
                _ => {
                    return Err(QrError::Invalid {
                        id,
                        reason: "unknown data object",
                    });
                }
            }
        }

        let currency = cur.ok_or(QrError::Missing(53))?;
        let exp = currency::exponent(currency);
        let amount = amount_s.map(|s| parse_amount(54, s, exp)).transpose()?;
        if amount == Some(0) {
            return Err(QrError::Invalid {
                id: 54,
                reason: "amount must be greater than zero",
            });
        }
        let tip = parse_tip(tip_s, fee_fixed, fee_pct, exp)?;
        if accounts.is_empty() {
            return Err(QrError::MissingMerchantAccount);
        }
        Ok(Mpm {
            point_of_initiation: poi,
            merchant_accounts: accounts,
            mcc: mcc.ok_or(QrError::Missing(52))?,
            currency,
            amount,
            tip,
            country: country.ok_or(QrError::Missing(58))?,
            merchant_name: name.ok_or(QrError::Missing(59))?,
            merchant_city: city.ok_or(QrError::Missing(60))?,
            postal_code: postal,
            additional_data: add,
            language: lang,
            rfu,
            unreserved,
        })
    }

    /// Validate and encode, appending the CRC. Objects are emitted in ascending ID
    /// order with "00" first and "63" last; amounts in their shortest decimal form.
    pub fn encode(&self) -> Result<String, QrError> {
        let mut s = String::with_capacity(256);
        put(&mut s, 0, "01")?;
        if let Some(p) = self.point_of_initiation {
            put(
                &mut s,
                1,
                match p {
                    PointOfInitiation::Static => "11",
                    PointOfInitiation::Dynamic => "12",
                },
            )?;
        }
        self.put_accounts(&mut s)?;
        digits_exact(52, &self.mcc, 4)?;
        put(&mut s, 52, &self.mcc)?;
        if self.currency > 999 {
            return Err(QrError::Invalid {
                id: 53,
                reason: "currency is 3 digits",
            });
        }
        put(&mut s, 53, &format!("{:03}", self.currency))?;
        let exp = currency::exponent(self.currency);
        if let Some(a) = self.amount {
            if a == 0 {
                return Err(QrError::Invalid {
                    id: 54,
                    reason: "amount must be greater than zero",
                });
            }
            put(&mut s, 54, &currency::format_decimal_short(a, exp))?;
        }
        self.put_tip(&mut s, exp)?;
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(QrError::Invalid {
                id: 58,
                reason: "country must be ISO 3166-1 alpha-2",
            });
        }
        put(&mut s, 58, &self.country)?;
        check_len(59, &self.merchant_name, 25)?;
        put(&mut s, 59, &self.merchant_name)?;
        check_len(60, &self.merchant_city, 15)?;
        put(&mut s, 60, &self.merchant_city)?;
        if let Some(p) = &self.postal_code {
            check_len(61, p, 10)?;
            put(&mut s, 61, p)?;
        }
        if let Some(a) = &self.additional_data {
            let v = encode_additional(a)?;
            if !v.is_empty() {
                put(&mut s, 62, &v)?;
            }
        }
        if let Some(l) = &self.language {
            put(&mut s, 64, &encode_language(l)?)?;
        }
        self.put_extensions(&mut s)?;
        s.push_str("6304");
        let crc = crc16_ccitt_false(s.as_bytes());
        s.push_str(&format!("{crc:04X}"));
        Ok(s)
    }

    /// Merchant account information (IDs 02–51), in ascending ID order,
    /// at least one.
    fn put_accounts(&self, s: &mut String) -> Result<(), QrError> {
        if self.merchant_accounts.is_empty() {
            return Err(QrError::MissingMerchantAccount);
        }
        let mut accounts: Vec<&MerchantAccount> = self.merchant_accounts.iter().collect();
        accounts.sort_by_key(|a| a.id);
        let mut seen = 0u128;
        for a in accounts {
            if !(2..=51).contains(&a.id) {
                return Err(QrError::Invalid {
                    id: a.id,
                    reason: "merchant account IDs are 02-51",
                });
            }
            if seen & (1u128 << a.id) != 0 {
                return Err(QrError::Duplicate(a.id));
            }
            seen |= 1u128 << a.id;
            put(s, a.id, &encode_account(a)?)?;
        }
        Ok(())
    }

    /// Tip or convenience fee indicator (ID 55) and its fixed (56) or
    /// percentage (57) value.
    fn put_tip(&self, s: &mut String, exp: u8) -> Result<(), QrError> {
        match self.tip {
            None => {}
            Some(Tip::Prompt) => put(s, 55, "01")?,
            Some(Tip::FixedFee(f)) => {
                put(s, 55, "02")?;
                put(s, 56, &currency::format_decimal_short(f, exp))?;
            }
            Some(Tip::PercentageFee(bp)) => {
                if bp == 0 || bp > 9999 {
                    return Err(QrError::Invalid {
                        id: 57,
                        reason: "percentage must be 00.01 to 99.99",
                    });
                }
                put(s, 55, "03")?;
                put(s, 57, &currency::format_decimal_short(u64::from(bp), 2))?;
            }
        }
        Ok(())
    }

    /// RFU objects (IDs 65–79) and unreserved templates (80–99), each in
    /// ascending ID order.
    fn put_extensions(&self, s: &mut String) -> Result<(), QrError> {
        let mut rfu: Vec<&SubField> = self.rfu.iter().collect();
        rfu.sort_by_key(|f| f.id);
        for f in rfu {
            if !(65..=79).contains(&f.id) {
                return Err(QrError::Invalid {
                    id: f.id,
                    reason: "RFU IDs are 65-79",
                });
            }
            put(s, f.id, &f.value)?;
        }
        let mut unres: Vec<&MerchantAccount> = self.unreserved.iter().collect();
        unres.sort_by_key(|a| a.id);
        for a in unres {
            if !(80..=99).contains(&a.id) || a.guid.is_none() {
                return Err(QrError::Invalid {
                    id: a.id,
                    reason: "unreserved templates are IDs 80-99 with a GUID",
                });
            }
            put(s, a.id, &encode_account(a)?)?;
        }
        Ok(())
    }
}

fn put(s: &mut String, id: u8, v: &str) -> Result<(), QrError> {
    let n = v.chars().count();
    if n > 99 {
        return Err(QrError::BadLength {
            id,
            max: 99,
            actual: n,
        });
    }
    s.push_str(&format!("{id:02}{n:02}"));
    s.push_str(v);
    Ok(())
}

fn encode_subfields(id: u8, fields: &[SubField]) -> Result<String, QrError> {
    let mut s = String::new();
    let mut seen = 0u128;
    for f in fields {
        if f.id > 99 || seen & (1u128 << f.id) != 0 {
            return Err(QrError::DuplicateSubField { id, sub: f.id });
        }
        seen |= 1u128 << f.id;
        check_len(id, &f.value, 99)?;
        put(&mut s, f.id, &f.value)?;
    }
    Ok(s)
}

fn encode_account(a: &MerchantAccount) -> Result<String, QrError> {
    match (a.id, &a.value, &a.guid) {
        (2..=25, Some(v), None) if a.fields.is_empty() => {
            check_len(a.id, v, 99)?;
            Ok(v.clone())
        }
        (26..=51 | 80..=99, None, Some(g)) => {
            check_len(a.id, g, 32)?;
            if a.fields.iter().any(|f| f.id == 0) {
                return Err(QrError::DuplicateSubField { id: a.id, sub: 0 });
            }
            let mut s = String::new();
            put(&mut s, 0, g)?;
            s.push_str(&encode_subfields(a.id, &a.fields)?);
            Ok(s)
        }
        _ => Err(QrError::Invalid {
            id: a.id,
            reason: "IDs 02-25 take a value, IDs 26-51 and 80-99 a GUID and sub-fields",
        }),
    }
}

fn parse_amount(id: u8, s: &str, exp: u8) -> Result<u64, QrError> {
    currency::parse_decimal(s, exp).map_err(|reason| QrError::Invalid { id, reason })
}

fn parse_percentage(s: &str) -> Result<u16, QrError> {
    let v = currency::parse_decimal(s, 2).map_err(|reason| QrError::Invalid { id: 57, reason })?;
    if v == 0 || v > 9999 {
        return Err(QrError::Invalid {
            id: 57,
            reason: "percentage must be 00.01 to 99.99",
        });
    }
    Ok(v as u16)
}

fn parse_additional(v: &str) -> Result<AdditionalData, QrError> {
    let mut a = AdditionalData::default();
    for f in parse_subfields(62, v)? {
        if f.id <= 9 && f.value.chars().count() > 25 {
            return Err(QrError::BadLength {
                id: 62,
                max: 25,
                actual: f.value.chars().count(),
            });
        }
        let slot = match f.id {
            1 => &mut a.bill_number,
            2 => &mut a.mobile_number,
            3 => &mut a.store_label,
            4 => &mut a.loyalty_number,
            5 => &mut a.reference_label,
            6 => &mut a.customer_label,
            7 => &mut a.terminal_label,
            8 => &mut a.purpose,
            9 => {
                if f.value.len() > 3 || !f.value.bytes().all(|b| matches!(b, b'A' | b'M' | b'E')) {
                    return Err(QrError::Invalid {
                        id: 62,
                        reason: "consumer data request takes A, M and/or E",
                    });
                }
                &mut a.consumer_data_request
            }
            _ => {
                a.other.push(f);
                continue;
            }
        };
        *slot = Some(f.value);
    }
    Ok(a)
}

fn encode_additional(a: &AdditionalData) -> Result<String, QrError> {
    let mut fields = Vec::new();
    for (id, v) in [
        (1u8, &a.bill_number),
        (2, &a.mobile_number),
        (3, &a.store_label),
        (4, &a.loyalty_number),
        (5, &a.reference_label),
        (6, &a.customer_label),
        (7, &a.terminal_label),
        (8, &a.purpose),
        (9, &a.consumer_data_request),
    ] {
        if let Some(v) = v {
            if v.chars().count() > 25 {
                return Err(QrError::BadLength {
                    id: 62,
                    max: 25,
                    actual: v.chars().count(),
                });
            }
            fields.push(SubField {
                id,
                value: v.clone(),
            });
        }
    }
    for f in &a.other {
        if (1..10).contains(&f.id) {
            return Err(QrError::DuplicateSubField { id: 62, sub: f.id });
        }
    }
    let mut other: Vec<SubField> = a.other.clone();
    other.sort_by_key(|f| f.id);
    fields.extend(other);
    encode_subfields(62, &fields)
}

fn parse_language(v: &str) -> Result<MerchantLanguage, QrError> {
    let mut pref = None;
    let mut name = None;
    let mut city = None;
    let mut other = Vec::new();
    for f in parse_subfields(64, v)? {
        match f.id {
            0 => pref = Some(f.value),
            1 => name = Some(f.value),
            2 => city = Some(f.value),
            _ => other.push(f),
        }
    }
    let l = MerchantLanguage {
        preference: pref.ok_or(QrError::MissingSubField { id: 64, sub: 0 })?,
        name: name.ok_or(QrError::MissingSubField { id: 64, sub: 1 })?,
        city,
        other,
    };
    check_language(&l)?;
    Ok(l)
}

fn check_language(l: &MerchantLanguage) -> Result<(), QrError> {
    if l.preference.len() != 2 || !l.preference.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(QrError::Invalid {
            id: 64,
            reason: "language preference is an ISO 639 two-letter code",
        });
    }
    check_len(64, &l.name, 25)?;
    if let Some(c) = &l.city {
        check_len(64, c, 15)?;
    }
    Ok(())
}

fn encode_language(l: &MerchantLanguage) -> Result<String, QrError> {
    check_language(l)?;
    let mut fields = vec![
        SubField {
            id: 0,
            value: l.preference.clone(),
        },
        SubField {
            id: 1,
            value: l.name.clone(),
        },
    ];
    if let Some(c) = &l.city {
        fields.push(SubField {
            id: 2,
            value: c.clone(),
        });
    }
    fields.extend(l.other.iter().cloned());
    encode_subfields(64, &fields)
}
