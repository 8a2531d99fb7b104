//===- InitTailor.h - Register Tailor into a host compiler ----------------===//
//
// For compilers that embed Tailor: one call makes every Tailor dialect (and
// the upstream dialects its IR uses) and every Tailor pass available.
//
//===----------------------------------------------------------------------===//

#ifndef TAILOR_INITTAILOR_H
#define TAILOR_INITTAILOR_H

namespace mlir {
class DialectRegistry;
namespace tailor {
/// Adds the tailor dialect and the upstream dialects Tailor's IR uses.
void registerAllDialects(DialectRegistry &registry);
/// Registers every Tailor pass (and pipeline) with the global pass registry.
void registerAllPasses();
/// What a standalone tool (tailor-run, tailor-compile, the Python module)
/// needs to import, lower and compile: every upstream dialect, extension
/// and pass plus Tailor's, added to `registry` (passes registered once).
void registerToolEnvironment(DialectRegistry &registry);
} // namespace tailor
} // namespace mlir

#endif // TAILOR_INITTAILOR_H
