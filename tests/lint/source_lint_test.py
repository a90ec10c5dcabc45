#!/usr/bin/env python3
"""source_lint_test: source_lint.py finds what it is for, and nothing on clean trees."""
import atexit
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import source_lint  # noqa: E402


def tree(files):
    """A throwaway source tree (not a git checkout: the lint walks it)."""
    root = tempfile.mkdtemp(prefix="source_lint_")
    atexit.register(shutil.rmtree, root, True)
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    return root


class SourceLintTest(unittest.TestCase):
    def test_clean_tree(self):
        root = tree({
            "base/status.h": "#pragma once\n#include <cstdint>\n#include <string>\n"
                             "struct status { int64_t code; std::string msg; };\n",
            "kernels/gemm.h": '#pragma once\n#include "base/status.h"\n'
                              "status gemm(int64_t n);  // int64_t via base/status.h\n",
            "engine/model.cpp": '#include "kernels/gemm.h"\n#include <vector>\n'
                                "std::vector<int> v;\n",
        })
        self.assertEqual(source_lint.lint(root), [])

    def test_upward_include(self):
        root = tree({
            "engine/model.h": "#pragma once\n",
            "kernels/gemm.cpp": '#include "engine/model.h"\n',
        })
        found = source_lint.lint(root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("kernels/gemm.cpp: includes engine/model.h: layer kernels may not depend on "
                      "engine", found[0])

    def test_top_layers_may_include_anything(self):
        root = tree({
            "actors/machine.h": "#pragma once\n",
            "tests/machine_test.cpp": '#include "actors/machine.h"\n',
            "cli/main.cpp": '#include "actors/machine.h"\n',
        })
        self.assertEqual(source_lint.lint(root), [])

    def test_host_only_header_in_kernels(self):
        root = tree({"engine/cuda/model.cu": "#include <nlohmann/json.hpp>\n"})
        found = source_lint.lint(root)
        self.assertEqual(len(found), 1, found)
        self.assertIn("<nlohmann/json.hpp>", found[0])
        # the same include one layer up is fine: that layer is not built on the GPU host
        self.assertEqual(source_lint.lint(tree({"engine/config.cpp":
                                                "#include <nlohmann/json.hpp>\n"})), [])

    def test_missing_standard_headers(self):
        root = tree({
            "kernels/a.cpp": "#include <vector>\nvoid f(std::vector<int64_t>& v);\n",
            "kernels/b.cpp": "#include <string>\nstd::function<void()> g;\n",
        })
        found = sorted(source_lint.lint(root))
        self.assertEqual(len(found), 2, found)
        self.assertIn("kernels/a.cpp: uses int64_t but includes no <cstdint>", found[0])
        self.assertIn("kernels/b.cpp: uses std::function but includes no <functional>", found[1])

    def test_comments_and_strings_do_not_count(self):
        root = tree({"kernels/a.cpp": "// int64_t in a comment\n/* std::function too */\n"
                                      'const char* s = "std::unique_ptr";\n'})
        self.assertEqual(source_lint.lint(root), [])

    def test_cuda_headers_declare_the_fixed_width_types(self):
        root = tree({"kernels/cuda/a.cu": "#include <cuda_runtime.h>\nint64_t n;\n"})
        self.assertEqual(source_lint.lint(root), [])

    def test_include_cycle_ends(self):
        root = tree({
            "base/a.h": '#pragma once\n#include "base/b.h"\n',
            "base/b.h": '#pragma once\n#include "base/a.h"\n#include <cstdint>\n',
            "base/c.cpp": '#include "base/a.h"\nint64_t n;\n',
        })
        self.assertEqual(source_lint.lint(root), [])


if __name__ == "__main__":
    unittest.main()
