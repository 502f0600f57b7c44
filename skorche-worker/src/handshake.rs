//! Checking a worker's greeting against the task the coordinator asked for.

use crate::error::HandshakeError;
use crate::protocol::{Hello, TaskIdentity, PROTOCOL_VERSION};

/// Accepts `hello` only if it speaks [`PROTOCOL_VERSION`] and announces exactly `expected`:
/// the same name, kind, input and output types, and task version.
///
/// # Errors
/// The first mismatch, naming the stage, the task and both values.
pub fn validate(stage: &str, expected: &TaskIdentity, hello: &Hello) -> Result<(), HandshakeError> {
    let stage = stage.to_string();
    if hello.version != PROTOCOL_VERSION {
        return Err(HandshakeError::VersionMismatch {
            stage,
            expected: PROTOCOL_VERSION,
            found: hello.version,
        });
    }
    let found = &hello.task;
    if found.name != expected.name {
        return Err(HandshakeError::UnknownTask {
            stage,
            task: expected.name.clone(),
            known: Vec::new(),
            reason: format!("worker announced task {:?}", found.name),
        });
    }
    if found.kind != expected.kind {
        return Err(HandshakeError::KindMismatch {
            stage,
            task: expected.name.clone(),
            expected: expected.kind,
            found: found.kind,
        });
    }
    for (which, want, got) in [
        ("input", &expected.input_type, &found.input_type),
        ("output", &expected.output_type, &found.output_type),
    ] {
        if want != got {
            return Err(HandshakeError::TypeMismatch {
                stage,
                task: expected.name.clone(),
                which,
                expected: want.clone(),
                found: got.clone(),
            });
        }
    }
    if found.version != expected.version {
        return Err(HandshakeError::TaskVersionMismatch {
            stage,
            task: expected.name.clone(),
            expected: expected.version.clone(),
            found: found.version.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::TaskKind;

    fn identity(kind: TaskKind) -> TaskIdentity {
        TaskIdentity {
            name: "t".into(),
            kind,
            input_type: "u64".into(),
            output_type: "u64".into(),
            version: None,
        }
    }

    fn hello(task: TaskIdentity) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            pid: 1,
            task,
        }
    }

    #[test]
    fn same_identity_is_accepted() {
        validate(
            "s",
            &identity(TaskKind::Map),
            &hello(identity(TaskKind::Map)),
        )
        .unwrap();
    }

    #[test]
    fn another_kind_is_refused() {
        let e = validate(
            "s",
            &identity(TaskKind::Map),
            &hello(identity(TaskKind::FlatMap)),
        )
        .unwrap_err();
        assert!(matches!(e, HandshakeError::KindMismatch { .. }), "{e}");
        assert!(e.to_string().contains("FlatMap"), "{e}");
    }

    #[test]
    fn another_version_or_type_is_refused() {
        let mut h = hello(identity(TaskKind::Map));
        h.version += 1;
        assert!(matches!(
            validate("s", &identity(TaskKind::Map), &h),
            Err(HandshakeError::VersionMismatch { .. })
        ));
        let mut other = identity(TaskKind::Map);
        other.output_type = "i64".into();
        assert!(matches!(
            validate("s", &identity(TaskKind::Map), &hello(other)),
            Err(HandshakeError::TypeMismatch {
                which: "output",
                ..
            })
        ));
    }

    #[test]
    fn another_task_version_is_refused() {
        let mut ours = identity(TaskKind::Map);
        ours.version = Some("2".into());
        let e = validate("s", &ours, &hello(identity(TaskKind::Map))).unwrap_err();
        assert!(
            matches!(e, HandshakeError::TaskVersionMismatch { found: None, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("version \"2\" here but none"), "{e}");
        let mut theirs = identity(TaskKind::Map);
        theirs.version = Some("1".into());
        let e = validate("s", &ours, &hello(theirs.clone())).unwrap_err();
        assert!(
            e.to_string()
                .contains("version \"2\" here but \"1\" in the worker"),
            "{e}"
        );
        theirs.version = Some("2".into());
        validate("s", &ours, &hello(theirs)).unwrap();
    }
}
