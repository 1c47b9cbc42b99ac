#include "report/transfer_report.h"

#include <iomanip>
#include <sstream>

#include "spec/paths.h"
#include "spec/validate.h"
#include "sweep/report.h"
#include "transfer/rules.h"
#include "util/error.h"
#include "util/json_writer.h"
#include "util/version.h"

namespace mue {

LoadedReference load_reference(const std::string& path) {
  Json j = read_json_file(path);
  LoadedReference out;
  out.file = path;
  Where w{path, ""};
  // A schema that is not a string is detect_kind's error below, not a json::type_error here.
  if (j.is_object() && j.contains("schema") && j["schema"] == kSweepReportSchema) {
    // A sweep report: its fitted optimum as a config, and whether it sits at an edge.
    out.kind = "sweep";
    const SweepReference sr = read_sweep_reference(j, path);
    out.at_edge = sr.at_edge;
    out.ref.model = sr.config.model;
    out.ref.train = sr.config.train;
    out.ref.hparams = sr.config.hparams;
    out.ref.where = sr.hparams_where;
    out.train_where = w.at("reference").at("train");
    return out;
  }
  if (detect_kind(j, path) != SpecKind::kConfig)
    w.fail("expected a reference config {model, train, hparams} or a sweep report (schema " +
           std::string(kSweepReportSchema) + ")");
  RunConfig c = parse_config(j, w);
  if (c.reference)
    w.at("reference")
        .fail("a reference config must be the tuned run itself, without a reference of its own");
  out.kind = "config";
  out.ref.model = c.model;
  out.ref.train = c.train;
  out.ref.hparams = c.hparams;
  out.ref.where = w.at("hparams");
  out.train_where = w.at("train");
  return out;
}

TransferOutput run_transfer(const LoadedReference& lr, const TargetsSpec& targets,
                            const std::string& targets_file) {
  TransferOutput out{&lr, &targets, {}, {}};
  const Reference& ref = lr.ref;
  if (lr.at_edge)
    out.warnings.push_back("the reference optimum is at the edge of its sweep grid (at_edge): the "
                           "true optimum may lie outside it; widen the reference sweep");
  out.results.reserve(targets.targets.size());
  for (std::size_t i = 0; i < targets.targets.size(); ++i) {
    const TargetSpec& t = targets.targets[i];
    const Where tw{targets_file, pointer_append("/targets", i)};
    TargetResult r{&t, {}, {}, {}};
    resolve_target(t, ref.model, ref.train, tw, r.model, r.train);
    r.table = transfer(ref, r.model, r.train, t.options, tw);
    for (const auto& w : r.table.warnings)
      out.warnings.push_back(t.name + ": " + w);
    out.results.push_back(std::move(r));
  }
  return out;
}

void check_target_data(const TransferOutput& out, const std::string& targets_file) {
  for (const TargetResult& r : out.results) {
    // The file that named the data: the target's own train.data, else the reference's.
    const auto i = static_cast<std::size_t>(r.spec - out.targets->targets.data());
    const Where w = r.spec->train_patch.contains("data")
                        ? Where{targets_file, pointer_append("/targets", i)}.at("train")
                        : out.reference->train_where;
    check_data_files(r.train, w, "", r.model.seq_len);
  }
}

RunConfig target_config(const TransferOutput& out, const TargetResult& r) {
  RunConfig c;
  c.model = r.model;
  c.train = r.train;
  c.hparams = out.reference->ref.hparams;
  c.options = r.spec->options;
  c.reference = BaseShape{out.reference->ref.model, out.reference->ref.train};
  return c;
}

void write_report(std::ostream& os, const TransferOutput& out) {
  const Reference& ref = out.reference->ref;
  std::string s;
  s.reserve(2 << 20);
  JsonWriter w(s, os);
  w.begin_object();
  w.key("schema").value(kTransferSchema);
  w.key("muE_version").value(std::string(version()) + " (git " + git_hash() + ")");
  w.key("reference").begin_object();
  w.key("file").value(out.reference->file).key("kind").value(out.reference->kind);
  w.key("at_edge").value(out.reference->at_edge);
  w.key("model").raw(to_json(ref.model).dump());
  w.key("train").raw(to_json(ref.train).dump());
  w.key("hparams").raw(to_json(ref.hparams).dump());
  w.end_object();
  w.key("options").raw(to_json(out.targets->options).dump());
  w.key("warnings").begin_array();
  for (const auto& x : out.warnings)
    w.value(x);
  w.end_array();
  w.key("targets").begin_array();
  for (const auto& r : out.results) {
    w.newline().begin_object();
    w.key("name").value(r.spec->name);
    if (!r.spec->description.empty()) w.key("description").value(r.spec->description);
    write_json(w.key("model"), r.model);
    write_json(w.key("train"), r.train);
    // A target's options are written only where they differ from the file's.
    if (r.spec->options != out.targets->options)
      w.key("options").raw(to_json(r.spec->options).dump());
    write_fields(w, r.table);
    w.end_object();
    w.flush();
  }
  w.end_array();
  w.end_object();
  s += '\n';
  w.flush(true);
}

std::string report_text(const TransferOutput& out) {
  std::ostringstream os;
  write_report(os, out);
  return os.str();
}

namespace {

std::string pad(const std::string& s, std::size_t w) {
  // Width in characters, not bytes (the table uses σ, ρ, ×).
  std::size_t chars = 0;
  for (unsigned char c : s)
    chars += (c & 0xC0) != 0x80;
  return chars >= w ? s + " " : s + std::string(w - chars, ' ');
}

// The one check of a transfer report's identity, for every reader.
void check_transfer_schema(const Json& j, const Where& root) {
  if (!j.is_object())
    root.fail("expected a transfer report (a JSON object written by `muE transfer`)");
  if (!j.contains("schema") || !j["schema"].is_string())
    root.at("schema").fail("missing: expected \"" + std::string(kTransferSchema) +
                           "\" (a report from `muE transfer`)");
  const std::string schema = j["schema"].get<std::string>();
  if (schema != kTransferSchema)
    root.at("schema").fail("unknown schema '" + schema + "'; this muE reads \"" + kTransferSchema +
                           "\" (re-run `muE transfer` with this version)");
}

const Json& field(const Json& j, const char* key, const Where& w) {
  if (!j.is_object() || !j.contains(key)) w.at(key).fail("required field is missing");
  return j.at(key);
}

// A traced value: {"value": x, "base_reason", "factors"?}.
double traced_value(const Json& j, const char* key, const Where& w) {
  const Json& v = field(j, key, w);
  const Json& x = field(v, "value", w.at(key));
  if (!x.is_number()) w.at(key).at("value").fail("expected a number");
  return x.get<double>();
}

const Json& target_list(const Json& report, const std::string& file) {
  const Where root{file, ""};
  check_transfer_schema(report, root);
  return as_array(field(report, "targets", root), root.at("targets"));
}

Parameterization table_of(const Json& target, const Where& w) {
  Json sub = Json::object();
  for (const char* k :
       {"groups", "optimizer", "scalars", "ratios", "diagnostics", "route", "warnings"}) {
    if (!target.contains(k)) w.at(k).fail("required field is missing");
    sub[k] = target[k];
  }
  return parameterization_from_json(sub, w);
}

void explain_value(std::ostringstream& os, const std::string& label, const Traced& t) {
  os << "  " << pad(label, 12) << "= " << fmt(t.value) << "\n";
  os << "      " << pad(fmt(t.base), 12) << t.base_reason << "\n";
  for (const auto& f : t.trace)
    os << "    × " << pad(fmt(f.factor), 12) << pad(f.rule, 26) << f.reason << "\n";
}

} // namespace

std::string transfer_table(const TransferOutput& out) {
  std::ostringstream os;
  const std::vector<std::pair<const char*, std::size_t>> cols = {
      {"target", 20}, {"layout", 12}, {"H_act", 8},   {"A", 10},       {"R", 5},
      {"lr", 12},     {"wd", 11},     {"σ_down", 11}, {"lr_down", 12}, {"σ0 ratio", 8}};
  for (const auto& [name, w] : cols)
    os << pad(name, w);
  os << "\n";
  for (const auto& r : out.results) {
    const Parameterization& p = r.table;
    const ParamGroup down =
        p.groups.count(ParamGroup::kExpertDown) ? ParamGroup::kExpertDown : ParamGroup::kFfnDown;
    const GroupParams& g = p.groups.at(down);
    std::vector<std::string> cells = {r.spec->name,
                                      r.model.ffn.layout_name(),
                                      fmt(p.scalars.H_act.value),
                                      fmt(p.scalars.A.value),
                                      fmt(p.scalars.route_scale.value),
                                      fmt(p.optimizer.lr.value),
                                      fmt(p.optimizer.wd.value),
                                      fmt(g.init_std.value),
                                      fmt(g.lr.value),
                                      fmt(p.sigma0_ratio.at(down))};
    for (std::size_t i = 0; i < cells.size(); ++i)
      os << pad(cells[i], cols[i].second);
    os << "\n";
  }
  return os.str();
}

std::string explain(const Json& report, const std::string& file, const std::string& target,
                    const std::string& group) {
  const Json& list = target_list(report, file);
  std::ostringstream os;
  std::string names;
  bool found_target = false, found_group = group.empty();
  // A parameter group, or nullopt for 'optimizer', 'scalars' or an unknown name.
  const std::optional<ParamGroup> wanted = parse_param_group(group);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const Json& t = list[i];
    const Where tw{file, pointer_append("/targets", i)};
    // Checked as verify reads it (t.value("name", "") threw json::type_error on a non-object
    // target or a non-string name: exit 3).
    const std::string name = as_string(field(t, "name", tw), tw.at("name"));
    names += (names.empty() ? "" : ", ") + name;
    if (!target.empty() && name != target) continue;
    found_target = true;
    Parameterization p = table_of(t, tw);
    os << "target " << name << "\n";
    os << "  route: ";
    for (std::size_t k = 0; k < p.route.size(); ++k)
      os << (k ? " → " : "") << p.route[k];
    os << "\n  ratios: ρ_d " << fmt(p.ratios.rho_d) << ", m_L " << fmt(p.ratios.m_L) << ", ρ_B "
       << fmt(p.ratios.rho_B) << ", ρ_D " << fmt(p.ratios.rho_D) << ", ρ_T " << fmt(p.ratios.rho_T)
       << ", k " << fmt(p.ratios.k_sde) << "\n";
    for (const auto& w : p.warnings)
      os << "  warning: " << w << "\n";
    for (ParamGroup gid : param_groups_by_name()) {
      const auto it = p.groups.find(gid);
      if (it == p.groups.end() || (!group.empty() && wanted != gid)) continue;
      const GroupParams& g = it->second;
      found_group = true;
      os << "\n[" << to_string(gid) << "]   σ0 ratio "
         << fmt(p.sigma0_ratio.count(gid) ? p.sigma0_ratio.at(gid) : 1)
         << " (bridge2.sigma0, reported, not corrected)\n";
      explain_value(os, "init_std", g.init_std);
      explain_value(os, "lr", g.lr);
      explain_value(os, "wd", g.wd);
      explain_value(os, "multiplier", g.multiplier);
      explain_value(os, "eps", g.eps);
    }
    if (group.empty() || group == "optimizer") {
      found_group = true;
      os << "\n[optimizer]\n";
      explain_value(os, "lr", p.optimizer.lr);
      explain_value(os, "wd", p.optimizer.wd);
      explain_value(os, "eps", p.optimizer.eps);
      explain_value(os, "1-beta1", p.optimizer.one_minus_beta1);
      explain_value(os, "1-beta2", p.optimizer.one_minus_beta2);
    }
    if (group.empty() || group == "scalars") {
      found_group = true;
      os << "\n[scalars]\n";
      const Scalars& s = p.scalars;
      explain_value(os, "H_act", s.H_act);
      explain_value(os, "A", s.A);
      explain_value(os, "R", s.route_scale);
      explain_value(os, "shared", s.shared_scale);
      explain_value(os, "residual", s.residual_multiplier);
      explain_value(os, "attention", s.attention_scale);
      explain_value(os, "logits", s.output_multiplier);
    }
    os << "\n";
  }
  if (!found_target)
    throw UsageError("--target " + target + ": no such target in " + file + " (targets: " + names +
                     ")");
  if (!found_group)
    throw UsageError("--group " + group +
                     ": no such group in the selected target(s); groups are "
                     "parameter groups such as expert_down, or 'optimizer', 'scalars'");
  return os.str();
}

std::string rules_text() {
  std::ostringstream os;
  for (const auto& r : all_rules())
    os << pad(std::string(r.id), 26) << pad(std::string(r.section), 12) << r.summary << "\n";
  return os.str();
}

std::vector<ReportedTarget> read_transfer_report(const Json& j, const std::string& file) {
  const Where root{file, ""};
  check_transfer_schema(j, root);
  const Where rw = root.at("reference");
  const Json& ref = field(j, "reference", root);
  const Json& file_options = field(j, "options", root);
  const Json& targets = field(j, "targets", root);
  if (!targets.is_array() || targets.empty())
    root.at("targets").fail("expected a non-empty array of targets");
  const Json& hparams = field(ref, "hparams", rw);
  std::vector<ReportedTarget> out;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const Where tw = root.at("targets").at(i);
    const Json& t = targets[i];
    ReportedTarget v;
    const Json& name = field(t, "name", tw);
    if (!name.is_string()) tw.at("name").fail("expected a string");
    v.name = name.get<std::string>();
    Json config{
        {"model", field(t, "model", tw)},
        {"train", field(t, "train", tw)},
        {"hparams", hparams},
        {"options", t.contains("options") ? t["options"] : file_options},
        {"reference", {{"model", field(ref, "model", rw)}, {"train", field(ref, "train", rw)}}}};
    v.config = parse_config(config, tw);
    v.where = tw;
    const Json& opt = field(t, "optimizer", tw);
    v.bridged["lr"] = traced_value(opt, "lr", tw.at("optimizer"));
    v.bridged["wd"] = traced_value(opt, "wd", tw.at("optimizer"));
    v.bridged["init_std"] = v.config.hparams.init_std; // σ of the table is σ⋆ (docs/method.md §4)
    out.push_back(std::move(v));
  }
  return out;
}

} // namespace mue
