#pragma once
// One muE process at a time per run directory (README "Guarantees"): an advisory flock(2) on
// DIR/.muE.lock, held for the life of the command, released by the kernel when the process
// ends — so a kill -9 leaves no stale lock. sweep, verify and fit take it; the Slurm
// collector is the same command run again, so it takes it too.
#include <string>

namespace mue {

class RunLock {
public:
  // Creates DIR when missing and locks it. `command` is what the lock file records (e.g.
  // "muE sweep tiny-cpu"). UsageError (exit 2) when DIR is a file or cannot be created or
  // written, or — unless `wait` — when another process holds the lock: "DIR is in use by
  // muE pid N on HOST since T (COMMAND)". With `wait`, blocks until the lock is free, saying
  // once on stderr whom it waits for (unless `quiet`).
  RunLock(const std::string& dir, const std::string& command, bool wait, bool quiet);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // The lock file's path (DIR/.muE.lock).
  static std::string file_in(const std::string& dir);

private:
  int fd_ = -1;
};

} // namespace mue
