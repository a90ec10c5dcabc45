#!/usr/bin/env python3
"""source_lint: checks on the C++/CUDA sources that no compiler here makes.

1. Layers: a file includes only its own layer and the layers below it (DEVELOPERS.md: kernels <-
   engine <- actors/k8s; protocol/api <- presets <- k8s; cli, tests and bench on top). A wrong
   include links today and breaks the day the lower target is built alone (the GPU host builds
   base + kernels + engine/cuda with KAITO_KERNELS_ONLY=ON).
2. What the GPU host lacks: the kernels-only layers include no CAF, nlohmann, yaml-cpp or
   OpenBLAS header (kernels/gemm.cpp's guarded cblas.h is the one exception).
3. Standard headers: a file that names int64_t, std::function, std::unique_ptr, ... includes the
   header that declares it, itself or through a project header. g++ 13 (the GPU host's compiler)
   dropped many transitive includes that g++ 12 (this machine's) still has, <cstdint> first
   among them, so a missing one compiles here and fails there.

Usage: source_lint.py [REPO_ROOT]   (default: this file's ../..). Exit 0 clean, 1 with findings,
one line each: path: what is wrong.
"""
import os
import re
import subprocess
import sys

# layer -> the layers it may include (besides itself). A file's layer is its longest prefix here.
ALLOWED = {
    "base": set(),
    "kernels": {"base"},
    "kernels/cuda": {"base", "kernels"},
    "engine": {"base", "kernels"},
    "engine/cuda": {"base", "kernels", "kernels/cuda", "engine"},
    "engine/cuda_hf": {"base", "kernels", "kernels/cuda", "engine", "engine/cuda"},
    "protocol/api": {"base"},
    "protocol/messages": {"base"},
    "presets": {"base", "protocol/api"},
    "k8s/client": {"base"},
    "k8s/artifacts": {"base", "protocol/api", "k8s/client"},
    "k8s/apiserver": {"base", "protocol/api", "presets", "k8s/client"},
    "k8s/controllers": {"base", "protocol/api", "presets", "k8s/client"},
    "actors": {"base", "kernels", "engine", "protocol/api", "protocol/messages", "presets",
               "k8s/client", "k8s/controllers", "k8s/artifacts"},
}
TOP = ("cli", "tests", "bench")  # may include anything
KERNELS_ONLY = ("base", "kernels", "kernels/cuda", "engine/cuda")
HOST_ONLY_HEADERS = re.compile(r"^(caf/|nlohmann/|yaml-cpp/|cblas\.h|spdlog/)")
HOST_ONLY_OK = {"kernels/gemm.cpp", "base/log.h", "base/log.cpp"}  # guarded / not built there

# standard header -> what names it (comments stripped first); alternatives that also declare it
STD = {
    "cstdint": (r"\b(u?int(8|16|32|64)_t|u?intptr_t)\b",
                ("cstdint", "stdint.h", "cuda_runtime_api.h", "cuda_runtime.h", "cuda_bf16.h",
                 "cuda.h", "nccl.h", "cublasLt.h", "cublas_v2.h")),
    "stdexcept": (r"std::(runtime_error|invalid_argument|out_of_range|logic_error)\b", ()),
    "memory": (r"std::(unique_ptr|shared_ptr|make_unique|make_shared|weak_ptr)\b", ()),
    "functional": (r"std::function\b", ()),
    "optional": (r"std::(optional|nullopt)\b", ()),
    "array": (r"std::array\b", ()),
    "algorithm": (r"std::(sort|stable_sort|min_element|max_element|fill|copy_n|find_if|all_of|"
                  r"any_of|none_of|lower_bound|upper_bound|reverse|unique|clamp)\b", ()),
    "cstring": (r"std::(memcpy|memset|memcmp|strlen|strcmp)\b", ("cstring", "string.h")),
    "string": (r"std::(string|to_string)\b", ()),
    "vector": (r"std::vector\b", ()),
    "map": (r"std::map\b", ()),
    "unordered_map": (r"std::unordered_map\b", ()),
    "mutex": (r"std::(mutex|lock_guard|unique_lock|scoped_lock)\b", ()),
    "atomic": (r"std::atomic\b", ()),
    "thread": (r"std::thread\b", ()),
    "chrono": (r"std::chrono::", ()),
    "limits": (r"std::numeric_limits\b", ()),
    "cmath": (r"std::(sqrt|exp|log|pow|tanh|fabs|isfinite|isnan|isinf|floor|ceil|round|lround|"
              r"sin|cos|erf|expm1|log1p|fma|fmax|fmin|nextafter|frexp|ldexp)\b", ()),
    "numeric": (r"std::(accumulate|iota|inner_product|partial_sum|gcd|lcm|reduce)\b", ()),
    "sstream": (r"std::(ostringstream|istringstream|stringstream)\b", ()),
    "fstream": (r"std::(ifstream|ofstream|fstream)\b", ()),
    "cstdio": (r"std::(printf|fprintf|snprintf|sscanf|fopen|fclose|fwrite|fread|fflush|puts)\b",
               ("cstdio", "stdio.h")),
    "string_view": (r"std::string_view\b", ()),
    "set": (r"std::set\b", ()),
    "unordered_set": (r"std::unordered_set\b", ()),
    "deque": (r"std::deque\b", ()),
    "tuple": (r"std::(tuple|make_tuple|tie)\b", ()),
    "variant": (r"std::(variant|visit|holds_alternative)\b", ()),
    "condition_variable": (r"std::condition_variable\b", ()),
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
SOURCE = re.compile(r"\.(cpp|h|cu|cuh)$")


def layer_of(path):
    best = None
    for name in list(ALLOWED) + list(TOP):
        if path == name or path.startswith(name + "/"):
            if best is None or len(name) > len(best):
                best = name
    return best


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(\\.|[^"\\\n])*"', '""', text)


class Repo:
    def __init__(self, root):
        self.root = root
        try:
            out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
            tracked = out.stdout.split() if out.returncode == 0 else None
        except OSError:  # no git on this machine
            tracked = None
        if tracked is not None:
            self.files = tracked
        else:  # not a git checkout (a copied tree, a tarball): walk it
            self.files = []
            for d, dirs, fs in os.walk(root):
                dirs[:] = [x for x in dirs if not x.startswith(".") and not x.startswith("build")]
                self.files += [os.path.relpath(os.path.join(d, f), root) for f in fs]
        self.sources = sorted(f for f in self.files if SOURCE.search(f))
        self._text = {}
        self._closure = {}

    def text(self, path):
        if path not in self._text:
            with open(os.path.join(self.root, path), encoding="utf-8", errors="replace") as f:
                self._text[path] = f.read()
        return self._text[path]

    def resolve(self, path, name):
        """The repository file a quoted include names, or None (a system header)."""
        for cand in (name, os.path.normpath(os.path.join(os.path.dirname(path), name))):
            if os.path.isfile(os.path.join(self.root, cand)):
                return cand
        return None

    def includes(self, path):
        return [(kind, name) for kind, name in INCLUDE.findall(self.text(path))]

    def closure(self, path):
        """Every header name reachable from path through the repository's own headers."""
        if path in self._closure:
            return self._closure[path]
        self._closure[path] = set()  # include cycles end here
        seen = set()
        for kind, name in self.includes(path):
            seen.add(name)
            own = self.resolve(path, name) if kind == '"' else None
            if own is not None:
                seen |= self.closure(own)
        self._closure[path] = seen
        return seen


def lint(root):
    repo = Repo(root)
    findings = []
    for path in repo.sources:
        layer = layer_of(path)
        for kind, name in repo.includes(path):
            own = repo.resolve(path, name) if kind == '"' else None
            if own is not None and layer in ALLOWED:
                target = layer_of(own)
                if target is not None and target != layer and target not in ALLOWED[layer]:
                    findings.append(f"{path}: includes {name}: layer {layer} may not depend on "
                                    f"{target}")
            if (kind == "<" and HOST_ONLY_HEADERS.match(name) and path not in HOST_ONLY_OK and
                    layer in KERNELS_ONLY):
                findings.append(f"{path}: includes <{name}>, which the kernels-only GPU host build "
                                f"does not have")
        code = strip_comments(repo.text(path))
        reach = repo.closure(path)
        for header, (pattern, alternatives) in STD.items():
            if re.search(pattern, code) and not any(a in reach for a in alternatives or (header,)):
                findings.append(f"{path}: uses {re.search(pattern, code).group(0)} but includes "
                                f"no <{header}> (leaner standard headers, g++ 13's, do not pull it in)")
    return findings


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    findings = lint(os.path.abspath(root))
    for f in findings:
        print(f)
    print(f"source_lint: {len(findings)} finding(s)", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
