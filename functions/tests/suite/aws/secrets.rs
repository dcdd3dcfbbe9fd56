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
