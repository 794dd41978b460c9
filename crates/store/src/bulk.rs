//! Bulk statements: many rows in one SQL statement with a single bound
//! parameter, a JSON array of rows (each row an array of values in column
//! order). The database expands it in C (SQLite `jsonb_each`, PostgreSQL
//! `jsonb_array_elements`), so a group commit of a thousand rows costs one
//! statement, one round trip to the connection's worker and one bind,
//! instead of a thousand of each (or, for multi-row `VALUES` lists, a bind
//! per column per row).
//!
//! On a SQLite file's direct writer ([`crate::direct`]) there is no round
//! trip to save, so [`Bulk::execute_direct`] runs the statement's one-row
//! form (`sqlite_row`, with `?1, ?2, ...` for a row's values) once per row,
//! prepared once: no JSON to build or parse.
//!
//! Each [`Bulk`] names its statement once per dialect. In the SQLite text,
//! `j.value->>N` is the N-th value of a row (`jsonb_each(jsonb($1)) AS j`); in the
//! PostgreSQL text, `r->>N` cast to the column's type. In SQLite, qualify
//! the target table's columns in `WHERE` clauses: `jsonb_each` has columns of
//! its own (`id`, `key`, `value`, `type`, ...). Values are [`Arg`]s: integers, text, or
//! NULL.
//!
//! ```text
//! sqlite:   INSERT INTO t (a, b) SELECT j.value->>0, j.value->>1 FROM jsonb_each(jsonb($1)) AS j
//! postgres: INSERT INTO t (a, b) SELECT r->>0, (r->>1)::bigint
//!           FROM jsonb_array_elements($1::jsonb) AS r
//! ```

use crate::batch::Arg;
use crate::{Backend, StoreError, Tx};

/// One bulk statement in both dialects.
#[derive(Debug)]
pub struct Bulk {
    /// A short name for logs and grouping.
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
    /// The same effect for one row, `?N` being its N-th value, for the
    /// SQLite direct writer (`?N` binds by position, see
    /// [`crate::direct::bind`]). Applied row after row in order it must leave
    /// what the bulk form leaves (e.g. "only if larger" conditions).
    pub sqlite_row: &'static str,
}

impl Bulk {
    pub fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }

    /// Runs the statement over `rows` inside `tx`; returns rows affected.
    pub async fn execute<'r, I>(
        &self,
        tx: &mut Tx,
        backend: Backend,
        rows: I,
    ) -> Result<u64, StoreError>
    where
        I: IntoIterator<Item = &'r [Arg]>,
    {
        let json = encode_rows(rows);
        if json == "[]" {
            return Ok(0);
        }
        let r = sqlx::query(self.sql(backend))
            .bind(json)
            .execute(&mut **tx)
            .await?;
        Ok(r.rows_affected())
    }
}

impl Bulk {
    /// [`Bulk::execute`] on the SQLite direct writer's transaction.
    pub fn execute_direct<'r, I>(
        &self,
        tx: &rusqlite::Connection,
        rows: I,
    ) -> Result<u64, StoreError>
    where
        I: IntoIterator<Item = &'r [Arg]>,
    {
        let mut stmt = tx.prepare_cached(self.sqlite_row)?;
        let mut n = 0;
        for row in rows {
            crate::direct::bind(&mut stmt, row)?;
            n += stmt.raw_execute()? as u64;
        }
        Ok(n)
    }
}

/// The JSON parameter for `rows`.
pub fn encode_rows<'r, I>(rows: I) -> String
where
    I: IntoIterator<Item = &'r [Arg]>,
{
    let mut out = String::with_capacity(256);
    out.push('[');
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for (j, a) in row.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            match a {
                Arg::I64(v) | Arg::OptI64(Some(v)) => out.push_str(&v.to_string()),
                Arg::Text(s) | Arg::OptText(Some(s)) => push_json_string(&mut out, s),
                Arg::OptText(None) | Arg::OptI64(None) => out.push_str("null"),
            }
        }
        out.push(']');
    }
    out.push(']');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    const CREATE: &str = "CREATE TABLE bulk_t (id TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT)";
    const INSERT: Bulk = Bulk {
        name: "bulk_t insert",
        sqlite: "INSERT INTO bulk_t (id, n, note) SELECT j.value->>0, j.value->>1, j.value->>2 FROM jsonb_each(jsonb($1)) AS j",
        postgres: "INSERT INTO bulk_t (id, n, note) SELECT r->>0, (r->>1)::bigint, r->>2 \
                   FROM jsonb_array_elements($1::jsonb) AS r",
        sqlite_row: "INSERT INTO bulk_t (id, n, note) VALUES (?1, ?2, ?3)",
    };
    const BUMP: Bulk = Bulk {
        name: "bulk_t bump",
        sqlite: "UPDATE bulk_t SET n = j.value->>1 FROM jsonb_each(jsonb($1)) AS j WHERE bulk_t.id = j.value->>0 AND bulk_t.n < j.value->>1",
        postgres: "UPDATE bulk_t SET n = (r->>1)::bigint FROM jsonb_array_elements($1::jsonb) AS r \
                   WHERE id = r->>0 AND n < (r->>1)::bigint",
        sqlite_row: "UPDATE bulk_t SET n = ?2 WHERE id = ?1 AND n < ?2",
    };

    #[test]
    fn encodes_json_with_escapes() {
        let rows = [
            vec![
                Arg::Text("a\"b\\c\n\u{1}".into()),
                Arg::I64(-5),
                Arg::OptText(None),
            ],
            vec![Arg::OptText(Some("é".into()))],
        ];
        let s = encode_rows(rows.iter().map(Vec::as_slice));
        assert_eq!(s, "[[\"a\\\"b\\\\c\\n\\u0001\",-5,null],[\"é\"]]");
        let v: Vec<Vec<Option<serde_json::Value>>> = serde_json::from_str(&s).unwrap();
        assert_eq!(v[0][0].as_ref().unwrap().as_str(), Some("a\"b\\c\n\u{1}"));
    }

    #[tokio::test]
    async fn bulk_insert_and_update_round_trip() {
        let db = Db::for_tests().await.unwrap();
        sqlx::query(CREATE).execute(db.pool()).await.unwrap();
        let rows: Vec<Vec<Arg>> = (0..500)
            .map(|i| {
                vec![
                    Arg::Text(format!("id-{i}")),
                    Arg::I64(i64::from(i) * 1_000_000_007),
                    if i % 2 == 0 {
                        Arg::OptText(Some(format!("it's \"{i}\"")))
                    } else {
                        Arg::OptText(None)
                    },
                ]
            })
            .collect();
        let mut tx = db.begin_write().await.unwrap();
        let n = INSERT
            .execute(&mut tx, db.backend(), rows.iter().map(Vec::as_slice))
            .await
            .unwrap();
        assert_eq!(n, 500);
        // Only rows whose value grows change.
        let bumps = [
            vec![Arg::Text("id-3".into()), Arg::I64(i64::MAX)],
            vec![Arg::Text("id-4".into()), Arg::I64(0)],
        ];
        let n = BUMP
            .execute(&mut tx, db.backend(), bumps.iter().map(Vec::as_slice))
            .await
            .unwrap();
        assert_eq!(n, 1);
        tx.commit().await.unwrap();
        let (n, note): (i64, Option<String>) =
            sqlx::query_as("SELECT n, note FROM bulk_t WHERE id = 'id-4'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!((n, note.as_deref()), (4_000_000_028, Some("it's \"4\"")));
        let (n, note): (i64, Option<String>) =
            sqlx::query_as("SELECT n, note FROM bulk_t WHERE id = 'id-3'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!((n, note), (i64::MAX, None));
        let (count,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM bulk_t")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(count, 500);
        let mut tx = db.begin_write().await.unwrap();
        let none: [&[Arg]; 0] = [];
        assert_eq!(
            INSERT.execute(&mut tx, db.backend(), none).await.unwrap(),
            0
        );
        tx.rollback().await.unwrap();
    }

    /// The one-row form on the direct writer leaves what the bulk form
    /// leaves, including the "only if larger" condition applied in order.
    #[tokio::test]
    async fn direct_row_form_matches_the_bulk_form() {
        let db = Db::for_tests().await.unwrap();
        let Some(direct) = db.direct() else {
            return; // PostgreSQL: the bulk form only
        };
        sqlx::query(CREATE).execute(db.pool()).await.unwrap();
        let counts = direct
            .transaction(|tx| {
                let rows: Vec<Vec<Arg>> = (0..300)
                    .map(|i| {
                        vec![
                            Arg::Text(format!("id-{i}")),
                            Arg::I64(i),
                            Arg::OptText((i % 3 == 0).then(|| format!("n\"{i}\"'"))),
                        ]
                    })
                    .collect();
                let inserted = INSERT.execute_direct(tx, rows.iter().map(Vec::as_slice))?;
                // Three bumps of one row: 50 then 20 (smaller, ignored) then 70.
                let bumps = [
                    vec![Arg::Text("id-1".into()), Arg::I64(50)],
                    vec![Arg::Text("id-1".into()), Arg::I64(20)],
                    vec![Arg::Text("id-1".into()), Arg::I64(70)],
                    vec![Arg::Text("id-2".into()), Arg::I64(0)],
                ];
                let bumped = BUMP.execute_direct(tx, bumps.iter().map(Vec::as_slice))?;
                Ok::<_, StoreError>((inserted, bumped))
            })
            .await
            .unwrap();
        assert_eq!(counts, (300, 2));
        let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, n, note FROM bulk_t WHERE id IN ('id-1', 'id-2', 'id-3') ORDER BY id",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(
            rows,
            vec![
                ("id-1".to_owned(), 70, None),
                ("id-2".to_owned(), 2, None),
                ("id-3".to_owned(), 3, Some("n\"3\"'".to_owned())),
            ]
        );
    }
}
