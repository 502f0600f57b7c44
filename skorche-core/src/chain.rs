//! `Chain`: several named tasks run in sequence inside one stage.

use std::sync::Arc;

use crate::error::BoxError;
use crate::stage::map::MapFactory;

type Step<T, U> = Arc<dyn Fn(T) -> Result<U, BoxError> + Send + Sync>;

/// Tasks run one after the other on each item, in one stage and one worker: no queue hop
/// between them. An error names the step that failed.
///
/// Built with [`Chain::new`] and [`Chain::then`]; bound with [`crate::Queue::chain`].
pub struct Chain<T, U> {
    names: Vec<String>,
    f: Step<T, U>,
}

impl<T, U> std::fmt::Debug for Chain<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain").field("steps", &self.names).finish()
    }
}

impl<T: 'static, U: 'static> Chain<T, U> {
    /// A chain of one fallible step called `name`.
    pub fn new<E, F>(name: impl Into<String>, f: F) -> Self
    where
        E: Into<BoxError>,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let name = name.into();
        let n2 = name.clone();
        Chain {
            names: vec![name],
            f: Arc::new(move |x| f(x).map_err(|e| step_error(&n2, e.into()))),
        }
    }

    /// Appends a fallible step called `name`.
    pub fn then<V: 'static, E, F>(self, name: impl Into<String>, g: F) -> Chain<T, V>
    where
        E: Into<BoxError>,
        F: Fn(U) -> Result<V, E> + Send + Sync + 'static,
    {
        let name = name.into();
        let n2 = name.clone();
        let f = self.f;
        let mut names = self.names;
        names.push(name);
        Chain {
            names,
            f: Arc::new(move |x| g(f(x)?).map_err(|e| step_error(&n2, e.into()))),
        }
    }

    pub(crate) fn describe(&self) -> String {
        self.names.join("+")
    }

    pub(crate) fn into_factory(self) -> MapFactory<T, U> {
        let f = self.f;
        Arc::new(move || {
            let f = f.clone();
            Ok(Box::new(move |x| f(x)))
        })
    }
}

fn step_error(step: &str, e: BoxError) -> BoxError {
    if e.to_string().starts_with("step '") {
        e
    } else {
        format!("step '{step}': {e}").into()
    }
}
