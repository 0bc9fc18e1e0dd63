// scheduler/frames.cpp - task frames and the locked task queues: a worker's
// frame free list refilled in chunks, frames freed by other workers, heap
// frames for outside threads, and the FIFO behind node inboxes and the
// runtime's queue.
#include "scheduler/worker.hpp"

#include <cstddef>
#include <mutex>
#include <new>

namespace topos::detail {

constinit thread_local worker_core* tls_worker = nullptr;

namespace {

constexpr std::size_t k_chunk_frames = 64;

} // namespace

// ---- task_queue -------------------------------------------------------------

void task_queue::push(task* t) noexcept {
    t->m_next = nullptr;
    std::lock_guard lock(m_lock);
    if (m_tail == nullptr) {
        m_head = t;
    } else {
        m_tail->m_next = t;
    }
    m_tail = t;
    m_size.store(m_size.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); // under m_lock
}

task* task_queue::pop() noexcept {
    if (empty_hint()) {
        return nullptr;
    }
    std::lock_guard lock(m_lock);
    task* t = m_head;
    if (t != nullptr) {
        m_head = t->m_next;
        if (m_head == nullptr) {
            m_tail = nullptr;
        }
        const std::size_t size = m_size.load(std::memory_order_relaxed); // under m_lock
        TOPOS_ASSERT(size > 0, "task_queue: a task was taken from a queue that counts none");
        m_size.store(size - 1, std::memory_order_relaxed);
    }
    return t;
}

// ---- frames -------------------------------------------------------------------

task* worker_core::allocate_slow() {
    // acquire: pairs with release_slow()'s release CAS, so the frames' links
    // written by the releasing workers are visible.
    task* list = m_remote_free.exchange(nullptr, std::memory_order_acquire);
    if (list == nullptr) {
        // A fresh chunk. The worker is already pinned, so first touch places it
        // on the worker's node.
        auto* chunk = static_cast<task*>(::operator new(sizeof(task) * k_chunk_frames, std::align_val_t{alignof(task)}));
        try {
            static_cast<worker*>(this)->m_chunks.push_back(chunk);
        } catch (...) {
            ::operator delete(static_cast<void*>(chunk), std::align_val_t{alignof(task)});
            throw;
        }
        for (std::size_t i = 0; i < k_chunk_frames; ++i) {
            task* t = ::new (static_cast<void*>(chunk + i)) task();
            t->m_home = this;
            t->m_next = i + 1 < k_chunk_frames ? chunk + i + 1 : nullptr;
        }
        list = chunk;
    }
    m_free = list->m_next;
    return list;
}

void worker_core::release_slow(task* t) noexcept {
    worker_core* home = t->m_home;
    if (home == nullptr) {
        delete t;
        return;
    }
    task* head = home->m_remote_free.load(std::memory_order_relaxed);
    do {
        t->m_next = head;
        // release: publishes t->m_next to the owner's acquire exchange in allocate_slow().
    } while (!home->m_remote_free.compare_exchange_weak(head, t, std::memory_order_release, std::memory_order_relaxed));
}

task* allocate_heap_task() {
    return new task();
}

void discard_task(task* t) noexcept {
    delete t;
}

} // namespace topos::detail
