//! `SqsQueue` against moto's SQS.

use std::collections::HashSet;

use outreach_core::CoreError;
use outreach_core::contact::Channel;
use outreach_core::notify::{DeliveryTask, Queue};
use outreach_notify::{SqsConfig, SqsQueue};

use crate::support::{aws, unique};

fn tasks(n: usize) -> Vec<DeliveryTask> {
    (0..n)
        .map(|i| DeliveryTask {
            job_id: format!("job-{i}").into(),
            campaign_id: "cmp-1".into(),
            session_id: format!("ses-{}", i % 3).into(),
            rule_id: "rule-24h".into(),
            contact_id: format!("contact-{i}").into(),
            channel: if i % 2 == 0 { Channel::Sms } else { Channel::Email },
        })
        .collect()
}

#[tokio::test]
async fn sqs_enqueues_25_tasks_in_batches_and_gives_them_back() {
    let sdk = aws().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = client
        .create_queue()
        .queue_name(format!("deliveries-{}", unique()))
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue URL");
    let queue = SqsQueue::new(&sdk, SqsConfig::new(&queue_url));
    let sent = tasks(25);

    queue.enqueue(&sent).await.expect("every task is enqueued");

    let mut received = Vec::new();
    for _ in 0..20 {
        let out = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("moto answers");
        for message in out.messages() {
            received.push(SqsQueue::parse_body(message.body().expect("a body")).expect("a task"));
        }
        if received.len() >= sent.len() {
            break;
        }
    }
    assert_eq!(received.len(), 25, "each task once");
    assert_eq!(
        received.iter().collect::<HashSet<_>>(),
        sent.iter().collect::<HashSet<_>>()
    );
}

#[tokio::test]
async fn sqs_missing_queue_is_a_storage_error() {
    let sdk = aws().await;
    let queue = SqsQueue::new(
        &sdk,
        SqsConfig::new(format!(
            "{}/123456789012/no-such-queue-{}",
            crate::support::moto_url(),
            unique()
        )),
    );

    let err = queue.enqueue(&tasks(3)).await.expect_err("no such queue");

    assert!(matches!(err, CoreError::Storage(_)), "{err:?}");
}

#[test]
fn a_body_that_is_not_a_task_is_an_error() {
    assert!(SqsQueue::parse_body("{\"job_id\": 1}").is_err());
    let task = &tasks(1)[0];
    assert_eq!(
        &SqsQueue::parse_body(&serde_json::to_string(task).unwrap()).unwrap(),
        task
    );
}
