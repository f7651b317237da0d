// Child processes and scratch space for the demo and the e2e tests: ChildProcess runs
// a program with its output in a log file and always ends it by its PID (SIGTERM, then SIGKILL
// after a grace period) when stopped or destroyed; the child also gets SIGKILL if this process
// dies first (PR_SET_PDEATHSIG), so nothing is left behind. TempDir is a directory removed on
// destruction. PickFreePort asks the kernel for a free loopback port.
// Thread-compatible: one owner per object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace kb::sim {

class ChildProcess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with argv, stdin from /dev/null and
  // stdout + stderr appended to `log_path`. Unavailable when the program cannot be started.
  static StatusOr<std::unique_ptr<ChildProcess>> Spawn(const std::vector<std::string>& argv,
                                                       const std::string& log_path);
  ~ChildProcess();  // Stop()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  // True while the child has not exited (reaps it when it has).
  bool Running();
  // SIGTERM, wait up to `grace`, then SIGKILL (to the child's own process group, which it
  // leads); reaps the child. Returns its wait status text
  // ("exit 0", "signal 9", ...). Idempotent.
  std::string Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // The last `lines` lines of the log file.
  std::string LogTail(int lines = 20) const;

 private:
  ChildProcess(pid_t pid, std::string name, std::string log_path)
      : pid_(pid), name_(std::move(name)), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string name_;
  std::string log_path_;
  bool reaped_ = false;
  int wait_status_ = 0;
};

// A fresh directory under $TMPDIR (default /tmp) named <prefix>XXXXXX; removed with its
// contents on destruction unless Keep() was called.
class TempDir {
 public:
  static StatusOr<std::unique_ptr<TempDir>> Create(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  void Keep() { keep_ = true; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
  bool keep_ = false;
};

// Sends SIGKILL to every ChildProcess still running. Async-signal-safe: for a SIGINT / SIGTERM
// handler that then _exit()s (ChildProcess destructors do not run on that path).
void KillChildrenFromSignalHandler();
// Children started and not yet reaped.
int LiveChildren();

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
StatusOr<int> PickFreePort();

// Writes `text` to `path` (truncating). InvalidArgument naming the path on failure.
Status WriteFile(const std::string& path, const std::string& text);

// Looks `name` up in PATH (a name containing '/' is returned as is when executable).
// "" when not found.
std::string FindExecutable(const std::string& name);

}  // namespace kb::sim
