// Proves that the sanitizer build really reports what it should (docs/reliability.md): run with
// "leak" it loses a heap block, with "ub" it overflows a signed int. ctest expects the
// LeakSanitizer and UBSan reports in the output; a build or environment that silently disables
// them (detect_leaks=0, LSan unable to run under ptrace) makes these tests fail.
#include <climits>
#include <cstdio>
#include <cstring>

namespace {
int* volatile g_block = nullptr;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "leak") == 0) {
    g_block = new int[7];
    g_block[0] = argc;
    g_block = nullptr;  // the only pointer to the block is gone: a leak at exit
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "ub") == 0) {
    volatile int big = INT_MAX;
    const int sum = big + argc;  // signed overflow
    std::printf("%d\n", sum);
    return 0;
  }
  std::fprintf(stderr, "usage: sanitizer_canary leak|ub\n");
  return 2;
}
