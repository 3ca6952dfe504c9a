#include "core/threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace qm {
namespace {

struct Job {
  const std::function<void(size_t)>* fn;
  size_t tasks;
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::atomic<int> users{0};
  std::mutex errorMutex;
  std::exception_ptr error;
};

// Runs tasks of `job` until none are left; returns after its last claimed task.
void work(Job& job) {
  for (;;) {
    size_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.tasks) return;
    try {
      (*job.fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job.errorMutex);
      if (!job.error) job.error = std::current_exception();
    }
    job.done.fetch_add(1, std::memory_order_release);
  }
}

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; i++) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int size() const { return static_cast<int>(threads_.size()) + 1; }

  void run(Job& job) {
    if (!threads_.empty() && job.tasks > 1) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(&job);
        queued_.fetch_add(1, std::memory_order_release);
      }
      cv_.notify_all();
    }
    work(job);
    {
      // No worker may pick the job up after this point; those that hold it are counted in users.
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = std::find(queue_.begin(), queue_.end(), &job);
      if (it != queue_.end()) {
        queue_.erase(it);
        queued_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    while (job.done.load(std::memory_order_acquire) < job.tasks || job.users.load(std::memory_order_acquire) > 0)
      std::this_thread::yield();
  }

 private:
  void loop() {
    for (;;) {
      // Spin briefly before sleeping: training submits thousands of short jobs a second.
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (queued_.load(std::memory_order_acquire) == 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        job = queue_.front();
        job->users.fetch_add(1, std::memory_order_acq_rel);
        if (job->next.load(std::memory_order_relaxed) + 1 >= job->tasks) {
          queue_.pop_front();  // the last task is being taken: nobody else needs to see it
          queued_.fetch_sub(1, std::memory_order_relaxed);
        }
      }
      work(*job);
      job->users.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::atomic<int> queued_{0};
  bool stop_ = false;
};

int configuredThreads() {
  if (const char* env = std::getenv("QUACKMESH_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1 && n <= 1024) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

Pool& pool() {
  static Pool* p = new Pool(configuredThreads() - 1);  // never destroyed: workers may outlive static teardown
  return *p;
}

}  // namespace

int threadCount() { return pool().size(); }

void parallelFor(size_t tasks, const std::function<void(size_t)>& fn) {
  if (tasks == 0) return;
  Job job;
  job.fn = &fn;
  job.tasks = tasks;
  pool().run(job);
  if (job.error) std::rethrow_exception(job.error);
}

void parallelRange(size_t n, size_t per, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (per == 0) per = 1;
  size_t tasks = (n + per - 1) / per;
  parallelFor(tasks, [&](size_t t) { fn(t * per, std::min(n, (t + 1) * per)); });
}

}  // namespace qm
