//! The alarm responder: a critical alarm stops irreversible deletion until a
//! person says otherwise (`domain::pauses` says which alarm pauses what).
//!
//! It is invoked by CloudWatch alarms in both ways AWS offers: directly, as
//! the alarm's Lambda action (the CloudWatch alarm event), or through SNS
//! (the alarm's notification wrapped in an SNS record); and by a person,
//! with a resume command. Each state change is applied once, in one
//! transaction with its audit row: a change delivered twice (CloudWatch and
//! Lambda retry asynchronous invocations), or older than the newest one
//! recorded for its alarm (delivered out of order), changes nothing. What it
//! did is announced on the alarm topic.

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmStateValue};
use aws_lambda_events::event::sns::{CloudWatchAlarmPayload, SnsEventObj};
use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use super::failure::{FailureKind, Job, JobFailure};
use crate::aws::notify::Announcer;
use crate::domain::pauses::{self, Decision, Resume, Scope};
use crate::store::audit_log::{self, AuditAction, AuditEntry, Outcome};
use crate::store::pauses as switch;

/// One state change of one alarm, however it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmChange {
    pub alarm_arn: String,
    pub alarm_name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
    pub changed_at: DateTime<Utc>,
}

/// A person resuming deletions, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeCommand {
    /// `irreversible`, or `function:<name>`.
    pub scope: String,
    /// Who resumes (recorded in the audit log; the invocation itself is in CloudTrail).
    pub by: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderEvent {
    Alarms(Vec<AlarmChange>),
    Resume(ResumeCommand),
}

impl<'de> Deserialize<'de> for ResponderEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let event = Value::deserialize(deserializer)?;
        parse(event).map_err(D::Error::custom)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResumeEvent {
    resume: ResumeCommand,
}

fn parse(event: Value) -> Result<ResponderEvent, String> {
    if event["source"] == "aws.cloudwatch" {
        let alarm: CloudWatchAlarm = serde_json::from_value(event)
            .map_err(|e| format!("a CloudWatch alarm event, malformed: {e}"))?;
        return Ok(ResponderEvent::Alarms(vec![direct(alarm)?]));
    }
    if event["Records"].is_array() {
        let notification: SnsEventObj<CloudWatchAlarmPayload> = serde_json::from_value(event)
            .map_err(|e| format!("an SNS event that is not an alarm's notification: {e}"))?;
        let changes = notification
            .records
            .into_iter()
            .map(|record| wrapped(record.sns.message))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(ResponderEvent::Alarms(changes));
    }
    if event.get("resume").is_some() {
        let command: ResumeEvent = serde_json::from_value(event)
            .map_err(|e| format!("a resume command, malformed: {e}"))?;
        return Ok(ResponderEvent::Resume(command.resume));
    }
    Err("not a CloudWatch alarm event, an SNS notification of one, or a resume command".to_owned())
}

/// The alarm event of a Lambda alarm action
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#Lambda-action-payload>).
fn direct(alarm: CloudWatchAlarm) -> Result<AlarmChange, String> {
    let state = alarm
        .alarm_data
        .state
        .ok_or("the alarm event has no state")?;
    Ok(AlarmChange {
        alarm_arn: alarm.alarm_arn.ok_or("the alarm event has no alarmArn")?,
        alarm_name: alarm.alarm_data.alarm_name,
        state: match state.value {
            CloudWatchAlarmStateValue::Alarm => "ALARM",
            CloudWatchAlarmStateValue::Ok => "OK",
            _ => "INSUFFICIENT_DATA",
        }
        .to_owned(),
        reason: state.reason,
        changed_at: state.timestamp,
    })
}

/// The alarm notification SNS delivers
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html>).
fn wrapped(message: CloudWatchAlarmPayload) -> Result<AlarmChange, String> {
    let changed_at = DateTime::parse_from_str(&message.state_change_time, "%Y-%m-%dT%H:%M:%S%.f%z")
        .map_err(|e| format!("StateChangeTime {:?}: {e}", message.state_change_time))?
        .with_timezone(&Utc);
    if !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&message.new_state_value.as_str()) {
        return Err(format!(
            "NewStateValue {:?} is not a state",
            message.new_state_value
        ));
    }
    Ok(AlarmChange {
        alarm_arn: message.alarm_arn,
        alarm_name: message.alarm_name,
        state: message.new_state_value,
        reason: message.new_state_reason,
        changed_at,
    })
}

/// What the responder did with one change or command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all_fields = "camelCase")]
pub enum Response {
    /// The alarm pauses nothing (or is not one of the service's).
    Ignored {
        alarm: String,
        why: String,
    },
    /// Delivered before, or older than the newest change recorded.
    AlreadyApplied {
        alarm: String,
    },
    Paused {
        scope: String,
        alarm: String,
        newly: bool,
    },
    /// The pausing alarm is OK again; a person resumes.
    StillPaused {
        scope: String,
        alarm: String,
    },
    Resumed {
        scope: String,
        by: String,
    },
    /// Recorded; nothing was paused by it.
    Recorded {
        alarm: String,
        state: String,
    },
    NotPaused {
        scope: String,
    },
}

#[derive(Debug, thiserror::Error)]
enum ResponderError {
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "no scope {0:?}: expected irreversible or function:<name> of a function that can be paused"
    )]
    UnknownScope(String),
}

impl From<ResponderError> for JobFailure {
    fn from(e: ResponderError) -> JobFailure {
        match e {
            ResponderError::Database(db) => JobFailure::database(
                Job::AlarmResponder,
                &db,
                "the alarms of the event before it are applied; a retry applies the rest",
            ),
            unknown @ ResponderError::UnknownScope(_) => JobFailure::new(
                Job::AlarmResponder,
                FailureKind::InvalidRequest,
                unknown.to_string(),
                &unknown,
            ),
        }
    }
}

/// Applies the event. Announcing is best effort: the change is committed,
/// and a failed announcement is logged.
pub async fn handle(
    db: &PgPool,
    announcer: &Announcer,
    event: &ResponderEvent,
) -> Result<Vec<Response>, JobFailure> {
    respond(db, announcer, event)
        .await
        .map_err(JobFailure::from)
}

async fn respond(
    db: &PgPool,
    announcer: &Announcer,
    event: &ResponderEvent,
) -> Result<Vec<Response>, ResponderError> {
    let mut responses = Vec::new();
    match event {
        ResponderEvent::Alarms(changes) => {
            for change in changes {
                responses.push(apply(db, announcer, change).await?);
            }
        }
        ResponderEvent::Resume(command) => responses.push(resume(db, announcer, command).await?),
    }
    Ok(responses)
}

fn audit_row(action: AuditAction, actor_role: &str, actor: &str, reason: String) -> AuditEntry {
    AuditEntry {
        actor_role: Some(actor_role.to_owned()),
        actor_name: Some(actor.to_owned()),
        reason: Some(reason),
        ..AuditEntry::new(action, Outcome::Success)
    }
}

async fn apply(
    db: &PgPool,
    announcer: &Announcer,
    change: &AlarmChange,
) -> Result<Response, ResponderError> {
    let alarm = change.alarm_name.clone();
    let (scope, resume) = match pauses::decide(&alarm) {
        Some(Decision::Pause { scope, resume }) => (scope, resume),
        ignored => {
            let why = match ignored {
                Some(Decision::PageOnly { why }) => why,
                _ => "not an alarm of this service",
            };
            tracing::info!(%alarm, state = %change.state, %why, "alarm ignored");
            return Ok(Response::Ignored {
                alarm,
                why: why.to_owned(),
            });
        }
    };
    let mut tx = db.begin().await?;
    let applies = switch::record_change(
        &mut tx,
        &change.alarm_arn,
        &alarm,
        &change.state,
        change.changed_at,
    )
    .await?;
    if !applies {
        tx.commit().await?;
        tracing::info!(%alarm, state = %change.state, "a change delivered twice or out of order; nothing to do");
        return Ok(Response::AlreadyApplied { alarm });
    }
    let key = scope.key();
    let response = match change.state.as_str() {
        "ALARM" => {
            let newly = switch::pause(
                &mut tx,
                scope,
                &alarm,
                &change.alarm_arn,
                &change.reason,
                change.changed_at,
            )
            .await?;
            let reason = format!("{key} paused by {alarm}: {}", change.reason);
            audit_log::append(
                &mut tx,
                &audit_row(
                    AuditAction::PauseDeletions,
                    "ALARM",
                    &change.alarm_arn,
                    reason,
                ),
            )
            .await?;
            Response::Paused {
                scope: key,
                alarm,
                newly,
            }
        }
        "OK" => {
            let pausing =
                switch::alarm_ok(&mut tx, scope, &change.alarm_arn, change.changed_at).await?;
            match (pausing, resume) {
                (true, Resume::WhenAlarmOk) => {
                    switch::resume(
                        &mut tx,
                        scope,
                        &change.alarm_arn,
                        "the alarm returned to OK",
                    )
                    .await?;
                    let reason = format!("{key} resumed: {alarm} returned to OK");
                    audit_log::append(
                        &mut tx,
                        &audit_row(
                            AuditAction::ResumeDeletions,
                            "ALARM",
                            &change.alarm_arn,
                            reason,
                        ),
                    )
                    .await?;
                    Response::Resumed {
                        scope: key,
                        by: alarm,
                    }
                }
                (true, Resume::ByPerson) => Response::StillPaused { scope: key, alarm },
                (false, _) => Response::Recorded {
                    alarm,
                    state: change.state.clone(),
                },
            }
        }
        state => Response::Recorded {
            alarm,
            state: state.to_owned(),
        },
    };
    tx.commit().await?;
    announce(announcer, &response, &change.reason).await;
    Ok(response)
}

async fn resume(
    db: &PgPool,
    announcer: &Announcer,
    command: &ResumeCommand,
) -> Result<Response, ResponderError> {
    let scope = Scope::parse(&command.scope)
        .ok_or_else(|| ResponderError::UnknownScope(command.scope.clone()))?;
    let mut tx = db.begin().await?;
    let resumed = switch::resume(&mut tx, scope, &command.by, &command.reason).await?;
    let response = if resumed {
        let reason = format!(
            "{} resumed by {}: {}",
            command.scope, command.by, command.reason
        );
        audit_log::append(
            &mut tx,
            &audit_row(
                AuditAction::ResumeDeletions,
                "OPERATOR",
                &command.by,
                reason,
            ),
        )
        .await?;
        Response::Resumed {
            scope: command.scope.clone(),
            by: command.by.clone(),
        }
    } else {
        Response::NotPaused {
            scope: command.scope.clone(),
        }
    };
    tx.commit().await?;
    announce(announcer, &response, &command.reason).await;
    Ok(response)
}

/// Tells the alarm topic about a pause or a resume (nothing else is news).
async fn announce(announcer: &Announcer, response: &Response, reason: &str) {
    let subject = match response {
        Response::Paused { scope, alarm, .. } => format!("erasure: {scope} paused by {alarm}"),
        Response::StillPaused { scope, alarm } => {
            format!("erasure: {alarm} is OK; {scope} stays paused until a person resumes it")
        }
        Response::Resumed { scope, by } => format!("erasure: {scope} resumed by {by}"),
        _ => return,
    };
    let message = format!(
        "{subject}\n\nReason: {reason}\n\nRunbook: infra/runbooks/deletions-paused.md\n\n{}",
        serde_json::to_string_pretty(response).unwrap_or_default()
    );
    match announcer.announce(&subject, &message).await {
        Ok(id) => tracing::info!(?id, %subject, "announced"),
        Err(e) => tracing::error!(error = %e, %subject, "could not announce on the alarm topic"),
    }
}
