//! The OpenAPI 3.1 description of the API in [`crate::http`], served at
//! `GET /api/v1/openapi.json`. It describes exactly [`crate::http::ROUTES`]
//! (checked by the tests).

use serde_json::{Map, Value, json};

mod bills;
mod transit;
mod upi;

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn retry_after() -> Value {
    json!({ "description": "Seconds to wait", "schema": { "type": "integer", "minimum": 1 } })
}

fn err(description: &str) -> Value {
    json!({ "description": description, "content": json_content(schema_ref("Error")) })
}

/// A server-sent event stream: each event (as Schemathesis and OpenAPI 3.2's
/// `itemSchema` see it, an object of its fields) is `event: <name>` with
/// one JSON document of schema `data_schema` as its data.
fn event_stream(name: &str, data_schema: &str) -> Value {
    let event = json!({
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": { "const": name },
            "id": { "type": "string" },
            "retry": { "type": "integer", "minimum": 0 },
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": schema_ref(data_schema)
            }
        }
    });
    json!({ "description": "An event stream",
            "content": { "text/event-stream": { "schema": event.clone(), "itemSchema": event } } })
}

struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: bool,
    idempotent: bool,
    body: Option<&'static str>,
    /// Computes a password hash (bounded: may answer 503).
    hashes: bool,
    query: Vec<Value>,
    responses: Vec<(&'static str, Value)>,
}

fn op(method: &'static str, path: &'static str, id: &'static str, tag: &'static str) -> Op {
    Op {
        method,
        path,
        id,
        tag,
        summary: "",
        auth: true,
        idempotent: false,
        body: None,
        hashes: false,
        query: Vec::new(),
        responses: Vec::new(),
    }
}

impl Op {
    fn summary(mut self, s: &'static str) -> Self {
        self.summary = s;
        self
    }
    fn public(mut self) -> Self {
        self.auth = false;
        self
    }
    fn idem(mut self) -> Self {
        self.idempotent = true;
        self
    }
    fn hashes(mut self) -> Self {
        self.hashes = true;
        self
    }
    fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }
    fn query(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.query.push(json!({
            "name": name, "in": "query", "required": false,
            "schema": schema, "description": description
        }));
        self
    }
    fn resp(mut self, status: &'static str, v: Value) -> Self {
        self.responses.push((status, v));
        self
    }

    fn to_json(&self) -> Value {
        let mut params: Vec<Value> = Vec::new();
        for seg in self.path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                params.push(json!({
                    "name": name, "in": "path", "required": true,
                    "schema": { "type": "string" }
                }));
            }
        }
        if self.idempotent {
            params.push(json!({ "$ref": "#/components/parameters/IdempotencyKey" }));
        }
        params.extend(self.query.iter().cloned());
        let mut responses = Map::new();
        for (status, v) in &self.responses {
            responses.insert((*status).to_string(), v.clone());
        }
        if self.auth {
            responses.insert(
                "401".into(),
                err("Not logged in, or the session expired or was logged out"),
            );
        }
        if self.body.is_some() {
            responses.insert(
                "400".into(),
                err("Malformed JSON or an invalid Idempotency-Key"),
            );
            responses.insert("413".into(), err("Body larger than 64 KiB"));
            responses.insert("415".into(), err("Body not sent as application/json"));
            responses
                .entry("422")
                .or_insert_with(|| err("Missing field, wrong type or invalid value"));
        }
        if self.idempotent {
            responses
                .entry("400")
                .or_insert_with(|| err("Invalid Idempotency-Key"));
            responses
                .entry("409")
                .or_insert_with(|| err("Idempotency-Key already used for another request"));
            responses
                .entry("422")
                .or_insert_with(|| err("Idempotency-Key already used with another body"));
        }
        if self.hashes {
            responses.insert(
                "503".into(),
                json!({ "description": "Password checks at capacity; retry after Retry-After seconds",
                        "headers": { "Retry-After": retry_after() },
                        "content": json_content(schema_ref("Error")) }),
            );
        }
        let mut o = json!({
            "operationId": self.id,
            "tags": [self.tag],
            "summary": self.summary,
            "parameters": params,
            "responses": responses,
        });
        if let (Some(body), Some(obj)) = (self.body, o.as_object_mut()) {
            obj.insert(
                "requestBody".into(),
                json!({ "required": true, "content": json_content(schema_ref(body)) }),
            );
        }
        if !self.auth
            && let Some(obj) = o.as_object_mut()
        {
            obj.insert("security".into(), json!([]));
        }
        o
    }
}

/// Every operation of the HTTP API: a table (one entry per route), long
/// because the API is.
fn operations() -> Vec<Op> {
    let mut ops = wallet_operations();
    ops.extend(upi::operations());
    ops.extend(transit::operations());
    ops
}

fn wallet_operations() -> Vec<Op> {
    let device = || schema_ref("Device");
    let card = || schema_ref("Card");
    vec![
        op("get", "/api/v1/points", "getPoints", "points")
            .summary("The account's rewards points (earned per payment by bank and channel, taken back on a refund) and newest entries, kept in the account's region: a China account's by the card network (card and QR payments), an India account's by India's own services (UPI payments and bills)")
            .resp("200", ok("The points", schema_ref("Points")))
            .resp("502", err("The region's rewards service does not answer")),
        op("post", "/api/v1/points/redemptions", "redeemPoints", "points")
            .summary("Redeem points as cashback in a currency the account's region pays them in (an India account's in INR, on India's ledger)")
            .idem()
            .body("PointsRedemption")
            .resp("201", ok("What the points paid", schema_ref("Redeemed")))
            .resp("422", err("Too few points held, below the smallest redemption, or no value in the currency (an India account's points have none but in INR)")),
        op("post", "/api/v1/accounts", "register", "accounts")
            .summary("Register an account (e-mail or phone, password, name, language, region)")
            .public()
            .idem()
            .body("NewAccount")
            .hashes()
            .resp("201", ok("The new account", schema_ref("Account")))
            .resp("409", err("Login already registered, or Idempotency-Key reused")),
        op("get", "/api/v1/account", "getAccount", "accounts")
            .summary("The logged-in account")
            .resp("200", ok("The account", schema_ref("Account"))),
        op("post", "/api/v1/sessions", "login", "accounts")
            .summary("Log in; returns a bearer session token (absolute expiry, 12 h by default)")
            .public()
            .body("Login")
            .hashes()
            .resp("201", ok("The session", schema_ref("Session")))
            .resp("401", err("Wrong login or password"))
            .resp(
                "429",
                json!({ "description": "Too many wrong passwords from this address: wait Retry-After seconds (the wait grows with further failures; never a lock)",
                        "headers": { "Retry-After": retry_after() },
                        "content": json_content(schema_ref("Error")) }),
            ),
        op("delete", "/api/v1/sessions/current", "logout", "accounts")
            .summary("Log out (end the current session)")
            .resp("204", json!({ "description": "Logged out" })),
        op("get", "/api/v1/devices", "listDevices", "devices")
            .summary("The account's devices")
            .resp(
                "200",
                ok(
                    "Devices",
                    json!({ "type": "object", "required": ["devices"],
                            "properties": { "devices": { "type": "array", "items": device() } } }),
                ),
            ),
        op("post", "/api/v1/devices", "registerDevice", "devices")
            .summary("Register a phone, watch or band with its X25519 public key")
            .idem()
            .body("NewDevice")
            .resp("201", ok("The device", device())),
        op("get", "/api/v1/devices/{device_id}", "getDevice", "devices")
            .summary("One device")
            .resp("200", ok("The device", device()))
            .resp("404", err("No such device on this account")),
        op("post", "/api/v1/devices/{device_id}/heartbeat", "heartbeat", "devices")
            .summary("Device heartbeat: last seen time and optional location")
            .idem()
            .body("Heartbeat")
            .resp("200", ok("The device", device()))
            .resp("404", err("No such device on this account")),
        op("get", "/api/v1/devices/{device_id}/location", "locateDevice", "devices")
            .summary("Find my device: last seen time and last position")
            .resp("200", ok("Position", schema_ref("DeviceLocation")))
            .resp("404", err("No such device on this account")),
        op("post", "/api/v1/devices/{device_id}/suspend", "suspendDevice", "lost-device")
            .summary("Lost or stolen: suspend every token on the device at once")
            .idem()
            .body("Suspend")
            .resp("200", ok("The device, suspended", device()))
            .resp("404", err("No such device on this account"))
            .resp("502", err("The token service could not be reached; retry")),
        op("post", "/api/v1/devices/{device_id}/resume", "resumeDevice", "lost-device")
            .summary("Turn payments back on: reactivate the device's suspended tokens")
            .idem()
            .resp("200", ok("The device, active", device()))
            .resp("404", err("No such device on this account"))
            .resp("502", err("The token service could not be reached; retry")),
        op("post", "/api/v1/devices/{device_id}/wipe", "wipeDevice", "lost-device")
            .summary("Delete every token on the device")
            .idem()
            .resp("200", ok("The device, without cards", device()))
            .resp("404", err("No such device on this account"))
            .resp("502", err("The token service could not be reached; retry")),
        op("get", "/api/v1/devices/{device_id}/places", "devicePlaces", "find-device")
            .summary("Find my device: the device's last places, newest first (at most 20)")
            .resp("200", ok("Places", schema_ref("PlaceList")))
            .resp("404", err("No such device on this account")),
        op("get", "/api/v1/devices/{device_id}/commands", "listCommands", "find-device")
            .summary("Commands sent to the device, newest first, with their states")
            .resp(
                "200",
                ok(
                    "Commands",
                    json!({ "type": "object", "required": ["commands"],
                            "properties": { "commands": { "type": "array", "items": schema_ref("DeviceCommand") } } }),
                ),
            )
            .resp("404", err("No such device on this account")),
        op("post", "/api/v1/devices/{device_id}/commands", "sendCommand", "find-device")
            .summary("Locate now, play a sound, or erase (erase also deletes every token at once)")
            .idem()
            .body("NewCommand")
            .resp("201", ok("Queued for the device", schema_ref("DeviceCommand")))
            .resp("422", err("verify_payment: only the wallet sends it, after a step-up"))
            .resp("200", ok("An open command of the same kind (locate, erase) answers", schema_ref("DeviceCommand")))
            .resp("404", err("No such device on this account"))
            .resp("409", err("Eight commands already wait for the device, or Idempotency-Key reused"))
            .resp("502", err("The token service could not be reached (erase); retry")),
        op("get", "/api/v1/devices/{device_id}/commands/stream", "commandChannel", "find-device")
            .summary("The device's channel: server-sent events (`event: command`, a DeviceCommand as data), every open command at connection, then each new one")
            .resp(
                "200",
                event_stream("command", "DeviceCommand"),
            )
            .resp("404", err("No such device on this account")),
        op("post", "/api/v1/devices/{device_id}/commands/{command_id}/ack", "answerCommand", "find-device")
            .summary("The device's answer to a command (with its place; required for locate; verify_payment: ok true with detail \"verified\" or ok false with detail \"refused\")")
            .idem()
            .body("CommandAnswer")
            .resp("200", ok("The command, acknowledged or failed", schema_ref("DeviceCommand")))
            .resp("404", err("No such command on this device"))
            .resp("409", err("The command was already answered the other way, or Idempotency-Key reused")),
        op("get", "/api/v1/devices/{device_id}/provisioning", "provisioningPayloads", "cards")
            .summary("Sealed provisioning payloads for the device's secure element")
            .resp("200", ok("Payloads", schema_ref("ProvisioningList")))
            .resp("404", err("No such device on this account")),
        op("get", "/api/v1/devices/{device_id}/cards", "listCards", "cards")
            .summary("The device's cards (last four digits, bank, token state, default)")
            .resp(
                "200",
                ok(
                    "Cards",
                    json!({ "type": "object", "required": ["cards"],
                            "properties": { "cards": { "type": "array", "items": card() } } }),
                ),
            )
            .resp("404", err("No such device on this account")),
        op("post", "/api/v1/devices/{device_id}/cards", "addCard", "cards")
            .summary("Add a card: issuer ID&V, then token provisioning (at most 8 per device)")
            .idem()
            .body("NewCard")
            .resp("201", ok("Green path: provisioned", schema_ref("AddCardOutcome")))
            .resp(
                "202",
                ok("Yellow path: one-time passcode required", schema_ref("AddCardOutcome")),
            )
            .resp("404", err("No such device on this account"))
            .resp(
                "409",
                err("Device full (8 cards), payments turned off, card already on the device, or Idempotency-Key reused"),
            )
            .resp(
                "422",
                err("Invalid card (number, expiry, CVV), declined by the bank (red path), or a band"),
            )
            .resp("502", err("The card network could not be reached; retry")),
        op(
            "post",
            "/api/v1/devices/{device_id}/pending-cards/{pending_id}/otp",
            "submitOtp",
            "cards",
        )
        .summary("Finish a yellow-path card add with the one-time passcode")
        .idem()
        .body("Otp")
        .resp("201", ok("Provisioned", schema_ref("AddCardOutcome")))
        .resp("404", err("No such pending card on this account"))
        .resp("410", err("Passcode expired or too many wrong passcodes"))
        .resp("422", err("Wrong passcode (attempts left in the message)")),
        op(
            "post",
            "/api/v1/devices/{device_id}/cards/{card_id}/default",
            "setDefaultCard",
            "cards",
        )
        .summary("Make a card the device's default")
        .idem()
        .resp("200", ok("The card", card()))
        .resp("404", err("No such card on this account")),
        op("delete", "/api/v1/devices/{device_id}/cards/{card_id}", "removeCard", "cards")
            .summary("Remove a card (its token is deleted at the token service)")
            .idem()
            .resp("200", ok("The card, deleted", card()))
            .resp("404", err("No such card on this account"))
            .resp("502", err("The token service could not be reached; retry")),
        op("get", "/api/v1/transactions", "listTransactions", "history")
            .summary("The account's payments, card and band (offline QR), newest first")
            .query(
                "limit",
                json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 20 }),
                "Page size",
            )
            .query(
                "cursor",
                json!({ "type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$" }),
                "next_cursor of the previous page",
            )
            .resp("200", ok("A page", schema_ref("TransactionPage")))
            .resp("400", err("Invalid query string"))
            .resp("422", err("Invalid limit or cursor"))
            .resp("502", err("The band accounts could not be reached; retry")),
        op("get", "/api/v1/events", "paymentEvents", "history")
            .summary("Server-sent events: `event: payment` with a Transaction as data, for each new payment")
            .resp(
                "200",
                event_stream("payment", "Transaction"),
            ),
        op("get", "/api/v1/openapi.json", "openapi", "meta")
            .summary("This document")
            .public()
            .resp(
                "200",
                ok("OpenAPI 3.1 document", json!({ "type": "object" })),
            ),
    ]
    .into_iter()
    .chain(bills::operations())
    .collect()
}

/// Every schema the operations name: a table (one entry per type), long
/// because the API is.
fn schemas() -> Value {
    let s = |t: &str| json!({ "type": t });
    let ms = || json!({ "type": "integer", "format": "int64", "description": "Unix milliseconds" });
    let token_state = json!({ "type": "string", "enum": ["active", "suspended", "deleted"] });
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": { "error": {
                "type": "object", "required": ["code", "message"],
                "properties": { "code": s("string"), "message": s("string") }
            } }
        },
        "NewAccount": {
            "type": "object", "required": ["login", "password", "display_name"],
            "properties": {
                "login": { "type": "string", "minLength": 1, "maxLength": 254, "pattern": "^\\s*(\\+[0-9 -]+|[^@]+@[^@]+)\\s*$", "description": "E-mail address, or phone number in E.164 form (+8613800138000)" },
                "password": { "type": "string", "minLength": 8, "maxLength": 128, "writeOnly": true },
                "display_name": { "type": "string", "minLength": 1, "maxLength": 64 },
                "language": { "type": "string", "enum": ["en", "zh", "hi"], "default": "en" },
                "region": { "type": "string", "enum": ["cn", "in"], "default": "cn" }
            }
        },
        "Account": {
            "type": "object",
            "required": ["id", "login", "login_kind", "display_name", "language", "region", "created_at"],
            "properties": {
                "id": s("string"), "login": s("string"),
                "login_kind": { "type": "string", "enum": ["email", "phone"] },
                "display_name": s("string"),
                "language": { "type": "string", "enum": ["en", "zh", "hi"] },
                "region": s("string"), "created_at": ms()
            }
        },
        "Login": {
            "type": "object", "required": ["login", "password"],
            "properties": { "login": s("string"), "password": { "type": "string", "writeOnly": true } }
        },
        "Session": {
            "type": "object", "required": ["token", "expires_at", "account"],
            "properties": {
                "token": { "type": "string", "description": "Bearer token for the Authorization header" },
                "expires_at": ms(), "account": schema_ref("Account")
            }
        },
        "NewDevice": {
            "type": "object", "required": ["kind", "name", "model", "public_key"],
            "properties": {
                "kind": { "type": "string", "enum": ["phone", "watch", "band"] },
                "name": { "type": "string", "minLength": 1, "maxLength": 64 },
                "model": { "type": "string", "minLength": 1, "maxLength": 64 },
                "public_key": { "type": "string", "pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", "description": "Standard base64 of the 32-byte X25519 public key" }
            }
        },
        "Capabilities": {
            "type": "object", "required": ["card_tokens", "transit", "qr"],
            "properties": { "card_tokens": s("boolean"), "transit": s("boolean"), "qr": s("boolean") }
        },
        "Location": {
            "type": "object", "required": ["lat", "lon", "accuracy_m", "at"],
            "properties": {
                "lat": { "type": "number", "minimum": -90, "maximum": 90 },
                "lon": { "type": "number", "minimum": -180, "maximum": 180 },
                "accuracy_m": { "type": "number", "minimum": 0 },
                "place": { "type": ["string", "null"] },
                "at": ms()
            }
        },
        "Device": {
            "type": "object",
            "required": ["id", "kind", "name", "model", "public_key", "capabilities", "status", "created_at", "card_count"],
            "properties": {
                "id": s("string"),
                "kind": { "type": "string", "enum": ["phone", "watch", "band"] },
                "name": s("string"), "model": s("string"), "public_key": s("string"),
                "capabilities": schema_ref("Capabilities"),
                "status": { "type": "string", "enum": ["active", "suspended"] },
                "suspend_reason": { "type": ["string", "null"], "enum": ["lost", "stolen", null] },
                "created_at": ms(),
                "last_seen_at": { "type": ["integer", "null"], "format": "int64" },
                "location": { "oneOf": [schema_ref("Location"), { "type": "null" }] },
                "card_count": { "type": "integer", "minimum": 0, "maximum": 8 }
            }
        },
        "DeviceLocation": {
            "type": "object", "required": ["device_id"],
            "properties": {
                "device_id": s("string"),
                "last_seen_at": { "type": ["integer", "null"], "format": "int64" },
                "location": { "oneOf": [schema_ref("Location"), { "type": "null" }] }
            }
        },
        "Heartbeat": {
            "type": "object",
            "description": "All fields optional; lat and lon go together; send {} for a bare heartbeat",
            "dependentRequired": { "lat": ["lon"], "lon": ["lat"], "place": ["lat", "lon"] },
            "properties": {
                "lat": { "type": "number", "minimum": -90, "maximum": 90 },
                "lon": { "type": "number", "minimum": -180, "maximum": 180 },
                "accuracy_m": { "type": "number", "minimum": 0, "maximum": 10000000 },
                "place": { "type": "string", "minLength": 1, "maxLength": 128, "description": "Only with lat and lon" },
                "source": { "type": "string", "enum": ["heartbeat", "sync", "payment"], "default": "heartbeat", "description": "Why the device reports: a plain heartbeat, a sync, or right after it paid" }
            }
        },
        "Place": {
            "type": "object", "required": ["lat", "lon", "accuracy_m", "at", "source"],
            "properties": {
                "lat": { "type": "number", "minimum": -90, "maximum": 90 },
                "lon": { "type": "number", "minimum": -180, "maximum": 180 },
                "accuracy_m": { "type": "number", "minimum": 0 },
                "place": { "type": ["string", "null"] },
                "at": ms(),
                "source": { "type": "string", "enum": ["heartbeat", "sync", "payment", "command"] }
            }
        },
        "PlaceList": {
            "type": "object", "required": ["device_id", "places"],
            "properties": {
                "device_id": s("string"),
                "places": { "type": "array", "maxItems": 20, "items": schema_ref("Place") }
            }
        },
        "NewCommand": {
            "type": "object", "required": ["kind"],
            "properties": { "kind": { "type": "string", "enum": ["locate", "sound", "erase"] } }
        },
        "DeviceCommand": {
            "type": "object",
            "required": ["id", "device_id", "kind", "state", "created_at"],
            "properties": {
                "id": s("string"), "device_id": s("string"),
                "kind": { "type": "string", "enum": ["locate", "sound", "erase", "verify_payment"],
                          "description": "verify_payment: queued by the wallet when the risk engine stepped a payment up (DE 39 1A); the device asks its owner's biometric and arms its next tap" },
                "state": { "type": "string", "enum": ["queued", "delivered", "acknowledged", "failed"] },
                "created_at": ms(),
                "delivered_at": { "type": ["integer", "null"], "format": "int64" },
                "finished_at": { "type": ["integer", "null"], "format": "int64" },
                "detail": { "type": ["string", "null"] },
                "location": { "oneOf": [schema_ref("Location"), { "type": "null" }] },
                "payment": schema_ref("PaymentToVerify")
            }
        },
        "PaymentToVerify": {
            "type": "object", "description": "What the phone shows for a verify_payment command (absent for other kinds)",
            "required": ["payment_id", "merchant_name", "amount", "amount_display"],
            "properties": {
                "payment_id": { "type": "string", "description": "The payment's id in the account's history" },
                "merchant_name": s("string"),
                "amount": schema_ref("Money"),
                "amount_display": { "type": "string", "description": "Decimal amount, e.g. 12.50" }
            }
        },
        "CommandAnswer": {
            "type": "object", "required": ["ok"],
            "dependentRequired": { "lat": ["lon"], "lon": ["lat"], "place": ["lat", "lon"] },
            "properties": {
                "ok": { "type": "boolean", "description": "true: done (acknowledged); false: could not (failed)" },
                "detail": { "type": "string", "minLength": 1, "maxLength": 200 },
                "lat": { "type": "number", "minimum": -90, "maximum": 90 },
                "lon": { "type": "number", "minimum": -180, "maximum": 180 },
                "accuracy_m": { "type": "number", "minimum": 0, "maximum": 10000000 },
                "place": { "type": "string", "minLength": 1, "maxLength": 128 }
            }
        },
        "Suspend": {
            "type": "object", "required": ["reason"],
            "properties": { "reason": { "type": "string", "enum": ["lost", "stolen"] } }
        },
        "NewCard": {
            "type": "object", "required": ["pan", "expiry", "cvv", "cardholder_name"],
            "properties": {
                "pan": { "type": "string", "minLength": 12, "maxLength": 64, "pattern": "^[0-9 -]+$", "description": "Card number, 12 to 19 digits, Luhn-valid (spaces and dashes allowed)", "writeOnly": true },
                "expiry": { "type": "string", "pattern": "^(0[1-9]|1[0-2])/[0-9]{2}$", "description": "MM/YY, not in the past", "writeOnly": true },
                "cvv": { "type": "string", "pattern": "^[0-9]{3}$", "writeOnly": true },
                "cardholder_name": { "type": "string", "minLength": 1, "maxLength": 64 }
            }
        },
        "Card": {
            "type": "object",
            "required": ["id", "device_id", "token_ref", "card_last4", "bank_name", "cardholder_name", "token_state", "is_default", "created_at"],
            "properties": {
                "id": s("string"), "device_id": s("string"), "token_ref": s("string"),
                "card_last4": { "type": "string", "pattern": "^[0-9]{4}$" },
                "bank_name": s("string"), "cardholder_name": s("string"),
                "token_state": token_state.clone(),
                "is_default": s("boolean"), "created_at": ms()
            }
        },
        "PendingProvisioning": {
            "type": "object",
            "required": ["id", "device_id", "card_last4", "bank_name", "otp_channel", "expires_at"],
            "properties": {
                "id": s("string"), "device_id": s("string"), "card_last4": s("string"),
                "bank_name": s("string"), "otp_channel": s("string"), "expires_at": ms()
            }
        },
        "AddCardOutcome": {
            "oneOf": [
                { "type": "object", "required": ["status", "card"],
                  "properties": { "status": { "const": "provisioned" }, "card": schema_ref("Card") } },
                { "type": "object", "required": ["status", "pending"],
                  "properties": { "status": { "const": "otp_required" }, "pending": schema_ref("PendingProvisioning") } }
            ]
        },
        "Otp": {
            "type": "object", "required": ["code"],
            "properties": { "code": { "type": "string", "pattern": "^[0-9]{4,8}$", "writeOnly": true } }
        },
        "ProvisioningItem": {
            "type": "object",
            "required": ["card_id", "token_ref", "token_state", "card_last4", "bank_name", "is_default", "sealed_payload"],
            "properties": {
                "card_id": s("string"), "token_ref": s("string"), "token_state": token_state,
                "card_last4": s("string"), "bank_name": s("string"), "is_default": s("boolean"),
                "sealed_payload": { "type": "string", "contentEncoding": "base64", "description": "Sealed to the device's X25519 key" }
            }
        },
        "ProvisioningList": {
            "type": "object", "required": ["device_id", "items"],
            "properties": { "device_id": s("string"), "items": { "type": "array", "items": schema_ref("ProvisioningItem") } }
        },
        "Money": {
            "type": "object", "required": ["minor", "currency"],
            "properties": {
                "minor": { "type": "integer", "format": "int64", "description": "Amount in minor units (fen, paise)" },
                "currency": { "type": "string", "description": "ISO 4217 alphabetic code" }
            }
        },
        "Transaction": {
            "type": "object",
            "required": ["id", "device_id", "card_id", "card_last4", "bank_name", "merchant_name", "merchant_id",
                         "terminal_id", "amount", "amount_display", "approved", "response_code", "reason", "kind", "at",
                         "saved", "earned", "channel", "band_outcome"],
            "properties": {
                "id": s("string"), "device_id": s("string"), "card_id": s("string"),
                "card_last4": s("string"), "bank_name": s("string"),
                "merchant_name": s("string"), "merchant_id": s("string"), "terminal_id": s("string"),
                "amount": schema_ref("Money"),
                "amount_display": { "type": "string", "description": "Decimal amount, e.g. 12.50" },
                "approved": s("boolean"),
                "response_code": { "type": "string", "description": "ISO 8583 DE 39" },
                "reason": { "type": "string", "description": "Outcome in plain language" },
                "kind": s("string"), "at": ms(),
                "saved": { "$ref": "#/components/schemas/Money", "description": "What an instant discount took off the charge (zero without one)" },
                "earned": { "$ref": "#/components/schemas/Money", "description": "Cashback the payment earned (zero without one)" },
                "channel": { "type": "string", "enum": ["card", "band"], "description": "card: a card token paid (tap or scanned code); band: the band paid offline with a QR code from its band account, uploaded later by the shop's register (kind offline_qr, terminal_id the register, no card, response_code empty, reason why it was refused or counted as a double spend)" },
                "band_outcome": {
                    "type": ["string", "null"], "enum": ["paid", "paid_from_reserve", "refused", "double_spend", null],
                    "description": "A band payment's outcome (null for a card payment): paid from the band account, paid from the platform's reserve, refused, or a double spend (a copied code; approved tells whether the shop was paid)"
                }
            }
        },
        "PointsEntry": {
            "type": "object", "required": ["kind", "points", "at"],
            "properties": {
                "kind": { "type": "string", "enum": ["earned", "taken_back", "redeemed"] },
                "points": { "type": "integer", "format": "int64", "description": "In (positive) or out (negative)" },
                "payment_id": { "type": ["string", "null"] },
                "cashback": { "description": "What a redemption paid", "oneOf": [schema_ref("Money"), { "type": "null" }] },
                "at": ms()
            }
        },
        "Points": {
            "type": "object", "required": ["points", "entries"],
            "properties": {
                "points": { "type": "integer", "format": "int64", "minimum": 0 },
                "entries": { "type": "array", "items": schema_ref("PointsEntry") }
            }
        },
        "PointsRedemption": {
            "type": "object", "required": ["points", "currency"],
            "properties": {
                "points": { "type": "integer", "format": "int64", "minimum": 1 },
                "currency": { "type": "string", "description": "ISO 4217 alphabetic code" }
            }
        },
        "Redeemed": {
            "type": "object", "required": ["points", "cashback"],
            "properties": { "points": { "type": "integer", "format": "int64" }, "cashback": schema_ref("Money") }
        },
        "TransactionPage": {
            "type": "object", "required": ["items"],
            "properties": {
                "items": { "type": "array", "items": schema_ref("Transaction") },
                "next_cursor": { "type": ["string", "null"] }
            }
        }
    })
}

/// The schemas of every part of the API.
fn all_schemas() -> Value {
    let mut all = schemas();
    for part in [bills::schemas(), upi::schemas(), transit::schemas()] {
        if let (Some(map), Value::Object(more)) = (all.as_object_mut(), part) {
            map.extend(more);
        }
    }
    all
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in operations() {
        let entry = paths
            .entry(o.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = entry.as_object_mut() {
            m.insert(o.method.to_string(), o.to_json());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "paytap wallet API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, devices, cards (tokenized, at most 8 per device), lost-device controls and payment history. Errors are {\"error\": {\"code\", \"message\"}}. A device, card or pending card of another account is reported as 404."
        },
        "servers": [ { "url": "/" } ],
        "security": [ { "bearer": [] } ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "Session token from POST /api/v1/sessions" }
            },
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key", "in": "header", "required": false,
                    "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" },
                    "description": "1 to 255 visible ASCII characters. Scoped to the caller (the account; for registration, the request body). A retry with the same key, method, path and body returns the first successful response (with Idempotent-Replayed: true); another method or path is 409, another body 422"
                }
            },
            "schemas": all_schemas()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ROUTES;

    #[test]
    fn describes_exactly_the_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
        let described: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(described, ROUTES.len());
        // Every $ref resolves.
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/").skip(1) {
            let r = part.split('"').next().unwrap();
            let mut node = &doc["components"];
            for seg in r.split('/') {
                node = &node[seg];
            }
            assert!(!node.is_null(), "dangling $ref {r}");
        }
    }
}
