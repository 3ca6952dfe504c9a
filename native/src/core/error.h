#pragma once
// Errors raised by the numeric core. The binding turns them into JS errors carrying `code`
// and `argument`; the core itself knows nothing of Node.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace qm {

class NumericError : public std::runtime_error {
 public:
  NumericError(std::string code, std::string argument, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)), argument_(std::move(argument)) {}
  const std::string& code() const { return code_; }
  const std::string& argument() const { return argument_; }

 private:
  std::string code_;
  std::string argument_;
};

[[noreturn]] inline void fail(const char* code, const std::string& argument, const std::string& message) {
  throw NumericError(code, argument, message);
}

/**
 * a × b, or NumericError(code, argument, what + " ...") when the product does not fit in size_t:
 * sizes that come from outside (a spec, a length) are multiplied through this, never wrapped.
 */
inline size_t checkedMul(size_t a, size_t b, const char* code, const std::string& argument, const std::string& what) {
  size_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    fail(code, argument, what + " (" + std::to_string(a) + " × " + std::to_string(b) + ") overflows a 64-bit size");
  return r;
}

}  // namespace qm
