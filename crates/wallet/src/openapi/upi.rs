//! The UPI part of the OpenAPI document ([`crate::upi_api`]).

use super::{Op, err, ok, op, schema_ref};
use serde_json::{Value, json};

/// A UPI operation: every one answers 422 to an account outside India and
/// 503 where UPI is not served.
fn upi(method: &'static str, path: &'static str, id: &'static str) -> Op {
    op(method, path, id, "upi")
        .resp(
            "422",
            err("Invalid field, a UPI refusal (its code: ZH unknown UPI ID, ZM wrong PIN, U69 expired collect, U16 declined by the risk checks, RV verify it is you then approve again, ...), an Idempotency-Key reused with another body, or an account outside India (code region)"),
        )
        .resp("503", err("UPI is not served here, or the bank or switch did not answer"))
}

fn list(name: &str, item: &str) -> Value {
    json!({ "type": "object", "required": [name],
            "properties": { name: { "type": "array", "items": schema_ref(item) } } })
}

pub(super) fn operations() -> Vec<Op> {
    let payment = || schema_ref("UpiPayment");
    vec![
        upi("get", "/api/v1/upi/keys", "upiListKeys")
            .summary("ListKeys: each bank's key the device seals a UPI PIN to")
            .resp("200", ok("The keys", list("keys", "UpiKey"))),
        upi("get", "/api/v1/upi/bindings", "upiBindings")
            .summary("This account's device bindings to bank accounts")
            .resp("200", ok("Bindings", list("bindings", "UpiBinding"))),
        upi("post", "/api/v1/upi/bindings", "upiBind")
            .summary("Bind a device to every bank account of a mobile number (a new binding has a lower cap for 24 hours)")
            .idem()
            .body("UpiNewBinding")
            .resp("201", ok("The bindings made", list("bindings", "UpiBinding"))),
        upi("post", "/api/v1/upi/bindings/{binding_id}/pin-otp", "upiPinOtp")
            .summary("Ask the bank to text an OTP for setting the UPI PIN")
            .idem()
            .body("UpiEmpty")
            .resp("201", ok("Where the OTP went", schema_ref("UpiPinOtp")))
            .resp("404", err("No such binding")),
        upi("post", "/api/v1/upi/bindings/{binding_id}/pin", "upiSetPin")
            .summary("Set the UPI PIN with the debit card's last six digits, its expiry and the bank's OTP; the PIN sealed to the bank's key")
            .idem()
            .body("UpiPinSetting")
            .resp("200", ok("Set", json!({ "type": "object", "required": ["binding_id", "pin_set"],
                "properties": { "binding_id": { "type": "string" }, "pin_set": { "const": true } } })))
            .resp("404", err("No such binding")),
        upi("get", "/api/v1/upi/ids", "upiIds")
            .summary("This account's UPI IDs")
            .resp("200", ok("UPI IDs", list("ids", "UpiId"))),
        upi("post", "/api/v1/upi/ids", "upiCreateId")
            .summary("Make a UPI ID name@paytap for a bound account")
            .idem()
            .body("UpiNewId")
            .resp("201", ok("The UPI ID", schema_ref("UpiId")))
            .resp("404", err("No such binding"))
            .resp("409", err("The UPI ID is taken, or Idempotency-Key reused")),
        upi("get", "/api/v1/upi/payments", "upiPayments")
            .summary("This account's UPI payments, newest first")
            .resp("200", ok("Payments", list("payments", "UpiPayment"))),
        upi("post", "/api/v1/upi/payments", "upiPay")
            .summary("Pay a UPI ID, a mobile number or a merchant's upi://pay code; idempotent by txn_id")
            .idem()
            .body("UpiPayRequest")
            .resp("200", ok("The payment (a declined one has status failed and its error_code)", payment()))
            .resp("404", err("The from UPI ID is not this account's"))
            .resp("409", err("txn_id already used for another request (code DT), or Idempotency-Key reused")),
        upi("get", "/api/v1/upi/payments/{txn_id}", "upiPayment")
            .summary("One payment; a pending or deemed one is checked with the switch first (ReqChkTxn)")
            .resp("200", ok("The payment", payment()))
            .resp("404", err("No such payment of this account")),
        upi("get", "/api/v1/upi/collects", "upiCollects")
            .summary("Merchants' collect requests waiting for this account")
            .resp("200", ok("Collect requests", list("collects", "UpiCollect"))),
        upi("post", "/api/v1/upi/collects/{txn_id}/approve", "upiApprove")
            .summary("Approve a collect request with the UPI PIN sealed for its txn_id")
            .idem()
            .body("UpiApproval")
            .resp("200", ok("The payment", payment()))
            .resp("404", err("Not this account's")),
        upi("post", "/api/v1/upi/collects/{txn_id}/decline", "upiDecline")
            .summary("Decline a collect request")
            .idem()
            .body("UpiEmpty")
            .resp("200", ok("The declined request", payment()))
            .resp("404", err("Not this account's")),
    ]
}

pub(super) fn schemas() -> Value {
    let s = |t: &str| json!({ "type": t });
    let opt = || json!({ "type": ["string", "null"] });
    let ms = || json!({ "type": "integer", "format": "int64", "description": "Unix milliseconds" });
    let paise =
        || json!({ "type": "integer", "minimum": 0, "description": "Paise (INR minor units)" });
    let b64 = |d: &str| json!({ "type": "string", "minLength": 1, "maxLength": 512, "contentEncoding": "base64", "description": d });
    json!({
        "UpiKey": {
            "type": "object", "required": ["bank", "ki", "public_key"],
            "properties": { "bank": s("string"), "ki": s("string"),
                            "public_key": { "type": "string", "contentEncoding": "base64", "description": "X25519" } }
        },
        "UpiBinding": {
            "type": "object",
            "required": ["binding_id", "device_id", "bank_id", "ifsc", "account_masked", "holder", "bound_at", "cooling_off_until"],
            "properties": {
                "binding_id": s("string"), "device_id": s("string"), "bank_id": s("string"),
                "ifsc": s("string"), "account_masked": s("string"), "holder": s("string"),
                "bound_at": ms(), "cooling_off_until": ms()
            }
        },
        "UpiNewBinding": {
            "type": "object", "required": ["device_id", "device_key", "mobile"], "additionalProperties": false,
            "properties": {
                "device_id": { "type": "string", "minLength": 1, "maxLength": 64 },
                "device_key": { "type": "string", "contentEncoding": "base64", "description": "The device's X25519 public key" },
                "mobile": { "type": "string", "pattern": "^[0-9]{10}$" }
            }
        },
        "UpiEmpty": { "type": "object", "additionalProperties": false },
        "UpiPinOtp": {
            "type": "object", "required": ["verification_id", "destination"],
            "properties": { "verification_id": s("string"), "destination": s("string") }
        },
        "UpiPinSetting": {
            "type": "object", "additionalProperties": false,
            "required": ["card_last6", "card_expiry", "verification_id", "otp", "pin_block"],
            "properties": {
                "card_last6": { "type": "string", "pattern": "^[0-9]{6}$", "writeOnly": true },
                "card_expiry": { "type": "string", "description": "MM/YY", "writeOnly": true },
                "verification_id": s("string"),
                "otp": { "type": "string", "writeOnly": true },
                "pin_block": b64("The PIN sealed to the bank's key for the verification id")
            }
        },
        "UpiNewId": {
            "type": "object", "required": ["binding_id", "name"], "additionalProperties": false,
            "properties": { "binding_id": s("string"),
                            "name": { "type": "string", "pattern": "^[a-z0-9.-]{3,32}$" } }
        },
        "UpiId": {
            "type": "object", "required": ["vpa", "binding_id", "created_at"],
            "properties": { "vpa": s("string"), "binding_id": s("string"), "created_at": ms() }
        },
        "UpiPayRequest": {
            "type": "object", "required": ["txn_id", "from", "pin_block"], "additionalProperties": false,
            "description": "Exactly one of to, mobile and link",
            "properties": {
                "txn_id": { "type": "string", "pattern": "^[A-Za-z0-9]{1,35}$" },
                "from": s("string"),
                "to": opt(), "mobile": opt(), "link": opt(),
                "amount_paise": { "type": ["integer", "null"], "minimum": 0 },
                "note": opt(),
                "pin_block": b64("The PIN sealed to the bank's key for txn_id")
            }
        },
        "UpiApproval": {
            "type": "object", "required": ["pin_block"], "additionalProperties": false,
            "properties": { "pin_block": b64("The PIN sealed to the bank's key for the collect's txn_id") }
        },
        "UpiPayment": {
            "type": "object",
            "required": ["txn_id", "kind", "payer_vpa", "payee_vpa", "payee_name", "mcc", "amount_paise", "currency",
                         "note", "reference", "status", "error_code", "rrn", "created_at", "updated_at",
                         "earned_paise"],
            "properties": {
                "txn_id": s("string"), "kind": { "type": "string", "enum": ["pay", "collect"] },
                "payer_vpa": s("string"), "payee_vpa": s("string"), "payee_name": opt(),
                "mcc": s("string"), "amount_paise": paise(), "currency": { "const": "INR" },
                "note": opt(), "reference": opt(),
                "status": { "type": "string", "enum": ["pending", "success", "failed", "deemed"] },
                "error_code": opt(), "rrn": opt(), "created_at": ms(), "updated_at": ms(),
                "earned_paise": { "type": ["integer", "null"], "minimum": 0,
                                  "description": "The cashback it earned, in paise, once it succeeded (an offer such as the first bill paid with UPI)" }
            }
        },
        "UpiCollect": {
            "type": "object",
            "required": ["txn_id", "payer_vpa", "payee_vpa", "payee_name", "mcc", "amount_paise", "currency", "note", "reference", "expires_at"],
            "properties": {
                "txn_id": s("string"), "payer_vpa": s("string"), "payee_vpa": s("string"), "payee_name": opt(),
                "mcc": s("string"), "amount_paise": paise(), "currency": { "const": "INR" },
                "note": opt(), "reference": opt(), "expires_at": ms()
            }
        }
    })
}
