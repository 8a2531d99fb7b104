//===- tailor-onnx-odsgen.cpp - ODS for ONNX ops from the ONNX schemas ----===//
//
// Build-time generator: reads a list of ONNX op names (one per line) and
// writes TableGen op definitions whose operands, results, attributes, defaults
// and type constraints come from the installed ONNX library's own schemas, so
// that names and semantics match ONNX exactly and adding an op is one line.
//
// Usage: tailor-onnx-odsgen <op-list> <output.td>
// A list line is `OpName [hasFolder] [hasCanonicalizer] [Trait...]`; `#`
// starts a comment.
//
//===----------------------------------------------------------------------===//

#include "onnx/defs/schema.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

int latestOpset() {
  const auto &map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  return map.at(onnx::ONNX_DOMAIN).second;
}

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// "tensor(float)" -> "F32"; empty when the type has no MLIR tensor element
// (strings, sequences, optionals, maps).
std::string odsElementType(const std::string &onnxType) {
  static const std::map<std::string, std::string> table = {
      {"tensor(float16)", "F16"},   {"tensor(float)", "F32"},
      {"tensor(double)", "F64"},    {"tensor(bfloat16)", "BF16"},
      {"tensor(int8)", "I8"},       {"tensor(int16)", "I16"},
      {"tensor(int32)", "I32"},     {"tensor(int64)", "I64"},
      {"tensor(uint8)", "UI8"},     {"tensor(uint16)", "UI16"},
      {"tensor(uint32)", "UI32"},   {"tensor(uint64)", "UI64"},
      {"tensor(bool)", "I1"},       {"tensor(complex64)", "Complex<F32>"},
      {"tensor(complex128)", "Complex<F64>"}};
  auto it = table.find(onnxType);
  return it == table.end() ? "" : it->second;
}

// The ODS type constraint of one formal parameter.
std::string odsTensorType(const onnx::OpSchema &schema,
                          const onnx::OpSchema::FormalParameter &param) {
  std::vector<std::string> allowed;
  bool constrained = false;
  for (const auto &tc : schema.typeConstraintParams()) {
    if (tc.type_param_str != param.GetTypeStr())
      continue;
    constrained = true;
    for (const auto &t : tc.allowed_type_strs)
      allowed.push_back(t);
  }
  if (!constrained)
    allowed.push_back(param.GetTypeStr());
  std::set<std::string> seen;
  std::string list;
  for (const auto &t : allowed) {
    std::string e = odsElementType(t);
    if (e.empty() || !seen.insert(e).second)
      continue;
    if (!list.empty())
      list += ", ";
    list += e;
  }
  if (list.empty())
    return "AnyTensor";
  return "TensorOf<[" + list + "]>";
}

std::string escapeString(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

std::string formatFloat(float f) {
  std::ostringstream os;
  os.precision(9);
  os << f;
  std::string s = os.str();
  if (s.find_first_of(".eEn") == std::string::npos)
    s += ".0";
  return s;
}

// The ODS attribute of one ONNX attribute; empty when unsupported (graphs,
// sparse tensors, type protos): the importer rejects those with a message.
std::string odsAttribute(const onnx::OpSchema::Attribute &attr) {
  using AP = onnx::AttributeProto;
  bool hasDefault = attr.default_value.has_type() || attr.default_value.has_i() ||
                    attr.default_value.has_f() || attr.default_value.has_s();
  std::string base;
  std::string def;
  switch (attr.type) {
  case AP::FLOAT:
    base = "F32Attr";
    if (hasDefault)
      def = formatFloat(attr.default_value.f());
    break;
  case AP::INT:
    base = "I64Attr";
    if (hasDefault)
      def = std::to_string(attr.default_value.i());
    break;
  case AP::STRING:
    base = "StrAttr";
    if (hasDefault)
      return "DefaultValuedStrAttr<StrAttr, \"" +
             escapeString(attr.default_value.s()) + "\">";
    break;
  case AP::FLOATS:
    base = "DenseF32ArrayAttr";
    break;
  case AP::INTS:
    base = "DenseI64ArrayAttr";
    break;
  case AP::STRINGS:
    base = "StrArrayAttr";
    break;
  case AP::TENSOR:
    base = "ElementsAttr";
    break;
  default:
    return "";
  }
  if (attr.required)
    return base;
  if (!def.empty())
    return "DefaultValuedAttr<" + base + ", \"" + def + "\">";
  return "OptionalAttr<" + base + ">";
}

std::string sanitizeDoc(std::string doc) {
  size_t pos;
  while ((pos = doc.find("}]")) != std::string::npos)
    doc.replace(pos, 2, "} ]");
  return trim(doc);
}

// camelCase getter stem the way ODS forms it, to catch collisions early.
std::string getterStem(const std::string &name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? (char)toupper(c) : c;
    upper = false;
  }
  return out;
}

// Names that ODS or the generated C++ reserve.
std::string odsName(const std::string &name) {
  static const std::set<std::string> reserved = {
      "operands", "results", "attributes", "properties", "type", "name",
      "location", "context", "region", "regions", "successors", "operation"};
  if (reserved.count(name))
    return name + "_";
  return name;
}

bool generateOp(const std::string &opName, const std::set<std::string> &flags,
                int opset, std::ostream &os) {
  const onnx::OpSchema *schema =
      onnx::OpSchemaRegistry::Schema(opName, opset, onnx::ONNX_DOMAIN);
  if (!schema) {
    std::cerr << "tailor-onnx-odsgen: no ONNX schema for op '" << opName
              << "' at opset " << opset << "\n";
    return false;
  }
  auto countNonSingle = [](const std::vector<onnx::OpSchema::FormalParameter> &ps) {
    int n = 0;
    for (const auto &p : ps)
      n += p.GetOption() != onnx::OpSchema::Single;
    return n;
  };
  // Capitalised flags name ODS traits (e.g. ConstantLike); the others set
  // `let <flag> = 1`.
  std::vector<std::string> traits;
  for (const auto &flag : flags)
    if (isupper((unsigned char)flag[0]))
      traits.push_back(flag);
  if (countNonSingle(schema->inputs()) > 1)
    traits.push_back("AttrSizedOperandSegments");
  if (countNonSingle(schema->outputs()) > 1)
    traits.push_back("AttrSizedResultSegments");

  std::set<std::string> getters;
  bool ok = true;
  auto claim = [&](const std::string &name) {
    if (!getters.insert(getterStem(name)).second) {
      std::cerr << "tailor-onnx-odsgen: op '" << opName
                << "' has two arguments named like '" << name << "'\n";
      ok = false;
    }
    return odsName(name);
  };
  auto wrap = [](const onnx::OpSchema::FormalParameter &p, std::string t) {
    switch (p.GetOption()) {
    case onnx::OpSchema::Optional:
      return "Optional<" + t + ">";
    case onnx::OpSchema::Variadic:
      return "Variadic<" + t + ">";
    default:
      return t;
    }
  };

  os << "def Tailor_Onnx" << opName << "Op : Tailor_OnnxOp<\"" << opName
     << "\", " << schema->since_version();
  if (!traits.empty()) {
    os << ", [";
    for (size_t i = 0; i < traits.size(); ++i)
      os << (i ? ", " : "") << traits[i];
    os << "]";
  }
  os << "> {\n";
  os << "  let summary = \"ONNX " << opName << " (since opset "
     << schema->since_version() << ")\";\n";
  os << "  let description = [{\n" << sanitizeDoc(schema->doc() ? schema->doc() : "")
     << "\n  }];\n";
  os << "  let arguments = (ins";
  bool first = true;
  for (const auto &in : schema->inputs()) {
    os << (first ? "\n    " : ",\n    ")
       << wrap(in, odsTensorType(*schema, in)) << ":$" << claim(in.GetName());
    first = false;
  }
  for (const auto &entry : schema->attributes()) {
    std::string attr = odsAttribute(entry.second);
    if (attr.empty())
      continue;
    os << (first ? "\n    " : ",\n    ") << attr << ":$" << claim(entry.first);
    first = false;
  }
  os << "\n  );\n";
  os << "  let results = (outs";
  first = true;
  for (const auto &out : schema->outputs()) {
    os << (first ? "\n    " : ",\n    ")
       << wrap(out, odsTensorType(*schema, out)) << ":$" << claim(out.GetName());
    first = false;
  }
  os << "\n  );\n";
  for (const auto &flag : flags) {
    if (isupper((unsigned char)flag[0]))
      continue;
    if (flag != "hasFolder" && flag != "hasCanonicalizer") {
      std::cerr << "tailor-onnx-odsgen: unknown flag '" << flag << "' for op '"
                << opName << "'\n";
      return false;
    }
    os << "  let " << flag << " = 1;\n";
  }
  os << "}\n\n";
  return ok;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "usage: tailor-onnx-odsgen <op-list> <output.td>\n";
    return 2;
  }
  std::ifstream list(argv[1]);
  if (!list) {
    std::cerr << "tailor-onnx-odsgen: cannot read " << argv[1] << "\n";
    return 1;
  }
  int opset = latestOpset();
  std::ostringstream os;
  os << "// Generated by tailor-onnx-odsgen from the ONNX schemas at opset "
     << opset << ". Do not edit.\n\n";
  os << "defvar Tailor_OnnxOpset = " << opset << ";\n\n";
  std::string line;
  bool ok = true;
  std::set<std::string> seen;
  while (std::getline(list, line)) {
    size_t hash = line.find('#');
    if (hash != std::string::npos)
      line = line.substr(0, hash);
    std::istringstream words(line);
    std::string name, flag;
    if (!(words >> name) || !seen.insert(name).second)
      continue;
    std::set<std::string> flags;
    while (words >> flag)
      flags.insert(flag);
    ok &= generateOp(name, flags, opset, os);
  }
  if (!ok)
    return 1;
  // Write only when changed, so that TableGen and its dependents do not rerun.
  std::string text = os.str();
  {
    std::ifstream old(argv[2]);
    std::stringstream oldText;
    oldText << old.rdbuf();
    if (old && oldText.str() == text)
      return 0;
  }
  std::string tmp = std::string(argv[2]) + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out)
      return 1;
  }
  return std::rename(tmp.c_str(), argv[2]) == 0 ? 0 : 1;
}
