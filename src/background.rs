//! Work the server does beside the API (webhook deliveries, the page check at
//! start-up) runs on threads that give way to the API's when the CPU is short.

/// Lowers the calling thread's priority (Linux threads each have a nice value of their
/// own): when the CPU is short, requests are served first and background work waits.
pub fn yield_to_the_api() {
    const NICE: libc::c_int = 10;
    // SAFETY: setpriority only reads its arguments; `0` names the calling thread.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
}
