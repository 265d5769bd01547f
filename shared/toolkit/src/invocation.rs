//! The invocation at hand, passed to handlers as a value: what the Lambda runtime says of
//! it (request id, deadline, X-Ray trace header). Nothing travels in task-locals, so code
//! reads what it uses from its arguments, and a test builds one in a line.

/// Without a Lambda context (tests, tools, the simulation) an invocation lasts this long.
pub const LOCAL_INVOCATION_MS: i64 = 60_000;

/// One invocation of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The Lambda request id (`local` outside Lambda).
    pub request_id: String,
    /// When the runtime stops the invocation, in milliseconds since the epoch.
    pub deadline_ms: i64,
    /// The X-Ray trace header (`Root=…;Parent=…;Sampled=…`), when tracing is on.
    pub trace_id: Option<String>,
}

impl Invocation {
    /// An invocation outside Lambda: it ends [`LOCAL_INVOCATION_MS`] from now, untraced.
    ///
    /// ```
    /// let invocation = orderflow_toolkit::invocation::Invocation::local();
    /// assert!(invocation.deadline_ms > orderflow_toolkit::clock::now().timestamp_millis());
    /// ```
    pub fn local() -> Self {
        Self {
            request_id: "local".into(),
            deadline_ms: crate::clock::now().timestamp_millis() + LOCAL_INVOCATION_MS,
            trace_id: None,
        }
    }

    /// The invocation the Lambda runtime describes in `context`. The trace header comes
    /// from the context, else from `_X_AMZN_TRACE_ID` (where some runtimes and emulators
    /// put it instead); a deadline of 0 (unknown) counts as a local one.
    #[cfg(feature = "lambda")]
    pub fn from_context(context: &lambda_runtime::Context) -> Self {
        let trace_id = context
            .xray_trace_id
            .clone()
            .or_else(|| crate::config::optional("_X_AMZN_TRACE_ID"))
            .filter(|t| !t.is_empty());
        let deadline_ms = match i64::try_from(context.deadline) {
            Ok(0) => Self::local().deadline_ms,
            Ok(deadline) => deadline,
            Err(_) => i64::MAX,
        };
        Self { request_id: context.request_id.clone(), deadline_ms, trace_id }
    }
}
