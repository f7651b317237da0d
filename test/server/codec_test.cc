// Extender wire codec tests, driven by the exact bytes kube-scheduler v1.26.7 posts
// (test/testdata/*.request.json): both modes, lowercase keys, nulls, huge and malformed bodies.
#include "server/codec.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kb::server {
namespace {

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(KB_SOURCE_DIR) + "/test/testdata/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A body whose std::string has no spare capacity, so the decoder must copy (and the in-place
// path is exercised by the same body with reserve()).
std::string Tight(const std::string& s) {
  std::string out(s);
  out.shrink_to_fit();
  return out;
}

TEST_CASE("codec decodes kube-scheduler's NodeNames-mode filter request", "[codec]") {
  const std::string body = ReadTestdata("filter-names.request.json");
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  INFO(args.status().ToString());
  REQUIRE(args.ok());
  CHECK(args->has_node_names);
  CHECK_FALSE(args->has_nodes);
  CHECK(args->node_names == std::vector<std::string>{"node-0000", "node-0001", "node-0002"});
  CHECK(args->nodes.empty());
  CHECK(args->pod.meta.name == "pod-00000");
  CHECK(args->pod.meta.namespace_ == "default");
  CHECK(args->pod.meta.uid == "uid-default-pod-00000");
  REQUIRE(args->pod.containers.size() == 1);
  CHECK(args->pod.containers[0].requests.cpu_millis == 100);
  CHECK(args->pod.containers[0].requests.memory_bytes == 128 * 1024 * 1024);
}

TEST_CASE("codec keeps full-mode Node objects byte-identical", "[codec]") {
  for (const char* file : {"filter-full.request.json", "prioritize-full.request.json"}) {
    const std::string body = ReadTestdata(file);
    for (const std::string& copy : {Tight(body), [&] {
                                      std::string s = body;
                                      s.reserve(body.size() + 256);
                                      return s;
                                    }()}) {
      StatusOr<ExtenderArgs> args = DecodeExtenderArgs(copy);
      INFO(file << ": " << args.status().ToString());
      REQUIRE(args.ok());
      CHECK(args->has_nodes);
      CHECK_FALSE(args->has_node_names);
      CHECK(args->node_names == std::vector<std::string>{"node-0000", "node-0001", "node-0002"});
      REQUIRE(args->nodes.size() == 3);
      const nlohmann::json expected = nlohmann::json::parse(body)["Nodes"]["items"];
      for (size_t i = 0; i < 3; ++i) {
        const RawNode& node = args->nodes[i];
        CHECK(node.name == args->node_names[i]);
        CHECK(node.json.front() == '{');
        CHECK(node.json.back() == '}');
        // The slice is a verbatim substring of the request and the same object.
        CHECK(body.find(node.json) != std::string::npos);
        CHECK(nlohmann::json::parse(node.json) == expected[i]);
      }
    }
  }
}

TEST_CASE("full-mode filter response carries the surviving Node objects unmodified", "[codec]") {
  const std::string body = ReadTestdata("filter-full.request.json");
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  REQUIRE(args.ok());
  FilterResponse response;
  response.passed = {0, 2};
  response.failed = {{"node-0001", "node CPU utilisation 93% would exceed 80%"}};
  const std::string out = EncodeFilterResponse(*args, response);
  // Every surviving item appears byte for byte.
  CHECK(out.find(args->nodes[0].json) != std::string::npos);
  CHECK(out.find(args->nodes[2].json) != std::string::npos);
  CHECK(out.find(args->nodes[1].json) == std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(out);
  const nlohmann::json items = nlohmann::json::parse(body)["Nodes"]["items"];
  CHECK(j["NodeNames"].is_null());
  CHECK(j["Nodes"]["metadata"] == nlohmann::json::object());
  CHECK(j["Nodes"]["items"] == nlohmann::json::array({items[0], items[2]}));
  CHECK(j["FailedNodes"] ==
        nlohmann::json{{"node-0001", "node CPU utilisation 93% would exceed 80%"}});
  CHECK(j["FailedAndUnresolvableNodes"] == nlohmann::json::object());
  CHECK(j["Error"] == "");
  // Exactly the CapitalCase keys kube-scheduler's structs have.
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"Error", "FailedAndUnresolvableNodes", "FailedNodes",
                                         "NodeNames", "Nodes"});
}

TEST_CASE("names-mode filter response always has a NodeNames array", "[codec]") {
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(ReadTestdata("filter-names.request.json"));
  REQUIRE(args.ok());
  FilterResponse none;
  CHECK(EncodeFilterResponse(*args, none) ==
        R"({"NodeNames":[],"Nodes":null,"FailedNodes":{},"FailedAndUnresolvableNodes":{},)"
        R"("Error":""})");
  FilterResponse some;
  some.passed = {2, 0};
  some.failed = {{"node-0001", "in \"maintenance\""}};
  CHECK(EncodeFilterResponse(*args, some) ==
        R"({"NodeNames":["node-0002","node-0000"],"Nodes":null,)"
        R"("FailedNodes":{"node-0001":"in \"maintenance\""},"FailedAndUnresolvableNodes":{},)"
        R"("Error":""})");
}

TEST_CASE("top-level keys match case-insensitively", "[codec]") {
  const std::string pod = R"({"metadata":{"name":"p","namespace":"ns"}})";
  for (const std::string& body : {
           R"({"pod":)" + pod + R"(,"nodes":null,"nodenames":["a","b"]})",
           R"({"POD":)" + pod + R"(,"NODENAMES":["a","b"]})",
           R"({"nodeNames":["a","b"],"Pod":)" + pod + "}",
       }) {
    StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
    INFO(body << " -> " << args.status().ToString());
    REQUIRE(args.ok());
    CHECK(args->pod.meta.name == "p");
    CHECK(args->has_node_names);
    CHECK(args->node_names == std::vector<std::string>{"a", "b"});
  }
  // Lowercase full mode ("items" inside the NodeList too).
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(
      R"({"pod":)" + pod + R"(,"nodes":{"metadata":{},"Items":[{"metadata":{"name":"x"}}]}})");
  REQUIRE(args.ok());
  CHECK(args->has_nodes);
  CHECK(args->node_names == std::vector<std::string>{"x"});
}

TEST_CASE("null fields are accepted", "[codec]") {
  const std::string pod = R"({"metadata":{"name":"p","namespace":"ns","creationTimestamp":null}})";
  StatusOr<ExtenderArgs> args =
      DecodeExtenderArgs(R"({"Pod":)" + pod + R"(,"Nodes":null,"NodeNames":null})");
  REQUIRE(args.ok());
  CHECK_FALSE(args->has_node_names);
  CHECK_FALSE(args->has_nodes);
  CHECK(args->node_names.empty());
  // Answered in NodeNames mode with an empty list: never both fields null.
  CHECK(EncodeFilterResponse(*args, {}).rfind(R"({"NodeNames":[],"Nodes":null,)", 0) == 0);

  args = DecodeExtenderArgs(R"({"Pod":)" + pod + R"(,"Nodes":{"metadata":null,"items":null}})");
  REQUIRE(args.ok());
  CHECK(args->has_nodes);
  CHECK(args->nodes.empty());
  CHECK(EncodeFilterResponse(*args, {}) ==
        R"({"NodeNames":null,"Nodes":{"metadata":{},"items":[]},"FailedNodes":{},)"
        R"("FailedAndUnresolvableNodes":{},"Error":""})");

  // Unknown top-level keys are ignored, as Go does.
  args = DecodeExtenderArgs(R"({"Pod":)" + pod + R"(,"NodeNames":[],"Extra":{"a":[1,2,3]}})");
  REQUIRE(args.ok());
  CHECK(args->has_node_names);
}

struct BadBody {
  const char* name;
  std::string body;
  const char* message;
};

TEST_CASE("bad request bodies are InvalidArgument naming the problem", "[codec]") {
  const std::string pod = R"({"metadata":{"name":"p","namespace":"ns"}})";
  const BadBody kCases[] = {
      {"null pod", R"({"Pod":null,"NodeNames":["a"]})", "Pod: required"},
      {"missing pod", R"({"NodeNames":["a"]})", "Pod: required"},
      {"pod is a string", R"({"Pod":"p","NodeNames":["a"]})",
       "Pod: expected an object, got string"},
      {"pod with a bad field", R"({"Pod":{"metadata":{"name":7}},"NodeNames":[]})", "Pod"},
      {"names is an object", R"({"Pod":)" + pod + R"(,"NodeNames":{"a":1}})",
       "NodeNames: expected an array, got object"},
      {"name is a number", R"({"Pod":)" + pod + R"(,"NodeNames":["a",1]})",
       "NodeNames[1]: expected a string, got number"},
      {"nodes is an array", R"({"Pod":)" + pod + R"(,"Nodes":[]})",
       "Nodes: expected an object (a NodeList), got array"},
      {"items is a string", R"({"Pod":)" + pod + R"(,"Nodes":{"items":"x"}})",
       "Nodes.items: expected an array, got string"},
      {"item is a string", R"({"Pod":)" + pod + R"(,"Nodes":{"items":["x"]}})",
       "Nodes.items[0]: expected an object, got string"},
      {"item name is a number",
       R"({"Pod":)" + pod +
           R"(,"Nodes":{"items":[{"metadata":{"name":"a"}},{"metadata":{"name":1}}]}})",
       "Nodes.items[1].metadata.name: expected a string, got number"},
      {"item without a name", R"({"Pod":)" + pod + R"(,"Nodes":{"items":[{"spec":{}}]}})",
       "Nodes.items[0].metadata.name: required"},
      {"empty body", "", "malformed JSON"},
      {"whitespace body", "  \n", "malformed JSON"},
      {"truncated", R"({"Pod":)" + pod + R"(,"NodeNames":["a","b")", "malformed JSON"},
      {"truncated inside pod", R"({"Pod":{"metadata":{"name":"p")", "malformed JSON"},
      {"trailing garbage", R"({"Pod":)" + pod + R"(,"NodeNames":[]} x)", "malformed JSON"},
      {"two documents", R"({"Pod":)" + pod + R"(,"NodeNames":[]}{})", "trailing content"},
      {"array root", R"([1,2])", "must be a JSON object"},
      {"string root", R"("x")", "must be a JSON object"},
      {"invalid utf-8", std::string("{\"Pod\":") + pod + ",\"NodeNames\":[\"\xff\"]}",
       "malformed JSON"},
      {"unquoted key", R"({Pod:1})", "malformed JSON"},
  };
  for (const BadBody& tc : kCases) {
    DYNAMIC_SECTION(tc.name) {
      StatusOr<ExtenderArgs> args = DecodeExtenderArgs(tc.body);
      REQUIRE_FALSE(args.ok());
      CHECK(args.status().code() == StatusCode::kInvalidArgument);
      INFO(args.status().message());
      CHECK_THAT(args.status().message(), Catch::Matchers::Contains(tc.message));
      // The same through the copying overload.
      StatusOr<ExtenderArgs> copied = DecodeExtenderArgs(std::string_view(tc.body));
      CHECK_FALSE(copied.ok());
    }
  }
}

TEST_CASE("escaped names are unescaped and re-escaped on output", "[codec]") {
  const std::string body =
      R"({"Pod":{"metadata":{"name":"p"}},"NodeNames":["node-\u0041","we\"ird\\name"]})";
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  REQUIRE(args.ok());
  CHECK(args->node_names == std::vector<std::string>{"node-A", "we\"ird\\name"});
  FilterResponse r;
  r.passed = {0, 1};
  const nlohmann::json j = nlohmann::json::parse(EncodeFilterResponse(*args, r));
  CHECK(j["NodeNames"] == nlohmann::json::array({"node-A", "we\"ird\\name"}));
  std::string s;
  AppendJsonString(s, std::string("a\x01\n\t\"\\b", 7));
  CHECK(s == R"("a\u0001\n\t\"\\b")");
}

TEST_CASE("a huge full-mode request decodes and round-trips", "[codec]") {
  // 5000 Node objects shaped like kube-scheduler's (about 3.5 MB).
  const nlohmann::json sample = nlohmann::json::parse(ReadTestdata("filter-full.request.json"));
  nlohmann::json node = sample["Nodes"]["items"][0];
  std::string body = R"({"Pod":)" + sample["Pod"].dump() + R"(,"Nodes":{"metadata":{},"items":[)";
  const int kNodes = 5000;
  for (int i = 0; i < kNodes; ++i) {
    node["metadata"]["name"] = "node-" + std::to_string(i);
    node["metadata"]["labels"]["kubernetes.io/hostname"] = "node-" + std::to_string(i);
    if (i > 0) body += ",\n  ";
    body += node.dump();
  }
  body += "]},\"NodeNames\":null}";
  REQUIRE(body.size() > 3'000'000);
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  REQUIRE(args.ok());
  REQUIRE(args->nodes.size() == kNodes);
  CHECK(args->node_names[4321] == "node-4321");
  FilterResponse r;
  for (size_t i = 0; i < kNodes; i += 2) r.passed.push_back(i);
  const std::string out = EncodeFilterResponse(*args, r);
  const nlohmann::json j = nlohmann::json::parse(out);
  REQUIRE(j["Nodes"]["items"].size() == kNodes / 2);
  CHECK(j["Nodes"]["items"][10]["metadata"]["name"] == "node-20");
  CHECK(j["Nodes"]["items"][10] == nlohmann::json::parse(args->nodes[20].json));
}

TEST_CASE("prioritize and error responses have the exact wire shape", "[codec]") {
  CHECK(EncodePriorities({}) == "[]");
  CHECK(
      EncodePriorities({{"node-a", 7}, {"node-b", 0}, {"node-c", 10}}) ==
      R"([{"Host":"node-a","Score":7},{"Host":"node-b","Score":0},{"Host":"node-c","Score":10}])");
  CHECK(EncodeError("") == R"({"Error":""})");
  CHECK(EncodeError("pod \"x\" not found") == R"({"Error":"pod \"x\" not found"})");
}

TEST_CASE("binding args decode from kube-scheduler's bytes and lowercase keys", "[codec]") {
  StatusOr<BindingArgs> args = DecodeBindingArgs(ReadTestdata("bind.request.json"));
  REQUIRE(args.ok());
  CHECK(args->pod_name == "pod-00000");
  CHECK(args->pod_namespace == "default");
  CHECK(args->pod_uid == "uid-default-pod-00000");
  CHECK(args->node == "node-0002");
  CHECK(EncodeBindingArgs(*args) + "" == ReadTestdata("bind.request.json"));

  args = DecodeBindingArgs(R"({"podname":"a","podnamespace":"b","poduid":null,"node":"n"})");
  REQUIRE(args.ok());
  CHECK(args->pod_uid.empty());
  CHECK(args->node == "n");

  const std::pair<const char*, const char*> kBad[] = {
      {R"({"PodName":"a","PodNamespace":"b"})", "Node: required"},
      {R"({"PodNamespace":"b","Node":"n"})", "PodName: required"},
      {R"({"PodName":"a","PodNamespace":"b","Node":5})", "Node: expected a string"},
      {R"({"PodName":"a",)", "malformed JSON"},
      {R"([])", "must be a JSON object"},
  };
  for (const auto& [body, message] : kBad) {
    StatusOr<BindingArgs> bad = DecodeBindingArgs(body);
    INFO(body);
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.status().message(), Catch::Matchers::Contains(message));
  }
}

}  // namespace
}  // namespace kb::server

namespace kb::server {
namespace {

TEST_CASE("a ResponseBody writes the same bytes from any offset", "[codec]") {
  const std::string body = ReadTestdata("filter-full.request.json");
  StatusOr<ExtenderArgs> args = DecodeExtenderArgs(body);
  REQUIRE(args.ok());
  FilterResponse r;
  r.passed = {0, 2};
  r.failed = {{"node-0001", "hot"}};
  const ResponseBody pieces = EncodeFilterResponseBody(*args, r);
  const std::string whole = pieces.ToString();
  CHECK(whole == EncodeFilterResponse(*args, r));
  CHECK(pieces.size() == whole.size());
  for (size_t offset :
       {size_t{0}, size_t{1}, size_t{17}, whole.size() / 2, whole.size() - 1, whole.size()}) {
    std::string suffix;
    CHECK(pieces.WriteFrom(offset, [&](const char* d, size_t n) {
      suffix.append(d, n);
      return true;
    }));
    CHECK(suffix == whole.substr(offset));
  }
  // A failing sink stops the write at once.
  int calls = 0;
  CHECK_FALSE(pieces.WriteFrom(0, [&](const char*, size_t) {
    ++calls;
    return false;
  }));
  CHECK(calls == 1);
}

}  // namespace
}  // namespace kb::server
