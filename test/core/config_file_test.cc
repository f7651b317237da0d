// LoadConfigFile: --config must name a readable regular file; anything else is an error rather
// than a silent start with every default (0.0.0.0 and live evictions).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/config.h"

namespace kb {
namespace {

std::string TempDir() {
  std::string tmpl = "/tmp/kb-config-file-XXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}

TEST_CASE("a directory as the config file is an error", "[config]") {
  const std::string dir = TempDir();
  StatusOr<Config> c = LoadConfigFile(dir);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == StatusCode::kInvalidArgument);
  CHECK(c.status().message() == "cannot read config file \"" + dir + "\": is a directory");
  ::rmdir(dir.c_str());
}

TEST_CASE("a device or a missing path as the config file is an error", "[config]") {
  StatusOr<Config> dev = LoadConfigFile("/dev/null");
  REQUIRE_FALSE(dev.ok());
  CHECK(dev.status().message() == "cannot read config file \"/dev/null\": is not a regular file");
  StatusOr<Config> missing = LoadConfigFile("/nonexistent/kube-balancer.yaml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() ==
        "cannot read config file \"/nonexistent/kube-balancer.yaml\": No such file or directory");
}

TEST_CASE("an unreadable config file is an error", "[config]") {
  if (::geteuid() == 0) {
    // root reads any file regardless of its mode; the open() failure path is the same one the
    // missing-file case above takes.
    SUCCEED("running as root: permission bits do not apply");
    return;
  }
  const std::string dir = TempDir();
  const std::string path = dir + "/config.yaml";
  std::ofstream(path) << "listen: 127.0.0.1:0\n";
  ::chmod(path.c_str(), 0);
  StatusOr<Config> c = LoadConfigFile(path);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message() == "cannot read config file \"" + path + "\": Permission denied");
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("a symlink to a regular config file is read", "[config]") {
  const std::string dir = TempDir();
  const std::string path = dir + "/data.yaml";
  const std::string link = dir + "/config.yaml";
  std::ofstream(path) << "listen: 127.0.0.1:0\n";
  REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
  StatusOr<Config> c = LoadConfigFile(link);
  REQUIRE(c.ok());
  CHECK(c->listen == "127.0.0.1:0");
  ::unlink(link.c_str());
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("an empty strategy list with the rescheduler enabled is an error", "[config]") {
  StatusOr<Config> c = ParseConfig("rescheduler: {enabledStrategies: []}");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message().rfind("rescheduler.enabledStrategies: invalid value \"[]\": must "
                                   "list at least one strategy",
                                   0) == 0);
  c = ParseConfig("rescheduler: {enabled: false, enabledStrategies: []}");
  REQUIRE(c.ok());
  CHECK(c->rescheduler.enabled_strategies.empty());
}

}  // namespace
}  // namespace kb
