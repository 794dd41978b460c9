//! The durable risk service: every decision stored with the rules that
//! fired (shadow rules included) before anyone acts on it, and the state
//! the rules need rebuilt at start from the decisions whose outcome is
//! known.

use paytap_risk::{Decision, Outcome, RiskEngine, RiskRules, Verdict};
use paytap_store::Db;
use paytap_store::batch::{Arg, Batcher, Stmt};
use paytap_types::PaymentFacts;
use paytap_types::sync::{read, write};
use std::sync::RwLock;

use crate::{GuardError, settings};

/// How far back the state is rebuilt at start: the longest memory a rule
/// has (the unusual-amount mean and the cooling-off periods) fits in it.
pub const REPLAY_HORIZON_MS: i64 = 30 * 24 * 3_600_000;

/// At most this many finished payments are replayed at start (the newest).
pub const MAX_REPLAYED: i64 = 1_000_000;

/// At most this many decisions are listed in one page.
pub const MAX_LISTED: i64 = 200;

/// A decision as stored, for the console and the account holder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredDecision {
    /// The payment.
    pub payment_id: String,
    /// When it was made (Unix ms).
    pub at_ms: i64,
    /// The decision and every rule that fired.
    pub decision: Decision,
    /// How the payment ended, once known (`approved`, `declined`).
    pub outcome: Option<String>,
}

/// The risk engine with its decisions and state in the database.
pub struct RiskService {
    db: Db,
    /// Group commit of the hot path's two writes (a decision, its
    /// outcome): concurrent payments share one durable commit.
    writer: Batcher,
    engine: RwLock<RiskEngine>,
    /// Operators' edits, one at a time (each is a database write, then a
    /// change of the engine).
    edits: tokio::sync::Mutex<()>,
}

/// Written out: the writer handle has no `Debug` of its own.
impl std::fmt::Debug for RiskService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskService")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// Stores a decision unless the payment has one already.
const INSERT_DECISION: &str = "INSERT INTO risk_decisions (payment_id, account, at_ms, verdict, \
     reason, decision, facts, outcome, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8) \
     ON CONFLICT (payment_id) DO NOTHING";

/// Stores a payment's outcome once.
const SET_OUTCOME: &str =
    "UPDATE risk_decisions SET outcome = $1 WHERE payment_id = $2 AND outcome IS NULL";

/// The one statement's rows affected in a group commit's answer.
fn affected(answer: Result<Vec<u64>, String>) -> Result<u64, GuardError> {
    let rows = answer.map_err(GuardError::Write)?;
    rows.first()
        .copied()
        .ok_or_else(|| GuardError::Corrupt("a group commit answered no statement".into()))
}

fn verdict_columns(v: &Verdict) -> (&'static str, Option<&'static str>) {
    match v {
        Verdict::Approve => ("approve", None),
        Verdict::StepUp { reason, .. } => ("step_up", Some(reason.as_str())),
        Verdict::Decline { reason } => ("decline", Some(reason.as_str())),
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Approved => "approved",
        Outcome::Declined => "declined",
    }
}

impl RiskService {
    /// Opens the service on `db` (migrated by the caller with
    /// [`crate::MIGRATIONS`]) with these rules, or with the rules an
    /// operator saved in the console since (and the shadow modes set
    /// there), replaying the finished payments of the last
    /// [`REPLAY_HORIZON_MS`] before `now_ms`.
    pub async fn open(db: Db, rules: RiskRules, now_ms: i64) -> Result<RiskService, GuardError> {
        let rules = match settings::get(&db, settings::RISK_RULES).await? {
            None => rules,
            Some(text) => match RiskRules::from_toml(&text) {
                Ok(saved) => saved,
                Err(e) => {
                    tracing::error!(error = %e, "the rules saved in the console no longer read; the file's rules are used");
                    rules
                }
            },
        };
        let engine = rebuilt(&db, rules, now_ms).await?;
        Ok(RiskService {
            writer: Batcher::start(db.clone()),
            db,
            engine: RwLock::new(engine),
            edits: tokio::sync::Mutex::new(()),
        })
    }

    /// The decision on a payment, stored before it is returned; the same
    /// `payment_id` asked again gets the stored decision.
    pub async fn decide(&self, facts: &PaymentFacts) -> Result<Decision, GuardError> {
        let decision = self.evaluate(facts);
        self.store(facts, decision).await
    }

    /// The engine's decision on a payment, in memory: nothing may act on
    /// it before [`RiskService::store`] has answered.
    pub fn evaluate(&self, facts: &PaymentFacts) -> Decision {
        read(&self.engine, "risk engine").decide(facts)
    }

    /// Stores the decision `evaluate` made unless the payment has one
    /// already; answers the stored decision (this one, or a retried
    /// payment's first).
    pub async fn store(
        &self,
        facts: &PaymentFacts,
        decision: Decision,
    ) -> Result<Decision, GuardError> {
        let (verdict, reason) = verdict_columns(&decision.verdict);
        let insert = Stmt {
            sql: INSERT_DECISION,
            args: vec![
                Arg::Text(facts.payment_id.clone()),
                Arg::OptText(facts.account_id.clone()),
                Arg::I64(facts.at_ms),
                Arg::Text(verdict.to_owned()),
                Arg::OptText(reason.map(str::to_owned)),
                Arg::Text(serde_json::to_string(&decision)?),
                Arg::Text(serde_json::to_string(facts)?),
                Arg::I64(paytap_store::now_millis()),
            ],
        };
        let inserted = affected(self.writer.commit(vec![insert]).await)?;
        if inserted == 0 {
            return self
                .stored(&facts.payment_id)
                .await?
                .map(|s| s.decision)
                .ok_or_else(|| GuardError::Corrupt("a decision vanished".into()));
        }
        if decision.verdict != Verdict::Approve {
            tracing::info!(payment = %facts.payment_id, verdict, reason = reason.unwrap_or("-"), "risk decision");
        }
        Ok(decision)
    }

    /// Tells the engine how a payment ended, once: the outcome is stored
    /// with its decision and only then does the state move. `false` when
    /// it was told before (or no decision was made on it).
    pub async fn record(&self, facts: &PaymentFacts, outcome: Outcome) -> Result<bool, GuardError> {
        let set = Stmt {
            sql: SET_OUTCOME,
            args: vec![
                Arg::Text(outcome_name(outcome).to_owned()),
                Arg::Text(facts.payment_id.clone()),
            ],
        };
        let moved = affected(self.writer.commit(vec![set]).await)?;
        if moved == 1 {
            write(&self.engine, "risk engine").record(facts, outcome);
        }
        Ok(moved == 1)
    }

    /// One stored decision.
    pub async fn stored(&self, payment_id: &str) -> Result<Option<StoredDecision>, GuardError> {
        let row: Option<(String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT payment_id, at_ms, decision, outcome FROM risk_decisions WHERE payment_id = $1",
        )
        .bind(payment_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(stored_of).transpose()
    }

    /// An account's newest decisions (at most [`MAX_LISTED`]): only its
    /// own, never another account's.
    pub async fn decisions_of(&self, account: &str) -> Result<Vec<StoredDecision>, GuardError> {
        let rows: Vec<(String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT payment_id, at_ms, decision, outcome FROM risk_decisions \
             WHERE account = $1 ORDER BY at_ms DESC, payment_id DESC LIMIT $2",
        )
        .bind(account)
        .bind(MAX_LISTED)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter().map(stored_of).collect()
    }
}

fn stored_of(
    (payment_id, at_ms, decision, outcome): (String, i64, String, Option<String>),
) -> Result<StoredDecision, GuardError> {
    Ok(StoredDecision {
        payment_id,
        at_ms,
        decision: serde_json::from_str(&decision)?,
        outcome,
    })
}

/// A new engine with `rules` and the shadow modes operators set, its state
/// rebuilt from the finished payments of the last [`REPLAY_HORIZON_MS`].
async fn rebuilt(db: &Db, rules: RiskRules, now_ms: i64) -> Result<RiskEngine, GuardError> {
    let mut engine = RiskEngine::new(rules);
    for (rule, on) in settings::under(db, settings::SHADOW).await? {
        if !engine.set_shadow(&rule, on == "1") {
            tracing::warn!(rule, "a shadow mode set in the console names no rule now");
        }
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT facts, outcome FROM risk_decisions \
         WHERE outcome IS NOT NULL AND at_ms >= $1 ORDER BY at_ms DESC, payment_id DESC LIMIT $2",
    )
    .bind(now_ms.saturating_sub(REPLAY_HORIZON_MS))
    .bind(MAX_REPLAYED)
    .fetch_all(db.pool())
    .await?;
    for (facts, outcome) in rows.iter().rev() {
        let facts: PaymentFacts = serde_json::from_str(facts)?;
        let outcome = match outcome.as_str() {
            "approved" => Outcome::Approved,
            "declined" => Outcome::Declined,
            other => return Err(GuardError::Corrupt(format!("risk outcome {other:?}"))),
        };
        engine.record(&facts, outcome);
    }
    tracing::info!(replayed = rows.len(), "risk state rebuilt");
    Ok(engine)
}

/// One rule as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleView {
    /// Its name.
    pub name: String,
    /// `velocity`, `cooling_off`, `travel`, `unusual_amount`, `declines`
    /// or `blocklist`.
    pub kind: &'static str,
    /// What it does when it fires.
    pub action: &'static str,
    /// Whether it only records what it would have done.
    pub shadow: bool,
    /// Its thresholds in a line.
    pub thresholds: String,
}

/// The rules in force, for the console.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RulesView {
    /// Every rule, the blocklists last.
    pub rules: Vec<RuleView>,
    /// The text they were read from (to edit).
    pub source: String,
}

/// A decision with the account it was made for, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConsoleDecision {
    /// The wallet account, if the payment had one.
    pub account: Option<String>,
    /// The decision as stored.
    #[serde(flatten)]
    pub stored: StoredDecision,
}

impl RiskService {
    /// The rules in force and their text.
    pub fn rules_view(&self) -> RulesView {
        let engine = read(&self.engine, "risk engine");
        let mut rules: Vec<RuleView> = engine
            .rules()
            .iter()
            .map(|r| RuleView {
                name: r.name.to_string(),
                kind: r.kind.name(),
                action: r.action.as_str(),
                shadow: r.shadow,
                thresholds: r.kind.thresholds(),
            })
            .collect();
        rules.push(RuleView {
            name: BLOCKLIST_RULE.into(),
            kind: BLOCKLIST_RULE,
            action: paytap_risk::Action::Decline.as_str(),
            shadow: engine.blocklists_shadow(),
            thresholds: "devices, cards, UPI ids, merchants".into(),
        });
        RulesView {
            rules,
            source: engine.source().to_owned(),
        }
    }

    /// Puts a rule (or `blocklist`) in or out of shadow mode, at once and
    /// after a restart.
    pub async fn set_shadow(&self, rule: &str, shadow: bool) -> Result<(), GuardError> {
        let _edit = self.edits.lock().await;
        let known = read(&self.engine, "risk engine")
            .rules()
            .iter()
            .any(|r| &*r.name == rule)
            || rule == BLOCKLIST_RULE;
        if !known {
            return Err(GuardError::UnknownRule(rule.to_owned()));
        }
        settings::put(
            &self.db,
            &format!("{}{rule}", settings::SHADOW),
            settings::flag(shadow),
        )
        .await?;
        write(&self.engine, "risk engine").set_shadow(rule, shadow);
        tracing::info!(rule, shadow, "risk rule's shadow mode set");
        Ok(())
    }

    /// Replaces the rules with `text` (the rules file's schema, checked as
    /// the file is), at once and after a restart. The state is rebuilt from
    /// the stored payments for the new rules' windows; shadow modes set
    /// one by one before are dropped (the text says each rule's own).
    pub async fn replace_rules(&self, text: &str, now_ms: i64) -> Result<(), GuardError> {
        let rules = RiskRules::from_toml(text)?;
        let _edit = self.edits.lock().await;
        settings::put(&self.db, settings::RISK_RULES, text).await?;
        settings::clear(&self.db, settings::SHADOW).await?;
        let engine = rebuilt(&self.db, rules, now_ms).await?;
        *write(&self.engine, "risk engine") = engine;
        tracing::info!("risk rules replaced from the console");
        Ok(())
    }

    /// The newest decisions on every account (at most [`MAX_LISTED`]), with
    /// the rules that fired: the operator's view.
    pub async fn recent(&self) -> Result<Vec<ConsoleDecision>, GuardError> {
        let rows: Vec<DecisionRow> = sqlx::query_as(
            "SELECT account, payment_id, at_ms, decision, outcome FROM risk_decisions \
             ORDER BY at_ms DESC, payment_id DESC LIMIT $1",
        )
        .bind(MAX_LISTED)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(account, id, at, decision, outcome)| {
                Ok(ConsoleDecision {
                    account,
                    stored: stored_of((id, at, decision, outcome))?,
                })
            })
            .collect()
    }
}

/// A decision's row for the operator: account, payment, time, decision,
/// outcome.
type DecisionRow = (Option<String>, String, i64, String, Option<String>);

/// The name the blocklists fire under (the engine's own).
pub const BLOCKLIST_RULE: &str = "blocklist";
