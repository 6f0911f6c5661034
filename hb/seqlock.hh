// A single-writer sequence lock over a fixed array of 64-bit words: one thread publishes, any
// number read without locks and without ever making the writer wait. Every word is an atomic, so
// readers racing the writer see stale or mixed words (which the sequence rejects), never a data
// race in the C++ memory model: ThreadSanitizer-clean by construction.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <thread>

#include "hb/assert.hh"

namespace hb {

class SeqlockWords {
public:
    // Sized once: publishing and reading never allocate.
    explicit SeqlockWords(std::size_t word_count)
        : words_(std::make_unique<std::atomic<std::uint64_t>[]>(word_count)),
          word_count_(word_count) {}
    SeqlockWords(const SeqlockWords&) = delete;
    SeqlockWords& operator=(const SeqlockWords&) = delete;

    std::size_t size() const noexcept { return word_count_; }

    // Writer (one thread only): replaces every word with `values`.
    void publish(std::span<const std::uint64_t> values) noexcept {
        HB_ASSERT(values.size() == word_count_);
        const std::uint64_t sequence = sequence_.load(std::memory_order_relaxed);
        HB_ASSERT(sequence % 2 == 0);  // a second writer would break this
        sequence_.store(sequence + 1, std::memory_order_relaxed);
        // The odd sequence is visible before any new word (readers that see a new word re-check
        // the sequence and find it changed).
        std::atomic_thread_fence(std::memory_order_release);
        for (std::size_t i = 0; i < word_count_; ++i) {
            words_[i].store(values[i], std::memory_order_relaxed);
        }
        sequence_.store(sequence + 2, std::memory_order_release);
    }

    // Any thread: copies one consistent publication into `out`. A reader only retries while the
    // writer is inside publish(), which takes microseconds; it gives up after `attempts` (the
    // writer thread was preempted mid-publication) and returns false. Before the first
    // publication every word reads as zero.
    bool read(std::span<std::uint64_t> out, std::size_t attempts = 1000) const noexcept {
        HB_ASSERT(out.size() == word_count_);
        for (std::size_t attempt = 0; attempt < attempts; ++attempt) {
            const std::uint64_t before = sequence_.load(std::memory_order_acquire);
            if (before % 2 == 0) {
                for (std::size_t i = 0; i < word_count_; ++i) {
                    out[i] = words_[i].load(std::memory_order_relaxed);
                }
                // The words are read before the sequence is read again.
                std::atomic_thread_fence(std::memory_order_acquire);
                if (sequence_.load(std::memory_order_relaxed) == before) {
                    return true;
                }
            }
            if (attempt % 16 == 15) {
                std::this_thread::yield();  // let a preempted writer finish
            }
        }
        return false;
    }

    // How many publications were completed so far (any thread).
    std::uint64_t publications() const noexcept {
        return sequence_.load(std::memory_order_acquire) / 2;
    }

private:
    // Readers on other cores poll the sequence: keep it off the words' cache lines.
    alignas(64) std::atomic<std::uint64_t> sequence_{0};
    std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
    std::size_t word_count_;
};

}  // namespace hb
