//! Checking a worker's greeting against the task the coordinator asked for.

use crate::error::HandshakeError;
use crate::protocol::{Hello, TaskIdentity, PROTOCOL_VERSION};

/// Accepts `hello` only if it speaks [`PROTOCOL_VERSION`] and announces exactly `expected`:
/// the same name, kind, and input and output types.
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
}
