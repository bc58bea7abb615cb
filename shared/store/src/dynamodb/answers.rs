//! `DynamoStore` as AnswerStore: a session's answers in one partition, one item a person;
//! a contact's through GSI1.

use outreach_core::answer::SessionAnswer;
use outreach_core::ports::AnswerStore;

use super::*;

#[async_trait]
impl AnswerStore for DynamoStore {
    async fn put_answer(&self, answer: &SessionAnswer) -> CoreResult<bool> {
        let item = items::answer(answer);
        let at = HashMap::from([(":at".to_string(), n(item.version))]);
        let raw = items::encode(&item)?;
        Ok(self
            .put_if(raw, "attribute_not_exists(PK) OR version <= :at", Some(at))
            .await?)
    }

    async fn session_answers(&self, session_id: &SessionId) -> CoreResult<Vec<SessionAnswer>> {
        self.query_all(Query::on(None, keys::answers_pk(session_id))).await
    }

    async fn contact_answers(&self, contact_id: &ContactId) -> CoreResult<Vec<SessionAnswer>> {
        self.query_all(Query::on(Some(table::GSI1), keys::contact_answers(contact_id)))
            .await
    }

    async fn delete_contact_answers(&self, contact_id: &ContactId) -> CoreResult<usize> {
        let answers = self.contact_answers(contact_id).await?;
        for a in &answers {
            self.client
                .delete_item()
                .table_name(&self.table)
                .key("PK", s(keys::answers_pk(&a.session_id)))
                .key("SK", s(a.contact_id.clone()))
                .send()
                .await
                .map_err(sdk)?;
        }
        Ok(answers.len())
    }
}
