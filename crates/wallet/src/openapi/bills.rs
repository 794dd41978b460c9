//! The bills and recharge part of the OpenAPI description
//! ([`crate::bills_api`]).

use super::{Op, err, ok, op, schema_ref};
use serde_json::{Value, json};

fn not_served() -> Value {
    err("No bill service in this deployment")
}

/// The operations of [`crate::bills_api`].
pub(super) fn operations() -> Vec<Op> {
    let payment = |o: Op| {
        o.idem()
            .resp("201", ok("The payment's receipt: confirmed, refunded or declined", schema_ref("BillReceipt")))
            .resp("400", err("Missing or invalid Idempotency-Key"))
            .resp("403", err("Not an India account: bills are paid in INR from India accounts"))
            .resp("404", err("No such bill on this account, or no bill service here"))
            .resp("422", err("An invalid field, an unknown UPI id, plan, operator or circle, or the Idempotency-Key used for another request"))
    };
    vec![
        op("get", "/api/v1/billers", "listBillers", "bills")
            .summary("The billers by category, each with the customer parameters it asks for")
            .resp("200", ok("Billers", schema_ref("Billers")))
            .resp("404", not_served()),
        op("post", "/api/v1/bills/fetch", "fetchBill", "bills")
            .summary("Fetch a biller's bill for the customer parameters: name, amount, due date, bill number")
            .body("FetchBill")
            .resp("200", ok("The bill", schema_ref("Bill")))
            .resp("403", err("Not an India account"))
            .resp("404", not_served())
            .resp("422", err("Unknown biller, or a customer parameter missing, unknown or invalid"))
            .resp("503", err("The biller is not answering; retry later")),
        op("get", "/api/v1/bills/reminders", "billReminders", "bills")
            .summary("Unpaid bills due within three days, or overdue")
            .resp("200", ok("Reminders", schema_ref("BillReminders")))
            .resp("404", not_served()),
        payment(
            op("post", "/api/v1/bills/payments", "payBill", "bills")
                .summary("Pay a fetched bill over UPI: a collect request the UPI ID's owner approves with the UPI PIN (state charging until then); the biller confirms with its reference, or the money is refunded")
                .body("PayBill")
                .resp("409", err("The bill is already paid or being paid")),
        ),
        op("get", "/api/v1/bills/receipts", "billReceipts", "bills")
            .summary("The account's bill payments and recharges, newest first")
            .resp("200", ok("Receipts", schema_ref("BillReceipts")))
            .resp("404", not_served()),
        op("get", "/api/v1/bills/receipts/{payment_id}", "billReceipt", "bills")
            .summary("One bill payment or recharge")
            .resp("200", ok("The receipt", schema_ref("BillReceipt")))
            .resp("404", err("No such payment on this account")),
        op("get", "/api/v1/recharge/plans", "rechargePlans", "recharge")
            .summary("A number's operator and circle (from its series where known) and the plans sold there")
            .query("mobile", json!({ "type": "string" }), "The number: its series names operator and circle where known")
            .query("operator", json!({ "type": "string" }), "JIO, AIRTEL, VI or BSNL (a ported number's new operator)")
            .query("circle", json!({ "type": "string" }), "A telecom circle code, e.g. KA")
            .resp("200", ok("Plans", schema_ref("RechargePlans")))
            .resp("400", err("Invalid query string"))
            .resp("404", not_served())
            .resp("422", err("Not a mobile number, an unknown operator or circle, or no operator given for an unknown series")),
        payment(
            op("post", "/api/v1/recharge/payments", "recharge", "recharge")
                .summary("Recharge a prepaid number over UPI: a collect request approved with the UPI PIN, as a bill is; the operator confirms, or the money is refunded")
                .body("NewRecharge"),
        ),
    ]
}

/// The schemas those operations name.
pub(super) fn schemas() -> Value {
    let s = |t: &str| json!({ "type": t });
    let opt = || json!({ "type": ["string", "null"] });
    let money = || schema_ref("Money");
    json!({
        "FetchBill": {
            "type": "object", "required": ["biller_id", "params"], "additionalProperties": false,
            "properties": {
                "biller_id": s("string"),
                "params": { "type": "object", "additionalProperties": { "type": "string" },
                            "description": "The biller's customer parameters by name" }
            }
        },
        "PayBill": {
            "type": "object", "required": ["fetch_id", "vpa"], "additionalProperties": false,
            "properties": { "fetch_id": s("string"), "vpa": { "type": "string", "description": "The payer's UPI id" } }
        },
        "NewRecharge": {
            "type": "object", "required": ["mobile", "plan_id", "vpa"], "additionalProperties": false,
            "properties": {
                "mobile": s("string"), "plan_id": s("string"),
                "operator": { "type": ["string", "null"], "description": "Omitted: the one the number's series says" },
                "circle": { "type": ["string", "null"], "description": "Omitted: the one the number's series says" },
                "vpa": { "type": "string", "description": "The payer's UPI id" }
            }
        },
        "Billers": {
            "type": "object", "required": ["categories", "billers"],
            "properties": {
                "categories": { "type": "array", "items": s("string") },
                "billers": { "type": "array", "items": {
                    "type": "object", "required": ["id", "name", "category", "params"],
                    "properties": {
                        "id": s("string"), "name": s("string"), "category": s("string"),
                        "params": { "type": "array", "items": {
                            "type": "object", "required": ["name", "label", "kind", "min", "max", "rule"],
                            "properties": {
                                "name": s("string"), "label": s("string"),
                                "kind": { "type": "string", "enum": ["digits", "alphanumeric", "mobile"] },
                                "min": s("integer"), "max": s("integer"), "rule": s("string")
                            }
                        } }
                    }
                } }
            }
        },
        "Bill": {
            "type": "object",
            "required": ["fetch_id", "biller_id", "biller_name", "category", "bill_number",
                         "customer_name", "amount", "bill_date", "due_date", "paid"],
            "properties": {
                "fetch_id": s("string"), "biller_id": s("string"), "biller_name": s("string"),
                "category": s("string"), "bill_number": s("string"), "customer_name": s("string"),
                "amount": money(), "bill_date": { "type": "string", "format": "date" },
                "due_date": { "type": "string", "format": "date" }, "paid": s("boolean")
            }
        },
        "BillReminders": {
            "type": "object", "required": ["reminders"],
            "properties": { "reminders": { "type": "array", "items": {
                "type": "object", "required": ["bill", "reminder"],
                "properties": {
                    "bill": schema_ref("Bill"),
                    "reminder": { "type": "object", "required": ["kind", "days"],
                                  "properties": { "kind": { "type": "string", "enum": ["due_in", "overdue"] },
                                                  "days": s("integer") } }
                }
            } } }
        },
        "BillReceipt": {
            "type": "object",
            "required": ["payment_id", "kind", "payee_id", "payee_name", "amount", "method", "state",
                         "created_at", "updated_at"],
            "properties": {
                "payment_id": s("string"),
                "kind": { "type": "string", "enum": ["bill", "recharge"] },
                "payee_id": s("string"), "payee_name": s("string"), "amount": money(),
                "method": { "type": "string", "enum": ["upi", "card"] },
                "state": { "type": "string", "enum": ["started", "charging", "paid", "confirmed", "refunding", "refunded", "declined"] },
                "rail_ref": opt(), "decline_code": opt(), "biller_ref": opt(), "refund_reason": opt(),
                "bill_number": opt(), "due_date": opt(), "mobile": opt(), "plan_id": opt(),
                "created_at": s("integer"), "updated_at": s("integer")
            }
        },
        "BillReceipts": {
            "type": "object", "required": ["receipts"],
            "properties": { "receipts": { "type": "array", "items": schema_ref("BillReceipt") } }
        },
        "RechargePlans": {
            "type": "object", "required": ["detected", "operator", "circle", "plans"],
            "properties": {
                "detected": { "oneOf": [{ "type": "null" }, {
                    "type": "object", "required": ["operator", "circle"],
                    "properties": { "operator": s("string"), "circle": s("string") } }] },
                "operator": s("string"), "circle": s("string"),
                "plans": { "type": "array", "items": {
                    "type": "object", "required": ["id", "price", "validity_days", "data", "description", "circles"],
                    "properties": {
                        "id": s("string"), "price": { "type": "integer", "description": "Paise" },
                        "validity_days": s("integer"), "data": s("string"), "description": s("string"),
                        "circles": { "type": "array", "items": s("string") }
                    }
                } }
            }
        }
    })
}
