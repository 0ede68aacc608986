//! How much room the file system under a store directory has left: both the sled store and
//! the material files wait for room before they write again after a full disk.

use std::path::Path;

/// Room a file system must have before a store that failed on a full disk writes again:
/// enough that the first writes after recovery do not fail at once.
pub(crate) const ROOM_TO_RESUME: u64 = 4 << 20;

/// Bytes an unprivileged writer may still use on the file system holding `dir`; `None` if
/// the file system cannot be asked.
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs reads a NUL-terminated path and fills the zeroed struct we own.
    let mut stat = unsafe { std::mem::zeroed::<libc::statvfs>() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}
