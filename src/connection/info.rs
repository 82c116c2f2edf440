//! What a link settled on at CONNECTED.

use crate::frame::Version;

/// What the session settled on at CONNECTED, readable without locks.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    /// The endpoint's URL, as given to connect or `failover_url`.
    pub(crate) url: String,
    pub(crate) version: Version,
    pub(crate) server: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) subprotocol: Option<String>,
    /// The same strings NUL-terminated, for the C API's getters.
    pub(crate) c: CInfo,
}

/// [`SessionInfo`]'s strings as C strings.
#[derive(Debug, Clone, Default)]
pub(crate) struct CInfo {
    pub(crate) version: std::ffi::CString,
    pub(crate) server: Option<std::ffi::CString>,
    pub(crate) session: Option<std::ffi::CString>,
}

impl CInfo {
    pub(crate) fn of(version: Version, server: Option<&str>, session: Option<&str>) -> CInfo {
        // Header values hold no NUL (a frame stores them NUL-terminated).
        let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
        CInfo {
            version: c(version.as_str()),
            server: server.map(c),
            session: session.map(c),
        }
    }
}
