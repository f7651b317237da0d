// The plays' reports as text (tables beside the checks) and as an HTML page of SVG charts.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "sim/harness/play.h"
#include "sim/harness/plays.h"

namespace kb::sim {
namespace {

using plays::Fmt;

std::string Html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// One grouped bar chart: per node, CPU% / memory% bars (0..100) and the pod count as text.
std::string Svg(const NodeTable& t) {
  const int bar = 14, gap = 30, left = 40, top = 24, height = 140;
  const int group_w = 2 * bar + gap;
  const int width = left + static_cast<int>(t.rows.size()) * group_w + 20;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << std::max(width, 260) << "' height='"
    << top + height + 44 << "' font-family='sans-serif' font-size='10'>";
  s << "<text x='4' y='14' font-size='12' font-weight='bold'>" << Html(t.title) << "</text>";
  for (int pct : {0, 50, 80, 100}) {
    const int y = top + height - pct * height / 100;
    s << "<line x1='" << left - 4 << "' x2='" << width << "' y1='" << y << "' y2='" << y
      << "' stroke='" << (pct == 80 ? "#d33" : "#ccc") << "' stroke-dasharray='"
      << (pct == 80 ? "4,3" : "0") << "'/><text x='4' y='" << y + 3 << "'>" << pct << "%</text>";
  }
  int x = left;
  for (const NodeRow& r : t.rows) {
    const double cpu = std::clamp(r.cpu_percent, 0.0, 100.0);
    const double mem = std::clamp(r.memory_percent, 0.0, 100.0);
    const int hc = static_cast<int>(cpu * height / 100), hm = static_cast<int>(mem * height / 100);
    s << "<rect x='" << x << "' y='" << top + height - hc << "' width='" << bar << "' height='"
      << hc << "' fill='#3b7dd8'><title>" << Html(r.node) << " cpu " << Fmt(r.cpu_percent)
      << "%</title></rect>";
    s << "<rect x='" << x + bar << "' y='" << top + height - hm << "' width='" << bar
      << "' height='" << hm << "' fill='#f0a030'><title>" << Html(r.node) << " memory "
      << Fmt(r.memory_percent) << "%</title></rect>";
    s << "<text x='" << x << "' y='" << top + height + 14 << "'>" << Html(r.node) << "</text>";
    s << "<text x='" << x << "' y='" << top + height + 27 << "'>" << r.pods << " pods</text>";
    x += group_w;
  }
  s << "<text x='" << left << "' y='" << top + height + 40
    << "'><tspan fill='#3b7dd8'>&#9632; cpu</tspan> <tspan fill='#f0a030'>&#9632; memory</tspan>"
       " <tspan fill='#d33'>- - 80% threshold</tspan></text>";
  s << "</svg>";
  return s.str();
}

}  // namespace

std::string FormatReport(const PlayReport& r) {
  std::ostringstream out;
  out << "=== " << r.id << ": " << r.title << "  (" << Fmt(r.seconds) << "s, " << r.scenario_file
      << ")\n";
  for (const NodeTable& t : r.tables) {
    out << "  -- " << t.title << "\n";
    char line[200];
    std::snprintf(line, sizeof(line), "    %-12s %-12s %7s %7s %9s %9s %5s\n", "node", "group",
                  "cpu%", "mem%", "cpu-req%", "mem-req%", "pods");
    out << line;
    for (const NodeRow& row : t.rows) {
      std::snprintf(line, sizeof(line), "    %-12s %-12s %7.1f %7.1f %9.1f %9.1f %5d\n",
                    row.node.c_str(), row.group.c_str(), row.cpu_percent, row.memory_percent,
                    row.cpu_requested_percent, row.memory_requested_percent, row.pods);
      out << line;
    }
  }
  for (const auto& [name, v] : r.figures) out << "  " << name << ": " << Fmt(v, 2) << "\n";
  for (const Check& c : r.checks) {
    const char* tag = c.result == Check::Result::kPass   ? "PASS"
                      : c.result == Check::Result::kFail ? "FAIL"
                                                         : "NOT RUN";
    out << "  [" << tag << "] " << c.name << (c.detail.empty() ? "" : ": " + c.detail) << "\n";
  }
  for (const std::string& n : r.notes) out << "  note: " << n << "\n";
  if (!r.work_dir.empty()) out << "  logs: " << r.work_dir << "\n";
  return out.str();
}

std::string RenderHtml(const std::vector<PlayReport>& reports, const std::string& subtitle) {
  std::ostringstream h;
  h << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>kube-balancer demo</title>"
       "<style>body{font-family:sans-serif;margin:24px;max-width:1200px}"
       "section{border-top:1px solid #ccc;padding:8px 0}.charts{display:flex;flex-wrap:wrap;"
       "gap:16px}.pass{color:#080}.fail{color:#c00}.notrun{color:#888}"
       "td,th{padding:2px 8px;text-align:right}th{text-align:left}</style></head><body>";
  h << "<h1>kube-balancer demo</h1><p>" << Html(subtitle) << "</p>";
  for (const PlayReport& r : reports) {
    h << "<section><h2>" << Html(r.id) << ": " << Html(r.title) << "</h2><p>"
      << Html(r.scenario_file) << ", " << Fmt(r.seconds) << "s</p><div class='charts'>";
    for (const NodeTable& t : r.tables) h << Svg(t);
    h << "</div><ul>";
    for (const Check& c : r.checks) {
      const char* cls = c.result == Check::Result::kPass   ? "pass"
                        : c.result == Check::Result::kFail ? "fail"
                                                           : "notrun";
      const char* tag = c.result == Check::Result::kPass   ? "PASS"
                        : c.result == Check::Result::kFail ? "FAIL"
                                                           : "NOT RUN";
      h << "<li class='" << cls << "'><b>" << tag << "</b> " << Html(c.name)
        << (c.detail.empty() ? "" : ": " + Html(c.detail)) << "</li>";
    }
    h << "</ul>";
    if (!r.figures.empty()) {
      h << "<table>";
      for (const auto& [name, v] : r.figures) {
        h << "<tr><th>" << Html(name) << "</th><td>" << Fmt(v, 2) << "</td></tr>";
      }
      h << "</table>";
    }
    for (const std::string& n : r.notes) h << "<p><i>" << Html(n) << "</i></p>";
    h << "</section>";
  }
  h << "</body></html>\n";
  return h.str();
}

}  // namespace kb::sim
