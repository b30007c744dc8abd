//! `orders tail`'s library: a durable tail resumes after the last message it showed.

use relay::{Tail, TailOptions};

use crate::fixture::{
    delete_streams, jetstream_with_stream, nats_url, publish, recorded, unique_settings,
};

fn event_id(tailed: &relay::Tailed) -> String {
    tailed.body["event_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_durable_tail_resumes_after_the_last_message_it_showed() {
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats_url(), &settings).await;
    let events: Vec<_> = (1..=5).map(|sequence| recorded(1_024, sequence)).collect();
    publish(&js, &settings, &events).await;
    let options = TailOptions {
        stream: settings.stream.clone(),
        subject: settings.all_subjects(),
        durable: Some("tail-test".to_owned()),
        from_start: true,
    };

    let mut first = Tail::open(&js, &options).await.unwrap();
    for sequence in 1..=3 {
        let tailed = first.next().await.unwrap();
        assert_eq!(event_id(&tailed), format!("Order/1024/{sequence}"));
        tailed.ack().await.unwrap();
    }
    drop(first);

    let mut second = Tail::open(&js, &options).await.unwrap();
    let tailed = second.next().await.unwrap();
    assert_eq!(event_id(&tailed), "Order/1024/4");
    assert_eq!(
        tailed.subject,
        format!("{}.Order.0.Changed", settings.subject_prefix)
    );
    assert_eq!(tailed.body["envelope_version"], 1);

    // an ephemeral tail from the start sees the first; one from now sees only what comes next
    let mut everything = Tail::open(
        &js,
        &TailOptions {
            durable: None,
            ..options.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(event_id(&everything.next().await.unwrap()), "Order/1024/1");
    let mut new_only = Tail::open(
        &js,
        &TailOptions {
            durable: None,
            from_start: false,
            ..options.clone()
        },
    )
    .await
    .unwrap();
    publish(&js, &settings, &[recorded(1_024, 6)]).await;
    assert_eq!(event_id(&new_only.next().await.unwrap()), "Order/1024/6");
    delete_streams(&js, &settings).await;
}
