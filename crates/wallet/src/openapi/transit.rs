//! The transit cards part of the OpenAPI description ([`crate::transit`]).

use super::{Op, err, ok, op, schema_ref};
use serde_json::{Value, json};

/// The operations of [`crate::transit`].
pub(super) fn operations() -> Vec<Op> {
    vec![
        op("get", "/api/v1/transit/cards", "listTransitCards", "transit")
            .summary("The transit cards issued to the account's devices: balance as the operator knows it (top-ups paid and not refunded less fares cleared; fares a gate has not yet uploaded are not in it), status (active, lost with its device, blocked as cloned), the newest cleared trips and top-ups. A suspended device with a card still active is reported lost again first")
            .resp("200", ok("The cards", schema_ref("TransitCards")))
            .resp("502", err("A transit operator does not answer")),
        op("post", "/api/v1/transit/cards/{card_id}/move", "orderTransitMove", "transit")
            .summary("Order the balance of a card lost with its device onto a card of the same operator on another of the account's devices; that device completes it at its next sync, once every gate has uploaded what it holds (the amount is top-ups less fares cleared). Ordering again to the same card answers the same order")
            .body("TransitMove")
            .resp("200", ok("The order", schema_ref("TransitMoveOrder")))
            .resp("404", err("No such transit card on the account's devices"))
            .resp("409", err("The operator refused: the card is not reported lost, its balance moved already or is ordered to another card, or the card to move to is on the hotlist (code transit_refused)"))
            .resp("422", err("The card to move to is of another city, or the body is not {\"to_card_id\"}"))
            .resp("502", err("A transit operator does not answer")),
        op("put", "/api/v1/devices/{device_id}/transit-readings", "reportTransitReadings", "transit")
            .summary("The device reports what it read off its own transit cards (balance, counters; each named by its number's last four digits), replacing its earlier report whole; the listing shows each card's device_balance beside the operator's")
            .body("TransitReadings")
            .resp("204", json!({ "description": "Recorded" }))
            .resp("404", err("No such device on this account"))
            .resp("422", err("More than 8 cards, a card named twice, last_digits not 4 digits, or a balance or counter out of range")),
    ]
}

/// The schemas of [`crate::transit`].
pub(super) fn schemas() -> Value {
    json!({
        "TransitCards": {
            "type": "object", "required": ["cards"],
            "properties": { "cards": { "type": "array", "items": schema_ref("TransitCard") } }
        },
        "TransitCard": {
            "type": "object",
            "required": ["operator", "card_name", "card_id", "last_digits", "device_id", "device_name",
                         "device_kind", "issued_at", "currency", "balance", "status", "moved",
                         "trips", "top_ups"],
            "properties": {
                "operator": { "type": "string", "examples": ["beijing"] },
                "card_name": { "type": "string", "examples": ["Beijing Yikatong"] },
                "card_id": { "type": "string", "description": "The card's name outside its operator (a keyed fingerprint)" },
                "last_digits": { "type": "string", "pattern": "^[0-9]{4}$" },
                "device_id": { "type": "string" },
                "device_name": { "type": "string" },
                "device_kind": { "type": "string", "enum": ["phone", "watch", "band"] },
                "issued_at": { "type": "integer", "format": "int64", "description": "Unix ms" },
                "currency": { "type": "string", "examples": ["CNY"] },
                "balance": { "type": "integer", "format": "int64", "description": "Minor units" },
                "device_balance": { "type": "integer", "format": "int64", "description": "The card's own balance as its device last read it, minor units (every tap counted); absent until the device reports" },
                "device_read_at": { "type": "integer", "format": "int64", "description": "When the device read it, Unix ms" },
                "status": { "type": "string", "enum": ["active", "lost", "blocked"] },
                "moved": { "type": "boolean", "description": "Its balance was moved to another card after a loss" },
                "move_ordered_to": { "type": ["string", "null"], "description": "The card_id its holder ordered the balance moved to" },
                "trips": { "type": "array", "items": schema_ref("TransitTrip") },
                "top_ups": { "type": "array", "items": schema_ref("TransitTopUp") }
            }
        },
        "TransitReadings": {
            "type": "object", "required": ["cards"], "additionalProperties": false,
            "properties": {
                "cards": { "type": "array", "maxItems": 8, "items": {
                    "type": "object", "additionalProperties": false,
                    "required": ["last_digits", "balance", "offline_counter", "online_counter"],
                    "properties": {
                        "last_digits": { "type": "string", "pattern": "^[0-9]{4}$" },
                        "balance": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295u64 },
                        "offline_counter": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295u64 },
                        "online_counter": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 4294967295u64 }
                    }
                } }
            }
        },
        "TransitMove": {
            "type": "object", "required": ["to_card_id"], "additionalProperties": false,
            "properties": { "to_card_id": { "type": "string" } }
        },
        "TransitMoveOrder": {
            "type": "object",
            "required": ["move_id", "from_card_id", "to_card_id", "amount", "gates_waiting", "moved"],
            "properties": {
                "move_id": { "type": "string" },
                "from_card_id": { "type": "string" },
                "to_card_id": { "type": "string" },
                "amount": { "type": "integer", "format": "int64", "description": "Minor units" },
                "gates_waiting": { "type": "integer", "format": "int64", "minimum": 0 },
                "moved": { "type": "boolean" }
            }
        },
        "TransitTrip": {
            "type": "object", "required": ["at", "terminal", "kind", "amount", "balance_after"],
            "properties": {
                "at": { "type": "string", "pattern": "^[0-9]{14}$", "description": "YYYYMMDDhhmmss, the operator's time" },
                "terminal": { "type": "string", "description": "The gate's terminal id, hex" },
                "kind": { "type": "string", "enum": ["fare", "entry", "exit", "other"] },
                "amount": { "type": "integer", "format": "int64" },
                "balance_after": { "type": "integer", "format": "int64" },
                "accepted_by": {
                    "type": "object", "required": ["operator", "name"],
                    "description": "The T-Union member whose gate took the trip, where that is not the card's own operator (a ride in another city); absent otherwise",
                    "properties": {
                        "operator": { "type": "string" },
                        "name": { "type": "string" }
                    }
                }
            }
        },
        "TransitTopUp": {
            "type": "object", "required": ["at", "amount", "state"],
            "properties": {
                "at": { "type": "string", "pattern": "^[0-9]{14}$" },
                "amount": { "type": "integer", "format": "int64" },
                "state": { "type": "string", "enum": ["paid", "on_card", "refunded"] }
            }
        }
    })
}
