#pragma once
// One process-wide pool of worker threads. Several callers (one per async job) may submit at
// once; the submitting thread works on its own job too, so a pool of N-1 workers uses N cores.
#include <cstddef>
#include <functional>

namespace qm {

/** Number of threads that work on one parallel_for (workers + the caller). */
int threadCount();

/** Runs fn(0) .. fn(tasks-1) on the pool and returns when all have finished. Rethrows the first exception. */
void parallelFor(size_t tasks, const std::function<void(size_t)>& fn);

/** Splits [0, n) into about `per` items a task and runs fn(begin, end) for each range. */
void parallelRange(size_t n, size_t per, const std::function<void(size_t, size_t)>& fn);

}  // namespace qm
