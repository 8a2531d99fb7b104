# lit configuration for Tailor's IR tests.
import os

import lit.formats
from lit.llvm import llvm_config

config.name = "Tailor"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
# A second run of the suite (the sanitizer tools) gets its own output folder,
# so the two can run at the same time.
config.test_exec_root = lit_config.params.get(
    "tailor_exec_root", os.path.join(config.tailor_obj_root, "test", "lit"))

llvm_config.use_default_substitutions()
config.substitutions.append(("%python", config.python))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.add_tool_substitutions(
    ["tailor-opt", "tailor-import", "tailor-run", "tailor-compile", "tailor-eval",
     "tailor-calibrate", "tailor-export", "tailor-train"], [config.tailor_tools_dir])
# The sanitizer build has only some tools: tests of the others say so.
for tool in ("tailor-eval", "tailor-calibrate", "tailor-export", "tailor-train"):
    if os.path.exists(os.path.join(config.tailor_tools_dir, tool)):
        config.available_features.add(tool)
