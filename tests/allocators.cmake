# Tests of the NUMA-local allocators (included by tests/CMakeLists.txt).

# Unit and stress tests: run on any machine.
topos_add_gtest(topos_alloc_tests LABEL unit TIMEOUT 300 SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_alloc_policy.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_alloc_arena.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_alloc_adapters.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_alloc_degraded.cpp
  ${CMAKE_CURRENT_LIST_DIR}/unit/test_alloc_contracts.cpp
)
# test_alloc_contracts.cpp calls the allocator's internal entry points;
# test_alloc_arena.cpp reads resident memory through os/process.hpp.
target_include_directories(topos_alloc_tests PRIVATE ${PROJECT_SOURCE_DIR})

# The `local` fast path reads the CPU from the rseq area glibc registers; where
# there is none (tunable off, old kernels, valgrind) allocations take the path
# that asks sched_getcpu. The arena tests again with rseq registration off.
add_test(NAME alloc_arena_without_rseq COMMAND topos_alloc_tests --gtest_filter=AllocArena.*)
set_tests_properties(alloc_arena_without_rseq PROPERTIES LABELS "unit" TIMEOUT 300
  ENVIRONMENT "GLIBC_TUNABLES=glibc.pthread.rseq=0")

# Small blocks live in an address range reserved at a fixed address
# (allocators/arena.cpp); where the kernel refuses it, chunks are mapped
# anywhere and frees find them through the region map. The arena tests again
# with the address space limited to 16 GiB, which refuses the 256 GiB range.
# Not under sanitizers: ASan needs more address space than that, and TSan
# builds never use the range.
if(NOT TOPOS_SANITIZE)
  add_test(NAME alloc_arena_without_range
    COMMAND sh -c "ulimit -v 16777216 && exec \"$0\" --gtest_filter=AllocArena.*" $<TARGET_FILE:topos_alloc_tests>)
  set_tests_properties(alloc_arena_without_range PROPERTIES LABELS "unit" TIMEOUT 300
    ENVIRONMENT "TOPOS_TEST_RANGE_REFUSED=1")
endif()

# Placement checked against the kernel: needs several NUMA nodes (tests/numa-vm/run); skips elsewhere.
topos_add_gtest(topos_numa_alloc_tests LABEL numa TIMEOUT 300
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/numa/test_numa_alloc.cpp LIBS PkgConfig::topos_numa)

# The drop-in malloc (not in sanitizer builds, which replace malloc themselves):
# our own multi-threaded program, python3 and git, each under LD_PRELOAD.
if(TARGET topos_malloc)
  set(TOPOS_PRELOAD "LD_PRELOAD=$<TARGET_FILE:topos_malloc>")
  add_executable(topos_alloc_preload_tests ${CMAKE_CURRENT_LIST_DIR}/unit/test_alloc_preload.cpp)
  target_link_libraries(topos_alloc_preload_tests PRIVATE GTest::gtest PkgConfig::topos_numa ${CMAKE_DL_LIBS})
  topos_set_warnings(topos_alloc_preload_tests)
  add_dependencies(topos_alloc_preload_tests topos_malloc)
  gtest_discover_tests(topos_alloc_preload_tests DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "unit" TIMEOUT 300 ENVIRONMENT "${TOPOS_PRELOAD}")

  # A C program that forks before its first allocation (as /usr/bin/time
  # does): the fork handlers must not make a thread heap under their locks.
  enable_language(C)
  add_executable(topos_alloc_fork_first ${CMAKE_CURRENT_LIST_DIR}/alloc/fork_first.c)
  add_test(NAME alloc_preload_fork_first COMMAND topos_alloc_fork_first)
  set_tests_properties(alloc_preload_fork_first PROPERTIES LABELS "unit" TIMEOUT 60
    ENVIRONMENT "${TOPOS_PRELOAD}" PASS_REGULAR_EXPRESSION "fork first ok")

  find_program(TOPOS_PYTHON3 python3)
  if(TOPOS_PYTHON3)
    # Dicts, strings, JSON, sorting, threads and a subprocess; checks its own
    # answers and that topos serves the interpreter's allocations.
    add_test(NAME alloc_preload_python COMMAND ${TOPOS_PYTHON3} -c [=[
import ctypes, json, subprocess, sys, threading
assert ctypes.CDLL(None).topos_malloc_active() == 1, "libtopos_malloc.so is not preloaded"
d = {str(i): [i] * 10 for i in range(100000)}
e = json.loads(json.dumps(d))
assert e == d and sum(len(v) for v in e.values()) == 1000000
results = {}
def work(k):
    words = sorted(str(x) * k for x in range(40000))
    results[k] = (len(words), words[0], sum(map(len, words)))
threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
for t in threads: t.start()
for t in threads: t.join()
assert results[3][0] == 40000 and results[1][1] == "0", results
out = subprocess.run([sys.executable, "-c", "print(sum(range(10**6)))"], capture_output=True, text=True, check=True)
assert out.stdout.strip() == str(sum(range(10**6))), out
print("python workload ok")
]=])
    set_tests_properties(alloc_preload_python PROPERTIES LABELS "unit" TIMEOUT 300
      ENVIRONMENT "${TOPOS_PRELOAD}" PASS_REGULAR_EXPRESSION "python workload ok")
  endif()

  find_program(TOPOS_GIT git)
  if(TOPOS_GIT)
    # A repository made, committed, branched, merged, packed and checked, all
    # under the preload; the report line proves topos served git.
    add_test(NAME alloc_preload_git COMMAND sh -c [=[
set -e
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
export GIT_CONFIG_NOSYSTEM=1 HOME="$dir" TOPOS_MALLOC_REPORT=1
git init -q repo 2>>"$dir/report"
cd repo
git config user.name topos; git config user.email topos@example.invalid
for i in $(seq 1 300); do echo "line $i" > "f$i.txt"; done
git add . 2>>"$dir/report"; git commit -qm one 2>>"$dir/report"
git checkout -qb side 2>>"$dir/report"; for i in $(seq 1 50); do echo "side $i" >> "f$i.txt"; done
git commit -qam two 2>>"$dir/report"; git checkout -q - 2>>"$dir/report"
git merge -q side 2>>"$dir/report"
git gc -q 2>>"$dir/report"
git fsck --strict 2>>"$dir/report"
test "$(git rev-list --count HEAD 2>>"$dir/report")" = 2
test "$(git show HEAD:f7.txt 2>>"$dir/report" | tail -1)" = "side 7"
grep -q '^topos_malloc: ' "$dir/report"
echo "git workload ok"
]=])
    set_tests_properties(alloc_preload_git PROPERTIES LABELS "unit" TIMEOUT 300
      ENVIRONMENT "${TOPOS_PRELOAD}" PASS_REGULAR_EXPRESSION "git workload ok")
  endif()

  # The numa tests start the program above under the preload, pinned to a node.
  target_compile_definitions(topos_numa_alloc_tests PRIVATE
    TOPOS_MALLOC_LIB="$<TARGET_FILE:topos_malloc>"
    TOPOS_PRELOAD_PROGRAM="$<TARGET_FILE:topos_alloc_preload_tests>")
  add_dependencies(topos_numa_alloc_tests topos_alloc_preload_tests)
endif()
