//! Secrets Manager through the real SDK client, against moto on loopback.

use erasure::aws::secrets::{SecretError, Secrets};

#[tokio::test]
async fn database_credentials_are_read_from_an_rds_style_secret() {
    let sdk = crate::common::moto().await;
    let name = crate::common::unique("erasure/test/db");
    crate::common::put_secret(
        &sdk,
        &name,
        r#"{"engine":"postgres","username":"fn","password":"s3cr3t-pw","host":"db.internal","port":6432,"dbname":"app"}"#,
    )
    .await;
    let creds = Secrets::new(&sdk)
        .database_credentials(&name)
        .await
        .unwrap();
    assert_eq!(creds.username, "fn");
    assert_eq!(creds.password, "s3cr3t-pw");
    assert_eq!(creds.host.as_deref(), Some("db.internal"));
    assert_eq!(creds.port, Some(6432));
    assert_eq!(creds.dbname.as_deref(), Some("app"));
    assert!(!format!("{creds:?}").contains("s3cr3t-pw"));
}

#[tokio::test]
async fn a_managed_master_secret_with_only_username_and_password_is_accepted() {
    let sdk = crate::common::moto().await;
    let name = crate::common::unique("erasure/test/master");
    crate::common::put_secret(&sdk, &name, r#"{"username":"admin","password":"pw"}"#).await;
    let creds = Secrets::new(&sdk)
        .database_credentials(&name)
        .await
        .unwrap();
    assert_eq!((creds.host, creds.port, creds.dbname), (None, None, None));
}

#[tokio::test]
async fn the_jwt_key_is_the_secret_string() {
    let sdk = crate::common::moto().await;
    let name = crate::common::unique("erasure/test/jwt");
    crate::common::put_secret(&sdk, &name, "an-hs256-signing-key").await;
    assert_eq!(
        Secrets::new(&sdk).string(&name).await.unwrap(),
        "an-hs256-signing-key"
    );
}

#[tokio::test]
async fn a_malformed_database_secret_is_named_without_its_value() {
    let sdk = crate::common::moto().await;
    let secrets = Secrets::new(&sdk);

    let missing_password = crate::common::unique("erasure/test/nopw");
    crate::common::put_secret(&sdk, &missing_password, r#"{"username":"fn"}"#).await;
    let err = secrets
        .database_credentials(&missing_password)
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Malformed { .. }), "{err}");
    assert!(
        err.to_string().contains("missing field `password`"),
        "{err}"
    );

    let wrong_type = crate::common::unique("erasure/test/wrongtype");
    crate::common::put_secret(
        &sdk,
        &wrong_type,
        r#"{"username":"fn","password":"pw","port":"hunter2"}"#,
    )
    .await;
    let err = secrets.database_credentials(&wrong_type).await.unwrap_err();
    assert!(err.to_string().contains(&wrong_type), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let not_json = crate::common::unique("erasure/test/notjson");
    crate::common::put_secret(&sdk, &not_json, "hunter2").await;
    let err = secrets.database_credentials(&not_json).await.unwrap_err();
    assert!(matches!(err, SecretError::Malformed { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_it() {
    let sdk = crate::common::moto().await;
    let err = Secrets::new(&sdk)
        .string("erasure/test/does-not-exist")
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err}");
    assert!(
        err.to_string().contains("erasure/test/does-not-exist"),
        "{err}"
    );
    assert!(err.to_string().contains("ResourceNotFound"), "{err}");
}

#[tokio::test]
async fn an_aws_api_that_is_down_is_an_error_not_a_hang() {
    // Nothing listens on loopback port 9: every attempt is refused.
    let err = Secrets::new(&crate::common::aws_down())
        .string("erasure/test/any")
        .await
        .unwrap_err();
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains("erasure/test/any"), "{err}");
    // Refused, not merely missing.
    assert!(err.to_string().contains("dispatch failure"), "{err}");
}

/// Deletes the secret from Secrets Manager at once (no recovery window).
async fn delete_secret(sdk: &aws_config::SdkConfig, name: &str) {
    aws_sdk_secretsmanager::Client::new(sdk)
        .delete_secret()
        .secret_id(name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("moto deletes the secret");
}

#[tokio::test]
async fn secrets_prefetched_in_one_call_are_each_handed_out_once() {
    let sdk = crate::common::moto().await;
    let (db, key) = (
        crate::common::unique("erasure/test/batch-db"),
        crate::common::unique("erasure/test/batch-key"),
    );
    crate::common::put_secret(&sdk, &db, r#"{"username":"fn","password":"pw"}"#).await;
    crate::common::put_secret(&sdk, &key, "an-hs256-signing-key").await;
    let secrets = Secrets::new(&sdk);
    secrets.prefetch(&[&db, &key]).await;
    assert!(!format!("{secrets:?}").contains("an-hs256-signing-key"));
    // Gone from Secrets Manager: what is read now came with the batch.
    delete_secret(&sdk, &db).await;
    delete_secret(&sdk, &key).await;

    assert_eq!(
        secrets.database_credentials(&db).await.unwrap().username,
        "fn"
    );
    assert_eq!(secrets.string(&key).await.unwrap(), "an-hs256-signing-key");
    // Handed out once: a second read asks again (a rotated value).
    let again = secrets.string(&key).await.unwrap_err();
    assert!(matches!(again, SecretError::Unavailable { .. }), "{again}");
}

#[tokio::test]
async fn what_a_batch_does_not_bring_is_read_alone_and_named() {
    let sdk = crate::common::moto().await;
    let key = crate::common::unique("erasure/test/batch-one");
    crate::common::put_secret(&sdk, &key, "an-hs256-signing-key").await;
    let arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .describe_secret()
        .secret_id(&key)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let missing = crate::common::unique("erasure/test/batch-missing");
    let secrets = Secrets::new(&sdk);
    // Asked for by ARN, as the template configures it.
    secrets.prefetch(&[&arn, &missing]).await;
    delete_secret(&sdk, &key).await;

    assert_eq!(secrets.string(&arn).await.unwrap(), "an-hs256-signing-key");
    let err = secrets.string(&missing).await.unwrap_err();
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
}

/// Secrets Manager unreachable (every connection dropped before an answer):
/// the batch's failure is each secret's, at once, rather than a second wait
/// per secret for the same outage.
#[tokio::test]
async fn an_unreachable_batch_fails_each_secret_without_asking_again() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let secrets = Secrets::new(&crate::common::aws_at(&endpoint));
    secrets.prefetch(&["erasure/db", "erasure/key"]).await;
    let tried = connections.load(std::sync::atomic::Ordering::SeqCst);
    assert!(tried > 0, "the batch was attempted");

    for id in ["erasure/db", "erasure/key"] {
        let err = secrets.string(id).await.unwrap_err();
        assert!(matches!(err, SecretError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains(id), "{err}");
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        tried,
        "no secret was asked for again"
    );
}

/// A role allowed to read its secrets but not to batch them (a policy
/// written before the batch read existed): the batch is refused with
/// AccessDeniedException, which moto never answers, so a loopback stand-in
/// (`erasure_fixtures::aws_json`) answers here. It refuses
/// `BatchGetSecretValue` as IAM does (HTTP 400, the error's name in
/// `__type`: <https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html>,
/// the batch's own permission:
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html>)
/// and answers `GetSecretValue`
/// (<https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html>).
#[tokio::test]
async fn a_refused_batch_leaves_each_secret_to_be_read_alone() {
    use axum::http::StatusCode;
    use erasure_fixtures::aws_json;

    let held = [
        ("erasure/db", r#"{"username":"fn","password":"pw"}"#),
        ("erasure/key", "an-hs256-signing-key"),
    ];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let calls = aws_json::serve(listener, move |target, asked| match target {
        "secretsmanager.GetSecretValue" => {
            let id = asked["SecretId"].as_str().unwrap();
            let (name, value) = held.iter().find(|(n, _)| *n == id).unwrap();
            let answer = serde_json::json!({
                "ARN": format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"),
                "Name": name,
                "SecretString": value,
                "VersionId": "v1",
            });
            (StatusCode::OK, answer)
        }
        _ => aws_json::error(
            "AccessDeniedException",
            format!("not authorized to perform: {target}"),
        ),
    });

    let secrets = Secrets::new(&crate::common::aws_at(&endpoint));
    secrets.prefetch(&["erasure/db", "erasure/key"]).await;
    assert_eq!(
        secrets
            .database_credentials("erasure/db")
            .await
            .unwrap()
            .username,
        "fn"
    );
    assert_eq!(
        secrets.string("erasure/key").await.unwrap(),
        "an-hs256-signing-key"
    );
    let targets: Vec<String> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|(target, _)| target.clone())
        .collect();
    assert_eq!(
        targets,
        [
            "secretsmanager.BatchGetSecretValue",
            "secretsmanager.GetSecretValue",
            "secretsmanager.GetSecretValue"
        ],
        "refused once, not retried, then each read alone"
    );
}
