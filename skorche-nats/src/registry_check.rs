//! A worker serves only a driver whose task registry is its own: the same tasks, with the
//! same kinds, types and versions. Anything else means another build of the program, whose
//! tasks may share names but not meaning.

use skorche_worker::protocol::TaskIdentity;
use skorche_worker::registry;

/// Every task registered in this binary, sorted.
pub fn local_registry() -> Vec<TaskIdentity> {
    let mut tasks: Vec<TaskIdentity> = registry::tasks()
        .map(|t| TaskIdentity {
            name: t.name().to_string(),
            kind: t.kind(),
            input_type: t.input_type().to_string(),
            output_type: t.output_type().to_string(),
            version: t.version().map(str::to_string),
        })
        .collect();
    tasks.sort_by_key(key);
    tasks
}

fn key(t: &TaskIdentity) -> (String, String) {
    (t.name.clone(), t.to_string())
}

/// `Ok` when both registries hold the same tasks; otherwise what differs, naming tasks.
pub fn compare(driver: &[TaskIdentity], worker: &[TaskIdentity]) -> Result<(), String> {
    if driver == worker {
        return Ok(());
    }
    let find = |set: &[TaskIdentity], name: &str| set.iter().find(|t| t.name == name).cloned();
    let mut only_driver = Vec::new();
    let mut different = Vec::new();
    for t in driver {
        match find(worker, &t.name) {
            None => only_driver.push(t.name.clone()),
            Some(w) if &w != t => different.push(format!("{t} here, {w} in the worker")),
            Some(_) => {}
        }
    }
    let only_worker: Vec<String> = worker
        .iter()
        .filter(|t| find(driver, &t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    let mut parts = Vec::new();
    if !different.is_empty() {
        parts.push(format!("tasks differ: {}", different.join("; ")));
    }
    if !only_driver.is_empty() {
        parts.push(format!("only the driver registers {only_driver:?}"));
    }
    if !only_worker.is_empty() {
        parts.push(format!("only the worker registers {only_worker:?}"));
    }
    if parts.is_empty() {
        parts.push("the registries list the same tasks in another order or twice".into());
    }
    Err(format!(
        "the worker's task registry differs from the driver's ({}): start workers from the \
         same build as the driver",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use skorche_worker::protocol::TaskKind;

    fn t(name: &str, version: Option<&str>) -> TaskIdentity {
        TaskIdentity {
            name: name.into(),
            kind: TaskKind::Map,
            input_type: "u64".into(),
            output_type: "u64".into(),
            version: version.map(str::to_string),
        }
    }

    #[test]
    fn equal_registries_pass() {
        assert!(compare(&[t("a", None), t("b", None)], &[t("a", None), t("b", None)]).is_ok());
    }

    #[test]
    fn differences_are_named() {
        let e = compare(
            &[t("a", Some("1")), t("b", None)],
            &[t("a", Some("2")), t("c", None)],
        )
        .unwrap_err();
        assert!(
            e.contains("version \"1\"") && e.contains("version \"2\""),
            "{e}"
        );
        assert!(e.contains("only the driver registers [\"b\"]"), "{e}");
        assert!(e.contains("only the worker registers [\"c\"]"), "{e}");
    }
}
