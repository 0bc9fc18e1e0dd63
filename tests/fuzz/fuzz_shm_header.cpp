// libFuzzer harness: the checks open() makes of a shared segment's header,
// over random bytes (topos::validate_segment_image). Anything but an
// shm_error is a bug, and so is a header accepted whose sizes do not fit the
// bytes given.
#include <topos/shm.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(data), size);
    try {
        const std::size_t user = topos::validate_segment_image(image);
        if (user == 0 || user > topos::k_max_segment_bytes || user + topos::k_segment_header_bytes > size) {
            std::abort(); // accepted a header that does not fit its object
        }
    } catch (const topos::shm_error&) { // NOLINT(bugprone-empty-catch): a typed refusal is the expected outcome
    }
    return 0;
}
