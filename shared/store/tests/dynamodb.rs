//! The `Store` contract against `DynamoStore` on a DynamoDB-compatible server, plus what
//! only DynamoDB has: pages, batch limits, conditional races and the item size limit.
//!
//! Needs `AWS_ENDPOINT_URL` pointing at a DynamoDB-compatible server (`scripts/test`
//! starts moto). Without it these tests fail: they never skip.

#![cfg(feature = "dynamodb")]

mod contract;

use std::collections::HashMap;

use outreach_core::campaign::CampaignStatus;
use outreach_core::contact::ContactRole;
use outreach_core::error::CoreError;
use outreach_core::ports::{CampaignStore, ContactFilter, ContactStore, PageRequest, SessionStore};
use outreach_store::DynamoStore;
use outreach_store::dynamodb::{BATCH_WRITE_LIMIT, RawItem, items, size};

/// A store on a fresh table of its own.
async fn fresh() -> DynamoStore {
    outreach_testkit::local_aws_endpoint();
    let table = outreach_testkit::unique_name("outreach-test");
    let store = DynamoStore::from_env(&table).await;
    assert!(
        store.create_table().await.expect("the local DynamoDB server answers"),
        "table {table} was new"
    );
    store
}

contract_tests!(fresh());

#[tokio::test]
async fn creating_the_table_twice_is_harmless() {
    let store = fresh().await;
    assert!(
        !store.create_table().await.unwrap(),
        "the second create finds the table"
    );
}

#[tokio::test]
async fn lists_follow_dynamodb_pages_past_one_megabyte_and_small_limits() {
    let store = fresh().await;
    // 260 campaigns of about 5 KB each: more than one 1 MB query page.
    let mut ids = Vec::new();
    let mut bytes = 0;
    for i in 0..260 {
        let mut c = contract::campaign(&format!("cmp_{i:04}"), CampaignStatus::Active);
        c.description = Some("Hỗ trợ dịch vụ công trực tuyến. ".repeat(150));
        bytes += size::item_size(&items::encode(&items::campaign(&c)).unwrap());
        store.insert_campaign(&c).await.unwrap();
        ids.push(c.id);
    }
    assert!(bytes > 1024 * 1024, "the campaigns take {bytes} bytes");
    let all = store
        .list_campaigns(Some(CampaignStatus::Active), &PageRequest::first(500))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 260, "one API page gathers several DynamoDB pages");
    assert_eq!(all.next_cursor, None);
    let mut seen = Vec::new();
    let mut page = PageRequest::first(7);
    loop {
        let p = store.list_campaigns(Some(CampaignStatus::Active), &page).await.unwrap();
        assert!(p.items.len() <= 7);
        seen.extend(p.items.into_iter().map(|c| c.id));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every item once, in order, across 38 small pages");
}

#[tokio::test]
async fn a_filtered_list_still_fills_its_pages() {
    let store = fresh().await;
    for i in 0..40 {
        let role = if i % 10 == 0 {
            ContactRole::Volunteer
        } else {
            ContactRole::Citizen
        };
        store
            .insert_contact(&contract::contact(
                &format!("ct_{i:02}"),
                &format!("09123450{i:02}"),
                "07201",
                role,
            ))
            .await
            .unwrap();
    }
    // ContactRole alone is a filter on the type index: four volunteers among forty contacts.
    let filter = ContactFilter {
        commune: None,
        role: Some(ContactRole::Volunteer),
    };
    let p = store.list_contacts(&filter, &PageRequest::first(3)).await.unwrap();
    assert_eq!(
        p.items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["ct_00", "ct_10", "ct_20"]
    );
    let rest = store
        .list_contacts(
            &filter,
            &PageRequest {
                limit: 3,
                cursor: p.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);
}

#[tokio::test]
async fn sixty_writes_go_in_batches_of_25_25_and_10() {
    let store = fresh().await;
    let units: Vec<outreach_core::org::OrgUnit> = (0..60)
        .map(|i| {
            contract::unit(
                &format!("{:05}", 7000 + i),
                outreach_core::org::Level::Commune,
                Some("213"),
            )
        })
        .collect();
    let raws: Vec<RawItem> = units.iter().map(|u| items::encode(&items::unit(u)).unwrap()).collect();
    let sizes = store.batch_put(raws).await.unwrap();
    assert_eq!(sizes, vec![25, 25, 10]);
    assert!(sizes.iter().all(|s| *s <= BATCH_WRITE_LIMIT));
    use outreach_core::ports::OrgUnitStore;
    assert_eq!(store.org_unit_children("213").await.unwrap().len(), 60);
}

#[tokio::test]
async fn unprocessed_items_are_retried_until_written() {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let requests: Vec<WriteRequest> = (0..5)
        .map(|i| {
            let item = HashMap::from([(
                "PK".to_string(),
                aws_sdk_dynamodb::types::AttributeValue::S(format!("X#{i}")),
            )]);
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    // The "server" processes only the first request of each call, as a throttled table may.
    let mut calls = Vec::new();
    outreach_store::dynamodb::retry_unprocessed(requests.clone(), 8, |batch| {
        calls.push(batch.len());
        async move { Ok(batch[1..].to_vec()) }
    })
    .await
    .unwrap();
    assert_eq!(calls, vec![5, 4, 3, 2, 1]);
    let gave_up = outreach_store::dynamodb::retry_unprocessed(requests, 2, |batch| async move { Ok(batch) }).await;
    assert!(
        gave_up.is_err(),
        "a batch that never drains fails instead of looping forever"
    );
}

#[tokio::test]
async fn two_tasks_racing_for_the_same_write_leave_exactly_one_winner() {
    let store = fresh().await;
    let campaign = contract::campaign("cmp_race", CampaignStatus::Active);
    let session = contract::session(&campaign, "07201", "2026-10-03T01:00:00Z");
    let (a, b) = tokio::join!(
        store.insert_sessions_if_absent(std::slice::from_ref(&session)),
        store.insert_sessions_if_absent(std::slice::from_ref(&session))
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1, "exactly one insert won");

    let one = contract::contact("ct_1", "0912345678", "07201", ContactRole::Citizen);
    let two = contract::contact("ct_2", "0912345678", "07228", ContactRole::Volunteer);
    let (a, b) = tokio::join!(store.insert_contact(&one), store.insert_contact(&two));
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "one phone number, one contact: {outcomes:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(matches!(loser, Err(CoreError::AlreadyExists { .. })), "{loser:?}");
}

#[tokio::test]
async fn an_item_over_400_kb_is_refused_before_it_is_sent() {
    let store = fresh().await;
    let mut c = contract::campaign("cmp_huge", CampaignStatus::Draft);
    c.communes = (0..2000).map(|i| format!("{:05}", i).into()).collect();
    c.venues = c
        .communes
        .iter()
        .map(|code| (code.to_string(), "Nhà văn hoá thôn ".repeat(12)))
        .collect();
    match store.insert_campaign(&c).await {
        Err(CoreError::Validation { field, message }) => {
            assert_eq!(field, "campaign");
            assert!(message.contains("400 KB"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.get_campaign(&"cmp_huge".into()).await.unwrap(),
        None,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_contact_moving_to_a_new_number_frees_the_old_one() {
    let store = fresh().await;
    let mut c = contract::contact("ct_1", "0912345678", "07201", ContactRole::Citizen);
    store.insert_contact(&c).await.unwrap();
    c.phone = Some(outreach_core::phone::Phone::parse("0987654321").unwrap());
    c.version = 2;
    store.update_contact(&c).await.unwrap();
    assert_eq!(store.find_contact_by_phone("+84912345678").await.unwrap(), None);
    assert_eq!(
        store.find_contact_by_phone("+84987654321").await.unwrap().map(|x| x.id),
        Some("ct_1".into())
    );
    store
        .insert_contact(&contract::contact("ct_2", "0912345678", "07201", ContactRole::Citizen))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_erased_contact_leaves_no_personal_value_in_any_item_of_the_table() {
    let store = fresh().await;
    let lan = contract::contact("ct_lan", "0912345678", "07201", ContactRole::Citizen);
    store.insert_contact(&lan).await.unwrap();
    store
        .insert_contact(&contract::contact(
            "ct_other",
            "0987000111",
            "07201",
            ContactRole::Citizen,
        ))
        .await
        .unwrap();
    store
        .update_contact(&lan.erased(contract::t("2026-03-01T00:00:00Z")))
        .await
        .unwrap();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(store.table())
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    let everything = format!("{items:?}");
    assert!(everything.contains("ct_lan"), "the scan reads the contact");
    assert!(
        everything.contains("987000111"),
        "the scan reads another contact's number"
    );
    for personal in ["912345678", "ct_lan@example.vn", "Nguyễn Thị Hoà"] {
        let lan_only = everything.matches(personal).count();
        // The other contact shares the name of the fixture; only its own copies may remain.
        let others = if personal == "Nguyễn Thị Hoà" { 1 } else { 0 };
        assert_eq!(lan_only, others, "{personal} is still stored: {everything}");
    }
}

/// The request-unit meter on calls made through the SDK: puts priced from their items, an
/// index write added, a transaction doubled, an update priced from the item it left, reads
/// at 4 KB a unit and half when eventually consistent.
#[cfg(feature = "meter")]
#[tokio::test]
async fn the_meter_prices_the_calls_a_client_makes() {
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
    use outreach_store::dynamodb::meter::Meter;

    let plain = fresh().await;
    let meter = Meter::default();
    let client = meter.client(plain.client());
    let table = plain.table();
    let s = |v: &str| AttributeValue::S(v.to_string());
    // PK + SK + a 2,500-byte attribute: 3 KB, 3 write units.
    let item = |pk: &str| {
        HashMap::from([
            ("PK".to_string(), s(pk)),
            ("SK".to_string(), s("A")),
            ("d".to_string(), s(&"x".repeat(2_500))),
        ])
    };
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item("M#1")))
        .send()
        .await
        .unwrap();
    // The same in the first index: 3 more.
    let mut indexed = item("M#2");
    indexed.insert("GSI1PK".into(), s("G"));
    indexed.insert("GSI1SK".into(), s("1"));
    client
        .put_item()
        .table_name(table)
        .set_item(Some(indexed))
        .send()
        .await
        .unwrap();
    // In a transaction: twice 3.
    client
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item("M#3")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // An update that leaves a 1 KB item: 1 unit, once settled.
    client
        .put_item()
        .table_name(plain.table())
        .set_item(Some(HashMap::from([
            ("PK".to_string(), s("M#4")),
            ("SK".to_string(), s("A")),
        ])))
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name(table)
        .key("PK", s("M#4"))
        .key("SK", s("A"))
        .update_expression("SET n = :n")
        .expression_attribute_values(":n", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    // A strongly consistent read of 3 KB: 1 unit; an eventually consistent one: half.
    client
        .get_item()
        .table_name(table)
        .key("PK", s("M#1"))
        .key("SK", s("A"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    client
        .get_item()
        .table_name(table)
        .key("PK", s("M#1"))
        .key("SK", s("A"))
        .send()
        .await
        .unwrap();

    let usage = meter.take();
    assert_eq!(usage.calls["PutItem"], 3);
    assert_eq!(usage.calls["TransactWriteItems"], 1);
    assert_eq!(usage.calls["UpdateItem"], 1);
    assert_eq!(usage.calls["GetItem"], 2);
    assert_eq!(usage.write_units, 3.0 + 6.0 + 6.0 + 1.0);
    assert_eq!(usage.read_units, 1.5);
    assert_eq!(Meter::settle(plain.client(), &usage).await.unwrap(), 17.0);
    assert_eq!(
        meter.take().total_calls(),
        0,
        "taking the usage starts again from nothing"
    );
}
