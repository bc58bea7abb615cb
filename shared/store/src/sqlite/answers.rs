//! `SqliteStore` as AnswerStore: each person's latest answer for a session, one row.

use outreach_core::answer::SessionAnswer;
use outreach_core::ports::AnswerStore;

use super::*;

#[async_trait]
impl AnswerStore for SqliteStore {
    async fn put_answer(&self, answer: &SessionAnswer) -> CoreResult<bool> {
        let answer = answer.clone();
        self.call(move |c| {
            // `instant` is fixed-width UTC: text order is time order.
            let n = c.execute(
                "INSERT INTO answers (session_id, contact_id, answered_at, data) VALUES (?, ?, ?, ?)
                 ON CONFLICT (session_id, contact_id) DO UPDATE
                 SET answered_at = excluded.answered_at, data = excluded.data
                 WHERE excluded.answered_at >= answers.answered_at",
                params![
                    answer.session_id.as_str(),
                    answer.contact_id.as_str(),
                    instant(answer.answered_at),
                    to_json(&answer)?
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn session_answers(&self, session_id: &SessionId) -> CoreResult<Vec<SessionAnswer>> {
        let id = session_id.to_string();
        self.call(move |c| {
            all_json(
                c,
                "SELECT data FROM answers WHERE session_id = ? ORDER BY contact_id",
                &id,
            )
        })
        .await
    }

    async fn contact_answers(&self, contact_id: &ContactId) -> CoreResult<Vec<SessionAnswer>> {
        let id = contact_id.to_string();
        self.call(move |c| {
            all_json(
                c,
                "SELECT data FROM answers WHERE contact_id = ? ORDER BY session_id",
                &id,
            )
        })
        .await
    }

    async fn delete_contact_answers(&self, contact_id: &ContactId) -> CoreResult<usize> {
        let id = contact_id.to_string();
        self.call(move |c| Ok(c.execute("DELETE FROM answers WHERE contact_id = ?", params![id])?))
            .await
    }
}
