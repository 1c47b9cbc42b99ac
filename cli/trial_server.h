#pragma once
// The warm trial server (`muE trial --serve`; docs/design.md "Warm workers"): a process that
// has loaded the trainer library once and forks a fresh child per trial, so a trial skips
// exec and loading libtorch but keeps its own process (a crash, NaN or hang ends only it).
//
// Protocol, one JSON object per line. stdin: {"log": PATH, "args": [worker arguments after
// the executable]}. stdout: {"started": PID} (or {"error": TEXT}) for each request in order,
// and {"pid": PID, "status": WAIT_STATUS} when a child ends. Each child runs in its own
// process group, with stdin from /dev/null, stdout and stderr to PATH, and dies with the
// server (PR_SET_PDEATHSIG). EOF on stdin: the server kills its children and exits 0.

namespace mue::cli {

// Serves until stdin ends; the exit code.
int serve_trials();

} // namespace mue::cli
