// topos_make_shm_corpus DIR - writes the seed corpora of the two shared-memory
// fuzz harnesses: DIR/shm_header/ (segment objects: valid, truncated, foreign,
// of another version, without a magic yet) and DIR/shm_heap/ (heap regions:
// fresh, in use with names, a redo record left armed, a few corrupt ones).
// Run once to refresh tests/fuzz/corpus; the files are kept in the tree.
#include "ipc/shm_heap_layout.hpp"
#include "ipc/shm_layout.hpp"

#include <topos/shm.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <vector>

namespace {

void write(const std::string& path, const void* p, std::size_t n) {
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    std::printf("%s (%zu bytes)\n", path.c_str(), n);
}

struct aligned_region {
    explicit aligned_region(std::size_t n) : bytes(n), p(static_cast<char*>(::operator new(n, std::align_val_t{4096}))) {
        std::memset(p, 0, n);
    }
    ~aligned_region() { ::operator delete(p, std::align_val_t{4096}); }
    aligned_region(const aligned_region&) = delete;
    aligned_region& operator=(const aligned_region&) = delete;
    std::size_t bytes;
    char* p;
};

void headers(const std::string& dir) {
    aligned_region r(topos::k_segment_header_bytes + 4096);
    topos::detail::fill_header(r.p, "/topos-corpus", 4096, topos::shm_api::posix);
    write(dir + "/valid", r.p, r.bytes);
    write(dir + "/truncated-object", r.p, topos::k_segment_header_bytes + 100);
    write(dir + "/shorter-than-header", r.p, 200);
    auto* h = reinterpret_cast<topos::detail::segment_header*>(r.p);
    h->user_size = 1ULL << 40;
    write(dir + "/size-past-object", r.p, r.bytes);
    h->user_size = 4096;
    h->version = 7;
    write(dir + "/other-version", r.p, r.bytes);
    h->version = topos::k_segment_layout_version;
    h->header_bytes = 64;
    write(dir + "/header-bytes-wrong", r.p, r.bytes);
    h->header_bytes = topos::k_segment_header_bytes;
    h->magic.store(0);
    write(dir + "/no-magic", r.p, r.bytes);
    h->magic.store(0x1122334455667788ULL);
    write(dir + "/foreign", r.p, r.bytes);
}

struct blob {
    std::uint64_t words[6];
};

void heaps(const std::string& dir) {
    {
        aligned_region r(4096);
        auto heap = topos::segment_heap::format(r.p, r.bytes);
        write(dir + "/fresh-4k", r.p, r.bytes);
    }
    aligned_region r(8192);
    auto heap = topos::segment_heap::format(r.p, r.bytes);
    void* a = heap.allocate(100);
    void* b = heap.allocate(300, 256);
    (void)heap.construct_named<blob>("n1");
    void* c = heap.allocate(40);
    heap.deallocate(b, 300);
    (void)a;
    (void)c;
    (void)heap.construct_named<blob>("n2");
    write(dir + "/in-use-8k", r.p, r.bytes);
    auto* s = reinterpret_cast<topos::detail::heap_state*>(r.p);
    // A dead allocate's record, armed: replaying it frees nothing and takes the head block.
    std::vector<char> armed(r.p, r.p + r.bytes);
    {
        auto* t = reinterpret_cast<topos::detail::heap_state*>(armed.data());
        t->redo.count = 2;
        t->redo.op = 1;
        t->redo.words[0] = {offsetof(topos::detail::heap_state, sequence), t->sequence + 1};
        t->redo.words[1] = {offsetof(topos::detail::heap_state, used), t->used};
        t->redo.armed.store(t->sequence + 1);
        write(dir + "/armed-record", armed.data(), armed.size());
        t->redo.words[1].offset = 1ULL << 40;
        write(dir + "/armed-record-outside", armed.data(), armed.size());
    }
    std::vector<char> cycle(r.p, r.p + r.bytes);
    {
        auto* t = reinterpret_cast<topos::detail::heap_state*>(cycle.data());
        const std::uint64_t head = t->free_head;
        std::memcpy(cycle.data() + head + 8, &head, 8); // the head links to itself
        write(dir + "/free-list-cycle", cycle.data(), cycle.size());
    }
    std::vector<char> bad_name(r.p, r.p + r.bytes);
    {
        auto* t = reinterpret_cast<topos::detail::heap_state*>(bad_name.data());
        t->names[0].offset = 1ULL << 62;
        std::memset(t->names[1].name, 'x', sizeof t->names[1].name);
        write(dir + "/bad-names", bad_name.data(), bad_name.size());
    }
    s->used += 16;
    write(dir + "/used-wrong", r.p, r.bytes);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: topos_make_shm_corpus DIR\n");
        return 2;
    }
    headers(std::string(argv[1]) + "/shm_header");
    heaps(std::string(argv[1]) + "/shm_heap");
    return 0;
}
